package envoymodel

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// injectorYAML is a credential_injector upstream filter with the generic
// credential named secret from the SDS file path.
func injectorYAML(path, secret, header, prefix string, overwrite, allowWithout bool) string {
	return fmt.Sprintf(`        - name: envoy.filters.http.credential_injector
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.credential_injector.v3.CredentialInjector
            overwrite: %v
            allow_request_without_credential: %v
            credential:
              name: envoy.http.injected_credentials.generic
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.http.injected_credentials.generic.v3.Generic
                credential: {name: %s, sds_config: {path_config_source: {path: %q}, resource_api_version: V3}}
                header: %s
                header_value_prefix: %q`, overwrite, allowWithout, secret, path, header, prefix)
}

// secretYAML is an SDS file holding one generic secret.
func secretYAML(name, key string) string {
	return fmt.Sprintf(`resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: %s
  generic_secret: {secret: {inline_string: %q}}
`, name, key)
}

// moveSecret writes content next to path and renames it onto path, the
// MovedTo event Envoy's file subscription watches for.
func moveSecret(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// removeCredentials is an attempt phase that, like llm-failover's, removes
// the client's credential header in its request body answer.
func removeCredentials(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
	if phase == "attempt" && req.GetRequestBody() != nil {
		return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{
			HeaderMutation: &extprocsvc.HeaderMutation{RemoveHeaders: []string{"authorization"}}})}
	}
	return continueAll(phase, req)
}

// attemptSaw reports whether value is in any header or body the
// attempt-phase ext_proc server received.
func attemptSaw(s *scriptedServer, value string) bool {
	for _, r := range s.requests("attempt") {
		hs := append(r.GetRequestHeaders().GetHeaders().GetHeaders(), r.GetResponseHeaders().GetHeaders().GetHeaders()...)
		for _, h := range hs {
			if strings.Contains(h.GetValue()+string(h.GetRawValue()), value) {
				return true
			}
		}
		if strings.Contains(string(r.GetRequestBody().GetBody())+string(r.GetResponseBody().GetBody()), value) {
			return true
		}
	}
	return false
}

// TestModel_CredentialInjectorSetsKeyAfterAttemptPhase verifies the
// injector sets header = prefix + secret on the upstream request after the
// attempt phase's mutations, so the attempt-phase server never sees the
// key and its removal of the client's credential cannot remove it; and
// that overwrite decides whether a header still present is replaced
// (generic_impl.cc inject: AlreadyExists keeps it and the request goes on).
func TestModel_CredentialInjectorSetsKeyAfterAttemptPhase(t *testing.T) {
	cases := []struct {
		name      string
		script    script
		overwrite bool
		want      string
	}{
		{"client key removed by the attempt phase, then injected", removeCredentials, false, "Bearer sk-envoy-1"},
		{"client key left, overwrite replaces it", continueAll, true, "Bearer sk-envoy-1"},
		{"client key left, no overwrite keeps it", continueAll, false, "Bearer client-key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret := filepath.Join(t.TempDir(), "a.yaml")
			moveSecret(t, secret, secretYAML("a-key", "sk-envoy-1"))
			a := startUpstream(t, okJSON(`"a"`))
			srv, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
				if phase == "route" {
					return routeOverride("a")(phase, req)
				}
				return tc.script(phase, req)
			})
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"},
				Injector: map[string]string{"a": injectorYAML(secret, "a-key", "authorization", "Bearer ", tc.overwrite, false)}})
			if got := post(t, m, "/v1/x", `{}`, "authorization", "Bearer client-key"); got.status != 200 {
				t.Fatalf("got %d %q, want 200", got.status, got.body)
			}
			if got := a.requests()[0].header.Values("authorization"); len(got) != 1 || got[0] != tc.want {
				t.Errorf("upstream authorization: got %q, want [%q]", got, tc.want)
			}
			if attemptSaw(srv, "sk-envoy-1") {
				t.Errorf("the attempt-phase ext_proc server received the injected key")
			}
		})
	}
}

