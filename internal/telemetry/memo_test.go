package telemetry_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// TestMemoBuildsOncePerKey: goroutines asking for the same keys at once
// get one value per key, built once, and a kept key costs no allocation.
func TestMemoBuildsOncePerKey(t *testing.T) {
	var (
		m      telemetry.Memo[string, *int]
		builds atomic.Int64
		wg     sync.WaitGroup
	)
	keys := []string{"a", "b", "c", "d"}
	got := make([][]*int, 8)
	for g := range got {
		wg.Go(func() {
			for _, k := range keys {
				v, ok := m.Lookup(k)
				if !ok {
					v = m.LoadOrBuild(k, func() *int { builds.Add(1); n := len(k); return &n })
				}
				got[g] = append(got[g], v)
			}
		})
	}
	wg.Wait()
	if n := builds.Load(); n != int64(len(keys)) {
		t.Fatalf("%d builds for %d keys", n, len(keys))
	}
	for g := range got {
		for i := range keys {
			if got[g][i] != got[0][i] {
				t.Fatalf("goroutine %d got another value for %q", g, keys[i])
			}
		}
	}
	if v, ok := m.Lookup("z"); ok || v != nil {
		t.Fatalf("Lookup of a key never built: %v, %v", v, ok)
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = m.Lookup("c") }); a != 0 {
		t.Fatalf("Lookup of a kept key allocates %v times", a)
	}
	if a := testing.AllocsPerRun(100, func() { m.LoadOrBuild("c", func() *int { panic("rebuilt") }) }); a > 1 {
		t.Fatalf("LoadOrBuild of a kept key allocates %v times", a)
	}
}
