// Package aggregator is the metrics aggregator (port 8006, reference 002
// §8): it scrapes every service's /metrics on an interval, parses the
// Prometheus text format with Prometheus's own parser, and exports a small
// per-service summary: up, uptime, requests, 5xx errors, error rate,
// average and p95 latency.
//
// Rates and latencies cover a sliding window (default 5m, like the
// recording rules): the difference between the newest scrape and the
// oldest one inside the window. The p95 is computed from the difference of
// the histogram's buckets by Quantile (quantile.go), which interpolates as
// PromQL's histogram_quantile does on classic buckets, so it equals
// histogram_quantile(0.95, sum by (le) (<duration>_bucket - <duration>_bucket offset <age of the oldest scrape>))
// exactly. (PromQL's increase() would extrapolate each bucket series to
// the window's edges separately, which can move the quantile by a little.)
// A service that cannot be scraped is reported down (service_up 0) with no
// latency or error-rate series: down is not "0 ms".
package aggregator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/telemetry"

	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Defaults for Options.
const (
	DefaultInterval = 15 * time.Second
	DefaultWindow   = 5 * time.Minute
	DefaultTimeout  = 10 * time.Second // of a scrape, at most; Prometheus's scrape_timeout
	maxScrapeBytes  = 16 << 20
)

// Target is one service to scrape.
type Target struct {
	Service  string // the service label: its job / service.name, e.g. "order-service"
	URL      string // base URL; /metrics is scraped
	Requests string // its HTTP requests counter, e.g. "order_http_requests_total"
	Duration string // its HTTP duration histogram (seconds), e.g. "order_http_request_duration_seconds"
}

// Options build an Aggregator.
type Options struct {
	// Targets is called at every round, so targets may be resolved after
	// the aggregator is built.
	Targets  func() []Target
	Interval time.Duration
	Window   time.Duration
	// Timeout bounds one scrape of one target (connect, answer, body):
	// min(Interval, DefaultTimeout) if 0. A scrape that takes longer marks
	// the service down and starts its window again, so under a short
	// Interval on a busy machine give it more than the Interval.
	Timeout time.Duration
	Client  *http.Client
	Meter   metric.Meter
	Logger  *slog.Logger
	Now     func() time.Time
}

// Stats is the aggregator's view of one service.
type Stats struct {
	Service          string    `json:"service"`
	Up               bool      `json:"up"`
	Error            string    `json:"error,omitempty"`
	ScrapedAt        time.Time `json:"scraped_at"`
	UptimeSeconds    *float64  `json:"uptime_seconds,omitempty"`
	RequestsTotal    *float64  `json:"requests_total,omitempty"`
	ErrorsTotal      *float64  `json:"errors_total,omitempty"`
	WindowSeconds    float64   `json:"window_seconds,omitempty"` // what the rates and latencies below cover
	ErrorRatePercent *float64  `json:"error_rate_percent,omitempty"`
	LatencyMS        *float64  `json:"latency_ms,omitempty"`
	P95LatencyMS     *float64  `json:"p95_latency_ms,omitempty"`
}

// snapshot is one scrape's cumulative values.
type snapshot struct {
	at               time.Time
	requests, errors float64
	count, sum       float64
	buckets          map[float64]float64 // le → cumulative count, +Inf included
}

// Aggregator scrapes and summarises.
type Aggregator struct {
	o   Options
	log *slog.Logger

	scrapes  metric.Int64Counter     // aggregator_scrapes_total{service,result}
	duration metric.Float64Histogram // aggregator_scrape_duration_seconds{service}
	up       metric.Int64ObservableGauge
	uptime   metric.Float64ObservableGauge
	requests metric.Float64ObservableCounter
	errs     metric.Float64ObservableCounter
	errRate  metric.Float64ObservableGauge
	latency  metric.Float64ObservableGauge
	p95      metric.Float64ObservableGauge

	mu      sync.Mutex
	history map[string][]snapshot
	stats   map[string]Stats
}

