package contract

import (
	"bytes"
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// forwarded is the metadata the attempt phase gets for the dynamic
// metadata dm the route phase published: each namespace of dm, through the
// wire.
func forwarded(t testing.TB, dm *structpb.Struct) *corev3.Metadata {
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	for ns, v := range dm.GetFields() {
		md.FilterMetadata[ns] = v.GetStructValue()
	}
	b, err := proto.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	out := &corev3.Metadata{}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func fullPlan() Plan {
	return Plan{ID: "rt~1", Gen: 7, Chain: "premium", Model: "gpt-4o", Stream: true, IncludeUsage: true, Extra: 2,
		PerTry: 1500 * time.Millisecond, Client: "team-a", Exp: 1_700_000_000_000, Sig: "c2ln",
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", API: "embeddings",
		Targets: []Target{
			{Provider: "openai", Model: "gpt-4o", Cluster: "provider_openai", ContextWindow: 128000},
			{Provider: "anthropic", Model: "claude", Cluster: "provider_anthropic", ContextWindow: 200000},
		}}
}

// TestPlan_RoundTrip verifies a plan decodes to itself from the forwarded
// metadata, in the plan namespace of the configured namespace, and that the
// priority_group override names the targets' clusters in order.
func TestPlan_RoundTrip(t *testing.T) {
	probe := fullPlan()
	probe.Probe = true
	for _, p := range []Plan{fullPlan(), {ID: "x", Targets: []Target{{Provider: "p"}}}, probe} {
		dm := EncodePlan("custom_ns", &p)
		got, err := DecodePlan(forwarded(t, dm), "custom_ns")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("round trip: got %+v, want %+v", got, p)
		}
		groups := dm.GetFields()["custom_ns"].GetStructValue().GetFields()["priority_groups"].GetListValue().GetValues()
		if len(groups) != len(p.Targets) {
			t.Fatalf("priority groups: got %d, want %d", len(groups), len(p.Targets))
		}
		for i, g := range groups {
			f := g.GetStructValue().GetFields()
			c := f["clusters"].GetListValue().GetValues()[0].GetStructValue().GetFields()
			if f["name"].GetStringValue() != "attempt-"+strconv.Itoa(i+1) || c["cluster_name"].GetStringValue() != p.Targets[i].Cluster || c["weight"].GetNumberValue() != 1 {
				t.Errorf("group %d: got %v, want attempt-%d on cluster %q", i, g, i+1, p.Targets[i].Cluster)
			}
		}
	}
}

// TestPlanNamespace_IsTheNamespaceWithPlan verifies the plan details live in
// "<metadata_namespace>.plan".
func TestPlanNamespace_IsTheNamespaceWithPlan(t *testing.T) {
	if got := PlanNamespace(DefaultNamespace); got != "llm_failover.plan" {
		t.Errorf("got %q, want llm_failover.plan", got)
	}
}

// TestDecodePlan_RefusesWhatNoRoutePhaseMade verifies metadata without the
// plan namespace, a plan without targets, and a forged plan with more
// targets than limits.max_targets allows any chain are refused as no plan,
// the last before it is copied; a plan at the bound is decoded (nested
// details, as earlier replicas published them).
func TestDecodePlan_RefusesWhatNoRoutePhaseMade(t *testing.T) {
	md := func(n int) *corev3.Metadata {
		vs := make([]*structpb.Value, n)
		for i := range vs {
			vs[i] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"provider": structpb.NewStringValue("openai")}})
		}
		return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"ns.plan": {Fields: map[string]*structpb.Value{
			"targets": structpb.NewListValue(&structpb.ListValue{Values: vs})}}}}
	}
	if p, err := DecodePlan(md(MaxTargets), "ns"); err != nil || len(p.Targets) != MaxTargets {
		t.Errorf("%d targets: got %d, %v; want decoded", MaxTargets, len(p.Targets), err)
	}
	if p, err := DecodePlan(md(100_000), "ns"); !errors.Is(err, ErrNoPlan) || p.Targets != nil {
		t.Errorf("100000 targets: got %d targets, %v; want ErrNoPlan and nothing copied", len(p.Targets), err)
	}
	if _, err := DecodePlan(md(0), "ns"); !errors.Is(err, ErrNoPlan) {
		t.Errorf("no targets: got %v, want ErrNoPlan", err)
	}
	if _, err := DecodePlan(md(1), "other"); !errors.Is(err, ErrNoPlan) {
		t.Errorf("another namespace: got %v, want ErrNoPlan", err)
	}
}

