package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
)

// minimal is the smallest valid configuration; tests append to it or replace it.
const minimal = `
providers:
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - name: main
    match: {models: [gpt-4o]}
    targets:
      - {provider: openai, model: gpt-4o}
`

// fieldPaths returns the field path of every FieldError joined into err, in order.
func fieldPaths(t *testing.T, err error) []string {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var paths []string
	for _, e := range errs {
		var fe *config.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %q is not a *config.FieldError", e)
		}
		paths = append(paths, fe.Path)
	}
	return paths
}

// TestLoad_ExampleConfigParses verifies the repository's examples/config.yaml
// loads and keeps what it says.
func TestLoad_ExampleConfigParses(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "examples", "config.yaml"))
	if err != nil {
		t.Fatalf("Load(examples/config.yaml) error = %v, want nil", err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"provider count", len(c.Providers), 2},
		{"groq base path", c.Providers[1].BasePath, "/openai/v1"},
		{"groq auth env", c.Providers[1].Auth.KeyEnv, "GROQ_API_KEY"},
		{"default chain", c.DefaultChain, "premium-reasoning"},
		{"chain models", strings.Join(c.Chains[0].Match.Models, ","), "premium-reasoning,gpt-4o"},
		{"second target", c.Chains[0].Targets[1].Key(), "groq/llama-3.3-70b-versatile"},
		{"chain latency threshold", c.Chains[0].Triggers.Latency.Threshold.D(), 5 * time.Second},
		{"chain error-rate threshold", c.Chains[0].Triggers.ErrorRate.Threshold, 0.05},
		{"max body bytes", c.Limits.MaxBodyBytes, config.ByteSize(4 << 20)},
		{"max targets", c.Limits.MaxTargets, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestParse_AppliesDocumentedDefaults verifies every default in the config
// types' doc comments is filled in when the field is left out.
func TestParse_AppliesDocumentedDefaults(t *testing.T) {
	c, err := config.Parse([]byte(`
providers:
  - {name: openai, api: openai, host: api.openai.com}
  - {name: compat, api: openai-compatible, host: local, tls: false}
  - {name: claude, api: anthropic, host: api.anthropic.com}
  - {name: gem, api: gemini, host: generativelanguage.googleapis.com}
  - {name: azure, api: azure-openai, host: x.openai.azure.com}
chains:
  - name: main
    match: {models: [gpt-4o]}
    targets:
      - {provider: openai, model: gpt-4o}
    triggers:
      latency: {threshold: 5s}
      error_rate: {threshold: 0.5}
`))
	if err != nil {
		t.Fatalf("Parse error = %v, want nil", err)
	}
	p := func(name string) *config.Provider { return c.Provider(name) }
	ch := c.Chain("main")
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"server.grpc_address", c.Server.GRPCAddress, "127.0.0.1:50051"},
		{"server.admin_address", c.Server.AdminAddress, "127.0.0.1:9464"},
		{"server.drain_timeout", c.Server.DrainTimeout.D(), 20 * time.Second},
		{"server.stream_first_event_timeout", c.Server.StreamFirstEventTimeout.D(), 10 * time.Second},
		{"server.max_stream_hold_bytes", c.Server.MaxStreamHoldBytes, config.ByteSize(64 << 10)},
		{"metadata_namespace", c.MetadataNamespace, "llm_failover"},
		{"plan namespace", c.PlanNamespace(), "llm_failover.plan"},
		{"cluster is the name", p("openai").Cluster, "openai"},
		{"tls is on", *p("openai").TLS, true},
		{"port 443 with tls", p("openai").Port, 443},
		{"port 80 without tls", p("compat").Port, 80},
		{"http2 off", p("openai").HTTP2, false},
		{"openai base path", p("openai").BasePath, "/v1"},
		{"openai-compatible base path", p("compat").BasePath, "/v1"},
		{"anthropic base path", p("claude").BasePath, "/v1"},
		{"gemini base path", p("gem").BasePath, "/v1beta"},
		{"azure-openai base path", p("azure").BasePath, "/openai"},
		{"openai auth header", p("openai").Auth.Header, "authorization"},
		{"openai-compatible auth header", p("compat").Auth.Header, "authorization"},
		{"anthropic auth header", p("claude").Auth.Header, "x-api-key"},
		{"gemini auth header", p("gem").Auth.Header, "x-goog-api-key"},
		{"azure-openai auth header", p("azure").Auth.Header, "api-key"},
		{"Bearer scheme on authorization", p("openai").Auth.Scheme, "Bearer"},
		{"no scheme on x-api-key", p("claude").Auth.Scheme, ""},
		{"anthropic api version", p("claude").APIVersion, "2023-06-01"},
		{"azure api version", p("azure").APIVersion, "2024-10-21"},
		{"no api version for openai", p("openai").APIVersion, ""},
		{"breaker.consecutive_failures", c.Breaker.ConsecutiveFailures, 3},
		{"breaker.open_for", c.Breaker.OpenFor.D(), 30 * time.Second},
		{"breaker.max_open_for", c.Breaker.MaxOpenFor.D(), 5 * time.Minute},
		{"breaker.auth_open_for", c.Breaker.AuthOpenFor.D(), 10 * time.Minute},
		{"breaker.quota_open_for", c.Breaker.QuotaOpenFor.D(), time.Hour},
		{"breaker.jitter", *c.Breaker.Jitter, 0.1},
		{"breaker.half_open_probes", c.Breaker.HalfOpenProbes, 1},
		{"breaker.probe_timeout", c.Breaker.ProbeTimeout.D(), 60 * time.Second},
		{"breaker.recovery_stages", slices.Equal(c.Breaker.RecoveryStages, []float64{0.1, 0.5, 1.0}), true},
		{"breaker.recovery_stage_duration", c.Breaker.RecoveryStageDuration.D(), 10 * time.Second},
		{"breaker.triggers off", c.Breaker.Triggers.Latency == nil && c.Breaker.Triggers.ErrorRate == nil, true},
		{"chain latency min_requests", ch.Triggers.Latency.MinRequests, 5},
		{"chain error_rate window", ch.Triggers.ErrorRate.Window.D(), 60 * time.Second},
		{"chain error_rate min_requests", ch.Triggers.ErrorRate.MinRequests, 20},
		{"routing.all_open", c.Routing.AllOpen, config.AllOpenTrySoonest},
		{"routing.same_target_retries", *c.Routing.SameTargetRetries, 0},
		{"limits.max_body_bytes", c.Limits.MaxBodyBytes, config.ByteSize(4 << 20)},
		{"limits.max_targets", c.Limits.MaxTargets, 8},
		{"trace.max_entries", c.Trace.MaxEntries, 10000},
		{"trace.ttl", c.Trace.TTL.D(), 5 * time.Minute},
		{"envoy.listen_port", c.Envoy.ListenPort, 10000},
		{"envoy.admin_port", c.Envoy.AdminPort, 9901},
		{"envoy.ext_proc_address", c.Envoy.ExtProcAddress, "127.0.0.1:50051"},
		{"envoy.per_try_timeout", c.Envoy.PerTryTimeout.D(), 10 * time.Minute},
		{"envoy.per_try_idle_timeout", c.Envoy.PerTryIdleTimeout.D(), time.Duration(0)},
		{"routing.attempt_timeout.streamed", c.Routing.AttemptTimeout.Streamed.D(), 60 * time.Second},
		{"routing.attempt_timeout.non_streamed", c.Routing.AttemptTimeout.NonStreamed.D(), 10 * time.Minute},
		{"chain attempt_timeout unset", ch.AttemptTimeout == nil, true},
		{"envoy.retry_base_interval", c.Envoy.RetryBaseInterval.D(), 10 * time.Millisecond},
		{"envoy.routes", strings.Join(c.Envoy.Routes, ","), "/v1/chat/completions,/v1/embeddings,/v1/models,/v1/responses"},
		{"envoy.max_active_requests", c.Envoy.MaxActiveRequests, 10000},
		{"envoy.unavailable_port", c.Envoy.UnavailablePort, 9902},
		{"envoy.route_message_timeout", c.Envoy.RouteMessageTimeout.D(), 2 * time.Second},
		{"envoy.attempt_message_slack", c.Envoy.AttemptMessageSlack.D(), 5 * time.Second},
		{"envoy.version", c.Envoy.Version, "1.40"},
		{"envoy.max_shapes", c.Envoy.MaxShapes, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestParse_KeepsExplicitValues verifies set fields are not overwritten by
// defaults, including explicit zeros that have a pointer type.
func TestParse_KeepsExplicitValues(t *testing.T) {
	c, err := config.Parse([]byte(minimal + `
breaker: {jitter: 0}
routing: {same_target_retries: 2, all_open: reject}
`))
	if err != nil {
		t.Fatalf("Parse error = %v, want nil", err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"jitter 0 stays 0", *c.Breaker.Jitter, 0.0},
		{"same_target_retries", *c.Routing.SameTargetRetries, 2},
		{"all_open", c.Routing.AllOpen, config.AllOpenReject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestParse_NormalisesProviderFields verifies a trailing slash is cut from
// base_path and the auth header is lower-cased (and so gets the Bearer scheme).
func TestParse_NormalisesProviderFields(t *testing.T) {
	c, err := config.Parse([]byte(`
providers:
  - {name: openai, api: openai, host: api.openai.com, base_path: /v1/, auth: {header: Authorization}}
chains:
  - {name: main, targets: [{provider: openai, model: gpt-4o}]}
`))
	if err != nil {
		t.Fatalf("Parse error = %v, want nil", err)
	}
	p := c.Providers[0]
	if p.BasePath != "/v1" {
		t.Errorf("base_path: got %q, want %q", p.BasePath, "/v1")
	}
	if p.Auth.Header != "authorization" || p.Auth.Scheme != "Bearer" {
		t.Errorf("auth: got header %q scheme %q, want %q %q", p.Auth.Header, p.Auth.Scheme, "authorization", "Bearer")
	}
}

// TestParse_RejectsUnknownFields verifies strict decoding: a misspelt or
// unknown key anywhere is an error, not silently ignored.
func TestParse_RejectsUnknownFields(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		field string
	}{
		{"top level", minimal + "defualt_chain: main\n", "defualt_chain"},
		{"in breaker", minimal + "breaker: {open_fro: 30s}\n", "open_fro"},
		{"in provider", `
providers:
  - {name: openai, api: openai, host: api.openai.com, hots: x}
chains:
  - {name: main, targets: [{provider: openai, model: gpt-4o}]}
`, "hots"},
		{"in target", `
providers:
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - {name: main, targets: [{provider: openai, modle: gpt-4o}]}
`, "modle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("Parse error = %v, want an error naming %q", err, tt.field)
			}
		})
	}
}

// TestParse_RejectsDuplicateKeys verifies a key given twice in one mapping is an error.
func TestParse_RejectsDuplicateKeys(t *testing.T) {
	_, err := config.Parse([]byte(minimal + "default_chain: main\ndefault_chain: main\n"))
	if err == nil {
		t.Errorf("Parse error = nil, want an error for the repeated key")
	}
}

// TestValidate_ReportsEachProblemWithItsPath verifies each kind of problem is
// reported at its field path, and only there, and wraps ErrInvalid.
func TestValidate_ReportsEachProblemWithItsPath(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"duplicate provider name (and so cluster)", `
providers:
  - {name: openai, api: openai, host: api.openai.com}
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - {name: main, targets: [{provider: openai, model: gpt-4o}]}
`, []string{"providers[1].name", "providers[1].cluster"}},
		{"duplicate model across chains", `
providers:
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - {name: a, match: {models: [gpt-4o]}, targets: [{provider: openai, model: gpt-4o}]}
  - {name: b, match: {models: [gpt-4o-mini, gpt-4o]}, targets: [{provider: openai, model: gpt-4o}]}
`, []string{"chains[1].match.models[1]"}},
		{"unknown provider in a target", `
providers:
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - {name: main, targets: [{provider: openai, model: gpt-4o}, {provider: groq, model: llama}]}
`, []string{"chains[0].targets[1].provider"}},
		{"unknown default_chain", minimal + "default_chain: nope\n", []string{"default_chain"}},
		{"attempt timeouts out of bounds", minimal + "routing: {attempt_timeout: {streamed: 50ms, non_streamed: 2h}}\n",
			[]string{"routing.attempt_timeout.streamed", "routing.attempt_timeout.non_streamed"}},
		{"a chain's attempt timeout out of bounds", `
providers:
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - {name: main, attempt_timeout: {streamed: 0.01}, targets: [{provider: openai, model: gpt-4o}]}
`, []string{"chains[0].attempt_timeout.streamed"}},
		{"probe timeout out of bounds", minimal + "breaker: {probe_timeout: 500ms}\n", []string{"breaker.probe_timeout"}},
		{"max active requests out of bounds", minimal + "envoy: {max_active_requests: 2000000}\n", []string{"envoy.max_active_requests"}},
		{"unavailable port taken by the listener", minimal + "envoy: {listen_port: 9902}\n", []string{"envoy.unavailable_port"}},
		{"message timeouts below their bounds", minimal + "envoy: {route_message_timeout: 100ms, attempt_message_slack: 500ms}\n",
			[]string{"envoy.route_message_timeout", "envoy.attempt_message_slack"}},
		{"message timeouts above their bounds", minimal + "envoy: {route_message_timeout: 6m, attempt_message_slack: 6m}\n",
			[]string{"envoy.route_message_timeout", "envoy.attempt_message_slack"}},
		{"unsupported Envoy version", minimal + "envoy: {version: \"1.37\"}\n", []string{"envoy.version"}},
		{"max shapes out of bounds", minimal + "envoy: {max_shapes: 5000}\n", []string{"envoy.max_shapes"}},
		{"more targets than limits.max_targets", `
providers:
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - name: main
    targets:
      - {provider: openai, model: a}
      - {provider: openai, model: b}
      - {provider: openai, model: c}
limits: {max_targets: 2}
`, []string{"chains[0].targets"}},
		{"recovery stages not increasing", minimal + "breaker: {recovery_stages: [0.5, 0.3, 1.0]}\n",
			[]string{"breaker.recovery_stages"}},
		{"recovery stages repeat a share", minimal + "breaker: {recovery_stages: [0.5, 0.5, 1.0]}\n",
			[]string{"breaker.recovery_stages"}},
		{"last recovery stage is not 1", minimal + "breaker: {recovery_stages: [0.1, 0.5]}\n",
			[]string{"breaker.recovery_stages"}},
		{"recovery stage above 1", minimal + "breaker: {recovery_stages: [0.5, 1.5]}\n",
			[]string{"breaker.recovery_stages", "breaker.recovery_stages"}},
		{"max_open_for below open_for", minimal + "breaker: {open_for: 10m, max_open_for: 1m}\n",
			[]string{"breaker.max_open_for"}},
		{"jitter above 0.5", minimal + "breaker: {jitter: 0.6}\n", []string{"breaker.jitter"}},
		{"body limit above 256MiB", minimal + "limits: {max_body_bytes: 1GiB}\n", []string{"limits.max_body_bytes"}},
		{"body limit below 1KiB", minimal + "limits: {max_body_bytes: 1000}\n", []string{"limits.max_body_bytes"}},
		{"drain timeout above 10m", minimal + "server: {drain_timeout: 11m}\n", []string{"server.drain_timeout"}},
		{"unknown all_open policy", minimal + "routing: {all_open: retry}\n", []string{"routing.all_open"}},
		{"same_target_retries above 5", minimal + "routing: {same_target_retries: 6}\n", []string{"routing.same_target_retries"}},
		{"unknown api", `
providers:
  - {name: openai, api: openia, host: api.openai.com}
chains:
  - {name: main, targets: [{provider: openai, model: gpt-4o}]}
`, []string{"providers[0].api"}},
		{"host with a scheme", `
providers:
  - {name: openai, api: openai, host: "https://api.openai.com"}
chains:
  - {name: main, targets: [{provider: openai, model: gpt-4o}]}
`, []string{"providers[0].host"}},
		{"key_env and key_file together", `
providers:
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: K, key_file: /k}}
chains:
  - {name: main, targets: [{provider: openai, model: gpt-4o}]}
`, []string{"providers[0].auth"}},
		{"chain error-rate threshold above 1", `
providers:
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - {name: main, targets: [{provider: openai, model: gpt-4o}], triggers: {error_rate: {threshold: 2}}}
`, []string{"chains[0].triggers.error_rate.threshold"}},
		{"no providers and no chains", "metadata_namespace: x\n", []string{"providers", "chains"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.yaml))
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Parse error = %v, want one wrapping config.ErrInvalid", err)
			}
			if got := fieldPaths(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("paths: got %q, want %q (error: %v)", got, tt.want, err)
			}
		})
	}
}

