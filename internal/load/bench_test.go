package load_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/load"
)

// BenchmarkSchedule is the generator's own cost per journey: the arrival
// time, a concurrency slot, a goroutine, and one request's latency into the
// histograms, with a journey that sends nothing. The rate is so high that
// the schedule is always due: the figure is the most arrivals a second the
// scheduler can start.
func BenchmarkSchedule(b *testing.B) {
	g := mustGenerator(b, load.Config{Rate: 1e9, Concurrency: 1 << 20})
	b.ReportAllocs()
	b.ResetTimer()
	sum, err := g.RunJourneys(context.Background(), b.N, func(_ context.Context, _ int, due time.Time) {
		g.Record(200, g.Now().Sub(due))
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(sum.Arrivals)/b.Elapsed().Seconds(), "arrivals/s")
}

// BenchmarkRecord is one request's statistics from parallel journeys:
// counters, status, and the latency into three HDR histograms under their
// locks.
func BenchmarkRecord(b *testing.B) {
	r := load.NewRecorder()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Millisecond
		for pb.Next() {
			r.Record(200, d)
			d += time.Microsecond
		}
	})
}
