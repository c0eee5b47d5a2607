// Package provider owns the wire formats llm-failover speaks to model
// providers: request rewriting per target (path, credentials, body), response
// and event-stream translation back to the client's OpenAI Chat Completions
// format, and the classification of every provider error for the breaker and
// the failover decision. Adapters are per API (For); translators are per
// attempt and take an injected clock and id source (Env).
//
// Specs: OpenAI https://platform.openai.com/docs/api-reference/chat,
// server-sent events https://html.spec.whatwg.org/multipage/server-sent-events.html.
package provider
