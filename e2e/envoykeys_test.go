package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
	"github.com/llm-failover/llm-failover/fakellm"
)

// The primary's keys when Envoy holds them: the first, its rotation, and a
// key the provider refuses.
const (
	envoyKey1     = "sk-envoy-held-primary-1"
	envoyKey2     = "sk-envoy-held-primary-2"
	envoyKeyWrong = "sk-envoy-held-primary-wrong"
)

// envoyHeldPrimary returns a stack edit that moves the primary's key from
// a key file read by the server to the SDS file secretFile injected by
// Envoy (auth.held_by: envoy).
func envoyHeldPrimary(secretFile string) func(string) string {
	re := regexp.MustCompile(`(\{name: primary,.*)auth: \{[^}]*\}`)
	return func(cfg string) string {
		return re.ReplaceAllString(cfg, `${1}auth: {held_by: envoy, secret_file: "`+secretFile+`"}`)
	}
}

// writeSecret renders the primary's SDS secret file with envoy.SecretFile
// and renames it onto path, the file change Envoy watches for.
func writeSecret(t *testing.T, path, key string) {
	t.Helper()
	b, err := envoy.SecretFile(&config.Provider{Name: "primary", Auth: config.Auth{HeldBy: config.KeyHeldByEnvoy, SecretFile: path}}, key)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestEnvoyHeldKey_InjectedRotatedNeverSeenByServer verifies a provider
// whose key Envoy holds (issue 9, "Provider keys kept by Envoy"): the
// provider gets Envoy's key and never the client's; no ext_proc message the
// server receives or sends holds the key, nor does the server's config;
// renaming a new secret file onto the path changes the key of the next
// request, with no restart; and when the provider refuses a wrong key with
// 401, the request fails over and that target's breaker opens.
func TestEnvoyHeldKey_InjectedRotatedNeverSeenByServer(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		skipHeldKeysOn138(t, v)
		secret := filepath.Join(t.TempDir(), "primary.yaml")
		writeSecret(t, secret, envoyKey1)
		s := newStack(t, v, stackOpts{edit: envoyHeldPrimary(secret)})
		s.needLocal("the Envoy model's credential injector and the server's gRPC traffic")
		if !strings.Contains(s.cfgYAML, "held_by: envoy") {
			t.Fatalf("the stack's config does not hold the primary's key in Envoy:\n%s", s.cfgYAML)
		}

		keyOf := func(i int) string {
			t.Helper()
			recs := s.fakes["primary"].Requests()
			if len(recs) <= i {
				t.Fatalf("primary got %d requests, want at least %d", len(recs), i+1)
			}
			return recs[i].KeySHA256["authorization"]
		}

		// 1. Envoy's key reaches the provider; the client's does not.
		s.mustOK(s.chat(), "primary")
		if got := keyOf(0); got != fakellm.KeyHash(envoyKey1) {
			t.Errorf("request 1: primary got authorization key hash %s, want Envoy's key (%s)", got, fakellm.KeyHash(envoyKey1))
		}
		for h, sum := range s.fakes["primary"].Requests()[0].KeySHA256 {
			if sum == fakellm.KeyHash(clientKey) {
				t.Errorf("request 1: the client's key reached the primary in %s", h)
			}
		}

		// 2. Rotation: a new file renamed onto the path applies to the next request.
		writeSecret(t, secret, envoyKey2)
		s.mustOK(s.chat(), "primary")
		if got := keyOf(1); got != fakellm.KeyHash(envoyKey2) {
			t.Errorf("after rotation: primary got key hash %s, want the rotated key (%s)", got, fakellm.KeyHash(envoyKey2))
		}

		// 3. A key the provider refuses: 401, failover, the target's breaker opens.
		writeSecret(t, secret, envoyKeyWrong)
		s.setFaults("primary", fakellm.Fault{Status: 401, Code: "invalid_api_key", Times: -1})
		s.mustOK(s.chat(), "secondary")
		if got := keyOf(2); got != fakellm.KeyHash(envoyKeyWrong) {
			t.Errorf("wrong key: primary got key hash %s, want the wrong key's (%s)", got, fakellm.KeyHash(envoyKeyWrong))
		}
		s.waitSettled()
		if b := s.breakerOf("primary"); b.State.String() != "open" {
			t.Errorf("primary breaker after its 401: got %s, want open", b.State)
		}
		s.mustOK(s.chat(), "secondary")
		if n := s.fakes["primary"].Count(); n != 3 {
			t.Errorf("primary requests with its breaker open: got %d in all, want 3 (none after the 401)", n)
		}

		// 4. The key never crossed the gRPC channel, in either direction. The
		// same scan finds the secondary's key, which the server holds and sets.
		ex := s.rec.all()
		for _, k := range []string{envoyKey1, envoyKey2, envoyKeyWrong} {
			if strings.Contains(s.cfgYAML, k) {
				t.Errorf("the server's config holds key %q", k)
			}
			for i, e := range ex {
				if holds(e, k) {
					t.Errorf("ext_proc %s exchange %d holds Envoy's key %q", e.phase, i, k)
				}
			}
		}
		if !slices.ContainsFunc(ex, func(e exchange) bool { return holds(e, providerKey("secondary")) }) {
			t.Errorf("the scan found no exchange with the secondary's server-held key, want the attempt's header mutation: it proves nothing")
		}
	})
}

