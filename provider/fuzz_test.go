package provider

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/llm-failover/llm-failover/config"
	"github.com/tidwall/gjson"
)

// sizesFrom turns fuzz bytes into chunk sizes of 1..256 bytes.
func sizesFrom(cuts []byte) []int {
	s := make([]int, len(cuts))
	for i, c := range cuts {
		s[i] = int(c) + 1
	}
	return s
}

// addStreamSeeds adds the stream fixtures of api as seeds, each with a few chunkings.
func addStreamSeeds(f *testing.F, api config.API) {
	files, _ := filepath.Glob(filepath.Join("testdata", "responses", string(api), "*.sse"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte{0})
		f.Add(b, []byte{6, 200, 1, 37})
		f.Add(b, []byte{255})
	}
}

// FuzzSSEReader verifies the framer yields the same events whatever the
// chunking and never panics.
func FuzzSSEReader(f *testing.F) {
	f.Add([]byte("data: a\n\ndata: b\r\n\r\n: c\rdata: d\r\r"), []byte{0, 2})
	f.Add([]byte("\xef\xbb\xbfevent: x\ndata: 1\ndata: 2\n\n"), []byte{0, 1})
	addStreamSeeds(f, config.APIAnthropic)
	addStreamSeeds(f, config.APIGemini)
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		want := frame(t, string(data))
		var points []int
		at := 0
		for _, s := range sizesFrom(cuts) {
			at += s
			if at >= len(data) {
				break
			}
			points = append(points, at)
		}
		if got := frame(t, string(data), points...); !reflect.DeepEqual(got, want) {
			t.Errorf("cuts %v: got %q, want %q", points, got, want)
		}
	})
}

// fuzzStream checks a stream translator on data: same output whole and
// chunked, every output event JSON or [DONE], and the stream always ends
// with [DONE].
func fuzzStream(t *testing.T, api config.API, data, cuts []byte) {
	whole, err := translateAll(t, api, data, true, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	chunked, err := translateAll(t, api, data, true, true, sizesFrom(cuts))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(whole, chunked) {
		t.Fatalf("chunking changed the output\nwhole:\n%s\nchunked:\n%s", whole, chunked)
	}
	if !bytes.HasSuffix(whole, []byte(doneEvent)) {
		t.Fatalf("output does not end with [DONE]: %q", whole)
	}
	var r SSEReader
	_ = r.Feed(whole, func(ev Event) error {
		if string(ev.Data) != "[DONE]" && !gjson.ValidBytes(ev.Data) {
			t.Errorf("output event is not JSON: %q", ev.Data)
		}
		return nil
	})
}

// FuzzAnthropicStream verifies the Messages stream translator on random
// chunkings of real and mutated streams.
func FuzzAnthropicStream(f *testing.F) {
	addStreamSeeds(f, config.APIAnthropic)
	f.Fuzz(func(t *testing.T, data, cuts []byte) { fuzzStream(t, config.APIAnthropic, data, cuts) })
}

// FuzzGeminiStream verifies the Gemini stream translator on random
// chunkings of real and mutated streams.
func FuzzGeminiStream(f *testing.F) {
	addStreamSeeds(f, config.APIGemini)
	f.Fuzz(func(t *testing.T, data, cuts []byte) { fuzzStream(t, config.APIGemini, data, cuts) })
}

// FuzzPrepare verifies request translation never panics and, when it
// succeeds, always yields valid JSON; that a body Inspect accepts is
// prepared the same whether or not it is marked inspected (the attempt
// phase's Request.Inspected), and an unchanged body is the client's own.
func FuzzPrepare(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "requests", "*.json"))
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, inspectErr := Inspect(body)
		for _, tg := range goldenTargets {
			a, _ := For(tg.ep.API)
			ep := tg.ep
			p, err := a.Prepare(&ep, requestFor(body, tg.model))
			if err == nil && !gjson.ValidBytes(p.Body) {
				t.Errorf("%s: invalid JSON body %q from %q", tg.ep.Name, p.Body, body)
			}
			if err == nil && p.Unchanged && !bytes.Equal(p.Body, body) {
				t.Errorf("%s: body %q marked unchanged, want %q", tg.ep.Name, p.Body, body)
			}
			// Marked inspected without Inspect's proof (never done, but it
			// must not panic); with it, the same result.
			pi, ierr := a.Prepare(&ep, requestFor(body, tg.model).Inspected())
			if inspectErr != nil {
				continue
			}
			if (err == nil) != (ierr == nil) || err != nil && err.Error() != ierr.Error() {
				t.Errorf("%s: inspected error %v, want %v", tg.ep.Name, ierr, err)
			} else if err == nil && (!bytes.Equal(p.Body, pi.Body) || p.Unchanged != pi.Unchanged || p.Path != pi.Path) {
				t.Errorf("%s: inspected body %q (unchanged %v), want %q (%v)", tg.ep.Name, pi.Body, pi.Unchanged, p.Body, p.Unchanged)
			}
		}
	})
}

// FuzzStreamMonitor verifies the monitor's verdicts (content, end, failure
// class) do not depend on the chunking, for every wire format, and never panic.
func FuzzStreamMonitor(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\ndata: {\"error\":{\"message\":\"x\"}}\n\n"), []byte{3, 9})
	f.Add([]byte("event: ping\ndata: {}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n"), []byte{0})
	addStreamSeeds(f, config.APIAnthropic)
	addStreamSeeds(f, config.APIGemini)
	apis := []config.API{config.APIOpenAI, config.APIAzureOpenAI, config.APIAnthropic, config.APIGemini}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		for _, api := range apis {
			a, _ := For(api)
			whole := NewStreamMonitor(a)
			whole.Feed(data)
			m := NewStreamMonitor(a)
			at := 0
			for _, s := range sizesFrom(cuts) {
				if at+s >= len(data) {
					break
				}
				m.Feed(data[at : at+s])
				at += s
			}
			m.Feed(data[at:])
			if m.Content() != whole.Content() || m.Ended() != whole.Ended() || (m.Failure() == nil) != (whole.Failure() == nil) ||
				m.Failure() != nil && m.Failure().Class != whole.Failure().Class {
				t.Errorf("%s: chunked verdicts differ: content %v/%v ended %v/%v failure %+v/%+v", api,
					m.Content(), whole.Content(), m.Ended(), whole.Ended(), m.Failure(), whole.Failure())
			}
		}
	})
}