// TestAppendCanonical_LeavesOutModelAndSig verifies the canonical bytes
// cover neither the informational model nor the signature itself, and
// change with a field an attempt acts on.
func TestAppendCanonical_LeavesOutModelAndSig(t *testing.T) {
	p := fullPlan()
	q := p
	q.Model, q.Sig = "other", "other"
	if !bytes.Equal(p.AppendCanonical(nil), q.AppendCanonical(nil)) {
		t.Error("model or sig changed the canonical bytes")
	}
	q.Chain = "other"
	if bytes.Equal(p.AppendCanonical(nil), q.AppendCanonical(nil)) {
		t.Error("chain did not change the canonical bytes")
	}
	for _, api := range []string{"", "chat"} {
		r := p
		r.API, r.Probe = api, true
		s := r
		s.Probe = false
		if bytes.Equal(r.AppendCanonical(nil), s.AppendCanonical(nil)) {
			t.Errorf("api %q: probe did not change the canonical bytes", api)
		}
	}
}

// TestPerRequestBoundsHeaders_AllowsExactlyTheBounds verifies the
// route-phase allow_expression admits the two bound headers and no other
// x-envoy-* header.
func TestPerRequestBoundsHeaders_AllowsExactlyTheBounds(t *testing.T) {
	re := regexp.MustCompile(PerRequestBoundsHeaders)
	for h, want := range map[string]bool{
		HeaderMaxRetries: true, HeaderPerTryTimeout: true,
		"x-envoy-upstream-rq-timeout-ms": false, "x-envoy-max-retries-x": false, "x-envoy-retry-on": false,
	} {
		if re.MatchString(h) != want {
			t.Errorf("%s: got %v, want %v", h, !want, want)
		}
	}
}

// FuzzPlanCodec verifies every plan the route phase can make decodes to
// itself after the wire, and that two plans with the same canonical bytes
// agree on every signed field.
func FuzzPlanCodec(f *testing.F) {
	f.Add("rt~1", "premium", "gpt-4o", "team-a", "openai", "provider_openai", uint64(7), int64(2), uint32(1500), int64(1_700_000_000_000), true, false, uint8(2), int64(128000), "rt~1", "premium")
	f.Add("", "", "", "", "", "", uint64(0), int64(-1), uint32(0), int64(0), false, true, uint8(0), int64(-5), "a", "")
	f.Fuzz(func(t *testing.T, id, chain, model, client, prov, cluster string, gen uint64, extra int64, perTryMS uint32, exp int64,
		stream, usage bool, n uint8, cw int64, id2, chain2 string) {
		for _, s := range []string{id, chain, model, client, prov, cluster, id2, chain2} {
			if !utf8.ValidString(s) {
				return // the wire carries UTF-8 only
			}
		}
		// extra and context_window are PlanMetadata int32 fields.
		p := Plan{ID: id, Gen: gen, Chain: chain, Model: model, Stream: stream, IncludeUsage: usage,
			Extra: int(int32(extra)), PerTry: time.Duration(perTryMS%1e9) * time.Millisecond, Client: client,
			Exp: max(exp, 0), Sig: id2}
		for i := range int(n)%MaxTargets + 1 {
			p.Targets = append(p.Targets, Target{Provider: prov + strconv.Itoa(i), Model: model, Cluster: cluster, ContextWindow: int(int32(cw))})
		}
		got, err := DecodePlan(forwarded(t, EncodePlan("ns", &p)), "ns")
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("round trip: got %+v, %v; want %+v", got, err, p)
		}
		q := p
		q.ID, q.Chain = id2, chain2
		if bytes.Equal(p.AppendCanonical(nil), q.AppendCanonical(nil)) && (p.ID != q.ID || p.Chain != q.Chain) {
			t.Fatalf("plans with ID/chain %q/%q and %q/%q encode alike", p.ID, p.Chain, q.ID, q.Chain)
		}
	})
}

// FuzzPlacement verifies a target's placement survives the plan codec
// exactly when ValidPlacement holds (header-safe characters, bounded), and
// is dropped otherwise, never failing the plan.
func FuzzPlacement(f *testing.F) {
	f.Add("tier=1;weight=3/4;region=eu-west:preferred")
	f.Add("region=a\r\nx-evil: 1")
	f.Add(strings.Repeat("a", MaxPlacement+1))
	f.Fuzz(func(t *testing.T, placement string) {
		if !utf8.ValidString(placement) {
			return // the wire carries UTF-8 only
		}
		p := Plan{ID: "id", Chain: "c", Targets: []Target{{Provider: "p", Model: "m", Cluster: "p", Placement: placement}}}
		got, err := DecodePlan(forwarded(t, EncodePlan("ns", &p)), "ns")
		if err != nil {
			t.Fatalf("DecodePlan: %v", err)
		}
		want := ""
		if ValidPlacement(placement) {
			want = placement
		}
		if got.Targets[0].Placement != want {
			t.Fatalf("placement %q decoded as %q, want %q", placement, got.Targets[0].Placement, want)
		}
	})
}
