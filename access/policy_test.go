package access

import (
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// testPolicy parses a config whose clients section is clients.
func testPolicy(t testing.TB, clients string) *Policy {
	t.Helper()
	y := "providers: [{name: p, api: openai, host: 127.0.0.1}]\n" +
		"chains: [{name: main, match: {models: [m1, m2]}, targets: [{provider: p, model: x}]}, {name: other, targets: [{provider: p, model: y}]}]\n" +
		"clients: " + clients + "\n"
	c, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	p, err := Compile(&c.Clients)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func headers(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

const listed = `{jwt: {payload_key: jwt_payload}, list: [
  {name: team-a, api_keys: ["` + "%A%" + `"], sources: [10.0.0.0/8, "::1"]},
  {name: team-b, api_keys: ["` + "%B%" + `"]},
  {name: mesh-svc, uri_sans: ["spiffe://mesh/ns/a/sa/svc"]},
  {name: jwt-user, jwt_claims: [alice]},
  {name: office, sources: [192.168.1.0/24]}]}`

func listedPolicy(t testing.TB, extra string) *Policy {
	s := listed
	s = strings.NewReplacer("%A%", HashKey("sk-a"), "%B%", HashKey("sk-b")).Replace(s)
	if extra != "" {
		s = s[:len(s)-1] + ", " + extra + "}"
	}
	return testPolicy(t, s)
}

// TestIdentify_Decisions verifies who each caller is and whether it may call.
func TestIdentify_Decisions(t *testing.T) {
	p := listedPolicy(t, "")
	tests := []struct {
		name       string
		caller     Caller
		wantClient string
		wantBy     string
		want       Reason
	}{
		{"bearer key from an allowed source", Caller{Header: headers("authorization", "Bearer sk-a"), Source: "10.1.2.3:5555"}, "team-a", "api_key", Allowed},
		{"bearer scheme in any case", Caller{Header: headers("authorization", "bearer  sk-a"), Source: "10.1.2.3:5555"}, "team-a", "api_key", Allowed},
		{"x-api-key", Caller{Header: headers("x-api-key", "sk-b"), Source: "127.0.0.1:1"}, "team-b", "api_key", Allowed},
		{"key from outside the client's sources", Caller{Header: headers("authorization", "Bearer sk-a"), Source: "11.0.0.1:5555"}, "team-a", "api_key", SourceDenied},
		{"key with no source attribute", Caller{Header: headers("authorization", "Bearer sk-a")}, "team-a", "api_key", SourceDenied},
		{"ipv6 source in a single-IP source", Caller{Header: headers("authorization", "Bearer sk-a"), Source: "[::1]:80"}, "team-a", "api_key", Allowed},
		{"ipv4-mapped source", Caller{Header: headers("authorization", "Bearer sk-a"), Source: "[::ffff:10.0.0.1]:80"}, "team-a", "api_key", Allowed},
		{"unknown key", Caller{Header: headers("authorization", "Bearer sk-nope"), Source: "10.1.2.3:5555"}, Unknown, "api_key", InvalidKey},
		{"unknown x-api-key", Caller{Header: headers("x-api-key", "sk-a "+"x"), Source: "10.1.2.3:5555"}, Unknown, "api_key", InvalidKey},
		{"uri san", Caller{URISAN: "spiffe://mesh/ns/a/sa/svc", Source: "1.2.3.4:1"}, "mesh-svc", "uri_san", Allowed},
		{"jwt claim", Caller{Claim: "alice"}, "jwt-user", "jwt", Allowed},
		{"source-only client", Caller{Source: "192.168.1.20:999"}, "office", "source", Allowed},
		{"credentialed client's source alone does not identify it", Caller{Source: "10.1.2.3:5555"}, Unknown, "default", UnknownDenied},
		{"unknown caller under the default deny", Caller{Source: "8.8.8.8:1"}, Unknown, "default", UnknownDenied},
		{"basic authorization is no key", Caller{Header: headers("authorization", "Basic c2stYQ=="), Source: "8.8.8.8:1"}, Unknown, "default", UnknownDenied},
		{"unknown san", Caller{URISAN: "spiffe://mesh/other"}, Unknown, "default", UnknownDenied},
		{"garbage source", Caller{Source: "not an address"}, Unknown, "default", UnknownDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, got := p.Identify(tt.caller)
			if got != tt.want || id.Client.Name != tt.wantClient || id.By != tt.wantBy {
				t.Errorf("Identify = %s by %s, %s; want %s by %s, %s", id.Client.Name, id.By, got, tt.wantClient, tt.wantBy, tt.want)
			}
		})
	}
}

// TestIdentify_DefaultAllowWithoutClients verifies that an empty section
// allows every caller, keys or not, and is inactive.
func TestIdentify_DefaultAllowWithoutClients(t *testing.T) {
	p := testPolicy(t, "{}")
	if p.Active() {
		t.Errorf("Active() = true for an empty clients section, want false")
	}
	id, r := p.Identify(Caller{Header: headers("authorization", "Bearer anything")})
	if r != Allowed || id.Client.Known() || !id.Client.MayPickChain() {
		t.Errorf("Identify = %s, %s, may pick %v; want the unknown client allowed with the chain header", id.Client.Name, r, id.Client.MayPickChain())
	}
}

// TestIdentify_DefaultAllowWithList verifies that an explicit allow admits
// unknown callers while keys are in use, except a wrong key (401).
func TestIdentify_DefaultAllowWithList(t *testing.T) {
	p := listedPolicy(t, "default: {action: allow}")
	if _, r := p.Identify(Caller{Source: "8.8.8.8:1"}); r != Allowed {
		t.Errorf("keyless unknown caller: %s, want allowed", r)
	}
	if _, r := p.Identify(Caller{Header: headers("authorization", "Bearer wrong")}); r != InvalidKey {
		t.Errorf("wrong key: %s, want %s", r, InvalidKey)
	}
}

// TestIdentify_SourceHeader verifies that a named trusted proxy header
// replaces source.address, its last value counting.
func TestIdentify_SourceHeader(t *testing.T) {
	p := listedPolicy(t, "source_header: X-Real-IP")
	id, r := p.Identify(Caller{Header: headers("x-real-ip", "8.8.8.8, 192.168.1.7"), Source: "10.0.0.1:1"})
	if r != Allowed || id.Client.Name != "office" {
		t.Errorf("Identify = %s, %s; want office allowed", id.Client.Name, r)
	}
	if _, r := p.Identify(Caller{Source: "192.168.1.7:1"}); r != UnknownDenied {
		t.Errorf("without the header: %s, want %s (source.address is not read)", r, UnknownDenied)
	}
}

// TestIdentify_SourceHeaderXFF verifies that with source_header
// x-forwarded-for the caller is the entry the trusted proxy appended, not
// the last one, which Envoy appends itself (use_remote_address) and which
// is the proxy's own address: otherwise every caller behind the proxy would
// be the client whose sources hold the proxy.
func TestIdentify_SourceHeaderXFF(t *testing.T) {
	p := testPolicy(t, `{source_header: x-forwarded-for, list: [{name: internal, sources: [10.0.0.0/8]}, {name: office, sources: [192.168.1.0/24]}]}`)
	tests := []struct {
		name, xff string
		want      string // the client, "" for denied as unknown
	}{
		{"proxy appended an outside caller", "203.0.113.9, 10.0.0.5", ""},
		{"proxy appended an office caller", "192.168.1.7,10.0.0.5", "office"},
		{"caller's own entries before the proxy's", "10.9.9.9, 203.0.113.9, 10.0.0.5", ""},
		{"only Envoy's entry (no proxy)", "10.0.0.5", ""},
		{"no header", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, r := p.Identify(Caller{Header: headers("x-forwarded-for", tc.xff), Source: "10.0.0.5:4000"})
			got := ""
			if r == Allowed {
				got = id.Client.Name
			}
			if got != tc.want {
				t.Errorf("Identify = %s, %s; want %q", id.Client.Name, r, tc.want)
			}
		})
	}
}

// TestIdentify_KeysUnusedIgnoresKeys verifies that a key is not checked
// when no client has keys (it identifies nobody, and is no 401).
func TestIdentify_KeysUnusedIgnoresKeys(t *testing.T) {
	p := testPolicy(t, "{list: [{name: office, sources: [127.0.0.0/8]}]}")
	id, r := p.Identify(Caller{Header: headers("authorization", "Bearer x"), Source: "127.0.0.1:9"})
	if r != Allowed || id.Client.Name != "office" {
		t.Errorf("Identify = %s, %s; want office allowed", id.Client.Name, r)
	}
}

// TestAuthorize verifies chain, model and chain-header permissions.
func TestAuthorize(t *testing.T) {
	p := testPolicy(t, `{list: [{name: a, sources: [127.0.0.1], chains: [main], models: [m1], chain_header: true},
	  {name: b, sources: [127.0.0.2]}]}`)
	a, b := p.Client("a"), p.Client("b")
	tests := []struct {
		name string
		c    *Client
		r    Route
		want Reason
	}{
		{"allowed chain and model", a, Route{Chain: "main", Model: "m1"}, Allowed},
		{"allowed with the chain header", a, Route{Chain: "main", Model: "m1", ChainHeader: true}, Allowed},
		{"other chain", a, Route{Chain: "other", Model: "m1"}, ChainDenied},
		{"other model", a, Route{Chain: "main", Model: "m2"}, ModelDenied},
		{"no lists allow everything", b, Route{Chain: "other", Model: "zzz"}, Allowed},
		{"chain header off by default", b, Route{Chain: "main", Model: "m1", ChainHeader: true}, ChainHeaderDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Authorize(tt.r); got != tt.want {
				t.Errorf("Authorize(%+v) = %s, want %s", tt.r, got, tt.want)
			}
		})
	}
}

// TestReason_Status verifies the HTTP status of every reason.
func TestReason_Status(t *testing.T) {
	want := map[Reason]int{Allowed: 200, InvalidKey: 401, UnknownDenied: 403, SourceDenied: 403,
		ChainHeaderDenied: 403, ChainDenied: 403, ModelDenied: 403, RateExceeded: 429, BudgetExceeded: 429}
	for r, s := range want {
		if r.Status() != s {
			t.Errorf("%s.Status() = %d, want %d", r, r.Status(), s)
		}
	}
	if got := Reason(200).String(); got != "reason(200)" {
		t.Errorf("unknown reason String() = %q", got)
	}
}

// TestHashKey verifies the stored form: "sha256:" and the hex digest.
func TestHashKey(t *testing.T) {
	const want = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashKey("abc"); got != want || !config.ValidKeyHash(got) {
		t.Errorf("HashKey(abc) = %q, want %q", got, want)
	}
}
