package processor

import (
	"encoding/json"
	"testing"

	"github.com/llm-failover/llm-failover/contract"
)

// TestRoute_RegionRefusalsAreOpenAIErrors verifies each region refusal is
// an OpenAI-style error with its status and code, before any attempt: an
// unknown region in the header, a strict chain without a region, and a
// strict chain whose region's only target is open (all_open reject).
func TestRoute_RegionRefusalsAreOpenAIErrors(t *testing.T) {
	const y = `
providers:
  - {name: p, api: openai, host: p.example, region: eu}
  - {name: q, api: openai, host: q.example, region: us}
chains:
  - {name: c, match: {models: [m]}, residency: strict, targets: [{provider: p, model: m}, {provider: q, model: m}]}
routing: {region_header: true, all_open: reject}
`
	tests := []struct {
		name, region string
		trip         bool
		status       int
		code         string
	}{
		{"unknown region", "mars", false, 400, "unknown_region"},
		{"strict without a region", "", false, 400, "region_required"},
		{"strict region all open", "eu", true, 503, "region_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessYAML(t, y)
			if tt.trip {
				h.trip("p/m")
			}
			s := h.open(contract.PhaseRoute)
			defer s.close()
			kv := []string{":path", "/v1/chat/completions", "content-type", "application/json"}
			if tt.region != "" {
				kv = append(kv, contract.HeaderRegion, tt.region)
			}
			s.send(reqHeaders(false, kv...))
			s.recv()
			s.send(reqBody(`{"model":"m"}`))
			ir := s.recv().GetImmediateResponse()
			var body struct {
				Error struct{ Type, Code, Message string }
			}
			if ir == nil || json.Unmarshal(ir.GetBody(), &body) != nil {
				t.Fatalf("got %v, want an immediate OpenAI error", ir)
			}
			if int(ir.GetStatus().GetCode()) != tt.status || body.Error.Code != tt.code || body.Error.Message == "" {
				t.Errorf("got %d %+v, want %d %s with a message", ir.GetStatus().GetCode(), body.Error, tt.status, tt.code)
			}
		})
	}
}
