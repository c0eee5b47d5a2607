package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llm-failover/llm-failover/access"
)

// The endpoints stack (issue 13): the suite's chat stack plus an embeddings
// chain embedModel of an OpenAI, an Azure OpenAI and a Gemini embeddings
// provider, each a small fake below that answers its own wire format.
const embedModel = "embed-e2e"

// embedFake is an embeddings provider: it answers OpenAI's /embeddings,
// Azure's deployment path or Gemini's batchEmbedContents with vectors
// whose first value names it, or fails with status while failing is set.
type embedFake struct {
	name, api string
	first     float64 // every vector's first value: tells the answers apart
	srv       *httptest.Server

	mu      sync.Mutex
	failing int // 0: answer; else the status to fail with
	got     []embedCall
}

// embedCall is what reached a fake: the path, the credential and the body.
type embedCall struct{ path, key, body string }

func startEmbedFake(t *testing.T, name, api string, first float64) *embedFake {
	f := &embedFake{name: name, api: api, first: first}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *embedFake) fail(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = status
}

func (f *embedFake) calls() []embedCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func (f *embedFake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get("authorization") + r.Header.Get("api-key") + r.Header.Get("x-goog-api-key")
	f.mu.Lock()
	f.got = append(f.got, embedCall{path: r.URL.RequestURI(), key: key, body: string(body)})
	failing := f.failing
	f.mu.Unlock()
	w.Header().Set("content-type", "application/json")
	if failing != 0 {
		w.WriteHeader(failing)
		fmt.Fprintf(w, `{"error":{"message":"%s is failing","type":"server_error","code":%d}}`, f.name, failing)
		return
	}
	var req struct {
		Input    json.RawMessage
		Requests []json.RawMessage
	}
	_ = json.Unmarshal(body, &req)
	n := len(req.Requests)
	if f.api != "gemini" {
		var inputs []string
		if json.Unmarshal(req.Input, &inputs) != nil {
			inputs = []string{""}
		}
		n = len(inputs)
	}
	var vecs []string
	for i := range n {
		vecs = append(vecs, fmt.Sprintf("[%g,%d,0.5]", f.first, i))
	}
	if f.api == "gemini" {
		var es []string
		for _, v := range vecs {
			es = append(es, `{"values":`+v+`}`)
		}
		fmt.Fprintf(w, `{"embeddings":[%s]}`, strings.Join(es, ","))
		return
	}
	var data []string
	for i, v := range vecs {
		data = append(data, fmt.Sprintf(`{"object":"embedding","index":%d,"embedding":%s}`, i, v))
	}
	fmt.Fprintf(w, `{"object":"list","data":[%s],"model":"%s-model","usage":{"prompt_tokens":4,"total_tokens":4}}`, strings.Join(data, ","), f.name)
}

// embedStack is the suite's stack with the embeddings chain and its fakes.
type embedStack struct {
	*stack
	fakes map[string]*embedFake // by provider name, in chain order: openai, azure, gemini
}

var embedOrder = []string{"embed-openai", "embed-azure", "embed-gemini"}

func newEmbedStack(t *testing.T, entry string) *embedStack {
	fakes := map[string]*embedFake{
		"embed-openai": startEmbedFake(t, "embed-openai", "openai", 1),
		"embed-azure":  startEmbedFake(t, "embed-azure", "azure-openai", 2),
		"embed-gemini": startEmbedFake(t, "embed-gemini", "gemini", 3),
	}
	keyDir := t.TempDir()
	var providers, targets strings.Builder
	for _, n := range embedOrder {
		f := fakes[n]
		host, port, _ := net.SplitHostPort(strings.TrimPrefix(f.srv.URL, "http://"))
		keyFile := filepath.Join(keyDir, n+".key")
		if err := os.WriteFile(keyFile, []byte("key-"+n), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&providers, "  - {name: %s, api: %s, host: %s, port: %s, tls: false, auth: {key_file: %s}}\n", n, f.api, host, port, keyFile)
		fmt.Fprintf(&targets, "      - {provider: %s, model: %s-model, dimensions: 3}\n", n, n)
	}
	edit := func(cfg string) string {
		cfg = strings.Replace(cfg, "chains:\n", providers.String()+"chains:\n", 1)
		return strings.Replace(cfg, "chains:\n", "chains:\n  - name: embed\n    kind: embeddings\n    match: {models: ["+embedModel+"]}\n    targets:\n"+targets.String(), 1)
	}
	s := newStack(t, entry, stackOpts{edit: edit})
	s.needLocal("the embeddings fakes")
	return &embedStack{stack: s, fakes: fakes}
}

// embed asks for the embeddings of inputs through the front door.
func (s *embedStack) embed(model string, inputs ...string) (*openai.CreateEmbeddingResponse, *http.Response, error) {
	var resp *http.Response
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	out, err := s.client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: model,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
	}, option.WithResponseInto(&resp))
	return out, resp, err
}

// TestEndpoints_ModelsListsTheChainsModels verifies the SDK's models.list
// through the front door lists every chain's models, answered by the route
// phase (no provider is asked), on every topology.
func TestEndpoints_ModelsListsTheChainsModels(t *testing.T) {
	forVersions(t, func(t *testing.T, entry string) {
		s := newEmbedStack(t, entry)
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		page, err := s.client.Models.List(ctx)
		if err != nil {
			t.Fatalf("models.list: %v", err)
		}
		var ids []string
		for _, m := range page.Data {
			if m.Object != "model" || m.OwnedBy != "llm-failover" {
				t.Errorf("model %+v: want object model, owned by llm-failover", m)
			}
			ids = append(ids, m.ID)
		}
		if want := []string{embedModel, chainModel}; !slices.Equal(ids, want) {
			t.Fatalf("ids: got %v, want %v", ids, want)
		}
		for _, n := range embedOrder {
			if c := s.fakes[n].calls(); len(c) != 0 {
				t.Errorf("%s was asked %d times for the model list, want never", n, len(c))
			}
		}
		for _, n := range providerNames {
			if c := s.stack.fakes[n].Count(); c != 0 {
				t.Errorf("%s was asked %d times for the model list, want never", n, c)
			}
		}
	})
}

