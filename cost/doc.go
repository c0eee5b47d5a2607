// Package cost prices LLM answers: a Price per million tokens (input,
// cached input, output, in US dollars), the cost of a Usage at a Price
// (Of, a pure function the replay lab calls too), and the price table
// shipped for well-known OpenAI, Anthropic and Gemini models (prices.yaml,
// the vendors' published list prices on the date it names; operators
// override it per provider and per target in the configuration, see
// docs/configuration.md "Cost and budgets"). A model the table does not
// know has no price: its cost is unknown, never zero.
package cost