// TestValidate_ReportsEveryProblemAtOnce verifies a config with several errors
// lists all of them in one error, each as "path: reason".
func TestValidate_ReportsEveryProblemAtOnce(t *testing.T) {
	_, err := config.Parse([]byte(`
providers:
  - {name: openai, api: openai, host: api.openai.com}
  - {name: openai, api: openai, host: api.openai.com, cluster: other}
chains:
  - {name: a, match: {models: [gpt-4o]}, targets: [{provider: openai, model: gpt-4o}]}
  - {name: b, match: {models: [gpt-4o]}, targets: [{provider: groq, model: llama}]}
default_chain: c
breaker: {recovery_stages: [0.5, 0.2]}
limits: {max_body_bytes: 100KB, max_targets: 40}
`))
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("Parse error = %v, want one wrapping config.ErrInvalid", err)
	}
	want := []string{
		"providers[1].name",
		"chains[1].match.models[0]",
		"chains[1].targets[0].provider",
		"default_chain",
		"breaker.recovery_stages",
		"breaker.recovery_stages",
		"limits.max_targets",
	}
	if got := fieldPaths(t, err); !slices.Equal(got, want) {
		t.Errorf("paths: got %q, want %q", got, want)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if path, reason, ok := strings.Cut(line, ": "); !ok || path == "" || reason == "" {
			t.Errorf("error line %q: got no \"path: reason\" form, want one", line)
		}
	}
}

