package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"
)

// TestAffinity_ToolConversationAcrossThreeAPIs verifies tool-call
// continuity: one multi-turn tool conversation, each turn sending the whole
// history back with the SDK, fails over from OpenAI to Anthropic to Gemini
// and back to OpenAI, and completes. Each provider accepts the history in
// its own shape (fakellm refuses what the real API refuses: unpaired
// calls, Anthropic ids off its pattern, Gemini responses not matching the
// calls by name and order), the tool call ids the client got stay as it
// got them, and between failovers the conversation stays where it is.
func TestAffinity_ToolConversationAcrossThreeAPIs(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newCrossStackWith(t, v, func(cfg string) string {
			match := "    match: {models: [" + chainModel + "]}\n"
			return strings.Replace(cfg, match, match+"    affinity: true\n", 1)
		})
		msgs := []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are a weather assistant."),
			openai.UserMessage("Weather in Paris?"),
		}
		var ids []string // the tool call ids the client got, in order
		turn := func(what, want, wantAffinity string, wantTool bool) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			var resp *http.Response
			c, err := s.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model: chainModel, Messages: msgs, Tools: []openai.ChatCompletionToolUnionParam{weatherTool},
			}, option.WithResponseInto(&resp), option.WithHeader(sessionHeader, "tool-conversation"))
			if err != nil {
				t.Fatalf("%s: request failed: %v", what, err)
			}
			if got, aff := resp.Header.Get("x-llm-failover-provider"), resp.Header.Get(affinityHeader); got != want || aff != wantAffinity {
				t.Fatalf("%s: answered by %q with affinity %q, want %q and %q (trace %q)", what, got, aff, want, wantAffinity,
					resp.Header.Get("x-llm-failover-trace"))
			}
			m := c.Choices[0].Message
			if calls := m.ToolCalls; wantTool != (len(calls) == 1) || wantTool && calls[0].Function.Name != "get_weather" {
				t.Fatalf("%s: tool calls %+v, want a get_weather call: %v", what, calls, wantTool)
			}
			msgs = append(msgs, m.ToParam())
			if wantTool {
				id := m.ToolCalls[0].ID
				ids = append(ids, id)
				msgs = append(msgs, openai.ToolMessage(`{"temperature_c": 20}`, id))
			}
		}
		turn("turn 1 on OpenAI", xOpenAI, "miss", true)
		failFirst(t, s, 500, xOpenAI)
		turn("turn 2: OpenAI fails, Anthropic takes the tool result", xAnthropic, "moved", false)
		msgs = append(msgs, openai.UserMessage("And in Rome?"))
		turn("turn 3 stays on Anthropic", xAnthropic, "hit", true)
		failFirst(t, s, 500, xAnthropic, xOpenAI) // the plan is anthropic, openai, gemini
		turn("turn 4: Anthropic and OpenAI fail, Gemini takes both tool results", xGemini, "moved", false)
		msgs = append(msgs, openai.UserMessage("And in Oslo?"))
		turn("turn 5 stays on Gemini", xGemini, "hit", true)
		failFirst(t, s, 500, xGemini)
		turn("turn 6: Gemini fails, OpenAI completes the conversation", xOpenAI, "moved", false)

		if !strings.HasPrefix(ids[0], "call_") || !strings.HasPrefix(ids[1], "toolu_") || ids[2] == "" || ids[2] == ids[0] {
			t.Errorf("tool call ids %q: want OpenAI's call_..., Anthropic's toolu_..., and a third of Gemini's, all distinct", ids)
		}
		// Each provider's last request carries every earlier call, in its
		// own shape, with the ids the client got (Gemini has none: its
		// calls and responses pair by name and order).
		last := func(name string) gjson.Result {
			reqs := s.fakes[name].Requests()
			return gjson.Parse(reqs[len(reqs)-1].Body)
		}
		oa := last(xOpenAI)
		var gotIDs, gotResults []string
		for _, m := range oa.Get("messages").Array() {
			for _, tc := range m.Get("tool_calls").Array() {
				gotIDs = append(gotIDs, tc.Get("id").String())
			}
			if id := m.Get("tool_call_id"); id.Exists() {
				gotResults = append(gotResults, id.String())
			}
		}
		if strings.Join(gotIDs, ",") != strings.Join(ids, ",") || strings.Join(gotResults, ",") != strings.Join(ids, ",") {
			t.Errorf("OpenAI's last request has tool calls %q and results %q, want %q for both", gotIDs, gotResults, ids)
		}
		an := last(xAnthropic)
		if uses := an.Get(`messages.#.content.#(type=="tool_use")#.id|@flatten`).Array(); len(uses) != 2 || uses[0].String() != ids[0] || uses[1].String() != ids[1] {
			t.Errorf("Anthropic's last request has tool_use ids %v, want %q", uses, ids[:2])
		}
		gm := last(xGemini)
		calls := gm.Get(`contents.#.parts.#.functionCall.name|@flatten`).Array()
		responses := gm.Get(`contents.#.parts.#.functionResponse.name|@flatten`).Array()
		if len(calls) != 3 || len(responses) != 3 {
			t.Errorf("Gemini's last request has %d functionCall and %d functionResponse parts, want 3 each:\n%s", len(calls), len(responses), gm.Raw)
		}
	})
}

