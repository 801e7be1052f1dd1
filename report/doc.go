// Package report holds what every rawkit tool shares at its output end:
// the exit codes, NDJSON records (docs/json.md), round-trip statistics
// computed the way iputils ping computes them, and --expect assertions
// that turn a result into a runbook verdict.
package report