// TestValidate_DoesNotPanicWithoutDefaults verifies Validate on a config that
// never went through ApplyDefaults reports problems instead of panicking.
func TestValidate_DoesNotPanicWithoutDefaults(t *testing.T) {
	var c config.Config
	err := c.Validate()
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("Validate() on a zero Config = %v, want an error wrapping config.ErrInvalid", err)
	}
}

// TestParse_ReadsDurationsAndSizes verifies durations as strings or seconds
// and sizes as numbers or with units, end to end from YAML.
func TestParse_ReadsDurationsAndSizes(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		wantDrain time.Duration
		wantBody  config.ByteSize
	}{
		{"duration string and MiB", "server: {drain_timeout: 30s}\nlimits: {max_body_bytes: 4MiB}\n", 30 * time.Second, 4 << 20},
		{"duration in seconds and KB", "server: {drain_timeout: 45}\nlimits: {max_body_bytes: 100KB}\n", 45 * time.Second, 100_000},
		{"fractional seconds and a plain number", "server: {drain_timeout: 1.5}\nlimits: {max_body_bytes: 1024}\n", 1500 * time.Millisecond, 1024},
		{"composite duration and GiB-sized MiB", "server: {drain_timeout: 1m30s}\nlimits: {max_body_bytes: 256MiB}\n", 90 * time.Second, 256 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(minimal + tt.yaml))
			if err != nil {
				t.Fatalf("Parse error = %v, want nil", err)
			}
			if got := c.Server.DrainTimeout.D(); got != tt.wantDrain {
				t.Errorf("drain_timeout: got %v, want %v", got, tt.wantDrain)
			}
			if got := c.Limits.MaxBodyBytes; got != tt.wantBody {
				t.Errorf("max_body_bytes: got %d, want %d", got, tt.wantBody)
			}
		})
	}
}

