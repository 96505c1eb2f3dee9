package tracestore

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the store's state as cloudcart_traces_* metrics on the
// engine's /metrics (docs/metrics.md, "Trace store").
type Collector struct {
	store *Store

	traces, spans, bytes, maxBytes, keptTraces, oldest *prometheus.Desc
	received, evictedTraces, evictedSpans, dropped     *prometheus.Desc
}

// Collector returns a prometheus.Collector of s.
func (s *Store) Collector() *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("cloudcart_traces_"+name, help, labels, nil)
	}
	return &Collector{
		store:         s,
		traces:        d("stored", "Traces in the trace store, by pool: recent, or kept longer (errors and the slowest).", "pool"),
		spans:         d("spans_stored", "Spans in the trace store."),
		bytes:         d("bytes", "Estimated memory of the stored spans, by pool.", "pool"),
		maxBytes:      d("max_bytes", "Byte budget of each pool (--traces.max-bytes; the kept pool is part of it).", "pool"),
		keptTraces:    d("kept_total", "Traces moved to the kept pool instead of being evicted (errors and the slowest)."),
		oldest:        d("oldest_age_seconds", "Age of the oldest trace of each pool: how far back traces are still available.", "pool"),
		received:      d("spans_received_total", "Spans offered to the trace store."),
		evictedTraces: d("evicted_total", "Traces evicted to stay within the byte budget, by pool.", "pool"),
		evictedSpans:  d("spans_evicted_total", "Spans evicted with their traces."),
		dropped:       d("spans_dropped_total", "Spans not stored: too_many_spans (per trace), too_large (one span over the budget), duplicate (a span id already stored), invalid (rejected by the OTLP receiver).", "reason"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.traces, c.spans, c.bytes, c.maxBytes, c.keptTraces, c.oldest,
		c.received, c.evictedTraces, c.evictedSpans, c.dropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.store.Stats()
	now := c.store.opts.Now()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ctr := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	g(c.traces, float64(st.Traces-st.KeptTraces), "recent")
	g(c.traces, float64(st.KeptTraces), "kept")
	g(c.spans, float64(st.Spans))
	g(c.bytes, float64(st.Bytes-st.KeptBytes), "recent")
	g(c.bytes, float64(st.KeptBytes), "kept")
	g(c.maxBytes, float64(st.MaxBytes), "all")
	g(c.maxBytes, float64(st.KeepSize), "kept")
	age := func(t interface{ IsZero() bool }, secs float64) float64 {
		if t.IsZero() {
			return 0
		}
		return secs
	}
	g(c.oldest, age(st.OldestRecent, now.Sub(st.OldestRecent).Seconds()), "recent")
	g(c.oldest, age(st.OldestKept, now.Sub(st.OldestKept).Seconds()), "kept")
	ctr(c.keptTraces, st.TracesKept)
	ctr(c.received, st.SpansReceived)
	ctr(c.evictedTraces, st.TracesEvicted, "recent")
	ctr(c.evictedTraces, st.TracesKeptEvicted, "kept")
	ctr(c.evictedSpans, st.SpansEvicted)
	ctr(c.dropped, st.SpansDroppedLimit, "too_many_spans")
	ctr(c.dropped, st.SpansDroppedSize, "too_large")
	ctr(c.dropped, st.SpansDuplicate, "duplicate")
	ctr(c.dropped, st.SpansRejectedOTLP, "invalid")
}
