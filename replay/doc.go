// Package replay is the replay lab (issue 17, docs/replay.md): it re-runs
// recorded traffic, the audit trail's "attempt" events (docs/audit.md),
// through the real routing (routing.Table) and breaker code on a virtual
// clock, under a candidate configuration and a baseline, and reports how
// each would have served the same incidents: requests answered and failed,
// attempts spent on failing targets, time to first byte added by
// failovers, how fast traffic left a failing target and came back, breaker
// flaps and tokens. The report (Report) is one Go value rendered as a
// terminal table, JSON or HTML with inline SVG plots; Criteria gate a
// configuration change in CI.
package replay
