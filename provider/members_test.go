package provider

import (
	"strings"
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

// TestEachMember_SourceText verifies eachMember gives each member's key
// unescaped and its value's exact source text, strings with escaped quotes
// and nested containers with brackets inside strings included, and stops
// without a member on broken input.
func TestEachMember_SourceText(t *testing.T) {
	tests := []struct {
		name, obj string
		want      []string // key=raw
	}{
		{"scalars", ` { "a" : 1 , "b":true,"c":null,"d":-2.5e3 } `, []string{"a=1", "b=true", "c=null", "d=-2.5e3"}},
		{"strings", `{"s":"x \"y\" \\","t":""}`, []string{`s="x \"y\" \\"`, `t=""`}},
		{"containers", `{"o":{"k":"]}"},"a":[1,"[",{"x":[]}]}`, []string{`o={"k":"]}"}`, `a=[1,"[",{"x":[]}]`}},
		{"escaped key", `{"mod\u0065l":"m"}`, []string{`model="m"`}},
		{"empty", `{}`, nil},
		{"not an object", `["a"]`, nil},
		{"unterminated string", `{"a":"b`, nil},
		{"missing colon", `{"a" 1,"b":2}`, nil},
		{"cut after a member", `{"a":1,"b":[1,2`, []string{"a=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			eachMember(tc.obj, func(k, raw string) { got = append(got, k+"="+raw) })
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("eachMember(%s): got %q, want %q", tc.obj, got, tc.want)
			}
		})
	}
}

// TestLazyString_TextOnDemand verifies a lazy string keeps its source, has
// its text at once when it has no escape, and gives the unescaped text on
// demand (stringText) when it has one; emptiness is known without
// unescaping.
func TestLazyString_TextOnDemand(t *testing.T) {
	tests := []struct {
		raw, text string
		empty     bool
	}{
		{`""`, "", true},
		{`"plain été"`, "plain été", false},
		{`"a\nb \"q\" \u00e9"`, "a\nb \"q\" é", false},
		{`"\u0000"`, "\x00", false},
	}
	for _, tc := range tests {
		r := lazyString(tc.raw)
		if r.Raw != tc.raw || stringText(r) != tc.text || emptyString(r) != tc.empty {
			t.Errorf("lazyString(%s): raw %q text %q empty %v, want %q %q %v", tc.raw, r.Raw, stringText(r), emptyString(r), tc.raw, tc.text, tc.empty)
		}
		if want := gjson.Parse(tc.raw).Str; stringText(r) != want {
			t.Errorf("lazyString(%s): text %q, gjson's %q", tc.raw, stringText(r), want)
		}
	}
}

// TestStringEnd_EscapesAtEveryOffset verifies the end of a string is found
// with an escaped quote or backslash at every offset around the switch from
// the byte scan to the vector scan, and that an unterminated one has none.
func TestStringEnd_EscapesAtEveryOffset(t *testing.T) {
	for n := 0; n < 40; n++ {
		for at := 0; at <= n; at++ {
			for _, esc := range []string{`\"`, `\\`, `\\\"`} {
				body := strings.Repeat("a", at) + esc + strings.Repeat("b", n-at)
				s := `"` + body + `",1`
				if got, want := stringEnd(s, 0), len(s)-2; got != want {
					t.Fatalf("stringEnd(%s): got %d, want %d", s, got, want)
				}
				if got := stringEnd(`"`+body, 0); got != -1 {
					t.Fatalf("stringEnd(%s) unterminated: got %d, want -1", `"`+body, got)
				}
			}
		}
	}
}
