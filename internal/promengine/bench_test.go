package promengine_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/promengine"
)

// BenchmarkStartupToFirstSample measures, on a fresh data dir, how long New
// plus Run take until the API answers (ready) and until `up == 1` for a
// target is queryable (first sample). The first scrape of a target is
// spread over one scrape interval, so the interval bounds the second figure.
//
//	go test -run '^$' -bench StartupToFirstSample -benchtime 5x ./internal/promengine/
func BenchmarkStartupToFirstSample(b *testing.B) {
	for _, interval := range []time.Duration{100 * time.Millisecond, time.Second} {
		b.Run(fmt.Sprintf("scrape_interval=%s", interval), func(b *testing.B) {
			tgt := mustTarget(b)
			var toReady, toSample time.Duration
			for b.Loop() {
				start := time.Now()
				r := mustStart(b, promengine.Options{Config: testConfig(nil, tgt), ScrapeInterval: interval})
				toReady += time.Since(start)
				for {
					if v, why := instant(context.Background(), r.api, `up{job="test-target"}`, time.Now()); why == "" && v == 1 {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				toSample += time.Since(start)
				r.stop(b)
			}
			b.ReportMetric(float64(toReady.Milliseconds())/float64(b.N), "ms-to-ready")
			b.ReportMetric(float64(toSample.Milliseconds())/float64(b.N), "ms-to-first-sample")
		})
	}
}

// BenchmarkSteadyStateHeap reports the heap in use after an engine has
// scraped two targets every 100ms for 3s (the whole test process, and its
// growth over the process before the engine started).
//
//	go test -run '^$' -bench SteadyStateHeap -benchtime 1x ./internal/promengine/
func BenchmarkSteadyStateHeap(b *testing.B) {
	a, c := mustTarget(b), mustTarget(b)
	var ms runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapInuse
		r := mustStart(b, promengine.Options{Config: testConfig(nil, a, c), ScrapeInterval: 100 * time.Millisecond})
		time.Sleep(3 * time.Second)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
		b.ReportMetric(float64(ms.HeapInuse-before)/(1<<20), "heap-growth-MiB")
		r.stop(b)
	}
}
