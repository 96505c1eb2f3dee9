package fleet

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target, GOGC, for the processes of
// `cloudcart run` and `cloudcart serve`: the heap may grow to three times
// what is live before a collection (Go's default, 100, collects at twice).
// Under the order benchmark the fleet collects garbage with an eighth of
// its CPU at the default; at 200 it collects half as often, for tens of
// megabytes more heap (docs/benchmarks.md, "The garbage collector's
// target"). GOGC in the environment overrides it, as for any Go program.
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
