package provider

import (
	"testing"

	"github.com/tidwall/gjson"
)

// readMessageBefore is readMessage as it was before it read members
// without decoding them (gjson's ForEach): FuzzReadMessage's oracle.
func readMessageBefore(m gjson.Result) chatMessage {
	var cm chatMessage
	m.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "role":
			cm.role = v.String()
		case "content":
			cm.content = v
		case "tool_calls":
			cm.toolCalls = v
		case "tool_call_id":
			cm.toolCall = v
		}
		return true
	})
	return cm
}

// FuzzReadMessage verifies readMessage reads from any valid JSON message
// what gjson's ForEach read (role, content text and source, tool calls, tool
// call id; the last duplicate wins), with the content's text unescaped only
// on demand; and that eachMember never panics nor reads past its input.
func FuzzReadMessage(f *testing.F) {
	for _, s := range []string{
		`{"role":"user","content":"plain"}`,
		`{"role":"user","content":"esc \"q\" \\ \u00e9 \n","content":"second"}`,
		`{ "role" : "assistant" , "content" : null , "tool_calls" : [ {"id":"c\"]}","function":{"arguments":"{}"}} ] }`,
		`{"ro\u006ce":"tool","tool_call_id":"x","content":[{"type":"text","text":"a]}"}]}`,
		`{"content":""}`, `{"content":"\\"}`, `{"content":12.5e3,"role":true}`, `[]`, `"s"`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		eachMember(string(b), func(k, raw string) {
			if raw == "" {
				t.Fatalf("empty value for key %q in %q", k, b)
			}
		})
		if !gjson.ValidBytes(b) {
			return
		}
		n := 0
		eachElement("["+string(b)+","+string(b)+"]", func(s string, i int) int {
			n++
			var m chatMessage
			return m.readAt(s, i)
		})
		if n != 2 {
			t.Fatalf("%d elements in a two-element array of %q", n, b)
		}
		m := gjson.ParseBytes(b)
		got, want := readMessage(m), readMessageBefore(m)
		if got.role != want.role || got.content.Type != want.content.Type || got.content.Raw != want.content.Raw ||
			stringText(got.content) != want.content.String() || emptyString(got.content) != (want.content.Type == gjson.String && want.content.Str == "") ||
			got.toolCalls.Raw != want.toolCalls.Raw || got.toolCall.String() != want.toolCall.String() {
			t.Errorf("message %q: got %+v, want %+v", b, got, want)
		}
	})
}