// TestModel_CredentialInjectorBeforeExtProcLeaksKey verifies the model keeps
// filter order: an injector placed before the attempt ext_proc filter sets
// the key on headers that ext_proc then sends to its server.
func TestModel_CredentialInjectorBeforeExtProcLeaksKey(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "a.yaml")
	moveSecret(t, secret, secretYAML("a-key", "sk-envoy-1"))
	a := startUpstream(t, okJSON(`"a"`))
	srv, ep, _ := startExtProc(t, routeOverride("a"))
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}, InjectorFirst: true,
		Injector: map[string]string{"a": injectorYAML(secret, "a-key", "x-api-key", "", true, false)}})
	if got := post(t, m, "/v1/x", `{}`); got.status != 200 {
		t.Fatalf("got %d %q, want 200", got.status, got.body)
	}
	if !attemptSaw(srv, "sk-envoy-1") {
		t.Errorf("attempt-phase requests: got no key, want the key injected before ext_proc in its request headers")
	}
}

// TestModel_CredentialInjectorSecretRotation verifies the SDS file
// subscription: a file renamed onto the path applies to the next request;
// a file written in place is not noticed (no MovedTo event); an update
// Envoy rejects (another secret's name, unparsable, two resources) keeps
// the previous key.
func TestModel_CredentialInjectorSecretRotation(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "a.yaml")
	moveSecret(t, secret, secretYAML("a-key", "k1"))
	a := startUpstream(t, okJSON(`"a"`))
	_, ep, _ := startExtProc(t, routeOverride("a"))
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"},
		Injector: map[string]string{"a": injectorYAML(secret, "a-key", "x-api-key", "", true, false)}})
	steps := []struct {
		name   string
		change func()
		want   string
	}{
		{"initial file", func() {}, "k1"},
		{"renamed onto the path", func() { moveSecret(t, secret, secretYAML("a-key", "k2")) }, "k2"},
		{"written in place", func() {
			if err := os.WriteFile(secret, []byte(secretYAML("a-key", "k3")), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "k2"},
		{"another secret's name", func() { moveSecret(t, secret, secretYAML("b-key", "k4")) }, "k2"},
		{"unparsable", func() { moveSecret(t, secret, "resources: [") }, "k2"},
		{"unknown field", func() {
			moveSecret(t, secret, strings.Replace(secretYAML("a-key", "k5"), "generic_secret", "generic_secrets", 1))
		}, "k2"},
		{"two resources", func() {
			moveSecret(t, secret, secretYAML("a-key", "k6")+strings.TrimPrefix(secretYAML("a-key", "k7"), "resources:\n"))
		}, "k2"},
		{"renamed again", func() { moveSecret(t, secret, secretYAML("a-key", "k8")) }, "k8"},
	}
	for i, st := range steps {
		st.change()
		if got := post(t, m, "/v1/x", `{}`); got.status != 200 {
			t.Fatalf("%s: got %d %q, want 200", st.name, got.status, got.body)
		}
		if got := a.requests()[i].header.Get("x-api-key"); got != st.want {
			t.Errorf("%s: upstream x-api-key got %q, want %q", st.name, got, st.want)
		}
	}
}

// TestModel_CredentialInjectorWithoutSecret verifies a missing secret (no
// file at start) or an empty one: without allow_request_without_credential
// the filter answers 401 "Failed to inject credential." as an upstream
// local reply that reaches the client at once, never retried; with it the
// request goes upstream with no credential header.
func TestModel_CredentialInjectorWithoutSecret(t *testing.T) {
	cases := []struct {
		name         string
		file         string // "" leaves no file
		allowWithout bool
	}{
		{"no file, refused", "", false},
		{"empty secret, refused", secretYAML("a-key", ""), false},
		{"no file, sent without a key", "", true},
		{"empty secret, sent without a key", secretYAML("a-key", ""), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret := filepath.Join(t.TempDir(), "a.yaml")
			if tc.file != "" {
				moveSecret(t, secret, tc.file)
			}
			a := startUpstream(t, okJSON(`"a"`))
			b := startUpstream(t, okJSON(`"b"`))
			_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
				if phase == "route" {
					return routeOverride("a", "b")(phase, req)
				}
				return removeCredentials(phase, req)
			})
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"},
				NumRetries: 1, LocalReplyJSON: true,
				Injector: map[string]string{"a": injectorYAML(secret, "a-key", "authorization", "Bearer ", true, tc.allowWithout)}})
			got := post(t, m, "/v1/x", `{}`, "authorization", "Bearer client-key")
			if tc.allowWithout {
				if got.status != 200 || len(a.requests()) != 1 || a.requests()[0].header.Get("authorization") != "" {
					t.Fatalf("got %d %q, upstream requests %d; want 200 from a, reached with no authorization", got.status, got.body, len(a.requests()))
				}
				return
			}
			var lr localReplyJSON
			if err := json.Unmarshal([]byte(got.body), &lr); err != nil {
				t.Fatalf("body %q is not the local_reply_config JSON: %v", got.body, err)
			}
			if got.status != 401 || lr.Details != "failed_to_inject_credential" || lr.Body != "Failed to inject credential." {
				t.Errorf("got %d %+v, want 401 failed_to_inject_credential", got.status, lr)
			}
			if na, nb := len(a.requests()), len(b.requests()); na != 0 || nb != 0 {
				t.Errorf("upstream requests: got a %d, b %d; want none (a local reply is never retried)", na, nb)
			}
		})
	}
}

