package contract

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// Plan is what the route phase publishes as dynamic metadata and the
// attempt phase reads back from a request attribute (docs/envoy-contract.md,
// "Route phase"): EncodePlan and EncodePlanString are its encoders,
// DecodePlanString and DecodePlan its decoders (planwire.go), AppendCanonical
// the bytes its signature covers.
type Plan struct {
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
	Targets []Target
	// Client is the admitted client the answer's tokens are charged to
	// ("client"; empty without a clients policy).
	Client string
	// Exp is when the plan expires ("exp", unix milliseconds) and Sig its
	// signature ("sig", base64url HMAC-SHA256 over AppendCanonical).
	Exp int64
	Sig string
	// Traceparent is the W3C traceparent of the request's span
	// ("traceparent"; empty when tracing is off): the attempt phase's spans
	// are its children. Informational and not signed, like Model: a
	// malformed one only leaves an attempt span without its parent.
	Traceparent string
	// API names the client API the request was made to ("api"; the
	// provider package's ClientAPI.Name, e.g. "embeddings"): the attempt
	// phase prepares and judges the attempt for it. Empty in a plan from a
	// replica that predates it, which served chat completions only.
	API string
	// Probe marks the plan of an active probe ("probe"; signed): the
	// attempt phase records its outcome as a probe's (breaker.Outcome.Probe).
	Probe bool
}

// Target is one planned attempt's target.
type Target struct {
	Provider      string
	Model         string
	Cluster       string
	ContextWindow int
	// Placement says where the target's tier and region put it in the
	// plan ("placement", e.g. "tier=1;weight=3/4;region=eu:preferred"),
	// for the trace header. Informational and not signed, like Model:
	// DecodePlan keeps it only when it is ValidPlacement.
	Placement string
}

// Keys of the nested plan details (PlanNamespace) and of each of its
// targets, as replicas before the compact plan string published them;
// DecodePlan still reads them.
const (
	keyVersion      = "v"
	keyID           = "id"
	keyGen          = "gen"
	keyPerTryMS     = "per_try_ms"
	keyChain        = "chain"
	keyModel        = "model"
	keyStream       = "stream"
	keyIncludeUsage = "include_usage"
	keyExtra        = "extra"
	keyTargets      = "targets"
	keyExp          = "exp"
	keySig          = "sig"
	keyClient       = "client"
	keyTraceparent  = "traceparent"
	keyAPI          = "api"
	keyProbe        = "probe"

	keyTargetProvider      = "provider"
	keyTargetCluster       = "cluster"
	keyTargetModel         = "model"
	keyTargetContextWindow = "context_window"
	keyTargetPlacement     = "placement"
)

// Keys of the priority_group cluster specifier's override
// (envoy.extensions.router.cluster_specifiers.priority_group), which the
// route phase writes to the metadata namespace itself.
const (
	keyPriorityGroups = "priority_groups"
	keyGroupName      = "name"
	keyGroupClusters  = "clusters"
	keyClusterName    = "cluster_name"
	keyClusterWeight  = "weight"
)

// GroupName is the name of the priority group of the plan's i-th target
// (from 0).
func GroupName(i int) string { return "attempt-" + strconv.Itoa(i+1) }

// MaxTargets is the upper bound of limits.max_targets: no plan the route
// phase makes has more targets, and DecodePlan refuses one that has.
const MaxTargets = 32

// ErrNoPlan is DecodePlan's error for metadata that holds no usable plan.
var ErrNoPlan = errors.New("no plan in the forwarded metadata")

// EncodePlan is the dynamic metadata of p under metadata namespace ns: the
// priority_group override in ns and, in PlanNamespace(ns), the compact plan
// string (EncodePlanString) under PlanKey beside a readable summary: v, id,
// chain, model and stream, as the plan's details were named before the
// string (access logs read them, e.g. %DYNAMIC_METADATA(llm_failover.plan:chain)%).
// Nothing decides on the summary, and the attempt phase does not receive it.
func EncodePlan(ns string, p *Plan) *structpb.Struct {
	groups := make([]*structpb.Value, len(p.Targets))
	for i, t := range p.Targets {
		groups[i] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			keyGroupName: structpb.NewStringValue(GroupName(i)),
			keyGroupClusters: structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{
				structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
					keyClusterName:   structpb.NewStringValue(t.Cluster),
					keyClusterWeight: structpb.NewNumberValue(1),
				}}),
			}}),
		}})
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		ns: structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			keyPriorityGroups: structpb.NewListValue(&structpb.ListValue{Values: groups}),
		}}),
		PlanNamespace(ns): structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			PlanKey:    structpb.NewStringValue(EncodePlanString(p)),
			keyVersion: structpb.NewNumberValue(1),
			keyID:      structpb.NewStringValue(p.ID),
			keyChain:   structpb.NewStringValue(p.Chain),
			keyModel:   structpb.NewStringValue(p.Model),
			keyStream:  structpb.NewBoolValue(p.Stream),
		}}),
	}}
}

