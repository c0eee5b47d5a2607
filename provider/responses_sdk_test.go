package provider

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/responses"
)

// TestResponsesGolden_ReadByTheSDK verifies the official SDK (openai-go)
// reads every golden Responses translation as a client would: a whole
// answer as a Response whose OutputText and function calls are the
// translated ones; a stream's events in order, its text deltas adding up
// to the final response's OutputText, each function call's arguments .done
// equal to the final item's, or, for a stream that failed, an SDK error.
func TestResponsesGolden_ReadByTheSDK(t *testing.T) {
	files, _ := filepath.Glob("testdata/responsesapi/answers/*/*.golden")
	if len(files) == 0 {
		t.Fatal("no golden answers")
	}
	for _, f := range files {
		t.Run(strings.TrimPrefix(f, "testdata/responsesapi/answers/"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.HasPrefix(b, []byte("error: ")) {
				t.Skip("the translator refused this answer (a failover, no client output)")
			}
			if strings.HasSuffix(f, ".json.golden") {
				var r responses.Response
				if err := json.Unmarshal(b, &r); err != nil {
					t.Fatalf("SDK cannot read the answer: %v", err)
				}
				if r.Object != "response" || r.ID == "" || len(r.Output) == 0 {
					t.Errorf("object %q id %q, %d output items: want a response with output", r.Object, r.ID, len(r.Output))
				}
				checkSDKCalls(t, r, nil)
				return
			}
			hr := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(b))}
			st := ssestream.NewStream[responses.ResponseStreamEventUnion](ssestream.NewDecoder(hr), nil)
			var text strings.Builder
			args := map[string]string{}
			var final *responses.Response
			for st.Next() {
				ev := st.Current()
				switch ev.Type {
				case "response.output_text.delta":
					text.WriteString(ev.AsResponseOutputTextDelta().Delta)
				case "response.function_call_arguments.done":
					d := ev.AsResponseFunctionCallArgumentsDone()
					args[d.ItemID] = d.Arguments
				case "response.completed":
					r := ev.AsResponseCompleted().Response
					final = &r
				case "response.incomplete":
					r := ev.AsResponseIncomplete().Response
					final = &r
				}
			}
			wantErr := bytes.Contains(b, []byte(`data: {"error":`))
			if wantErr {
				if st.Err() == nil {
					t.Errorf("the SDK read a failed stream without an error")
				}
				return
			}
			if st.Err() != nil {
				t.Fatalf("SDK stream error: %v", st.Err())
			}
			if final == nil {
				t.Fatal("no response.completed or response.incomplete")
			}
			if got := final.OutputText(); got != text.String() {
				t.Errorf("final OutputText %q, deltas %q: want equal", got, text.String())
			}
			checkSDKCalls(t, *final, args)
		})
	}
}

// checkSDKCalls verifies each function call of r has a call id, a name and
// JSON arguments (equal to args[item id] when args is given).
func checkSDKCalls(t *testing.T, r responses.Response, args map[string]string) {
	t.Helper()
	for _, it := range r.Output {
		if it.Type != "function_call" {
			continue
		}
		fc := it.AsFunctionCall()
		if fc.CallID == "" || fc.Name == "" || !json.Valid([]byte(fc.Arguments)) {
			t.Errorf("function call %+v: want a call id, a name and JSON arguments", fc)
		}
		if args != nil && args[fc.ID] != fc.Arguments {
			t.Errorf("call %s: final arguments %q, .done %q", fc.ID, fc.Arguments, args[fc.ID])
		}
	}
}