// TestAffinity_ForeignToolIDsMoveToAnthropic verifies that a history whose
// tool call ids Anthropic's pattern (^[a-zA-Z0-9_-]+$) refuses, as some
// OpenAI-compatible providers make them ("functions.get_weather:0"), fails
// over to Anthropic and is answered there, with each tool_use and its
// tool_result under one valid id, and two ids that differ only in refused
// characters kept apart.
func TestAffinity_ForeignToolIDsMoveToAnthropic(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newCrossStack(t, v)
		failFirst(t, s, 500, xOpenAI)
		call := func(id string) openai.ChatCompletionMessageToolCallUnionParam {
			return openai.ChatCompletionMessageToolCallUnionParam{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID: id, Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "get_weather", Arguments: `{"city":"Paris"}`}}}
		}
		ids := []string{"functions.get_weather:0", "functions.get_weather:1", "functions.get_weather.0"}
		assistant := openai.ChatCompletionAssistantMessageParam{}
		for _, id := range ids {
			assistant.ToolCalls = append(assistant.ToolCalls, call(id))
		}
		msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?"), {OfAssistant: &assistant}}
		for i, id := range ids {
			msgs = append(msgs, openai.ToolMessage(`{"n":`+string(rune('0'+i))+`}`, id))
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		var resp *http.Response
		_, err := s.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: chainModel, Messages: msgs, Tools: []openai.ChatCompletionToolUnionParam{weatherTool},
		}, option.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("request failed: %v", err)
		}
		checkAnsweredBy(t, resp.Header, xAnthropic, 2)
		b := gjson.Parse(onlyRequest(t, s, xAnthropic).Body)
		uses := b.Get(`messages.1.content.#.id`).Array()
		results := b.Get(`messages.2.content.#.tool_use_id`).Array()
		contents := b.Get(`messages.2.content.#.content`).Array()
		seen := map[string]bool{}
		for i := range ids {
			if i >= len(uses) || i >= len(results) || uses[i].String() != results[i].String() || seen[uses[i].String()] ||
				contents[i].String() != `{"n":`+string(rune('0'+i))+`}` {
				t.Fatalf("Anthropic got tool_use ids %v and tool_result ids %v (contents %v), want %d distinct pairs in order", uses, results, contents, len(ids))
			}
			seen[uses[i].String()] = true
		}
	})
}

// TestAffinity_ParallelToolResultsReachGeminiInCallOrder verifies that
// parallel tool calls answered by the client in another order than they
// were made reach Gemini as functionResponse parts in the order of the
// functionCall parts (Gemini pairs them by name and order; it has no ids),
// each with its own result.
func TestAffinity_ParallelToolResultsReachGeminiInCallOrder(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newCrossStack(t, v)
		failFirst(t, s, 500, xAnthropic) // claude-first: anthropic, then gemini
		call := func(id, name string) openai.ChatCompletionMessageToolCallUnionParam {
			return openai.ChatCompletionMessageToolCallUnionParam{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID: id, Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: name, Arguments: `{"city":"Paris"}`}}}
		}
		assistant := openai.ChatCompletionAssistantMessageParam{ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{
			call("call_w", "get_weather"), call("call_t", "get_time")}}
		msgs := []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("Weather and time in Paris?"), {OfAssistant: &assistant},
			openai.ToolMessage(`{"time":"12:00"}`, "call_t"), // answered in the other order
			openai.ToolMessage(`{"temperature_c":20}`, "call_w"),
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		var resp *http.Response
		if _, err := s.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: claudeFirstModel, Messages: msgs},
			option.WithResponseInto(&resp)); err != nil {
			t.Fatalf("request failed: %v", err)
		}
		checkAnsweredBy(t, resp.Header, xGemini, 2)
		b := gjson.Parse(onlyRequest(t, s, xGemini).Body)
		calls := b.Get(`contents.#.parts.#.functionCall.name|@flatten`).Array()
		responses := b.Get(`contents.#.parts.#.functionResponse|@flatten`).Array()
		if len(calls) != 2 || len(responses) != 2 || calls[0].String() != "get_weather" ||
			responses[0].Get("name").String() != "get_weather" || responses[0].Get("response.temperature_c").Int() != 20 ||
			responses[1].Get("name").String() != "get_time" || responses[1].Get("response.time").String() != "12:00" {
			t.Errorf("Gemini got calls %v and responses %v; want get_weather then get_time in both, each response with its own result", calls, responses)
		}
	})
}
