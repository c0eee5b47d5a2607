package config_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

const envoyHeldChains = `
chains:
  - {name: main, match: {models: [gpt-4o]}, targets: [{provider: p, model: gpt-4o}]}
`

// TestParse_KeyHolderDefaultsToServer verifies held_by defaults to server
// (existing configurations keep reading their keys) and that an Envoy-held
// provider keeps its secret file and reads no key on the server.
func TestParse_KeyHolderDefaultsToServer(t *testing.T) {
	c, err := config.Parse([]byte(`
providers:
  - {name: p, api: openai, host: api.openai.com}
  - {name: q, api: anthropic, host: api.anthropic.com, auth: {held_by: envoy, secret_file: /etc/llm-failover/q.yaml}}
chains:
  - {name: main, match: {models: [gpt-4o]}, targets: [{provider: p, model: gpt-4o}, {provider: q, model: claude}]}
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := c.Providers[0].Auth.HeldBy; got != config.KeyHeldByServer {
		t.Errorf("providers[0].auth.held_by: got %v, want server", got)
	}
	q := c.Providers[1].Auth
	if !q.HeldByEnvoy() || q.SecretFile != "/etc/llm-failover/q.yaml" || q.Header != "x-api-key" {
		t.Errorf("providers[1].auth: got %+v, want held_by envoy, the secret file, header x-api-key", q)
	}
	if key, err := q.ReadKey(); key != "" || err != nil {
		t.Errorf("ReadKey of an Envoy-held key: got %q, %v; want \"\", nil", key, err)
	}
}

// TestValidate_KeyHolder verifies each inconsistent key placement is
// reported at its field path.
func TestValidate_KeyHolder(t *testing.T) {
	tests := []struct {
		name string
		auth string
		want []string
	}{
		{"envoy without a secret file", `{held_by: envoy}`, []string{"providers[0].auth.secret_file"}},
		{"envoy with a relative secret file", `{held_by: envoy, secret_file: keys/p.yaml}`, []string{"providers[0].auth.secret_file"}},
		{"envoy with a secret file Envoy cannot parse by name", `{held_by: envoy, secret_file: /keys/p.txt}`, []string{"providers[0].auth.secret_file"}},
		{"envoy and a server-side key", `{held_by: envoy, secret_file: /keys/p.yaml, key_env: P_KEY}`, []string{"providers[0].auth"}},
		{"server with a secret file", `{key_env: P_KEY, secret_file: /keys/p.yaml}`, []string{"providers[0].auth.secret_file"}},
		{"unknown holder", `{held_by: vault}`, []string{"providers[0].auth.held_by"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte("providers:\n  - {name: p, api: openai, host: api.openai.com, auth: " + tt.auth + "}\n" + envoyHeldChains))
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Parse error = %v, want one wrapping config.ErrInvalid", err)
			}
			if got := fieldPaths(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("paths: got %q, want %q (error: %v)", got, tt.want, err)
			}
		})
	}
}

// TestValidate_AcceptsEveryEnvoySecretFileExtension verifies the three
// extensions Envoy's file loader reads (.yaml, .yml as YAML, .json as JSON).
func TestValidate_AcceptsEveryEnvoySecretFileExtension(t *testing.T) {
	for _, f := range []string{"/k/p.yaml", "/k/p.yml", "/k/p.json", "/k/P.YAML"} {
		if _, err := config.Parse([]byte("providers:\n  - {name: p, api: openai, host: h, auth: {held_by: envoy, secret_file: " + f + "}}\n" + envoyHeldChains)); err != nil {
			t.Errorf("secret_file %s: got %v, want it accepted", f, err)
		}
	}
}

// TestKeyHolder_String verifies known and unknown holders print.
func TestKeyHolder_String(t *testing.T) {
	for h, want := range map[config.KeyHolder]string{config.KeyHeldByServer: "server", config.KeyHeldByEnvoy: "envoy", "x": `KeyHolder("x")`} {
		if got := h.String(); got != want {
			t.Errorf("%q.String(): got %q, want %q", string(h), got, want)
		}
	}
}
