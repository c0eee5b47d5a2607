package provider

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/tidwall/gjson"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// testEnv is the fixed clock and id source every golden file was made with.
func testEnv() Env {
	return Env{Now: func() time.Time { return time.Unix(1767225600, 0).UTC() }, ID: func() string { return "test" }}
}

// target is one provider the golden vectors are prepared for.
type target struct {
	ep    Endpoint
	model string
}

var goldenTargets = []target{
	{Endpoint{Name: "openai", API: config.APIOpenAI, BasePath: "/v1",
		AuthHeader: "authorization", AuthValue: "Bearer test-key"}, "gpt-4o-mini"},
	{Endpoint{Name: "claude", API: config.APIAnthropic, BasePath: "/v1", APIVersion: "2023-06-01",
		AuthHeader: "x-api-key", AuthValue: "test-key"}, "claude-sonnet-4-5"},
	{Endpoint{Name: "gemini", API: config.APIGemini, BasePath: "/v1beta",
		AuthHeader: "x-goog-api-key", AuthValue: "test-key"}, "gemini-2.5-flash"},
	{Endpoint{Name: "azure", API: config.APIAzureOpenAI, BasePath: "/openai", APIVersion: "2024-10-21",
		AuthHeader: "api-key", AuthValue: "test-key"}, "gpt-4o-prod"},
	{Endpoint{Name: "azure-v1", API: config.APIAzureOpenAI, BasePath: "/openai", APIVersion: "v1",
		AuthHeader: "api-key", AuthValue: "test-key"}, "gpt-4o"},
}

func targetFor(api config.API) target {
	for _, t := range goldenTargets {
		if t.ep.API == api {
			return t
		}
	}
	panic("no target for " + string(api))
}

// requestFor builds the attempt's Request from a client body.
func requestFor(body []byte, model string) Request {
	return Request{Body: body, Model: model, Stream: gjson.GetBytes(body, "stream").Bool(),
		IncludeUsage: gjson.GetBytes(body, "stream_options.include_usage").Bool()}
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./provider -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// renderPrepared writes a prepared request (or its error) as golden text.
func renderPrepared(p *Prepared, err error) []byte {
	var b bytes.Buffer
	if err != nil {
		var pe *Error
		if !errors.As(err, &pe) {
			b.WriteString("error (not *Error): " + err.Error() + "\n")
			return b.Bytes()
		}
		b.WriteString("error " + itoa(pe.Status) + " type=" + pe.Type + " code=" + pe.Code + " param=" + pe.Param + "\n")
		b.WriteString(pe.Message + "\n")
		return b.Bytes()
	}
	b.WriteString("POST " + p.Path + "\n")
	for _, h := range p.Headers {
		b.WriteString(h.Key + ": " + h.Value + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Body)
	b.WriteString("\n")
	return b.Bytes()
}

// TestPrepare_Golden verifies every request vector against its golden
// rewrite for each target API (path, headers, exact body, or the 400).
func TestPrepare_Golden(t *testing.T) {
	files, err := filepath.Glob("testdata/requests/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no request vectors: %v", err)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range goldenTargets {
			name := strings.TrimSuffix(filepath.Base(f), ".json") + "/" + tg.ep.Name
			t.Run(name, func(t *testing.T) {
				a, err := For(tg.ep.API)
				if err != nil {
					t.Fatal(err)
				}
				ep := tg.ep
				p, perr := a.Prepare(&ep, requestFor(body, tg.model))
				if perr == nil && !gjson.ValidBytes(p.Body) {
					t.Errorf("prepared body is not valid JSON: %s", p.Body)
				}
				golden(t, strings.TrimSuffix(f, ".json")+"."+tg.ep.Name+".golden", renderPrepared(p, perr))
			})
		}
	}
}

// translateAll feeds body to a fresh translator in the given chunk sizes
// (cycled) and returns the concatenated output.
func translateAll(t testing.TB, api config.API, body []byte, stream, includeUsage bool, sizes []int) ([]byte, error) {
	tg := targetFor(api)
	a, err := For(api)
	if err != nil {
		t.Fatal(err)
	}
	ep := tg.ep
	tr := a.NewResponseTranslator(&ep, Request{Model: tg.model, Stream: stream, IncludeUsage: includeUsage}, testEnv())
	var out []byte
	rest := body
	for k := 0; ; k++ {
		n := len(rest)
		if len(sizes) > 0 {
			n = min(max(sizes[k%len(sizes)], 0), len(rest))
		}
		eos := n == len(rest)
		o, err := tr.Translate(rest[:n], eos)
		if err != nil {
			return out, err
		}
		out = append(out, o...)
		rest = rest[n:]
		if eos {
			return out, nil
		}
	}
}

// TestTranslate_Golden verifies every provider response vector (JSON and
// SSE, streams with and without include_usage) against its golden translation.
func TestTranslate_Golden(t *testing.T) {
	for _, api := range []config.API{config.APIAnthropic, config.APIGemini, config.APIAzureOpenAI} {
		dir := filepath.Join("testdata", "responses", string(api))
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			if strings.HasSuffix(f, ".golden") {
				continue
			}
			stream := strings.HasSuffix(f, ".sse")
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			variants := []bool{false}
			if stream {
				variants = []bool{false, true}
			}
			for _, usage := range variants {
				name, out := f+".golden", f
				if usage {
					name = f + ".usage.golden"
				}
				t.Run(strings.TrimPrefix(name, "testdata/responses/"), func(t *testing.T) {
					got, err := translateAll(t, api, body, stream, usage, nil)
					if err != nil {
						got = []byte("error: " + err.Error() + "\n")
					} else if !stream && !gjson.ValidBytes(got) {
						t.Errorf("%s: translation is not valid JSON: %s", out, got)
					}
					golden(t, name, got)
				})
			}
		}
	}
}
