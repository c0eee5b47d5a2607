package config_test

import (
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

const clientsBase = "providers: [{name: p, api: openai, host: 127.0.0.1}]\nchains: [{name: main, targets: [{provider: p, model: x}]}]\n"

// TestClients_Defaults verifies the defaults: allow and the chain header
// without a list (old configs), deny and no chain header with one.
func TestClients_Defaults(t *testing.T) {
	c, err := config.Parse([]byte(clientsBase))
	if err != nil {
		t.Fatal(err)
	}
	if c.Clients.Active() || c.Clients.Default.Action != config.ClientAllow || !*c.Clients.Default.ChainHeader {
		t.Errorf("no clients: active %v, action %q, chain header %v; want inactive, allow, true",
			c.Clients.Active(), c.Clients.Default.Action, *c.Clients.Default.ChainHeader)
	}
	if got := strings.Join(c.Clients.KeyHeaders, ","); got != "authorization,x-api-key" {
		t.Errorf("key_headers = %s, want authorization,x-api-key", got)
	}
	c, err = config.Parse([]byte(clientsBase + "clients: {list: [{name: a, sources: [10.0.0.0/8], rate: {limit: 5}}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Clients.List[0]
	if !c.Clients.Active() || c.Clients.Default.Action != config.ClientDeny || *c.Clients.Default.ChainHeader || *k.ChainHeader || k.Rate.Window.D().String() != "1m0s" {
		t.Errorf("with a list: active %v, action %q, default chain header %v, client chain header %v, rate window %s; want active, deny, false, false, 1m",
			c.Clients.Active(), c.Clients.Default.Action, *c.Clients.Default.ChainHeader, *k.ChainHeader, k.Rate.Window)
	}
}

// TestClients_ValidateReportsEveryProblem verifies each rule with its field path.
func TestClients_ValidateReportsEveryProblem(t *testing.T) {
	hash := "sha256:" + strings.Repeat("ab", 32)
	y := clientsBase + `clients:
  key_headers: [authorization, cookie]
  source_header: x-api-key
  default: {action: maybe, chains: [nope]}
  list:
    - {name: a, api_keys: [sk-plain, "` + hash + `"], sources: [10.0.0.0/33], rate: {limit: 0, window: 0.5}}
    - {name: a, api_keys: ["` + hash + `"], jwt_claims: [x]}
    - {name: b}
    - {name: c, uri_sans: [""], tokens: {limit: 5, window: 745h}, models: [""]}
`
	_, err := config.Parse([]byte(y))
	if err == nil {
		t.Fatal("Parse: no error")
	}
	for _, want := range []string{
		"clients.key_headers[1]:",
		"clients.source_header:",
		"clients.default.action:",
		"clients.default.chains[0]:",
		"clients.list[0].api_keys[0]: want \"sha256:\"",
		"clients.list[0].sources[0]:",
		"clients.list[0].rate.limit:",
		"clients.list[0].rate.window:",
		"clients.list[1].name: \"a\" is listed twice",
		"clients.list[1].api_keys[0]: also identifies client \"a\"",
		"clients.list[1].jwt_claims: needs clients.jwt",
		"clients.list[2]: needs a way to be identified",
		"clients.list[3].uri_sans[0]: empty",
		"clients.list[3].tokens.window:",
		"clients.list[3].models[0]: empty",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q; got:\n%v", want, err)
		}
	}
}

// TestParseSource verifies the accepted source forms.
func TestParseSource(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.2.3/8":          "10.0.0.0/8",
		"192.0.2.7":           "192.0.2.7/32",
		"::1":                 "::1/128",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"::ffff:10.0.0.1":     "10.0.0.1/32",
	} {
		got, err := config.ParseSource(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseSource(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/33", "fe80::1%eth0", "host.example", "10.0.0.1:80"} {
		if _, err := config.ParseSource(in); err == nil {
			t.Errorf("ParseSource(%q): no error", in)
		}
	}
}