// TestModel_CredentialInjectorUnmodelledConfigsFailToLoad verifies the model
// refuses credential configurations it does not model instead of skipping
// the filter (which would send requests without a key).
func TestModel_CredentialInjectorUnmodelledConfigsFailToLoad(t *testing.T) {
	ok := injectorYAML("/k/a.yaml", "a-key", "authorization", "Bearer ", true, false)
	cases := map[string]string{
		"static secret":      strings.Replace(ok, `, sds_config: {path_config_source: {path: "/k/a.yaml"}, resource_api_version: V3}`, "", 1),
		"watched directory":  strings.Replace(ok, `path: "/k/a.yaml"}`, `path: "/k/a.yaml", watched_directory: {path: /k}}`, 1),
		"missing credential": strings.Replace(ok, "credential: {name: a-key", "credential_x: {name: a-key", 1),
	}
	for name, y := range cases {
		t.Run(name, func(t *testing.T) {
			if y == ok {
				t.Fatal("the edit did not apply")
			}
			p := params{ExtProc: "127.0.0.1:1", Clusters: map[string]string{"a": "127.0.0.1:2"}, Groups: []string{"a"}, Injector: map[string]string{"a": y}}
			if m, err := New(renderYAML(t, p), Options{}); err == nil {
				_ = m.Close()
				t.Fatalf("New: got nil error, want the %s refused", name)
			}
		})
	}
}

// TestModel_ForwardRulesKeepHeadersFromServer verifies ext_proc
// forward_rules (mutation_utils.cc headerCanBeForwarded): a disallowed
// header, or one outside a set allowed list, is left out of the headers
// sent to the server but stays in the request that goes upstream.
func TestModel_ForwardRulesKeepHeadersFromServer(t *testing.T) {
	cases := []struct {
		name, rules      string
		toServer, hidden []string
	}{
		{"disallowed", "{disallowed_headers: {patterns: [{exact: authorization}]}}", []string{"x-keep", ":path"}, []string{"authorization"}},
		{"allowed only", "{allowed_headers: {patterns: [{prefix: x-}, {exact: \":path\"}]}}", []string{"x-keep", ":path"}, []string{"authorization", "content-type"}},
		{"disallowed wins over allowed", "{allowed_headers: {patterns: [{prefix: x-}]}, disallowed_headers: {patterns: [{exact: x-keep}]}}", nil, []string{"x-keep", "authorization"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startUpstream(t, okJSON(`"a"`))
			srv, ep, _ := startExtProc(t, routeOverride("a"))
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"},
				AttemptExtra: "\n            forward_rules: " + tc.rules})
			if got := post(t, m, "/v1/x", `{}`, "authorization", "Bearer client-key", "x-keep", "1"); got.status != 200 {
				t.Fatalf("got %d %q, want 200", got.status, got.body)
			}
			sent := map[string]bool{}
			for _, h := range srv.requests("attempt")[0].GetRequestHeaders().GetHeaders().GetHeaders() {
				sent[h.GetKey()] = true
			}
			for _, k := range tc.toServer {
				if !sent[k] {
					t.Errorf("attempt-phase server: got no %s, want it forwarded", k)
				}
			}
			for _, k := range tc.hidden {
				if sent[k] {
					t.Errorf("attempt-phase server: got %s, want it kept back", k)
				}
			}
			if r := a.requests()[0]; r.header.Get("authorization") != "Bearer client-key" || r.header.Get("x-keep") != "1" {
				t.Errorf("upstream: got authorization %q x-keep %q, want both still in the request", r.header.Get("authorization"), r.header.Get("x-keep"))
			}
		})
	}
}