// New builds the aggregator and registers its metrics on o.Meter.
func New(o Options) (*Aggregator, error) {
	if o.Targets == nil || o.Meter == nil {
		return nil, errors.New("aggregator: Targets and Meter are required")
	}
	o.Interval = cmp.Or(o.Interval, DefaultInterval)
	o.Window = cmp.Or(o.Window, DefaultWindow)
	o.Timeout = cmp.Or(o.Timeout, min(o.Interval, DefaultTimeout))
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Aggregator{o: o, log: o.Logger, history: map[string][]snapshot{}, stats: map[string]Stats{}}
	in := telemetry.NewInstruments(o.Meter)
	a.scrapes = in.Counter("aggregator.scrapes", "{scrape}", "Scrapes of a service's /metrics by result (success, failure).")
	a.duration = in.Histogram("aggregator.scrape.duration", "s", "Time to fetch and parse a service's /metrics.",
		[]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
	a.up = in.IntGauge("service.up", "",
		"1 when the service's last scrape succeeded, 0 when it failed (the service is down).")
	a.uptime = in.Gauge("service.uptime", "s",
		"Uptime of the service's process (from its process_start_time_seconds) as the aggregator last saw it; absent while down.")
	a.requests = in.ObservableCounter("service.requests", "{request}",
		"HTTP requests the service has served since it started (sum of its requests counter).")
	a.errs = in.ObservableCounter("service.errors", "{request}",
		"HTTP requests the service answered with 5xx since it started.")
	a.errRate = in.Gauge("service.error_rate", "%",
		"5xx share of the service's requests over the window, in percent; absent without requests.")
	a.latency = in.Gauge("service.latency_ms", "{ms}",
		"Average HTTP latency over the window, in milliseconds; absent without requests.")
	a.p95 = in.Gauge("service.p95_latency_ms", "{ms}",
		"95th percentile HTTP latency over the window from the duration histogram's buckets (histogram_quantile), in milliseconds; absent without requests.")
	if err := in.Err(); err != nil {
		return nil, err
	}
	_, err := o.Meter.RegisterCallback(a.observe, a.up, a.uptime, a.requests, a.errs, a.errRate, a.latency, a.p95)
	return a, err
}

func (a *Aggregator) observe(_ context.Context, o metric.Observer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.stats {
		set := metric.WithAttributeSet(attribute.NewSet(attribute.String("service", s.Service)))
		up := int64(0)
		if s.Up {
			up = 1
		}
		o.ObserveInt64(a.up, up, set)
		for inst, v := range map[metric.Float64Observable]*float64{
			a.uptime: s.UptimeSeconds, a.requests: s.RequestsTotal, a.errs: s.ErrorsTotal,
			a.errRate: s.ErrorRatePercent, a.latency: s.LatencyMS, a.p95: s.P95LatencyMS,
		} {
			if v != nil {
				o.ObserveFloat64(inst, *v, set)
			}
		}
	}
	return nil
}

// Stats returns the latest view of every service, by service name.
func (a *Aggregator) Stats() []Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Stats, 0, len(a.stats))
	for _, s := range a.stats {
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y Stats) int { return strings.Compare(x.Service, y.Service) })
	return out
}

// Run scrapes every Interval until ctx is done.
func (a *Aggregator) Run(ctx context.Context) error {
	t := time.NewTicker(a.o.Interval)
	defer t.Stop()
	for {
		a.ScrapeOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ScrapeOnce scrapes every target once, concurrently, and updates the
// summary.
func (a *Aggregator) ScrapeOnce(ctx context.Context) {
	targets := a.o.Targets()
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() { a.scrape(ctx, t) })
	}
	wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	known := map[string]bool{}
	for _, t := range targets {
		known[t.Service] = true
	}
	for name := range a.stats {
		if !known[name] {
			delete(a.stats, name)
			delete(a.history, name)
		}
	}
}

