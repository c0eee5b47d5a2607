package contract

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestPlanString_RoundTrip verifies a plan decodes to itself from its
// compact string, the empty fields of a minimal plan and targets longer
// than 127 bytes included, and that the
// string is base64url without padding (a valid UTF-8 Struct string value).
func TestPlanString_RoundTrip(t *testing.T) {
	long := strings.Repeat("n", 300) // a target longer than a one-byte length
	for _, p := range []Plan{fullPlan(), {ID: "x", Targets: []Target{{Provider: "p"}}}, {Extra: -1, Targets: []Target{{ContextWindow: -3}}},
		{ID: long, Targets: []Target{{Provider: long, Model: long, Cluster: long, ContextWindow: 1 << 30}, {Provider: "p"}}}} {
		s := EncodePlanString(&p)
		if strings.ContainsAny(s, "+/=") {
			t.Errorf("plan string %q: want base64url without padding", s)
		}
		got, err := DecodePlanString(s)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("round trip: got %+v, %v; want %+v", got, err, p)
		}
	}
}

// TestEncodePlan_PublishesTheStringAndASummary verifies the plan namespace
// holds the compact plan string under PlanKey and, beside it, only the
// readable summary: v, id, chain, model and stream.
func TestEncodePlan_PublishesTheStringAndASummary(t *testing.T) {
	p := fullPlan()
	got := EncodePlan("ns", &p).GetFields()["ns.plan"].GetStructValue()
	want, _ := structpb.NewStruct(map[string]any{PlanKey: EncodePlanString(&p), keyVersion: 1, keyID: p.ID, keyChain: p.Chain,
		keyModel: p.Model, keyStream: p.Stream})
	if !proto.Equal(got, want) {
		t.Errorf("plan namespace: got %v, want %v", got, want)
	}
}

// TestPlanAttribute_ReadsThePlanKey verifies the attempt filter's attribute
// is the CEL path to PlanKey in the plan namespace.
func TestPlanAttribute_ReadsThePlanKey(t *testing.T) {
	if got, want := PlanAttribute("llm_failover"), "metadata.filter_metadata['llm_failover.plan']['p']"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// legacyDetails is the nested plan details replicas before the compact
// string published in the plan namespace.
func legacyDetails(p *Plan) *structpb.Struct {
	targets := make([]*structpb.Value, len(p.Targets))
	for i, t := range p.Targets {
		targets[i] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			keyTargetProvider: structpb.NewStringValue(t.Provider), keyTargetCluster: structpb.NewStringValue(t.Cluster),
			keyTargetModel: structpb.NewStringValue(t.Model), keyTargetContextWindow: structpb.NewNumberValue(float64(t.ContextWindow)),
		}})
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		keyVersion: structpb.NewNumberValue(1), keyID: structpb.NewStringValue(p.ID), keyGen: structpb.NewNumberValue(float64(p.Gen)),
		keyPerTryMS: structpb.NewNumberValue(float64(p.PerTry.Milliseconds())), keyChain: structpb.NewStringValue(p.Chain),
		keyModel: structpb.NewStringValue(p.Model), keyStream: structpb.NewBoolValue(p.Stream),
		keyIncludeUsage: structpb.NewBoolValue(p.IncludeUsage), keyExtra: structpb.NewNumberValue(float64(p.Extra)),
		keyTargets: structpb.NewListValue(&structpb.ListValue{Values: targets}), keyExp: structpb.NewNumberValue(float64(p.Exp)),
		keySig: structpb.NewStringValue(p.Sig), keyClient: structpb.NewStringValue(p.Client),
		keyTraceparent: structpb.NewStringValue(p.Traceparent), keyAPI: structpb.NewStringValue(p.API), keyProbe: structpb.NewBoolValue(p.Probe),
	}}
}

// TestDecodePlan_ReadsEarlierReplicasNestedDetails verifies a plan an
// earlier replica published as nested details still decodes, so attempts of
// requests planned before an upgrade are served.
func TestDecodePlan_ReadsEarlierReplicasNestedDetails(t *testing.T) {
	p := fullPlan()
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"ns.plan": legacyDetails(&p)}}
	got, err := DecodePlan(md, "ns")
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("got %+v, %v; want %+v", got, err, p)
	}
}

// TestDecodePlanString_RefusesWhatNoRoutePhaseMade verifies every string the
// route phase cannot have published is refused as no plan, and that unknown
// fields (a later version's additions) are skipped.
func TestDecodePlanString_RefusesWhatNoRoutePhaseMade(t *testing.T) {
	enc := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	one := Plan{ID: "x", Targets: []Target{{Provider: "p"}}}
	wire := AppendPlanWire(nil, &one)
	many := Plan{}
	for range MaxTargets + 1 {
		many.Targets = append(many.Targets, Target{Provider: "p"})
	}
	bound := Plan{Targets: many.Targets[:MaxTargets]}
	for _, tc := range []struct {
		name string
		s    string
		ok   bool
	}{
		{"a plan at the target bound", EncodePlanString(&bound), true},
		{"an unknown field", enc(protowire.AppendString(protowire.AppendTag(wire, 99, protowire.BytesType), "later")), true},
		{"empty", "", false},
		{"not base64url", "a+b/c", false},
		{"padded", enc(wire) + "==", false},
		{"more targets than any chain", EncodePlanString(&many), false},
		{"no targets", EncodePlanString(&Plan{ID: "x"}), false},
		{"another version", enc(protowire.AppendVarint(protowire.AppendTag(wire, wireVersion, protowire.VarintType), 2)), false},
		{"no version", enc(wire[2:]), false},
		{"a truncated field", enc(wire[:len(wire)-1]), false},
		{"a text field as a number", enc(protowire.AppendVarint(protowire.AppendTag(wire, wireID, protowire.VarintType), 1)), false},
		{"a number as text", enc(protowire.AppendString(protowire.AppendTag(wire, wireGen, protowire.BytesType), "1")), false},
		{"text that is not UTF-8", enc(protowire.AppendString(protowire.AppendTag(wire, wireModel, protowire.BytesType), "\xff")), false},
		{"too long", strings.Repeat("A", MaxPlanWire+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodePlanString(tc.s)
			if tc.ok && err != nil {
				t.Errorf("got %v, want decoded", err)
			}
			if !tc.ok && (!errors.Is(err, ErrNoPlan) || p.Targets != nil) {
				t.Errorf("got %+v, %v; want ErrNoPlan and no plan", p, err)
			}
		})
	}
}

// FuzzDecodePlanString verifies no string makes DecodePlanString panic, and
// that what it decodes encodes to a string that decodes alike.
func FuzzDecodePlanString(f *testing.F) {
	p := fullPlan()
	f.Add(EncodePlanString(&p))
	f.Add(EncodePlanString(&Plan{Targets: []Target{{}}}))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := DecodePlanString(s)
		if err != nil {
			return
		}
		q, err := DecodePlanString(EncodePlanString(&p))
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("re-encoded: got %+v, %v; want %+v", q, err, p)
		}
	})
}

// BenchmarkDecodePlan compares reading the plan from its compact string
// with reading the nested details, for 2 and 8 targets.
func BenchmarkDecodePlan(b *testing.B) {
	for _, n := range []int{2, 8} {
		p := fullPlan()
		p.Targets = nil
		for range n {
			p.Targets = append(p.Targets, fullPlan().Targets[0])
		}
		s := EncodePlanString(&p)
		md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"ns.plan": legacyDetails(&p)}}
		b.Run("string/targets="+string(rune('0'+n)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodePlanString(s); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("nested/targets="+string(rune('0'+n)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodePlan(md, "ns"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
