package provider

import (
	"github.com/tidwall/gjson"
)

// This file is Check's walk for the other formats: Prepare's refusals
// without the body (writers that write nothing).

// checkChat is Check for a target of another wire format: the refusals of
// parseChat, of the dialogue walk with w (writers that write nothing), of
// the tools and of tool_choice, in the order Prepare meets them.
func checkChat(ep *Endpoint, req Request, w turnWriter) error {
	c, err := parseChat(ep, req)
	if err != nil {
		return err
	}
	if _, err := c.dialogue(w); err != nil {
		return err
	}
	tools := c.get("tools")
	if !tools.IsArray() || len(tools.Array()) == 0 {
		return nil
	}
	tools.ForEach(func(_, t gjson.Result) bool {
		_, err = functionTool(ep, t)
		return err == nil
	})
	if err != nil {
		return err
	}
	switch tc := c.toolChoice(); tc.mode {
	case "", "auto", "none", "required", "function":
		return nil
	default:
		return unknownToolChoice(tc.mode)
	}
}

// unknownToolChoice refuses a tool_choice mode no target knows.
func unknownToolChoice(mode string) *Error {
	return badRequest("tool_choice", "unknown tool_choice "+quote(mode))
}

// checkToolCalls is an assistant writer that only checks the tool calls' arguments.
func checkToolCalls(m chatMessage, i int) ([]byte, error) {
	return nil, m.eachToolCall(i, func(gjson.Result, string) {})
}

// noParts is a partWriter that writes nothing: Check walks the parts for
// their refusals alone.
type noParts struct{}

func (noParts) text(b []byte, _ gjson.Result) []byte { return b }

func (noParts) image(b []byte, _, _ string) []byte { return b }

func (noParts) imageURL(b []byte, _ string) []byte { return b }

func (noParts) file(b []byte, _, _ string) []byte { return b }

// noPartsAudio is noParts for a target that takes audio parts.
type noPartsAudio struct{ noParts }

func (noPartsAudio) audio(b []byte, _, _ string) []byte { return b }
