package load

import (
	"context"
	"time"
)

// RunJourneys runs the schedule of g with journey in place of the real
// journeys, stopping after limit arrivals (-1: no limit).
func (g *Generator) RunJourneys(ctx context.Context, limit int, journey func(ctx context.Context, i int, due time.Time)) (Summary, error) {
	return g.run(ctx, journey, limit)
}

// Recorder exposes the statistics for tests of their maths.
type Recorder struct{ r *recorder }

func NewRecorder() Recorder { return Recorder{newRecorder()} }

// Record counts a request to the catalog's product page.
func (r Recorder) Record(status int, latency time.Duration) { r.r.record(epProduct, status, latency) }

func (r Recorder) Summary(d time.Duration) Summary { return r.r.summary(d) }

// Record counts a request of g, as a journey would.
func (g *Generator) Record(status int, latency time.Duration) {
	g.stats.record(epProduct, status, latency)
}

// SetClock replaces the generator's clock; call it before Run.
func (g *Generator) SetClock(now func() time.Time) { g.now, g.stats.now = now, now }

func (g *Generator) Now() time.Time { return g.now() }

var (
	ProgressLine  = progressLine
	ProgressBlock = progressBlock
)
