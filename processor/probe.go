package processor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/llm-failover/llm-failover/cost"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/probe"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/telemetry"
)

// This file is the server's side of the active probes (package probe,
// docs/design.md "Active probes", docs/security.md "Probe header"): it
// signs each probe's contract.HeaderProbe, the route phase plans exactly the
// probed target for a request whose header verifies (and refuses one whose
// header does not), and the attempt phase records the outcome of a probe's
// plan as a probe's.

var _ probe.Host = (*Server)(nil)

// Config is the running configuration.
func (s *Server) Config() *config.Config { return s.state.Load().cfg }

// Breaker is the breaker of target key ("provider/model"), or nil.
func (s *Server) Breaker(key string) *breaker.Breaker { return s.registry.Lookup(key) }

// SignProbe is the contract.HeaderProbe value of a probe of target key
// with body, valid until exp: "<exp ms>.<sig>.<key>".
func (s *Server) SignProbe(key string, body []byte, exp time.Time) string {
	ms := exp.UnixMilli()
	sig := probeMAC(s.planKeys.keys.Load().current, ms, key, body)
	return strconv.FormatInt(ms, 10) + "." + base64.RawURLEncoding.EncodeToString(sig) + "." + key
}

// Errors of verifyProbe.
var (
	errProbeHeader    = errors.New("malformed")
	errProbeSignature = errors.New("its signature does not verify")
	errProbeExpired   = errors.New("it has expired")
)

// verifyProbe checks a probe header against the body at now, with the
// current or the previous plan key, and returns the target it names.
func (s *Server) verifyProbe(v string, body []byte, now time.Time) (string, error) {
	msText, rest, ok1 := strings.Cut(v, ".")
	sigText, key, ok2 := strings.Cut(rest, ".")
	ms, err := strconv.ParseInt(msText, 10, 64)
	var sig [sha256.Size]byte
	if !ok1 || !ok2 || err != nil || key == "" || base64.RawURLEncoding.EncodedLen(len(sig)) != len(sigText) {
		return "", errProbeHeader
	}
	if n, err := base64.RawURLEncoding.Decode(sig[:], []byte(sigText)); err != nil || n != len(sig) {
		return "", errProbeHeader
	}
	keys := s.planKeys.keys.Load()
	match := func(k *macKey) bool { return k != nil && hmac.Equal(probeMAC(k, ms, key, body), sig[:]) }
	if !match(keys.current) && !match(keys.previous) {
		return "", errProbeSignature
	}
	if now.UnixMilli() > ms {
		return "", errProbeExpired
	}
	return key, nil
}

// probeMAC is the HMAC-SHA256 under k of a probe of key with body expiring
// at ms: a domain tag (no plan's canonical bytes start with it), the
// expiry, the key and the body's SHA-256, strings length-prefixed.
func probeMAC(k *macKey, ms int64, key string, body []byte) []byte {
	h := hmac.New(sha256.New, k.key)
	var b []byte
	b = appendLenStr(b, "llm-failover probe v1")
	b = binary.BigEndian.AppendUint64(b, uint64(ms))
	b = appendLenStr(b, key)
	sum := sha256.Sum256(body)
	b = append(b, sum[:]...)
	h.Write(b)
	return h.Sum(nil)
}

func appendLenStr(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint64(b, uint64(len(s))), s...)
}

// probeOnItsPath refuses a request with a probe header on another path
// than probes.path, or with a chain header (a probe sends none): only there is the header verified (with the body), and
// a request answered before its body (the model list) must not skip the
// client identification with a header nobody checked.
func (r *routeStream) probeOnItsPath(path string) []*extprocv3.ProcessingResponse {
	if path == r.st.cfg.Probes.Path && r.chainHeader == "" {
		return nil
	}
	return r.reject(403, "permission_error", "invalid_probe",
		fmt.Sprintf("the %s header is for llm-failover's own probes, which are sent to %s only", contract.HeaderProbe, r.st.cfg.Probes.Path))
}

// planProbe is the route phase of a request with a probe header: verify
// it against the body, then plan exactly its target (routing.ProbePlan)
// with the probe's timeout as the attempt timeout, and publish the plan
// marked as a probe's. A header that does not verify is refused with 403
// invalid_probe: no client can pin a target or skip the client policies
// with it.
func (r *routeStream) planProbe(body []byte) []*extprocv3.ProcessingResponse {
	now := r.s.clock.Now()
	key, err := r.s.verifyProbe(r.probeHeader, body, now)
	if err != nil {
		r.logger().Warn("probe header refused", "reason", err.Error())
		return r.reject(403, "permission_error", "invalid_probe",
			fmt.Sprintf("the %s header is for llm-failover's own probes, and this one is %v", contract.HeaderProbe, err))
	}
	in, perr := r.api.Inspect(body)
	if perr != nil {
		return r.rejectWith(perr.Status, perr.Code, perr.Object())
	}
	plan, err := r.st.table.ProbePlan(key)
	if err != nil {
		return r.reject(409, "invalid_request_error", "target_not_probed",
			fmt.Sprintf("target %q is not probed in the running configuration", key))
	}
	ch := r.st.cfg.Chain(plan.Chain)
	r.perTry = r.st.cfg.AttemptTimeoutFor(ch, in.Stream)
	for _, ps := range r.st.cfg.ProbedTargets() {
		if ps.Target.Key() == key {
			r.perTry = ps.Timeout
		}
	}
	r.probing = true
	return r.publish(ch, r.fitTopology(plan, now), in)
}

// outcome is the breaker outcome of this attempt's classification: a
// probe's when the plan is a probe's.
func (a *attemptStream) outcome(cls provider.Classification) breaker.Outcome {
	o := outcomeOf(cls, a.latency)
	o.Probe = a.plan.Probe
	return o
}

// ObserveProbe counts a probe sent (llm_failover_probe_*) and publishes a
// probe event with reason "active". The probe's tokens are counted here;
// its cost in dollars is issue 15's pricing (package cost) applied to them
// when that lands.
func (s *Server) ObserveProbe(r probe.Result) {
	provider, model := r.Target.Provider, r.Target.Model
	if s.registry.Lookup(r.Target.Key()) == nil {
		provider, model = unknownLabel, unknownLabel
	}
	pr := telemetry.ProbeResult{Provider: provider, Model: model, Result: r.Outcome, Duration: r.Duration,
		Usage: telemetry.Usage{Input: r.InputTokens, Output: r.OutputTokens}}
	// A probe is not charged to any budget, but what it cost is counted.
	if price, ok := s.Table().PriceFor(r.Chain, r.Target.Provider, r.Target.Model); ok {
		pr.USD, pr.Priced = cost.Of(cost.Usage{Input: r.InputTokens, Output: r.OutputTokens}, price), true
	}
	s.tel.CountProbe(pr)
	if s.events == nil {
		return
	}
	e := events.Event{Kind: events.KindProbe, Time: r.At, Chain: r.Chain, From: events.Target{Provider: r.Target.Provider, Model: r.Target.Model},
		Reason: "active", Status: r.Status, Detail: r.Outcome, ProbeLatencyMS: millis(r.Duration),
		ProbeInputTokens: r.InputTokens, ProbeOutputTokens: r.OutputTokens}
	if pr.Priced {
		usd := pr.USD
		e.CostUSD = &usd
	}
	if r.HalfOpen {
		e.Detail += " (half-open)"
	}
	if r.Err != "" {
		e.Detail += ": " + r.Err
	}
	s.events.Publish(e)
}

// ObserveSkipped counts a probe due and not sent.
func (s *Server) ObserveSkipped(_, reason string) { s.tel.CountProbeSkipped(reason) }
