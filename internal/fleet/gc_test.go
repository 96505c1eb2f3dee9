package fleet_test

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// TestTuneGC: without GOGC in the environment the fleet's processes
// collect at fleet.GCPercent, and the returned function restores the
// previous target; with GOGC set, the environment decides.
func TestTuneGC(t *testing.T) {
	if v, ok := os.LookupEnv("GOGC"); ok {
		t.Cleanup(func() { os.Setenv("GOGC", v) })
	}
	os.Unsetenv("GOGC")
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })

	restore := fleet.TuneGC()
	if got := debug.SetGCPercent(fleet.GCPercent); got != fleet.GCPercent {
		t.Errorf("GOGC unset: the target is %d, want %d", got, fleet.GCPercent)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after restore the target is %d, want the previous 100", got)
	}

	t.Setenv("GOGC", "100")
	restore = fleet.TuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=100 in the environment: the target is %d, want it untouched", got)
	}
	restore()
}
