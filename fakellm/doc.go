// Package fakellm is a fake LLM provider for tests and the docker-compose
// demo: one http.Handler that answers the OpenAI chat completions API
// (https://platform.openai.com/docs/api-reference/chat, also Azure OpenAI),
// Anthropic Messages (https://docs.anthropic.com/en/api/messages) and Gemini
// generateContent (https://ai.google.dev/api/generate-content), JSON and
// streamed, with a deterministic answer, failures on demand, and a record of
// every request it received.
//
// # Provider APIs
//
// The path selects the API, whatever its prefix:
//
//	POST {prefix}/chat/completions                     OpenAI; /v1/..., /openai/v1/...,
//	                                                   Azure /openai/deployments/{d}/chat/completions
//	POST {prefix}/messages                             Anthropic
//	POST {prefix}/responses                            OpenAI Responses API (responses.go)
//	POST {prefix}/models/{model}:generateContent       Gemini
//	POST {prefix}/models/{model}:streamGenerateContent Gemini stream (SSE with ?alt=sse,
//	                                                   else one JSON array)
//	GET  /healthz                                      200 "ok"
//
// The answer is "Hello from <name> (<model>)." where name is Options.Name and
// model the request's model (the Azure deployment or the Gemini path when the
// body has none). Streams send one delta per word. Usage is deterministic:
// prompt tokens len(body)/4 (at least 1), completion tokens the word count.
//
// A request that offers tools gets a call of one instead (the one
// tool_choice forces, else the first; none when tool_choice is none or the
// last message is a tool result), with arguments valid against its
// parameters: OpenAI tool_calls (finish_reason tool_calls; streamed as
// tool_calls deltas), Anthropic tool_use (stop_reason tool_use; streamed as
// input_json_delta), Gemini functionCall (one part, whole in a stream). A
// request asking for JSON (OpenAI response_format json_schema or
// json_object, Anthropic output_format, Gemini responseJsonSchema,
// responseSchema or responseMimeType application/json) gets a JSON text
// valid against its schema. Both are streamed in 16-byte deltas, and the
// values are deterministic (structured.go).
// OpenAI streams send a role chunk, content chunks, a finish_reason chunk, a
// usage chunk when stream_options.include_usage is true, then "data: [DONE]".
// Anthropic streams send message_start, content_block_start, ping,
// content_block_delta (text_delta) per word, content_block_stop,
// message_delta (stop_reason, usage) and message_stop. Gemini SSE events end
// lines with CRLF, as the live API does; SSE parsers must accept both.
//
// # Faults
//
// A fault spec is a JSON object (see Fault):
//
//	{"status":429,"retry_after":"2"}              429 + Retry-After (+ retry-after-ms for OpenAI)
//	{"status":429,"code":"insufficient_quota"}     quota error body
//	{"status":400,"code":"context_length_exceeded"}
//	{"status":401} / {"status":500|502|503|529}    error in the provider's error shape
//	{"status":503,"body":"{...}"}                  verbatim body
//	{"kind":"latency","delay":"200ms"}             wait, then answer normally
//	{"kind":"stall","delay":"2s"}                  stream: 200 text/event-stream headers, then
//	                                               nothing for 2s (delay omitted: until the
//	                                               client leaves); JSON: nothing at all for 2s
//	{"kind":"stream_error"}                        200 stream whose first event is an error
//	{"kind":"error_after_start"}                   200 stream: opening events, then an error
//	                                               before any content (OpenAI role chunk then
//	                                               {"error":...}; Anthropic message_start, ping,
//	                                               event: error overloaded_error; Gemini an
//	                                               empty-text event, then the error object)
//	{"kind":"cut","after_events":2}                2 events, then the connection closes; a JSON
//	                                               answer: half its body (Content-Length of the
//	                                               whole), then the close
//	{"kind":"cut","rst":true}                      the same, closed with a TCP RST
//	{"kind":"no_terminal"}                         stream ends cleanly without its terminal
//	                                               events ([DONE]/finish chunk, message_stop...)
//	{"kind":"reset"}                               TCP RST, no response
//	{"kind":"slow_tokens","delay":"50ms"}          50ms between stream events
//	{"kind":"compress"}                            normal answer, gzip with Content-Encoding:
//	                                               gzip when Accept-Encoding accepts gzip or *;
//	                                               br is not implemented (br alone: identity)
//	{"kind":"html"}                                200 text/html error page (stream or not)
//	{"kind":"bad_json"}                            200 with invalid JSON (half the body; a
//	                                               stream's first event cut in half)
//	{"kind":"empty"}                               200 with an empty body (stream: no event)
//	{"status":401,"echo_key":true}                 error message quotes the request's full key
//	{"status":429,"retry_after":"-5"}              any Retry-After, sent verbatim
//	{"kind":"empty_answer"}                        200 answer with no content (quality.go)
//	{"kind":"not_json"}                            200 answer in prose, though JSON was asked for
//	{"kind":"truncated"}                           200 answer cut for length (finish_reason length,
//	                                               max_tokens, MAX_TOKENS, incomplete); a stream
//	                                               before any content
//	{"kind":"refusal"}                             200 refusal: OpenAI refusal, Anthropic
//	                                               stop_reason refusal, Gemini SAFETY, Responses
//	                                               refusal part, each streamed too
//	{"header":{"x-llm-failover-retry":"1"}}        normal answer with extra response headers
//	                                               ("header" also works with any other kind
//	                                               but reset, which sends no response)
//
// Per request, send it in the x-fake-fault header, or in
// x-fake-fault-<name> to fault only the server of that name (it wins over
// x-fake-fault). The header also takes a bare status ("503") or kind
// ("reset"). Options.NoHeaderFaults (flag -no-header-faults) ignores both
// headers. Per scenario, install a Schedule with POST /_fake/faults or
// SetFaults: a list of faults for the next requests, each for "times"
// requests (default 1, -1 for all), and a fault applied at random with a
// probability and a seed, the same seed always faulting the same requests:
//
//	curl -X POST localhost:8080/_fake/faults -d '{"faults":[{"status":429,"times":2}]}'
//	curl -X POST localhost:8080/_fake/faults -d '{"probability":0.3,"seed":7,"fault":{"status":503}}'
//	curl -X DELETE localhost:8080/_fake/faults
//	curl -H 'x-fake-fault: {"kind":"stream_error"}' localhost:8080/v1/messages -d '{"model":"m","stream":true}'
//
// A header fault does not consume the schedule.
//
// # Recording
//
// Every request other than /healthz and /_fake/ is recorded (Recorded),
// faulted ones and unknown paths included: Requests, Count and Reset in Go,
// GET and DELETE /_fake/requests over HTTP. Credentials (authorization,
// x-api-key, api-key, x-goog-api-key, the Gemini "key" query parameter) are
// masked to their first 4 characters and "…"; Recorded.KeySHA256 holds
// KeyHash of each full secret so a test can tell which key arrived, over HTTP
// too, and Server.ReceivedKey returns the full secret in-process.
//
// # In tests
//
//	openai := fakellm.StartTB(t, fakellm.Options{Name: "openai"})   // 127.0.0.1:<free port>
//	openai.SetFaults(fakellm.Schedule{Faults: []fakellm.Fault{{Status: 429}}})
//	// ... point the system under test at openai.URL ...
//	if got := openai.Count(); got != 2 { t.Errorf("openai got %d requests, want 2", got) }
//	if got := openai.Requests()[0].KeySHA256["authorization"]; got != fakellm.KeyHash("sk-openai") { ... }
//
// The binary cmd/fakellm serves the same handler: fakellm -listen :8080 -name openai.
package fakellm
