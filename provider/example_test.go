package provider_test

import (
	"fmt"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/provider"
)

// An attempt on an Anthropic target: the client's OpenAI request is
// rewritten, then the provider's stream is translated back chunk by chunk.
func ExampleFor() {
	a, err := provider.For(config.APIAnthropic)
	if err != nil {
		panic(err)
	}
	ep := &provider.Endpoint{Name: "claude", API: config.APIAnthropic, BasePath: "/v1",
		APIVersion: "2023-06-01", AuthHeader: "x-api-key", AuthValue: "sk-ant-..."}
	req := provider.Request{Model: "claude-sonnet-4-5", Stream: true,
		Body: []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"stream":true}`)}
	p, err := a.Prepare(ep, req)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Path)
	fmt.Println(string(p.Body))

	env := provider.Env{Now: func() time.Time { return time.Unix(1767225600, 0) }, ID: func() string { return "1" }}
	tr := a.NewResponseTranslator(ep, req, env)
	for _, chunk := range []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":3}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel",
		"lo\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	} {
		out, _ := tr.Translate([]byte(chunk), false)
		fmt.Print(string(out))
	}
	// Output:
	// /v1/messages
	// {"model":"claude-sonnet-4-5","max_tokens":4096,"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"stream":true}
	// data: {"id":"msg_1","object":"chat.completion.chunk","created":1767225600,"model":"claude-sonnet-4-5","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}
	//
	// data: {"id":"msg_1","object":"chat.completion.chunk","created":1767225600,"model":"claude-sonnet-4-5","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}
	//
	// data: {"id":"msg_1","object":"chat.completion.chunk","created":1767225600,"model":"claude-sonnet-4-5","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}
	//
	// data: [DONE]
}
