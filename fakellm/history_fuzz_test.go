package fakellm

import "testing"

// FuzzHistoryError: any body of any shape is judged without panicking,
// and a refusal always has a message the error body can carry.
func FuzzHistoryError(f *testing.F) {
	f.Add(uint8(ShapeOpenAI), []byte(`{"messages":[{"role":"assistant","tool_calls":[{"id":"a"}]},{"role":"tool","tool_call_id":"a"}]}`))
	f.Add(uint8(ShapeAnthropic), []byte(`{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"x.y"}]}]}`))
	f.Add(uint8(ShapeGemini), []byte(`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"w"}}]},{"role":"user","parts":[]}]}`))
	f.Fuzz(func(t *testing.T, shape uint8, body []byte) {
		sh := Shape(shape % 5)
		if msg := historyError(sh, body); msg != "" && len(historyErrorBody(sh, msg)) == 0 {
			t.Fatalf("refusal %q has no error body", msg)
		}
	})
}
