package provider

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/config"
)

// embedTargets are the golden targets with an embeddings adapter.
func embedTargets() []target {
	var out []target
	for _, tg := range goldenTargets {
		if Embeddings.Adapter(tg.ep.API) != nil {
			out = append(out, tg)
		}
	}
	return out
}

// TestEmbeddings_PrepareGolden verifies every embeddings request vector
// against its golden rewrite for each target with an embeddings endpoint
// (path, headers, exact body, or the 400), and that Check refuses exactly
// what Prepare refuses.
func TestEmbeddings_PrepareGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/embeddings/requests/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no request vectors: %v", err)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, perr := InspectEmbeddings(body); perr != nil {
			t.Fatalf("%s: InspectEmbeddings refused a vector: %v", f, perr)
		}
		for _, tg := range embedTargets() {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".json")+"/"+tg.ep.Name, func(t *testing.T) {
				a := Embeddings.Adapter(tg.ep.API)
				ep := tg.ep
				req := Request{Body: body, Model: tg.model}
				p, perr := a.Prepare(&ep, req)
				if cerr := a.Check(&ep, req); (cerr == nil) != (perr == nil) {
					t.Errorf("Check: got %v, want the refusal of Prepare (%v)", cerr, perr)
				}
				if perr == nil && !gjson.ValidBytes(p.Body) {
					t.Errorf("prepared body is not valid JSON: %s", p.Body)
				}
				golden(t, strings.TrimSuffix(f, ".json")+"."+tg.ep.Name+".golden", renderPrepared(p, perr))
			})
		}
	}
}

