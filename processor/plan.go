package processor

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/config"
)

// planInfo is the plan the route phase publishes as dynamic metadata and
// the attempt phase reads back from the forwarded metadata
// (docs/envoy-contract.md, "Route phase"): encodePlan and parsePlan are its
// one encoder and decoder.
type planInfo struct {
	ID string
	// Gen is the generation of the configuration the plan was made with
	// (0 when the plan does not say).
	Gen          uint64
	Chain        string
	Model        string // the request's model (informational, not signed)
	Stream       bool
	IncludeUsage bool
	Extra        int
	// PerTry is the request's per-try timeout ("per_try_ms"); 0 when the
	// plan does not say (envoy.per_try_timeout applies).
	PerTry  time.Duration
	Targets []planTarget
	// Client is the admitted client the answer's tokens are charged to
	// ("client"; empty without a clients policy).
	Client string
	// Exp is when the plan expires ("exp", unix milliseconds) and Sig its
	// signature ("sig", base64url HMAC-SHA256, see planBytes).
	Exp int64
	Sig string
}

type planTarget struct {
	Provider      string
	Model         string
	Cluster       string
	ContextWindow int
}

// key is the target's breaker key.
func (t planTarget) key() string { return config.Target{Provider: t.Provider, Model: t.Model}.Key() }

// encodePlan is the dynamic metadata of p: the priority_group override in
// namespace ns and the plan details in planNS.
func encodePlan(ns, planNS string, p *planInfo) *structpb.Struct {
	groups := make([]*structpb.Value, len(p.Targets))
	targets := make([]*structpb.Value, len(p.Targets))
	for i, t := range p.Targets {
		groups[i] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"name": structpb.NewStringValue("attempt-" + strconv.Itoa(i+1)),
			"clusters": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{
				structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
					"cluster_name": structpb.NewStringValue(t.Cluster),
					"weight":       structpb.NewNumberValue(1),
				}}),
			}}),
		}})
		targets[i] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"provider":       structpb.NewStringValue(t.Provider),
			"cluster":        structpb.NewStringValue(t.Cluster),
			"model":          structpb.NewStringValue(t.Model),
			"context_window": structpb.NewNumberValue(float64(t.ContextWindow)),
		}})
	}
	details := map[string]*structpb.Value{
		"v":             structpb.NewNumberValue(1),
		"id":            structpb.NewStringValue(p.ID),
		"gen":           structpb.NewNumberValue(float64(p.Gen)),
		"per_try_ms":    structpb.NewNumberValue(float64(p.PerTry.Milliseconds())),
		"chain":         structpb.NewStringValue(p.Chain),
		"model":         structpb.NewStringValue(p.Model),
		"stream":        structpb.NewBoolValue(p.Stream),
		"include_usage": structpb.NewBoolValue(p.IncludeUsage),
		"extra":         structpb.NewNumberValue(float64(p.Extra)),
		"targets":       structpb.NewListValue(&structpb.ListValue{Values: targets}),
		"exp":           structpb.NewNumberValue(float64(p.Exp)),
		"sig":           structpb.NewStringValue(p.Sig),
	}
	if p.Client != "" {
		details[planClientKey] = structpb.NewStringValue(p.Client)
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		ns: structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"priority_groups": structpb.NewListValue(&structpb.ListValue{Values: groups}),
		}}),
		planNS: structpb.NewStructValue(&structpb.Struct{Fields: details}),
	}}
}

var errNoPlan = errors.New("no plan in the forwarded metadata")

// maxPlanTargets is the upper bound of limits.max_targets: no plan the
// route phase signs has more targets.
const maxPlanTargets = 32

// parsePlan reads the plan from the forwarded dynamic metadata. It does not
// verify it (planKeys.verify does).
func parsePlan(md *corev3.Metadata, ns string) (planInfo, error) {
	s := md.GetFilterMetadata()[ns]
	if s == nil {
		return planInfo{}, errNoPlan
	}
	f := s.GetFields()
	p := planInfo{
		ID:           f["id"].GetStringValue(),
		Chain:        f["chain"].GetStringValue(),
		Model:        f["model"].GetStringValue(),
		Stream:       f["stream"].GetBoolValue(),
		IncludeUsage: f["include_usage"].GetBoolValue(),
		Extra:        int(f["extra"].GetNumberValue()),
		Sig:          f["sig"].GetStringValue(),
		Client:       f[planClientKey].GetStringValue(),
	}
	if ms := f["per_try_ms"].GetNumberValue(); ms >= 1 && ms < 1e9 {
		p.PerTry = time.Duration(ms) * time.Millisecond
	}
	if exp := f["exp"].GetNumberValue(); exp > 0 && exp < 1<<53 {
		p.Exp = int64(exp)
	}
	tv := f["targets"].GetListValue().GetValues()
	if len(tv) > maxPlanTargets {
		// No chain has more (limits.max_targets): not a plan the route
		// phase made. Refused before any of it is copied or hashed.
		return planInfo{}, fmt.Errorf("%w: %d targets, more than any chain may have (%d)", errNoPlan, len(tv), maxPlanTargets)
	}
	for _, v := range tv {
		t := v.GetStructValue().GetFields()
		p.Targets = append(p.Targets, planTarget{
			Provider:      t["provider"].GetStringValue(),
			Model:         t["model"].GetStringValue(),
			Cluster:       t["cluster"].GetStringValue(),
			ContextWindow: int(t["context_window"].GetNumberValue()),
		})
	}
	if g := f["gen"].GetNumberValue(); g > 0 && g < 1<<53 {
		p.Gen = uint64(g)
	}
	if len(p.Targets) == 0 {
		return p, fmt.Errorf("%w: the plan has no targets", errNoPlan)
	}
	return p, nil
}
