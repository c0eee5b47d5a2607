package affinity

import (
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzKey: any header and body yields a key without panicking, the same
// key every time, a zero key exactly when there is no source, and a later
// turn (a message appended to a chat body with a user message) keeps the key.
func FuzzKey(f *testing.F) {
	f.Add("", []byte(turn1))
	f.Add("s", []byte(`{"user":"u"}`))
	f.Add("", []byte(`{"input":[{"role":"user","content":[{"type":"input_text","text":"x"}]}]}`))
	f.Add("", []byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`))
	f.Add("", []byte(`{"messages":[{"role":"user","content":"x"`))
	k, err := NewKeyer(testSecret, Sources)
	if err != nil {
		f.Fatal(err)
	}
	only, _ := NewKeyer(testSecret, []Source{SourceMessages})
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		req := Request{Chain: "c", Header: header, Body: body}
		key, src := k.Key(req)
		again, src2 := k.Key(req)
		if key != again || src != src2 {
			t.Fatalf("Key not deterministic: %s %q then %s %q", key, src, again, src2)
		}
		if key.IsZero() != (src == "") {
			t.Fatalf("Key = %s from %q: zero key and empty source must go together", key, src)
		}
		mk, msrc := only.Key(Request{Chain: "c", Body: body})
		if msrc != SourceMessages {
			return
		}
		longer := appendMessage(body)
		if longer == nil || !json.Valid(body) || !json.Valid(longer) || !gjson.GetBytes(body, "messages").IsArray() {
			return
		}
		if lk, _ := only.Key(Request{Chain: "c", Body: longer}); lk != mk {
			t.Fatalf("appending a message changed the key: %s -> %s\n%s\n%s", mk, lk, body, longer)
		}
	})
}

// appendMessage adds an assistant message at the end of a JSON object
// body's messages array, or returns nil when the body has none.
func appendMessage(body []byte) []byte {
	s := string(body)
	end := len(s) - 1
	for end >= 0 && (s[end] == ' ' || s[end] == '\n' || s[end] == '\t' || s[end] == '\r') {
		end--
	}
	if end < 1 || s[end] != '}' {
		return nil
	}
	// Only bodies whose last member is the messages array: "...]}".
	i := end - 1
	for i >= 0 && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
		i--
	}
	if i < 0 || s[i] != ']' {
		return nil
	}
	return []byte(s[:i] + `,{"role":"assistant","content":"later"}` + s[i:])
}
