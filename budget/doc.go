// Package budget keeps spending limits: the counters of each budget's
// current calendar window (Store, with Local for one process and a place
// for the fleet's shared store), the decision a plan reads from them
// (Set.Decide: under, warning, capped or refused) and the charge of each
// answer (Set.Charge), and the state file that carries the counters across
// restarts (Persister). The semantics, fixed UTC windows and why, are in
// docs/design.md ("Cost and budgets") and docs/configuration.md.
package budget