// DecodePlan reads the plan from forwarded dynamic metadata md, in the plan
// namespace of metadata namespace ns: the compact plan string under PlanKey
// (DecodePlanString), or the nested plan details a replica before the
// compact string published (a Struct whose fields the keys above name). It
// does not verify the plan's signature (the processor does).
func DecodePlan(md *corev3.Metadata, ns string) (Plan, error) {
	s := md.GetFilterMetadata()[PlanNamespace(ns)]
	if s == nil {
		return Plan{}, ErrNoPlan
	}
	f := s.GetFields()
	if v, ok := f[PlanKey]; ok {
		return DecodePlanString(v.GetStringValue())
	}
	p := Plan{
		ID:           f[keyID].GetStringValue(),
		Chain:        f[keyChain].GetStringValue(),
		Model:        f[keyModel].GetStringValue(),
		Stream:       f[keyStream].GetBoolValue(),
		IncludeUsage: f[keyIncludeUsage].GetBoolValue(),
		Extra:        int(f[keyExtra].GetNumberValue()),
		Sig:          f[keySig].GetStringValue(),
		Client:       f[keyClient].GetStringValue(),
		Traceparent:  f[keyTraceparent].GetStringValue(),
		API:          f[keyAPI].GetStringValue(),
		Probe:        f[keyProbe].GetBoolValue(),
	}
	if ms := f[keyPerTryMS].GetNumberValue(); ms >= 1 && ms < 1e9 {
		p.PerTry = time.Duration(ms) * time.Millisecond
	}
	if exp := f[keyExp].GetNumberValue(); exp > 0 && exp < 1<<53 {
		p.Exp = int64(exp)
	}
	tv := f[keyTargets].GetListValue().GetValues()
	if len(tv) > MaxTargets {
		// No chain has more (limits.max_targets): not a plan the route
		// phase made. Refused before any of it is copied or hashed.
		return Plan{}, fmt.Errorf("%w: %d targets, more than any chain may have (%d)", ErrNoPlan, len(tv), MaxTargets)
	}
	for _, v := range tv {
		t := v.GetStructValue().GetFields()
		p.Targets = append(p.Targets, Target{
			Provider:      t[keyTargetProvider].GetStringValue(),
			Model:         t[keyTargetModel].GetStringValue(),
			Cluster:       t[keyTargetCluster].GetStringValue(),
			ContextWindow: int(t[keyTargetContextWindow].GetNumberValue()),
			Placement:     placement(t[keyTargetPlacement].GetStringValue()),
		})
	}
	if g := f[keyGen].GetNumberValue(); g > 0 && g < 1<<53 {
		p.Gen = uint64(g)
	}
	if len(p.Targets) == 0 {
		return p, fmt.Errorf("%w: the plan has no targets", ErrNoPlan)
	}
	return p, nil
}

// AppendCanonical appends p's canonical encoding to b, the bytes its
// signature covers: a version tag, then every field an attempt acts on in a
// fixed order, strings length prefixed, numbers and booleans as 8 bytes
// big-endian, so no two plans encode alike. Model, Sig and Traceparent are
// not in it. API comes last and only when set (or when Probe is), then
// Probe only when set, so a chat completions plan encodes as it did before
// these fields existed.
func (p *Plan) AppendCanonical(b []byte) []byte {
	b = appendStr(b, "llm-failover plan v1")
	b = appendStr(b, p.ID)
	b = binary.BigEndian.AppendUint64(b, p.Gen)
	b = appendStr(b, p.Chain)
	b = appendBool(b, p.Stream)
	b = appendBool(b, p.IncludeUsage)
	b = binary.BigEndian.AppendUint64(b, uint64(int64(p.Extra)))
	b = binary.BigEndian.AppendUint64(b, uint64(p.PerTry.Milliseconds()))
	b = binary.BigEndian.AppendUint64(b, uint64(len(p.Targets)))
	for _, t := range p.Targets {
		b = appendStr(b, t.Provider)
		b = appendStr(b, t.Model)
		b = appendStr(b, t.Cluster)
		b = binary.BigEndian.AppendUint64(b, uint64(int64(t.ContextWindow)))
	}
	b = appendStr(b, p.Client)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Exp))
	if p.API != "" || p.Probe {
		b = appendStr(b, p.API)
	}
	if p.Probe {
		b = appendBool(b, true)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint64(b, uint64(len(s))), s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return binary.BigEndian.AppendUint64(b, 1)
	}
	return binary.BigEndian.AppendUint64(b, 0)
}

// MaxPlacement bounds a target's placement text.
const MaxPlacement = 200

// ValidPlacement reports whether s may be a target's placement: at most
// MaxPlacement bytes of [a-z0-9=;:/._-] (what routing writes: names and
// numbers), so it is safe in a header and a log.
func ValidPlacement(s string) bool {
	if len(s) > MaxPlacement {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("=;:/._-", c) >= 0) {
			return false
		}
	}
	return true
}

// placement is s when ValidPlacement, else "".
func placement(s string) string {
	if ValidPlacement(s) {
		return s
	}
	return ""
}
