// Package provider owns the wire formats llm-failover speaks: the client's
// (OpenAI Chat Completions: request inspection, usage reading, every
// OpenAI-style error body) and the model providers' (request rewriting per
// target, response and event-stream translation back to the client's
// format, and the classification of every provider error for the breaker
// and the failover decision). Adapters are per API (For, from one formats
// map); translators are per attempt and take an injected clock and id
// source (Env). Adding a wire format touches only this package.
//
// Specs: OpenAI https://platform.openai.com/docs/api-reference/chat,
// Anthropic Messages https://docs.anthropic.com/en/api/messages (streaming:
// https://docs.anthropic.com/en/docs/build-with-claude/streaming), Gemini
// https://ai.google.dev/api/generate-content, Azure OpenAI
// https://learn.microsoft.com/azure/ai-services/openai/reference,
// server-sent events https://html.spec.whatwg.org/multipage/server-sent-events.html.
//
// # Files
//
// provider.go holds the API the processor uses and the formats map;
// inspect.go what the route phase reads from a client's body (Inspect,
// Inspection.Unserved); usage.go the completion tokens of an answer and of a
// stream (UsageMeter); errors.go the one writer of OpenAI-style errors and
// the one status-to-type table; classify.go the outcome classes and
// RetryAfter; sse.go the one SSE framer every stream translator shares;
// monitor.go the StreamMonitor that judges a 200 stream's events (content,
// terminal event, error) with each format's JudgeEvent; redact.go the
// removal of keys from provider text; chat.go reading OpenAI requests for
// the other formats, check.go Check's walk over them, respond.go writing
// answers and stream chunks in the client's format and stream.go the
// skeleton both cross-format stream translators share; jsonw.go the
// append-style JSON writer; members.go the reading of an object's members
// as source text (a value decoded only when read, a string content
// unescaped only when its text is needed); passthrough.go the request of
// the formats that speak the client's own (only the model set,
// Prepared.Unchanged when nothing is); per wire format: openai.go, azure.go, and
// anthropic.go / gemini.go (requests) with anthropic_response.go /
// gemini_response.go (answers, streams, errors). OpenAI's Responses API
// (docs/responses.md): responses_api.go its registration, responses.go
// inspection, the native adapters and the translated one,
// responses_request.go the Responses-to-chat request, responses_answer.go
// the chat answer and stream back as a Responses object and its events.
//
// # Requests
//
// The client's body is OpenAI Chat Completions JSON. For Anthropic and
// Gemini a new body is written (fixed key order, so golden files compare
// byte for byte); for OpenAI and Azure only "model" is set.
//
//   - system and developer messages, wherever they stand, are joined with a
//     blank line into Anthropic's "system" / Gemini's "systemInstruction".
//   - Consecutive turns of the same role are merged (Anthropic and Gemini
//     want alternating roles); tool results become user turns
//     (tool_result blocks / functionResponse parts) and merge likewise.
//   - Gemini's functionResponse needs the function name: it is recovered
//     from the earlier assistant tool call with the same id; a tool message
//     whose id no earlier call has is a 400. Assistant function calls sent to
//     Gemini carry Gemini's documented placeholder thoughtSignature, since
//     another provider may have produced them.
//     The results of one assistant message's parallel calls go to Gemini
//     in the order of the calls (Gemini pairs them by name and order), in
//     whatever order the client sent them (toolids.go).
//   - Tool call ids go to Anthropic as they are when they match its
//     pattern ^[a-zA-Z0-9_-]+$, else mapped (refused bytes to '_' plus a
//     hash suffix) the same for tool_use and tool_result (toolids.go); the
//     client keeps seeing the ids it got.
//   - Images: base64 data URLs become Anthropic base64 sources / Gemini
//     inlineData; http(s) URLs become Anthropic url sources / Gemini fileData
//     (MIME type guessed from the extension, JPEG when unknown). Files with
//     base64 file_data become Anthropic documents / Gemini inlineData; audio
//     goes to Gemini as inlineData.
//   - Anthropic requires max_tokens: max_completion_tokens, else max_tokens,
//     else Endpoint.DefaultMaxTokens, else DefaultMaxTokens (4096).
//   - temperature is clamped to the target's range: [0,1] Anthropic, [0,2]
//     Gemini. Newer Claude models reject temperature and top_p together, so
//     Anthropic gets temperature when both are set, top_p only without it.
//   - stop becomes stop_sequences / stopSequences.
//   - tool_choice: auto, none, required (Anthropic "any", Gemini "ANY"),
//     named function (Anthropic "tool", Gemini ANY with allowedFunctionNames);
//     parallel_tool_calls false becomes Anthropic disable_parallel_tool_use.
//     Tool parameters are sent as JSON Schema (Anthropic input_schema, Gemini
//     parametersJsonSchema), unchanged.
//   - response_format: Gemini gets responseMimeType application/json and,
//     for json_schema, responseJsonSchema (full JSON Schema, unlike the
//     OpenAPI-subset responseSchema). Anthropic gets a strict json_schema as
//     its native output_config.format (structured outputs; Endpoint.
//     StructuredOutput "prompt" opts out for older models); json_object and
//     a non-strict schema, which Messages has no native form for, get an
//     instruction appended to the system prompt (with the schema); such an
//     answer is not validated (anthropic_reasoning.go).
//   - reasoning_effort (unless Endpoint.Reasoning drops reasoning): Gemini
//     gets thinkingConfig with includeThoughts and a budget (low 1024,
//     medium 8192, high 24576); Anthropic gets extended thinking with that
//     budget (under a client's max tokens, else added to the default), and
//     no temperature or top_p, except with a forced tool choice or a
//     conversation not ending with a user message, which Messages refuses
//     with thinking. An assistant message's reasoning_content is not sent
//     back (it carries no provider signature).
//   - user becomes Anthropic metadata.user_id; Gemini has no equivalent.
//   - Azure: the deployment path with ?api-version, or with APIVersion "v1"
//     (AzureV1) the v1 path; the api-key header.
//
// # Fields a target cannot express
//
// A field that changes the shape of the answer the client expects is
// refused with a 400 *Error (type invalid_request_error, code
// unsupported_parameter, param the field) naming the provider and its API,
// so the client learns why: n > 1, logprobs / top_logprobs, and audio output
// (audio, modalities other than text) for Anthropic and Gemini; tools other
// than functions; content parts the target cannot take.
// Sampling hints without an equivalent are dropped: presence_penalty,
// frequency_penalty, seed and logit_bias for Anthropic (Gemini takes the
// first three), and service_tier, store, metadata and prediction for both. Every refusal is a 400 from Prepare, and
// Check returns the same refusal without building the body (the route
// phase leaves out the targets that refuse); the processor decides whether
// another target is tried.
//
// # Responses
//
// Whole answers are translated at the end of the body (OpenAI and Azure
// answers pass unchanged once checked to be a chat completion: an empty,
// non-JSON or choice-less body is an error the processor fails over);
// streams event by event through SSEReader, so an event split over any number of body chunks,
// or many events in one chunk, give the same output. id is the provider's
// (Anthropic msg_..., Gemini responseId), else "chatcmpl-"+Env.ID();
// created is Env.Now; model is the model that answered. Function calls
// without a provider id get "call_<Env.ID()>_<n>". finish_reason: Anthropic
// end_turn / stop_sequence / pause_turn -> stop, max_tokens -> length,
// tool_use -> tool_calls, refusal -> content_filter; Gemini STOP -> stop (or
// tool_calls when it called functions), MAX_TOKENS -> length, SAFETY,
// RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII -> content_filter, and a
// prompt blocked with promptFeedback.blockReason (a 200 without candidates)
// -> an empty answer with content_filter. Usage: prompt_tokens includes
// cached and cache-write tokens, cached_tokens is Anthropic
// cache_read_input_tokens / Gemini cachedContentTokenCount, reasoning_tokens
// is Gemini thoughtsTokenCount (counted in completion_tokens too). Anthropic
// thinking blocks and Gemini thought summaries become reasoning_content
// (ReasoningField, reasoning.go), in the message and in stream deltas, or
// are dropped (Endpoint.Reasoning); redacted thinking and signatures never
// reach the client, and reasoning never counts as stream content. Files:
// reasoning.go where reasoning goes in the client's format;
// anthropic_reasoning.go and gemini_reasoning.go how thinking and
// structured output are asked for (docs/reasoning.md).
//
// Streams end with "data: [DONE]". The usage chunk (choices: []) comes before
// it when Request.IncludeUsage is set. A provider error inside the stream
// (Anthropic event: error, a Gemini event with "error"), an event that is
// not JSON, or a body that ends before the provider's end (message_stop /
// finishReason) becomes an OpenAI-style error event naming the provider,
// then "data: [DONE]": the client sees an error, never a silent cut.
//
// # Errors
//
// Classify reads each provider's error body (OpenAI/Azure {"error":{...}},
// Anthropic {"type":"error","error":{"type","message"}}, Gemini
// {"error":{"code","message","status","details"}}) into a Class; ErrorBody
// renders one for the client with the provider named and its message
// redacted (Endpoint.Redact: providers echo keys in errors).
package provider
