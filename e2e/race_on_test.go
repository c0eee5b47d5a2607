//go:build race

package e2e

// raceEnabled reports whether the tests run under the race detector, which
// makes every request through the stack several times slower.
const raceEnabled = true