func (a *Aggregator) scrape(ctx context.Context, t Target) {
	start := time.Now()
	fams, err := a.fetch(ctx, t)
	now := a.o.Now()
	set := attribute.NewSet(attribute.String("service", t.Service))
	a.duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributeSet(set))
	result := "success"
	if err != nil {
		result = "failure"
	}
	a.scrapes.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attribute.String("service", t.Service), attribute.String("result", result))))

	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		if prev, ok := a.stats[t.Service]; !ok || prev.Up {
			a.log.WarnContext(ctx, "service down", "service", t.Service, "err", err)
		}
		a.stats[t.Service] = Stats{Service: t.Service, Up: false, Error: err.Error(), ScrapedAt: now}
		delete(a.history, t.Service) // its next life starts a new window
		return
	}
	cur := summarise(fams, t, now)
	st := Stats{Service: t.Service, Up: true, ScrapedAt: now, RequestsTotal: ptr(cur.requests), ErrorsTotal: ptr(cur.errors)}
	if mf := fams["process_start_time_seconds"]; mf != nil && len(mf.GetMetric()) > 0 {
		if g := mf.GetMetric()[0].GetGauge(); g != nil {
			st.UptimeSeconds = ptr(max(now.Sub(time.Unix(0, int64(g.GetValue()*1e9))).Seconds(), 0))
		}
	}
	h := a.history[t.Service]
	if n := len(h); n > 0 && (cur.requests < h[n-1].requests || cur.count < h[n-1].count) {
		h = nil // counters went back: the service restarted
	}
	// Keep the snapshots inside the window, plus the current one.
	cut := 0
	for cut < len(h) && h[cut].at.Before(now.Add(-a.o.Window)) {
		cut++
	}
	h = append(h[cut:], cur)
	a.history[t.Service] = h
	if len(h) >= 2 {
		windowed(&st, h[0], cur)
	}
	a.stats[t.Service] = st
}

// windowed fills the rates and latencies from the difference of two
// snapshots.
func windowed(st *Stats, base, cur snapshot) {
	st.WindowSeconds = cur.at.Sub(base.at).Seconds()
	if dr := cur.requests - base.requests; dr > 0 {
		st.ErrorRatePercent = ptr(round3(100 * (cur.errors - base.errors) / dr))
	}
	dc := cur.count - base.count
	if dc <= 0 {
		return
	}
	st.LatencyMS = ptr(round3(1000 * (cur.sum - base.sum) / dc))
	delta := make(map[float64]float64, len(cur.buckets))
	for le, c := range cur.buckets {
		delta[le] = c - base.buckets[le]
	}
	if q := Quantile(0.95, delta); !math.IsNaN(q) {
		st.P95LatencyMS = ptr(round3(1000 * q))
	}
}

// summarise sums a target's requests, 5xx and duration histogram series.
func summarise(fams map[string]*dto.MetricFamily, t Target, at time.Time) snapshot {
	s := snapshot{at: at, buckets: map[float64]float64{}}
	if mf := fams[t.Requests]; mf != nil {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue()
			s.requests += v
			for _, l := range m.GetLabel() {
				if l.GetName() == "status" && strings.HasPrefix(l.GetValue(), "5") {
					s.errors += v
				}
			}
		}
	}
	if mf := fams[t.Duration]; mf != nil {
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			s.count += float64(h.GetSampleCount())
			s.sum += h.GetSampleSum()
			for _, b := range h.GetBucket() {
				s.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			}
		}
		if len(s.buckets) > 0 { // the text format's +Inf bucket is the count
			s.buckets[math.Inf(+1)] = s.count
		}
	}
	return s
}

// fetch scrapes a target's /metrics in the Prometheus text format and
// parses it.
func (a *Aggregator) fetch(ctx context.Context, t Target) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(t.URL, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := a.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxScrapeBytes))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return fams, nil
}

// ptr points at v when it is a finite number, and is nil otherwise: a
// scraped service can send NaN or ±Inf (or counters that make the
// differences so), which JSON cannot carry and no summary should show.
func ptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Handler returns the aggregator's API:
//
//	GET /services  the latest summary of every service (JSON)
func (a *Aggregator) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /services", func(w http.ResponseWriter, r *http.Request) {
		if err := httpkit.CheckQuery(r); err != nil { // it takes none
			httpkit.Error(w, r, a.log, err)
			return
		}
		httpkit.WriteJSON(w, http.StatusOK, map[string]any{"services": a.Stats()})
	})
	return mux
}

// round3 keeps three decimals: 62.25, not 62.24999999999994.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