// holds reports whether any string or bytes field of the exchange's
// message, at any depth (headers, bodies, metadata, attributes), contains v.
func holds(e exchange, v string) bool {
	var m proto.Message = e.req
	if e.req == nil {
		m = e.resp
	}
	found := false
	var walk func(protoreflect.Message)
	walk = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
			check := func(x protoreflect.Value) {
				switch {
				case fd.Kind() == protoreflect.StringKind:
					found = found || strings.Contains(x.String(), v)
				case fd.Kind() == protoreflect.BytesKind:
					found = found || strings.Contains(string(x.Bytes()), v)
				case fd.Message() != nil:
					walk(x.Message())
				}
			}
			switch {
			case fd.IsList():
				for i := 0; i < val.List().Len(); i++ {
					check(val.List().Get(i))
				}
			case fd.IsMap():
				val.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					found = found || strings.Contains(k.String(), v)
					if fd.MapValue().Message() != nil {
						walk(mv.Message())
					} else {
						found = found || strings.Contains(mv.String(), v)
					}
					return true
				})
			default:
				check(val)
			}
			return !found
		})
	}
	walk(m.ProtoReflect())
	return found
}

// TestEnvoyHeldKey_NoSecretSendsNoKeyAndFailsOver verifies a provider whose
// Envoy-held key is missing (no secret file when Envoy started): the
// request reaches it with no credential at all, never the client's key
// (allow_request_without_credential after the attempt phase removed the
// client's), and the provider's 401 fails over to the next target and
// opens the breaker, instead of a 401 local reply reaching the client.
// A secret file renamed into place later is used by the next request.
func TestEnvoyHeldKey_NoSecretSendsNoKeyAndFailsOver(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		skipHeldKeysOn138(t, v)
		secret := filepath.Join(t.TempDir(), "primary.yaml") // not written yet
		s := newStack(t, v, stackOpts{edit: envoyHeldPrimary(secret), breaker: "{consecutive_failures: 3, open_for: 30s, auth_open_for: 1m, jitter: 0}"})
		s.needLocal("the Envoy model's credential injector and the breaker clock")
		s.setFaults("primary", fakellm.Fault{Status: 401, Code: "invalid_api_key"})
		s.mustOK(s.chat(), "secondary")
		recs := s.fakes["primary"].Requests()
		if len(recs) != 1 {
			t.Fatalf("primary requests: got %d, want 1", len(recs))
		}
		if keys := recs[0].KeySHA256; len(keys) != 0 {
			t.Errorf("primary got credentials %v, want none (no secret in Envoy, the client's removed)", keys)
		}
		s.waitSettled()
		if b := s.breakerOf("primary"); b.State.String() != "open" {
			t.Errorf("primary breaker after its 401: got %s, want open", b.State)
		}

		writeSecret(t, secret, envoyKey1)
		s.clock.Advance(2 * time.Minute) // past auth_open_for: the primary is probed again
		s.mustOK(s.chat(), "primary")
		if got := s.fakes["primary"].Requests()[1].KeySHA256["authorization"]; got != fakellm.KeyHash(envoyKey1) {
			t.Errorf("after the secret file appeared: primary got key hash %q, want Envoy's key", got)
		}
	})
}

// skipHeldKeysOn138 skips a held-key scenario on Envoy 1.38: its aggregate
// clusters never run a child's upstream filters (Envoy #29318), so the
// credential injector on a provider cluster would not run and
// envoy.Generate refuses held keys for that version (docs/compatibility.md).
func skipHeldKeysOn138(t *testing.T, v string) {
	t.Helper()
	if onEnvoy138(v) {
		t.Skip("Envoy 1.38: keys held by Envoy are refused by the generator (an aggregate cluster never runs its children's credential injectors)")
	}
}
