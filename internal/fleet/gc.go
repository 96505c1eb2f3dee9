package fleet

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target, GOGC, for the processes of
// `cloudcart run` and `cloudcart serve`: the heap may grow to three times
// what is live before a collection (Go's default, 100, collects at twice).
// Under the order benchmark the collector and allocation take 13–15% of
// the fleet's CPU at the default; at 200 there are half as many
// collections and the benchmark's CPU per order fell by about a tenth, for
// more memory: about 20 MB in the benchmark, 160 MB more peak RSS under
// `cloudcart run` at 300 journeys a second with the trace store full
// (docs/benchmarks.md, "Third round"). GOGC in the environment overrides
// it, as for any Go program.
const GCPercent = 200

// TuneGC sets GOGC to GCPercent unless the environment sets GOGC, and
// returns the function that restores the previous target.
func TuneGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	prev := debug.SetGCPercent(GCPercent)
	return func() { debug.SetGCPercent(prev) }
}
