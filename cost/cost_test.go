package cost

import (
	"math"
	"testing"
)

// TestOf_PricesEachKindOfToken verifies uncached input, cached input and
// output tokens are each charged at their own price, per million tokens.
func TestOf_PricesEachKindOfToken(t *testing.T) {
	gpt4o := Price{Input: 2.5, CachedInput: 1.25, Output: 10}
	for _, tc := range []struct {
		name string
		u    Usage
		p    Price
		want float64
	}{
		{"input and output", Usage{Input: 1000, Output: 500}, gpt4o, (1000*2.5 + 500*10) / 1e6},
		{"cached input at its price", Usage{Input: 1000, CachedInput: 400, Output: 0}, gpt4o, (600*2.5 + 400*1.25) / 1e6},
		{"no cached price: cached at input", Usage{Input: 1000, CachedInput: 400}, Price{Input: 2, Output: 8}, 1000 * 2.0 / 1e6},
		{"more cached than input: all cached", Usage{Input: 10, CachedInput: 50}, gpt4o, 10 * 1.25 / 1e6},
		{"negative counts are zero", Usage{Input: -5, Output: -5}, gpt4o, 0},
		{"a million output tokens", Usage{Output: 1_000_000}, gpt4o, 10},
		{"embeddings: input only", Usage{Input: 2_000_000}, Price{Input: 0.02}, 0.04},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(tc.u, tc.p); math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("Of(%+v, %+v) = %v, want %v", tc.u, tc.p, got, tc.want)
			}
		})
	}
}

// TestNanoUSD_RoundTrips verifies the budgets' unit keeps a cost to the
// billionth of a dollar and counts nothing for a non-positive cost.
func TestNanoUSD_RoundTrips(t *testing.T) {
	for _, tc := range []struct {
		usd  float64
		want int64
	}{{0.0000015, 1500}, {12.5, 12_500_000_000}, {0, 0}, {-1, 0}, {1e-10, 0}} {
		if got := NanoUSD(tc.usd); got != tc.want {
			t.Errorf("NanoUSD(%v) = %d, want %d", tc.usd, got, tc.want)
		}
		if tc.want > 0 && USD(tc.want) != tc.usd {
			t.Errorf("USD(%d) = %v, want %v", tc.want, USD(tc.want), tc.usd)
		}
	}
}

// TestShipped_KnowsWellKnownModelsAndTheirSnapshots verifies the shipped
// table prices well-known models and their dated snapshots, and leaves
// unknown models and other models sharing a prefix unpriced.
func TestShipped_KnowsWellKnownModelsAndTheirSnapshots(t *testing.T) {
	tab := Shipped()
	if tab.Taken == "" {
		t.Fatal("the shipped table names no date")
	}
	for _, tc := range []struct {
		model string
		want  string // the entry it must match; "" for none
	}{
		{"gpt-4o", "gpt-4o"},
		{"gpt-4o-2024-08-06", "gpt-4o"},
		{"gpt-4o-mini", "gpt-4o-mini"},
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"},
		{"o3-mini", "o3-mini"},
		{"claude-3-5-sonnet-20241022", "claude-3-5-sonnet"},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"claude-sonnet-4-20250514", "claude-sonnet-4"},
		{"claude-3-5-haiku-latest", "claude-3-5-haiku"},
		{"claude-3-5-sonnet@20240620", "claude-3-5-sonnet"},
		{"gemini-1.5-pro-002", "gemini-1.5-pro"},
		{"gemini-2.0-flash", "gemini-2.0-flash"},
		{"gemini-2.5-flash-lite", "gemini-2.5-flash-lite"},
		{"text-embedding-3-small", "text-embedding-3-small"},
		{"claude-sonnet-4-6", ""},    // a newer model is not priced as an older one
		{"gpt-4o-audio-preview", ""}, // another model sharing the prefix
		{"llama-3.3-70b-versatile", ""},
		{"", ""},
	} {
		got, ok := tab.Lookup(tc.model)
		if tc.want == "" {
			if ok {
				t.Errorf("Lookup(%q) = %+v, want no price", tc.model, got)
			}
			continue
		}
		if want := tab.Models[tc.want]; !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %s's %+v", tc.model, got, ok, tc.want, want)
		}
	}
}

// TestParseTable_RefusesBadPrices verifies a table with a negative price or
// an unknown field is refused with the model named.
func TestParseTable_RefusesBadPrices(t *testing.T) {
	for _, in := range []string{
		"models: {m: {input: -1, output: 1}}",
		"models: {m: {input: 1, output: .nan}}",
		"models: {m: {input: 1, outptu: 1}}",
	} {
		if _, err := ParseTable([]byte(in)); err == nil {
			t.Errorf("ParseTable(%q) accepted it", in)
		}
	}
}
