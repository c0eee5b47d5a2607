package cost

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	// Input is the price of a prompt token that was not read from a cache.
	Input float64 `json:"input" yaml:"input"`
	// CachedInput is the price of a prompt token read from the provider's
	// prompt cache (OpenAI cached_tokens, Anthropic cache_read_input_tokens,
	// Gemini cachedContentTokenCount). 0 means the provider does not
	// discount them: they cost Input.
	CachedInput float64 `json:"cached_input,omitempty" yaml:"cached_input,omitempty"`
	// Output is the price of a completion token (reasoning tokens included).
	Output float64 `json:"output" yaml:"output"`
}

// Rank orders prices for "cheaper first": the price of a million input
// tokens plus a million output tokens.
func (p Price) Rank() float64 { return p.Input + p.Output }

// Usage is the tokens an answer used, as its provider reported them (or
// estimated, see Estimated).
type Usage struct {
	// Input is every prompt token, cached ones included (OpenAI's
	// prompt_tokens, which the translations fill the same way for Anthropic
	// and Gemini).
	Input int64 `json:"input_tokens"`
	// CachedInput is the part of Input read from the provider's cache.
	CachedInput int64 `json:"cached_input_tokens,omitempty"`
	// Output is every completion token, reasoning included.
	Output int64 `json:"output_tokens"`
	// Estimated is set when the answer reported no usage and the counts
	// are estimates (the request body's bytes / 4 and the streamed text's
	// bytes / 4).
	Estimated bool `json:"estimated,omitempty"`
}

// Tokens is every token of u: input plus output.
func (u Usage) Tokens() int64 { return u.Input + u.Output }

// perMillion is the unit of a Price.
const perMillion = 1e6

// Of is the cost in US dollars of usage u at price p: uncached input
// tokens at Input, cached ones at CachedInput (Input when 0), output tokens
// at Output. Negative counts count as 0; more cached tokens than input
// tokens count as all cached.
func Of(u Usage, p Price) float64 {
	in, cached, out := max(u.Input, 0), max(u.CachedInput, 0), max(u.Output, 0)
	cached = min(cached, in)
	cachedPrice := p.CachedInput
	if cachedPrice == 0 {
		cachedPrice = p.Input
	}
	return (float64(in-cached)*p.Input + float64(cached)*cachedPrice + float64(out)*p.Output) / perMillion
}

// NanoUSD is a cost in billionths of a dollar, the unit budgets count in
// (an int64 holds 9.2 billion dollars of them).
func NanoUSD(usd float64) int64 {
	if usd <= 0 {
		return 0
	}
	return int64(usd*1e9 + 0.5)
}

// USD converts nano-dollars back to dollars.
func USD(nano int64) float64 { return float64(nano) / 1e9 }
