// Package affinity keeps a conversation on the target that served it, so
// the provider's prompt cache stays warm and a conversation that failed over
// does not flap back mid-way (docs/design.md, "Conversation affinity").
//
// A conversation is named by a Key: a keyed hash (HMAC-SHA-256 under a
// per-process or configured secret) of the first identifier a request
// carries among the configured sources: a header (x-llm-failover-session by
// default), the OpenAI prompt_cache_key or user field, or its first
// messages. No identifier and no prompt text is kept, only the hash. A
// Store maps keys to the target that last served each conversation; Local
// is the bounded, expiring in-process store, and a fleet-wide store (issue
// 18) implements the same two-method interface.
package affinity
