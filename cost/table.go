package cost

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed prices.yaml
var shippedYAML []byte

// Table maps model names to prices. The zero Table knows no model.
type Table struct {
	// Taken is the date the prices were taken (YYYY-MM-DD).
	Taken  string           `yaml:"taken"`
	Models map[string]Price `yaml:"models"`
}

// shipped is the table of prices.yaml, parsed once at start.
var shipped = func() Table {
	t, err := ParseTable(shippedYAML)
	if err != nil {
		panic("cost: the embedded prices.yaml is invalid: " + err.Error()) // caught by TestShipped_Parses
	}
	return t
}()

// Shipped returns the price table llm-failover ships (prices.yaml).
func Shipped() Table { return shipped }

// ParseTable reads a table in the format of prices.yaml: every price must
// be finite and not negative.
func ParseTable(b []byte) (Table, error) {
	var t Table
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return Table{}, fmt.Errorf("cost: price table: %w", err)
	}
	for m, p := range t.Models {
		if err := p.Check(); err != nil {
			return Table{}, fmt.Errorf("cost: price table: model %q: %w", m, err)
		}
	}
	return t, nil
}

// Check reports a price that is negative or not a finite number.
func (p Price) Check() error {
	for _, v := range []struct {
		name string
		v    float64
	}{{"input", p.Input}, {"cached_input", p.CachedInput}, {"output", p.Output}} {
		if v.v < 0 || v.v != v.v || v.v > 1e6 {
			return fmt.Errorf("%s %v is not a price in 0..1000000 USD per million tokens", v.name, v.v)
		}
	}
	return nil
}

// snapshotSuffix is what may follow a listed model's name in a dated
// snapshot's name: -20241022, -2024-08-06, -002, -latest, @20241022.
var snapshotSuffix = regexp.MustCompile(`^(-\d{8}|-\d{4}-\d{2}-\d{2}|-\d{3}|-latest|@\d{8})$`)

// Lookup returns the price of model: its own entry, else the entry whose
// name followed by a snapshot suffix is model (the longest such name). A
// model that matches neither has no price (false).
func (t Table) Lookup(model string) (Price, bool) {
	if p, ok := t.Models[model]; ok {
		return p, true
	}
	best, found := "", false
	var price Price
	for name, p := range t.Models {
		if len(name) > len(best) && strings.HasPrefix(model, name) && snapshotSuffix.MatchString(model[len(name):]) {
			best, price, found = name, p, true
		}
	}
	return price, found
}
