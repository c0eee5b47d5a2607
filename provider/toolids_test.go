package provider

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/config"
)

// TestAnthropicToolID: ids Anthropic takes pass unchanged; others become
// valid, deterministic ids, distinct for ids that differ only in refused bytes.
func TestAnthropicToolID(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	for _, id := range []string{"call_abc123", "toolu_01A09q90qw90lq917835lq9", "call_x_0", "A-b_9"} {
		if got := anthropicToolID(id); got != id {
			t.Errorf("anthropicToolID(%q) = %q, want it unchanged", id, got)
		}
	}
	seen := map[string]string{}
	for _, id := range []string{"functions.get_weather:0", "functions.get_weather:1", "functions.get_weather.0", "", "ü", "a b"} {
		got := anthropicToolID(id)
		if !valid.MatchString(got) || got != anthropicToolID(id) {
			t.Errorf("anthropicToolID(%q) = %q, want a stable id matching %s", id, got, valid)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("anthropicToolID(%q) = anthropicToolID(%q) = %q, want distinct", id, other, got)
		}
		seen[got] = id
	}
}

// TestGeminiPrepare_ToolResultsInCallOrder: the results of parallel calls
// reach Gemini in the order of the calls whatever order the client sent
// them in, each once and with its own content; a result sent after a later
// user message, and a repeated result, are written where they stand.
func TestGeminiPrepare_ToolResultsInCallOrder(t *testing.T) {
	a, _ := For(config.APIGemini)
	const calls = `{"role":"user","content":"q"},{"role":"assistant","tool_calls":[` +
		`{"id":"a","type":"function","function":{"name":"fa","arguments":"{}"}},` +
		`{"id":"b","type":"function","function":{"name":"fb","arguments":"{}"}},` +
		`{"id":"c","type":"function","function":{"name":"fc","arguments":"{}"}}]}`
	tool := func(id string) string { return `{"role":"tool","tool_call_id":"` + id + `","content":"r` + id + `"}` }
	tests := []struct {
		name, messages string
		want           []string // each content's functionResponse parts as name=content (text among them as =text), "|" between contents
	}{
		{"in order", calls + "," + tool("a") + "," + tool("b") + "," + tool("c"), []string{"", "", "fa=ra fb=rb fc=rc"}},
		{"reversed", calls + "," + tool("c") + "," + tool("b") + "," + tool("a"), []string{"", "", "fa=ra fb=rb fc=rc"}},
		// The user message joins the tool results' user content; rc stays after it.
		{"one result after a user message", calls + "," + tool("b") + "," + tool("a") + `,{"role":"user","content":"and"},` + tool("c"),
			[]string{"", "", "fa=ra fb=rb =and fc=rc"}},
		{"a repeated result", calls + "," + tool("b") + "," + tool("a") + "," + tool("b") + "," + tool("c"), []string{"", "", "fa=ra fb=rb fc=rc fb=rb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := Endpoint{Name: "g", API: config.APIGemini, BasePath: "/v1beta"}
			p, err := a.Prepare(&ep, Request{Body: []byte(`{"messages":[` + tt.messages + `]}`), Model: "gemini"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range gjson.GetBytes(p.Body, "contents").Array() {
				var parts []string
				for _, part := range c.Get("parts").Array() {
					if fr := part.Get("functionResponse"); fr.Exists() {
						parts = append(parts, fr.Get("name").String()+"="+fr.Get("response.content").String())
					} else if c.Get("role").String() == "user" && len(parts) > 0 {
						parts = append(parts, "="+part.Get("text").String()) // text among results
					}
				}
				got = append(got, strings.Join(parts, " "))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("functionResponse parts per content = %q, want %q\n%s", got, tt.want, p.Body)
			}
		})
	}
}
