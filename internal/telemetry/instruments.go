package telemetry

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Instruments creates a component's instruments on one meter and collects
// their errors, so a metrics constructor lists one instrument per line and
// checks once with Err. An empty unit means none: the exporter would turn
// unit "1" on a gauge into a _ratio suffix.
type Instruments struct {
	meter metric.Meter
	errs  []error
}

// NewInstruments creates instruments on meter.
func NewInstruments(meter metric.Meter) *Instruments { return &Instruments{meter: meter} }

// Err is every error met so far, joined; nil when every instrument was made.
func (in *Instruments) Err() error { return errors.Join(in.errs...) }

func (in *Instruments) keep(err error) { in.errs = append(in.errs, err) }

// Counter is an Int64Counter.
func (in *Instruments) Counter(name, unit, desc string) metric.Int64Counter {
	c, err := in.meter.Int64Counter(name, opts[metric.Int64CounterOption](unit, desc)...)
	in.keep(err)
	return c
}

// UpDownCounter is an Int64UpDownCounter.
func (in *Instruments) UpDownCounter(name, unit, desc string) metric.Int64UpDownCounter {
	c, err := in.meter.Int64UpDownCounter(name, opts[metric.Int64UpDownCounterOption](unit, desc)...)
	in.keep(err)
	return c
}

// Histogram is a Float64Histogram with explicit bucket boundaries.
func (in *Instruments) Histogram(name, unit, desc string, buckets []float64) metric.Float64Histogram {
	h, err := in.meter.Float64Histogram(name, append(opts[metric.Float64HistogramOption](unit, desc),
		metric.WithExplicitBucketBoundaries(buckets...))...)
	in.keep(err)
	return h
}

// Gauge is a Float64ObservableGauge, observed by a callback.
func (in *Instruments) Gauge(name, unit, desc string) metric.Float64ObservableGauge {
	g, err := in.meter.Float64ObservableGauge(name, opts[metric.Float64ObservableGaugeOption](unit, desc)...)
	in.keep(err)
	return g
}

// IntGauge is an Int64ObservableGauge, observed by a callback.
func (in *Instruments) IntGauge(name, unit, desc string) metric.Int64ObservableGauge {
	g, err := in.meter.Int64ObservableGauge(name, opts[metric.Int64ObservableGaugeOption](unit, desc)...)
	in.keep(err)
	return g
}

// ObservableCounter is a Float64ObservableCounter, observed by a callback.
func (in *Instruments) ObservableCounter(name, unit, desc string) metric.Float64ObservableCounter {
	c, err := in.meter.Float64ObservableCounter(name, opts[metric.Float64ObservableCounterOption](unit, desc)...)
	in.keep(err)
	return c
}

// opts are the description and, unless empty, the unit, as the option type
// of one instrument kind (metric.InstrumentOption satisfies every one).
func opts[O any](unit, desc string) []O {
	out := []O{any(metric.WithDescription(desc)).(O)}
	if unit != "" {
		out = append(out, any(metric.WithUnit(unit)).(O))
	}
	return out
}

// PairCounter adds to a counter with two labels whose values come from
// closed sets (an error type and a route template, a service and a status
// code). It keeps one precomputed attribute set per pair, built on first
// use, so the hot path builds no attributes and allocates nothing.
type PairCounter struct {
	c          metric.Int64Counter
	key1, key2 string
	opts       Memo[[2]string, []metric.AddOption]
}

// NewPairCounter counts on c with labels key1 and key2.
func NewPairCounter(c metric.Int64Counter, key1, key2 string) *PairCounter {
	return &PairCounter{c: c, key1: key1, key2: key2}
}

// Add counts one with key1=v1, key2=v2.
func (p *PairCounter) Add(ctx context.Context, v1, v2 string) {
	p.c.Add(ctx, 1, p.opt(v1, v2)...) // a kept slice: the variadic call allocates none
}

// Zero starts the series key1=v1, key2=v2 at zero, so it exists from the
// first scrape, before its first event.
func (p *PairCounter) Zero(ctx context.Context, v1, v2 string) {
	p.c.Add(ctx, 0, p.opt(v1, v2)...)
}

// opt is the kept option slice of one pair, built on first use.
func (p *PairCounter) opt(v1, v2 string) []metric.AddOption {
	k := [2]string{v1, v2}
	if opt, ok := p.opts.Lookup(k); ok {
		return opt
	}
	return p.opts.LoadOrBuild(k, func() []metric.AddOption {
		return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String(p.key1, v1), attribute.String(p.key2, v2)))}
	})
}
