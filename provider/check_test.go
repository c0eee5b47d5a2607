package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// checkSeeds are request bodies Check must judge as Prepare does: the golden
// requests and one of each refusal.
func checkSeeds(t testing.TB) [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "requests", "*.json"))
	var out [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, s := range []string{
		`{"model":"m","messages":{}}`,
		`{"model":"m","messages":[],"n":2}`,
		`{"model":"m","messages":[],"modalities":["text","audio"]}`,
		`{"model":"m","messages":[{"role":"robot","content":"x"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"format":"wav","data":"AA=="}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"video"}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":7}]}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"[1]"}}]}]}`,
		`{"model":"m","messages":[{"role":"tool","tool_call_id":"zz","content":"r"}]}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":"{\"ok\":1}"}]}`,
		`{"model":"m","messages":[],"tools":[{"type":"web_search"}]}`,
		`{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`,
		`{"model":"m","messages":[],"tool_choice":"sometimes"}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// checkAgrees fails t unless Check refuses body for every golden target
// exactly as Prepare does (OpenAI-format targets: Check accepts).
func checkAgrees(t *testing.T, body []byte) {
	for _, tg := range goldenTargets {
		a, _ := For(tg.ep.API)
		ep := tg.ep
		req := requestFor(body, tg.model)
		_, perr := a.Prepare(&ep, req)
		cerr := a.Check(&ep, req)
		if clientFormat(tg.ep.API) {
			perr = nil // Check assumes Inspect accepted the body
		}
		if !reflect.DeepEqual(perr, cerr) {
			t.Errorf("%s: Check = %v, Prepare = %v for %s", tg.ep.Name, cerr, perr, body)
		}
		// The route phase's request, which skips validating again, is
		// refused exactly as the plain one.
		if in, ierr := Inspect(body); ierr == nil {
			if ierr := a.Check(&ep, in.Request(body, tg.model)); !reflect.DeepEqual(ierr, cerr) {
				t.Errorf("%s: Check of the inspected request = %v, want %v for %s", tg.ep.Name, ierr, cerr, body)
			}
		}
	}
}

// TestCheck_RefusesExactlyWhatPrepareRefuses verifies Check's verdict, error
// included, matches Prepare's on every golden request and each refusal.
func TestCheck_RefusesExactlyWhatPrepareRefuses(t *testing.T) {
	for _, body := range checkSeeds(t) {
		checkAgrees(t, body)
	}
}

// FuzzCheck verifies Check never panics and always agrees with Prepare.
func FuzzCheck(f *testing.F) {
	for _, b := range checkSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkAgrees(t, body) })
}

// BenchmarkCheck measures Check per cross-format target for 2 KB and 100 KB
// bodies (compare BenchmarkPrepare: Check builds no body).
func BenchmarkCheck(b *testing.B) {
	for _, size := range []int{2 << 10, 100 << 10} {
		body := chatBody(size)
		for _, tg := range goldenTargets[1:3] {
			b.Run(fmt.Sprintf("%s/%dKB", tg.ep.API, size>>10), func(b *testing.B) {
				a, _ := For(tg.ep.API)
				ep := tg.ep
				req := Request{Body: body, Model: tg.model, Stream: true}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if err := a.Check(&ep, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