// TestEndpoints_EmbeddingsFailOverAcrossFormats verifies /v1/embeddings with
// the SDK: answered by the OpenAI target while it is healthy; when it fails,
// the next request fails over in the middle of the chain to Azure (its
// deployment path and api-key); when Azure fails too, to Gemini, whose
// batchEmbedContents answer the client gets as an OpenAI embedding list;
// each provider got its own key, never the client's.
func TestEndpoints_EmbeddingsFailOverAcrossFormats(t *testing.T) {
	forVersions(t, func(t *testing.T, entry string) {
		s := newEmbedStack(t, entry)
		for i, step := range []struct {
			fail []string
			want string
		}{
			{nil, "embed-openai"},
			{[]string{"embed-openai"}, "embed-azure"},
			{[]string{"embed-openai", "embed-azure"}, "embed-gemini"},
		} {
			for _, n := range step.fail {
				s.fakes[n].fail(503)
			}
			out, resp, err := s.embed(embedModel, "first", "second")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if got := resp.Header.Get("x-llm-failover-provider"); got != step.want {
				t.Fatalf("request %d: answered by %q, want %q (trace %q)", i, got, step.want, resp.Header.Get("x-llm-failover-trace"))
			}
			want := s.fakes[step.want].first
			if len(out.Data) != 2 || out.Data[1].Index != 1 || !slices.Equal(out.Data[1].Embedding, []float64{want, 1, 0.5}) {
				t.Fatalf("request %d: got %+v, want two vectors from %s", i, out.Data, step.want)
			}
		}
		az := s.fakes["embed-azure"].calls()
		if len(az) == 0 || !strings.HasPrefix(az[0].path, "/openai/deployments/embed-azure-model/embeddings?api-version=") || az[0].key != "key-embed-azure" {
			t.Errorf("azure got %+v, want its deployment path and its key", az)
		}
		gm := s.fakes["embed-gemini"].calls()
		if len(gm) != 1 || gm[0].path != "/v1beta/models/embed-gemini-model:batchEmbedContents" || gm[0].key != "key-embed-gemini" ||
			strings.Count(gm[0].body, `"content"`) != 2 {
			t.Errorf("gemini got %+v, want one batchEmbedContents of two inputs with its key", gm)
		}
		for _, n := range embedOrder {
			for _, c := range s.fakes[n].calls() {
				if strings.Contains(c.key, clientKey) {
					t.Errorf("%s got the client's key", n)
				}
			}
		}
	})
}

// TestEndpoints_EmbeddingsOfAChatModelIsNotFound verifies an embeddings
// request for a chat chain's model gets the SDK's 404 model_not_found, and
// a chat request for the embedding model too; no provider is asked.
func TestEndpoints_EmbeddingsOfAChatModelIsNotFound(t *testing.T) {
	forVersions(t, func(t *testing.T, entry string) {
		s := newEmbedStack(t, entry)
		_, _, err := s.embed(chainModel, "x")
		var ae *openai.Error
		if !asAPIError(err, &ae) || ae.StatusCode != 404 || ae.Code != "model_not_found" {
			t.Fatalf("embeddings of %s: got %v, want 404 model_not_found", chainModel, err)
		}
		r := s.chatModel(embedModel)
		if r.status() != 404 || r.apiErr == nil || r.apiErr.Code != "model_not_found" {
			t.Fatalf("chat with %s: got %d %v, want 404 model_not_found", embedModel, r.status(), r.err)
		}
		for _, n := range embedOrder {
			if c := s.fakes[n].calls(); len(c) != 0 {
				t.Errorf("%s was asked %d times, want never", n, len(c))
			}
		}
	})
}

func asAPIError(err error, out **openai.Error) bool {
	ae, ok := err.(*openai.Error)
	*out = ae
	return ok
}

// TestEndpoints_ModelsPerClient verifies that under a clients policy the
// SDK's models.list shows each client what it may use: the client with the
// suite's key only the main chain's model, another key only side-model, and
// a caller without a listed key is refused as for any request.
func TestEndpoints_ModelsPerClient(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := clientStack(t, v, `  default: {action: deny}
  list:
    - {name: team-a, api_keys: ["`+clientKeyHash+`"], chains: [main]}
    - {name: team-b, api_keys: ["`+access.HashKey("sk-team-b")+`"], models: [side-model]}
`)
		for _, tc := range []struct {
			key    string
			status int
			want   []string
		}{
			{clientKey, 200, []string{chainModel}},
			{"sk-team-b", 200, []string{"side-model"}},
			{"sk-nobody", 401, nil},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			page, err := s.client.Models.List(ctx, option.WithAPIKey(tc.key))
			cancel()
			var ae *openai.Error
			if tc.status != 200 {
				if !asAPIError(err, &ae) || ae.StatusCode != tc.status {
					t.Fatalf("key %s: got %v, want %d", tc.key, err, tc.status)
				}
				continue
			}
			if err != nil {
				t.Fatalf("key %s: %v", tc.key, err)
			}
			var ids []string
			for _, m := range page.Data {
				ids = append(ids, m.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("key %s: got %v, want %v", tc.key, ids, tc.want)
			}
		}
	})
}
