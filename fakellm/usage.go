package fakellm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Usage is the token usage a Server reports in its answers instead of the
// deterministic defaults (prompt: request bytes / 4, completion: the
// answer's pieces), in every API's shape, JSON and streams:
//
//	OpenAI    usage.prompt_tokens (cached included), completion_tokens,
//	          prompt_tokens_details.cached_tokens (only when Cached > 0)
//	Anthropic usage.input_tokens (without cached), cache_read_input_tokens,
//	          output_tokens (message_start and message_delta in streams)
//	Gemini    usageMetadata.promptTokenCount (cached included),
//	          cachedContentTokenCount, candidatesTokenCount
//	Responses usage.input_tokens (cached included),
//	          input_tokens_details.cached_tokens, output_tokens
//
// A zero field keeps its default. Set it with Options.Usage, SetUsage, or
// POST /_fake/usage with this JSON.
type Usage struct {
	Prompt     int `json:"prompt_tokens,omitempty"`
	Completion int `json:"completion_tokens,omitempty"`
	// Cached is the part of Prompt read from the prompt cache (at most Prompt).
	Cached int `json:"cached_tokens,omitempty"`
}

// check refuses negative counts and more cached than prompt tokens.
func (u Usage) check() error {
	if u.Prompt < 0 || u.Completion < 0 || u.Cached < 0 {
		return fmt.Errorf("fakellm: usage %+v: counts must not be negative", u)
	}
	if u.Prompt > 0 && u.Cached > u.Prompt {
		return fmt.Errorf("fakellm: usage %+v: cached_tokens exceed prompt_tokens", u)
	}
	return nil
}

// SetUsage makes the following answers report u; an invalid u is refused.
func (s *Server) SetUsage(u Usage) error {
	if err := u.check(); err != nil {
		return err
	}
	s.usage.Store(&u)
	return nil
}

// ClearUsage goes back to the default usage.
func (s *Server) ClearUsage() { s.usage.Store(nil) }

// applyUsage sets the configured usage on a.
func (s *Server) applyUsage(a *answer) {
	u := s.usage.Load()
	if u == nil {
		return
	}
	if u.Prompt > 0 {
		a.promptTokens = u.Prompt
	}
	if u.Completion > 0 {
		a.completionTokens = u.Completion
	}
	a.cachedTokens = min(u.Cached, a.promptTokens)
}

// uncachedPrompt is the prompt tokens not read from the cache (Anthropic's
// input_tokens).
func (a *answer) uncachedPrompt() int { return a.promptTokens - a.cachedTokens }

// serveUsage answers /_fake/usage: GET the usage set (null for the
// defaults), POST or PUT a Usage, DELETE ClearUsage.
func (s *Server) serveUsage(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, mustJSON(s.usage.Load()))
	case http.MethodPost, http.MethodPut:
		var u Usage
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
		if err == nil {
			err = json.Unmarshal(body, &u)
		}
		if err == nil {
			err = s.SetUsage(u)
		}
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, mustJSON(u))
	case http.MethodDelete:
		s.ClearUsage()
		w.WriteHeader(http.StatusNoContent)
	default:
		adminError(w, http.StatusMethodNotAllowed, "use GET, POST or DELETE")
	}
}
