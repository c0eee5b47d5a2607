package provider

import "testing"

// FuzzJudgeAnswer verifies that any request and answer bytes are judged
// without a panic, on both client APIs, and that a verdict always names
// its reason and says why.
func FuzzJudgeAnswer(f *testing.F) {
	f.Add([]byte(`{"max_tokens":10,"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","required":["a"]}}}}`),
		[]byte(`{"choices":[{"message":{"content":"{\"b\":1}"},"finish_reason":"length"}],"usage":{"completion_tokens":2}}`))
	f.Add([]byte(`{"text":{"format":{"type":"json_schema","schema":{"$ref":"#/$defs/x","$defs":{"x":{"type":"integer"}}}}}}`),
		[]byte(`{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message","content":[{"type":"output_text","text":"1"}]}]}`))
	f.Add([]byte(`{"response_format":{"type":"json_schema","json_schema":{"schema":{"pattern":"("}}}}`), []byte(`{"choices":[{"message":{"refusal":"no"}}]}`))
	f.Add([]byte(`{}`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, req, answer []byte) {
		for _, c := range []*ClientAPI{ChatCompletions, Responses} {
			v := JudgeAnswer(c, req, answer, allChecks)
			if v.Failed() && (v.Message == "" || v.Reason.String() == "") {
				t.Fatalf("verdict %v without a message", v.Reason)
			}
		}
	})
}

// FuzzJudgeStreamStart verifies that any held stream bytes are judged
// without a panic.
func FuzzJudgeStreamStart(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"refusal\":\"no\"}}]}\n\n"))
	f.Add([]byte("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\"}}\n\n"))
	f.Add([]byte("data: {\"candidates\":[{\"finishReason\":\"SAFETY\"}]}\r\n\r\n"))
	f.Add([]byte("event: response.incomplete\ndata: {\"response\":{\"incomplete_details\":{\"reason\":\"content_filter\"}}}\n\n"))
	f.Fuzz(func(t *testing.T, held []byte) {
		v := JudgeStreamStart(held, allChecks)
		if v.Failed() && v.Message == "" {
			t.Fatalf("verdict %v without a message", v.Reason)
		}
	})
}