// TestParse_RejectsBadDurationsAndSizes verifies malformed durations and sizes
// fail decoding with an error naming the bad value.
func TestParse_RejectsBadDurationsAndSizes(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"duration without unit in quotes", `server: {drain_timeout: "30"}`, `"30"`},
		{"unknown duration unit", "server: {drain_timeout: 30x}", "30x"},
		{"duration as a bool", "server: {drain_timeout: true}", "true"},
		{"unknown size unit", "limits: {max_body_bytes: 4XB}", "4XB"},
		{"lower-case size unit", "limits: {max_body_bytes: 4mib}", "4mib"},
		{"fractional size", "limits: {max_body_bytes: 1.5MiB}", "1.5MiB"},
		{"negative size", `limits: {max_body_bytes: "-1KiB"}`, "-1KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(minimal + tt.yaml + "\n"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// TestAuth_ReadKey verifies keys come from the environment or a file with
// surrounding white space trimmed, and that no source means no key.
func TestAuth_ReadKey(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("  sk-from-file\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LLMF_TEST_KEY", " sk-from-env\n")
	tests := []struct {
		name string
		auth config.Auth
		want string
	}{
		{"from env, trimmed", config.Auth{KeyEnv: "LLMF_TEST_KEY"}, "sk-from-env"},
		{"from file, trimmed", config.Auth{KeyFile: keyFile}, "sk-from-file"},
		{"no source", config.Auth{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.auth.ReadKey()
			if err != nil || got != tt.want {
				t.Errorf("ReadKey() = %q, %v; want %q, nil", got, err, tt.want)
			}
		})
	}
}

// TestAuth_ReadKeyErrorsHoldNoSecret verifies a missing env var or key file is
// an error naming the source but never containing a key.
// An empty or white-space-only source is refused too: requests would go out
// with no credential.
func TestAuth_ReadKeyErrorsHoldNoSecret(t *testing.T) {
	const secret = "sk-very-secret-value"
	t.Setenv("LLMF_TEST_OTHER_KEY", secret)
	t.Setenv("LLMF_TEST_EMPTY_KEY", "")
	t.Setenv("LLMF_TEST_BLANK_KEY", " \t\n")
	dir := t.TempDir()
	emptyFile, blankFile := filepath.Join(dir, "empty.key"), filepath.Join(dir, "blank.key")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blankFile, []byte("\n  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		auth     config.Auth
		wantName string
	}{
		{"missing env var", config.Auth{KeyEnv: "LLMF_TEST_MISSING_KEY"}, "LLMF_TEST_MISSING_KEY"},
		{"missing key file", config.Auth{KeyFile: filepath.Join(t.TempDir(), "absent")}, "absent"},
		{"empty env var", config.Auth{KeyEnv: "LLMF_TEST_EMPTY_KEY"}, "LLMF_TEST_EMPTY_KEY"},
		{"white-space env var", config.Auth{KeyEnv: "LLMF_TEST_BLANK_KEY"}, "LLMF_TEST_BLANK_KEY"},
		{"empty key file", config.Auth{KeyFile: emptyFile}, "empty.key"},
		{"white-space key file", config.Auth{KeyFile: blankFile}, "blank.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := tt.auth.ReadKey()
			if err == nil {
				t.Fatalf("ReadKey() = %q, nil; want an error", key)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q: got the secret in it, want none", err)
			}
			if !strings.Contains(err.Error(), tt.wantName) {
				t.Errorf("error %q: got no mention of %q, want one", err, tt.wantName)
			}
		})
	}
}

