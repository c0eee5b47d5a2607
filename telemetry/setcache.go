package telemetry

import (
	"sync"

	"go.opentelemetry.io/otel/metric"
)

// setCache keeps the measurement options (attribute sets) of label values
// seen before: building one sorts, de-duplicates and hashes its attributes
// (attribute.NewSet), which the hot calls (an attempt's outcome, a plan,
// an operation) would otherwise pay on every request. K holds the raw
// label values; an entry is built the first time they come. Label values
// are bounded by the configuration and the reason sets; past
// maxCachedSets entries an option is built and not kept.
type setCache[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

// maxCachedSets bounds a setCache.
const maxCachedSets = 4096

func (c *setCache[K, V]) load(k K) (V, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *setCache[K, V]) store(k K, v V) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[K]V)
	}
	if len(c.m) < maxCachedSets {
		c.m[k] = v
	}
	c.mu.Unlock()
}

// The keys and values of the Telemetry's caches.
type (
	attemptKey struct{ provider, model, outcome string }
	opKey      struct{ name, genAIProvider, requestModel, target, responseModel, errorType string }
	// opSets are an operation's options: all its attributes, those
	// without error.type, and the legacy token usage's input and output.
	opSets struct{ all, ok, in, out metric.MeasurementOption }
)

// setCaches are a Telemetry's caches.
type setCaches struct {
	attempts setCache[attemptKey, metric.MeasurementOption]
	planned  setCache[string, metric.MeasurementOption]
	ops      setCache[opKey, opSets]
}