// TestEmbeddings_GeminiAnswerGolden verifies each Gemini batchEmbedContents
// answer against its golden OpenAI embedding list, with float and base64
// encoding, for a request of two inputs.
func TestEmbeddings_GeminiAnswerGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/embeddings/responses/*.json")
	if len(files) == 0 {
		t.Fatal("no response vectors")
	}
	tg := targetFor(config.APIGemini)
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range []string{"float", "base64"} {
			name := strings.TrimSuffix(f, ".json") + "." + enc + ".golden"
			t.Run(filepath.Base(name), func(t *testing.T) {
				req := Request{Model: tg.model, Body: []byte(`{"model":"m","input":["a","b"],"encoding_format":"` + enc + `"}`)}
				tr := geminiEmbed{}.NewResponseTranslator(&tg.ep, req, testEnv())
				var got []byte
				half := len(body) / 2
				out, err := tr.Translate(body[:half], false)
				if err == nil {
					got = append(got, out...)
					out, err = tr.Translate(body[half:], true)
					got = append(got, out...)
				}
				if err != nil {
					got = []byte("error: " + err.Error() + "\n")
				} else if !gjson.ValidBytes(got) {
					t.Errorf("translation is not valid JSON: %s", got)
				}
				golden(t, name, got)
			})
		}
	}
}

// TestEmbeddings_GeminiBase64IsFloat32LittleEndian verifies the base64 form
// decodes to the answer's values as OpenAI encodes them.
func TestEmbeddings_GeminiBase64IsFloat32LittleEndian(t *testing.T) {
	tr := geminiEmbed{}.NewResponseTranslator(&Endpoint{}, Request{Model: "m", Body: []byte(`{"input":"a","encoding_format":"base64"}`)}, testEnv())
	out, err := tr.Translate([]byte(`{"embeddings":[{"values":[0.5,-2,3.25]}]}`), true)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(gjson.GetBytes(out, "data.0.embedding").Str)
	if err != nil || len(raw) != 12 {
		t.Fatalf("embedding: got %s (%v), want 3 float32s in base64", out, err)
	}
	var got []float32
	for i := 0; i < len(raw); i += 4 {
		got = append(got, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
	}
	if want := []float32{0.5, -2, 3.25}; !slices.Equal(got, want) {
		t.Fatalf("decoded: got %v, want %v", got, want)
	}
}

// TestEmbeddings_OpenAIAnswerIsChecked verifies an OpenAI-format embeddings
// answer passes unchanged and a body that is not an embedding list fails.
func TestEmbeddings_OpenAIAnswerIsChecked(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"m","usage":{"prompt_tokens":1,"total_tokens":1}}`, true},
		{`{"object":"list"}`, false},
		{`<html></html>`, false},
		{``, false},
	} {
		for _, a := range []Adapter{openAIEmbed{}, azureEmbed{}} {
			out, err := a.NewResponseTranslator(&Endpoint{}, Request{}, testEnv()).Translate([]byte(tc.body), true)
			if (err == nil) != tc.ok || tc.ok && string(out) != tc.body {
				t.Errorf("%T %q: got %q, %v; want ok=%v and the body unchanged", a, tc.body, out, err, tc.ok)
			}
		}
	}
}

// TestInspectEmbeddings verifies which embeddings bodies the route phase
// accepts, and the field a refusal names.
func TestInspectEmbeddings(t *testing.T) {
	for _, tc := range []struct {
		body      string
		wantParam string // "" accepted
	}{
		{`{"model":"m","input":"a"}`, ""},
		{`{"model":"m","input":""}`, ""},
		{`{"model":"m","input":["a","b"]}`, ""},
		{`{"model":"m","input":[1,2]}`, ""},
		{`{"model":"m","input":[[1],[2,3]]}`, ""},
		{`{"model":"m","input":"a","encoding_format":"base64","dimensions":1,"user":"x","stream":true}`, ""},
		{`{"model":"m","input":"a","encoding_format":null,"dimensions":null}`, ""},
		{`{"model":"m"}`, "input"},
		{`{"model":"m","input":null}`, "input"},
		{`{"model":"m","input":[]}`, "input"},
		{`{"model":"m","input":[[]]}`, "input"},
		{`{"model":"m","input":[1,"a"]}`, "input"},
		{`{"model":"m","input":["a",1]}`, "input"},
		{`{"model":"m","input":[-1]}`, "input"},
		{`{"model":"m","input":[1.5]}`, "input"},
		{`{"model":"m","input":[[1,"a"]]}`, "input"},
		{`{"model":"m","input":5}`, "input"},
		{`{"model":"m","input":"a","encoding_format":"int8"}`, "encoding_format"},
		{`{"model":"m","input":"a","encoding_format":1}`, "encoding_format"},
		{`{"model":"m","input":"a","dimensions":0}`, "dimensions"},
		{`{"model":"m","input":"a","dimensions":1.5}`, "dimensions"},
		{`{"model":"m","input":"a","dimensions":"8"}`, "dimensions"},
		{`{"input":"a"}`, "model"},
		{`[]`, ""},
	} {
		in, err := InspectEmbeddings([]byte(tc.body))
		switch {
		case tc.body == `[]`:
			if err == nil || err.Status != 400 {
				t.Errorf("%s: got %v, want a 400", tc.body, err)
			}
		case tc.wantParam == "":
			if err != nil || in.Model != "m" || in.Stream {
				t.Errorf("%s: got %+v, %v; want accepted for model m, never streamed", tc.body, in, err)
			}
		case err == nil || err.Status != 400 || err.Param != tc.wantParam:
			t.Errorf("%s: got %v, want a 400 naming %q", tc.body, err, tc.wantParam)
		}
	}
}

// TestClientAPIs_Registry verifies the registry's invariants: names and
// suffixes unique, every API found by its path and its plan name, chat
// completions served by every wire format, and config.EmbeddingAPIs naming
// exactly the formats with an embeddings adapter.
func TestClientAPIs_Registry(t *testing.T) {
	names, suffixes := map[string]bool{}, map[string]bool{}
	for _, c := range ClientAPIs() {
		if names[c.Name] || suffixes[c.Suffix] {
			t.Errorf("%s: name or suffix %q used twice", c.Name, c.Suffix)
		}
		names[c.Name], suffixes[c.Suffix] = true, true
		if !strings.HasSuffix(c.Path, c.Suffix) || c.Inspect == nil || c.Kind == "" || c.Operation == "" {
			t.Errorf("%s: path %q, suffix %q, kind %q: want the path to end in the suffix, an Inspect and a kind", c.Name, c.Path, c.Suffix, c.Kind)
		}
		if APIForPath(c.Path) != c || APIForPath("/openai"+c.Path) != c || APINamed(c.PlanName()) != c {
			t.Errorf("%s: not found by its path or plan name", c.Name)
		}
	}
	if APIForPath("/v1/files") != nil || APINamed("nope") != nil {
		t.Errorf("an unknown path or name found an API")
	}
	for api := range formats {
		if ChatCompletions.Adapter(api) == nil {
			t.Errorf("chat completions: no adapter for %s", api)
		}
	}
	var embed []config.API
	for api := range Embeddings.Adapters {
		embed = append(embed, api)
	}
	slices.Sort(embed)
	want := slices.Clone(config.EmbeddingAPIs)
	slices.Sort(want)
	if !slices.Equal(embed, want) {
		t.Errorf("embeddings adapters %v, config.EmbeddingAPIs %v: want the same", embed, want)
	}
	if b, _ := json.Marshal(ChatCompletions.PlanName()); string(b) != `""` {
		t.Errorf("chat completions plan name: got %s, want empty", b)
	}
}

// FuzzEmbeddings verifies that for any body InspectEmbeddings accepts,
// every target's Check agrees with its Prepare and a prepared body is valid
// JSON; and that the Gemini answer translator never panics and answers
// valid JSON or an error.
func FuzzEmbeddings(f *testing.F) {
	files, _ := filepath.Glob("testdata/embeddings/*/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b, b)
	}
	f.Add([]byte(`{"model":"m","input":["\u0000",""]}`), []byte(`{"embeddings":[]}`))
	f.Fuzz(func(t *testing.T, body, answer []byte) {
		if _, perr := InspectEmbeddings(body); perr == nil {
			for _, tg := range embedTargets() {
				a := Embeddings.Adapter(tg.ep.API)
				req := Request{Body: body, Model: tg.model}
				p, err := a.Prepare(&tg.ep, req)
				if cerr := a.Check(&tg.ep, req); (cerr == nil) != (err == nil) {
					t.Fatalf("%s: Check %v, Prepare %v", tg.ep.Name, cerr, err)
				}
				if err == nil && !gjson.ValidBytes(p.Body) {
					t.Fatalf("%s: prepared body is not JSON: %s", tg.ep.Name, p.Body)
				}
			}
		}
		tr := geminiEmbed{}.NewResponseTranslator(&Endpoint{}, Request{Model: "m", Body: body}, testEnv())
		out, err := tr.Translate(answer, true)
		if err == nil && !gjson.ValidBytes(out) {
			t.Fatalf("translation is not JSON: %s", out)
		}
	})
}

// TestClientAPIs_PathsAreDefaultRoutes verifies envoy.routes' default holds
// every client API's path, so a registered API is reachable without
// configuration.
func TestClientAPIs_PathsAreDefaultRoutes(t *testing.T) {
	for _, c := range ClientAPIs() {
		if !slices.Contains(config.DefaultRoutes, c.Path) {
			t.Errorf("%s: path %s is not in config.DefaultRoutes %v", c.Name, c.Path, config.DefaultRoutes)
		}
	}
}