// TestConfig_Lookups verifies Provider, ProviderByCluster and Chain find by
// name and return nil for unknown names.
func TestConfig_Lookups(t *testing.T) {
	c, err := config.Parse([]byte(`
providers:
  - {name: openai, api: openai, host: api.openai.com, cluster: openai_cluster}
chains:
  - {name: main, targets: [{provider: openai, model: gpt-4o}]}
`))
	if err != nil {
		t.Fatalf("Parse error = %v, want nil", err)
	}
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"provider by name", c.Provider("openai") != nil, true},
		{"unknown provider", c.Provider("groq") == nil, true},
		{"provider by cluster", c.ProviderByCluster("openai_cluster") == c.Provider("openai"), true},
		{"name is not the cluster", c.ProviderByCluster("openai") == nil, true},
		{"chain by name", c.Chain("main") != nil, true},
		{"unknown chain", c.Chain("other") == nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestDocs_ConfigurationReferenceIsComplete verifies docs/configuration.md
// names every YAML field of config.Config and quotes examples/config.yaml
// exactly.
func TestDocs_ConfigurationReferenceIsComplete(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatalf("reading the reference: %v", err)
	}
	example, err := os.ReadFile(filepath.Join("..", "examples", "config.yaml"))
	if err != nil {
		t.Fatalf("reading the example: %v", err)
	}
	if !strings.Contains(string(doc), "```yaml\n"+string(example)+"```\n") {
		t.Errorf("docs/configuration.md: got no exact copy of examples/config.yaml, want one")
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && !strings.Contains(string(doc), "`"+name+"`") && !strings.Contains(string(doc), "."+name+"`") {
				t.Errorf("field %s.%s: got no `%s` in docs/configuration.md, want it documented", typ.Name(), f.Name, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[config.Config]())
}

// TestParse_AttemptTimeoutsPerChainAndKind verifies attempt timeouts: a
// chain's own values, routing's for the fields it leaves unset and for
// chains without any, separately for streamed and non-streamed requests,
// and the bounds derived from them.
func TestParse_AttemptTimeoutsPerChainAndKind(t *testing.T) {
	c, err := config.Parse([]byte(`
providers:
  - {name: openai, api: openai, host: api.openai.com}
routing:
  attempt_timeout: {streamed: 20s, non_streamed: 5m}
  same_target_retries: 1
chains:
  - name: slow
    match: {models: [o3]}
    attempt_timeout: {non_streamed: 30m}
    targets: [{provider: openai, model: o3}, {provider: openai, model: o4-mini}]
  - name: fast
    match: {models: [mini]}
    targets: [{provider: openai, model: gpt-4o-mini}]
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	slow, fast := c.Chain("slow"), c.Chain("fast")
	tests := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"chain's own non-streamed", c.AttemptTimeoutFor(slow, false), 30 * time.Minute},
		{"chain's unset streamed takes routing's", c.AttemptTimeoutFor(slow, true), 20 * time.Second},
		{"chain without any: non-streamed", c.AttemptTimeoutFor(fast, false), 5 * time.Minute},
		{"chain without any: streamed", c.AttemptTimeoutFor(fast, true), 20 * time.Second},
		{"longest non-streamed", c.LongestAttemptTimeout(false), 30 * time.Minute},
		{"request lifetime: (2 targets + 1 retry) x 30m + 1m", c.RequestLifetime(), 91 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestValidate_PerTryIdleTimeoutMustNotCutNonStreamedAnswers verifies that
// an envoy.per_try_idle_timeout below the longest non-streamed attempt
// timeout is refused: Envoy starts it with the attempt, so it would cut a
// non-streamed answer still being generated.
func TestValidate_PerTryIdleTimeoutMustNotCutNonStreamedAnswers(t *testing.T) {
	_, err := config.Parse([]byte(minimal + "envoy: {per_try_idle_timeout: 60s}\n"))
	if paths := fieldPaths(t, err); len(paths) != 1 || paths[0] != "envoy.per_try_idle_timeout" {
		t.Fatalf("got %v, want one problem at envoy.per_try_idle_timeout", err)
	}
	if _, err := config.Parse([]byte(minimal + "envoy: {per_try_idle_timeout: 10m}\n")); err != nil {
		t.Fatalf("a value equal to the attempt timeout: got %v, want it accepted", err)
	}
}
