package provider

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/config"
)

// FuzzResponsesRequest verifies the Responses request parsers
// (InspectResponses, and Prepare and Check for every target API) never
// panic, that Check refuses exactly what Prepare refuses for a body
// InspectResponses accepted (Check's contract), and that a prepared body is
// always valid JSON.
func FuzzResponsesRequest(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "responsesapi", "requests", "*.json"))
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := Request{Body: body, Model: "m"}
		in, perr := InspectResponses(body)
		if perr == nil {
			req = in.Request(body, "m")
		}
		for _, tg := range goldenTargets {
			a, _ := ResponsesAdapter(tg.ep.API)
			ep := tg.ep
			p, err := a.Prepare(&ep, req)
			if err == nil && !gjson.ValidBytes(p.Body) {
				t.Errorf("%s: invalid JSON body %q from %q", tg.ep.Name, p.Body, body)
			}
			if cerr := a.Check(&ep, req); perr == nil && (cerr == nil) != (err == nil) {
				t.Errorf("%s: Check = %v, Prepare = %v for %q", tg.ep.Name, cerr, err, body)
			}
		}
	})
}

// FuzzResponsesStream verifies the chat-to-Responses stream translator on
// random chunkings of real and mutated streams, over Anthropic, Gemini and
// chat input: the chunking never changes the output, every event is JSON,
// and the stream always ends (response.completed, response.incomplete or
// an error event).
func FuzzResponsesStream(f *testing.F) {
	for _, dir := range []string{"anthropic", "gemini", "chat"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "responsesapi", "answers", dir, "*.sse"))
		for i, file := range files {
			b, _ := os.ReadFile(file)
			f.Add(b, []byte{0, 37, 200}, uint8(i))
		}
	}
	apis := []config.API{config.APIAnthropic, config.APIGemini, "chat"}
	f.Fuzz(func(t *testing.T, data, cuts []byte, which uint8) {
		api := apis[int(which)%len(apis)]
		whole, err := translateResponses(t, api, data, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		chunked, err := translateResponses(t, api, data, true, sizesFrom(cuts))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(whole, chunked) {
			t.Fatalf("%s: chunking changed the output\nwhole:\n%s\nchunked:\n%s", api, whole, chunked)
		}
		ended := false
		var r SSEReader
		_ = r.Feed(whole, func(ev Event) error {
			if string(ev.Data) == "[DONE]" {
				ended = true
				return nil
			}
			if !gjson.ValidBytes(ev.Data) {
				t.Errorf("%s: output event is not JSON: %q", api, ev.Data)
			}
			ended = ev.Name == "response.completed" || ev.Name == "response.incomplete"
			return nil
		})
		if !ended {
			t.Errorf("%s: the stream does not end: %q", api, whole)
		}
	})
}
