package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/tidwall/gjson"
)

// Tool call ids across APIs. A client speaking chat completions sends back
// the ids it got: OpenAI's call_..., Anthropic's toolu_... (passed through
// by the Anthropic translation), Gemini's own ids or call_<answer>_<n>
// (gemini_response.go geminiToolID). OpenAI takes any string, and Gemini
// gets no ids (its functionCall and functionResponse parts pair by name
// and order, gemini.go), but Anthropic refuses a tool_use id that does not
// match ^[a-zA-Z0-9_-]+$ ("String should match pattern"), which ids of some
// OpenAI-compatible providers do not ("functions.get_weather:0"). Such an
// id goes to Anthropic as anthropicToolID makes it, the same for the
// tool_use and its tool_result, so the pair still matches; the client
// never sees it (Anthropic does not echo the ids of earlier turns).

// anthropicToolIDOK reports whether id matches ^[a-zA-Z0-9_-]+$.
func anthropicToolIDOK(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return id != ""
}

// anthropicToolID is id when Anthropic takes it; else id with each refused
// byte replaced by '_' and "_" plus 12 hex digits of its SHA-256 appended,
// so two ids differing only in refused bytes stay apart.
func anthropicToolID(id string) string {
	if anthropicToolIDOK(id) {
		return id
	}
	b := []byte(id)
	for i, c := range b {
		if !anthropicToolIDOK(string(c)) {
			b[i] = '_'
		}
	}
	sum := sha256.Sum256([]byte(id))
	return string(b) + "_" + hex.EncodeToString(sum[:6])
}

// appendAnthropicToolID writes the tool call id r as Anthropic takes it.
func appendAnthropicToolID(b []byte, r gjson.Result) []byte {
	if id := r.String(); !anthropicToolIDOK(id) {
		return appendString(b, anthropicToolID(id))
	}
	return appendRawString(b, r)
}

// geminiCalls puts the results of parallel tool calls in the order of the
// calls for Gemini, which pairs functionCall and functionResponse parts by
// name and order and has no ids: a client may send the tool messages of one
// assistant message in any order (OpenAI and Anthropic pair them by id).
// Each tool message is written once.
type geminiCalls struct {
	messages gjson.Result   // the request's messages
	group    map[string]int // each earlier call's assistant message (from 1), by call id
	place    map[string]int // each earlier call's place among its message's calls
	calls    map[int]int    // the number of calls of each assistant message
	groups   int            // assistant messages seen so far
	// tools are the tool messages with their indexes, in order, read in
	// one pass at the first tool message.
	tools []indexedMessage
}

// indexedMessage is a tool message, its index among the messages, and
// whether it was written.
type indexedMessage struct {
	i       int
	m       chatMessage
	written bool
}

// newGroup starts the calls of an assistant message.
func (g *geminiCalls) newGroup() int {
	g.groups++
	return g.groups
}

// add records call id as the next call of group.
func (g *geminiCalls) add(group int, id string) {
	if g.group == nil {
		g.group, g.place, g.calls = map[string]int{}, map[string]int{}, map[int]int{}
	}
	g.group[id] = group
	g.place[id] = g.calls[group]
	g.calls[group]++
}

// results are the tool messages to write at tool message m (index i) of an
// earlier call: none when m was written already; else m and the other tool
// messages not yet written among the consecutive ones from i that answer
// calls of m's assistant message, in the order of those calls (the first
// message per call; a repeated one is written where it stands).
func (g *geminiCalls) results(m chatMessage, i int) []chatMessage {
	if g.tools == nil {
		j := -1
		g.messages.ForEach(func(_, raw gjson.Result) bool {
			if j++; raw.Get("role").String() == "tool" {
				g.tools = append(g.tools, indexedMessage{i: j, m: readMessage(raw)})
			}
			return true
		})
	}
	from, _ := slices.BinarySearchFunc(g.tools, i, func(t indexedMessage, i int) int { return t.i - i })
	if from == len(g.tools) || g.tools[from].written {
		return nil
	}
	group := g.group[m.toolCall.String()]
	places := make([]int, g.calls[group])                              // the position in tools of each call's result, +1
	for k := from; k < len(g.tools) && g.tools[k].i == i+k-from; k++ { // consecutive from i
		t := g.tools[k]
		id := t.m.toolCall.String()
		if p := g.place[id]; !t.written && g.group[id] == group && places[p] == 0 {
			places[p] = k + 1
		}
	}
	out := make([]chatMessage, 0, len(places))
	for _, k := range places {
		if k > 0 {
			out = append(out, g.tools[k-1].m)
			g.tools[k-1].written = true
		}
	}
	return out
}
