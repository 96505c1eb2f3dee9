package aggregator_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"

	"github.com/cloudcart/cloudcart/internal/aggregator"
	"github.com/cloudcart/cloudcart/internal/freeport"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

func formatLE(le float64) string {
	if math.IsInf(le, +1) {
		return "+Inf"
	}
	return strconv.FormatFloat(le, 'g', -1, 64)
}

// evalVector evaluates expr at t on the series loaded by input and returns
// the samples by the value of label key.
func evalVector(t *testing.T, input, expr string, at time.Time, key string) map[string]float64 {
	t.Helper()
	st := promqltest.LoadedStorage(t, input)
	eng := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	q, err := eng.NewInstantQuery(context.Background(), st, nil, expr, at)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	vec, err := res.Vector()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, s := range vec {
		out[s.Metric.Get(key)] = s.F
	}
	return out
}

// TestQuantileMatchesPromQL: the aggregator's p95 is histogram_quantile's,
// bit for bit, on the same buckets: random histograms, empty ones,
// everything in +Inf, non-monotonic counts, duplicated bounds.
func TestQuantileMatchesPromQL(t *testing.T) {
	bounds := []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []map[float64]float64{
		{0.1: 0, 1: 0, math.Inf(1): 0},           // no observations: NaN
		{0.1: 0, 1: 0, math.Inf(1): 7},           // all above the last bound
		{0.1: 10, 1: 10, math.Inf(1): 10},        // all in the first bucket
		{0.1: 5, 0.5: 3, 1: 9, math.Inf(1): 9},   // not monotonic
		{-1: 1, 0: 2, 1: 4, math.Inf(1): 4},      // negative bounds
		{0.25: 1, math.Inf(1): 100},              // one bound
		{0.25: 3, 0.5: 3, 1: 3, math.Inf(1): 20}, // rank in +Inf
	}
	for range 300 {
		h := map[float64]float64{}
		c := 0.0
		for _, b := range bounds {
			if rng.IntN(3) > 0 {
				c += float64(rng.IntN(50))
			}
			h[b] = c
		}
		h[math.Inf(1)] = c + float64(rng.IntN(5))
		cases = append(cases, h)
	}
	var in strings.Builder
	in.WriteString("load 1m\n")
	for i, h := range cases {
		for le, v := range h {
			fmt.Fprintf(&in, "  h_bucket{case=\"%d\",le=\"%s\"} %s\n", i, formatLE(le), strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		want := evalVector(t, in.String(), fmt.Sprintf("histogram_quantile(%g, h_bucket)", q), time.Unix(0, 0), "case")
		for i, h := range cases {
			got := aggregator.Quantile(q, h)
			w := want[strconv.Itoa(i)]
			if !(got == w || math.IsNaN(got) && math.IsNaN(w)) {
				t.Errorf("case %d, q=%g: aggregator %v, PromQL %v (buckets %v)", i, q, got, w, h)
			}
		}
	}
}

// target serves a text exposition that the test changes between scrapes.
type target struct {
	mu   sync.Mutex
	body string
	srv  *httptest.Server
}

func mustTarget(t *testing.T) *target {
	tg := &target{}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, tg.body)
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

// exposition writes an order service's HTTP metrics: requests by status
// and a duration histogram over two routes.
func exposition(started float64, ok, fail float64, routes [2]map[float64]float64, sums [2]float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %g\n", started)
	b.WriteString("# TYPE order_http_requests_total counter\n")
	fmt.Fprintf(&b, "order_http_requests_total{endpoint=\"/orders\",method=\"GET\",status=\"200\"} %g\n", ok)
	fmt.Fprintf(&b, "order_http_requests_total{endpoint=\"/orders\",method=\"POST\",status=\"503\"} %g\n", fail)
	b.WriteString("# TYPE order_http_request_duration_seconds histogram\n")
	for i, h := range routes {
		route := []string{"/orders", "/orders/{id}"}[i]
		les := make([]float64, 0, len(h))
		for le := range h {
			les = append(les, le)
		}
		sort.Float64s(les)
		for _, le := range les {
			fmt.Fprintf(&b, "order_http_request_duration_seconds_bucket{endpoint=%q,method=\"GET\",le=%q} %g\n", route, formatLE(le), h[le])
		}
		fmt.Fprintf(&b, "order_http_request_duration_seconds_sum{endpoint=%q,method=\"GET\"} %g\n", route, sums[i])
		fmt.Fprintf(&b, "order_http_request_duration_seconds_count{endpoint=%q,method=\"GET\"} %g\n", route, h[math.Inf(1)])
	}
	return b.String()
}

func mustAggregator(t *testing.T, targets []aggregator.Target, now func() time.Time) (*aggregator.Aggregator, *telemetry.Telemetry) {
	t.Helper()
	tel := telemetrytest.MustNew(t)
	a, err := aggregator.New(aggregator.Options{Targets: func() []aggregator.Target { return targets },
		Meter: tel.Meter("test"), Interval: time.Second, Window: 5 * time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return a, tel
}

// TestWindowedSummary: two scrapes a minute apart give the window's error
// rate, average latency and p95, and the p95 is what PromQL computes on the
// same two samples.
func TestWindowedSummary(t *testing.T) {
	tg := mustTarget(t)
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	a, tel := mustAggregator(t, []aggregator.Target{{Service: "order-service", URL: tg.srv.URL,
		Requests: "order_http_requests_total", Duration: "order_http_request_duration_seconds"}}, func() time.Time { return now })

	inf := math.Inf(1)
	first := [2]map[float64]float64{
		{0.01: 10, 0.05: 40, 0.1: 60, 0.5: 70, inf: 70},
		{0.01: 0, 0.05: 2, 0.1: 5, 0.5: 9, inf: 10},
	}
	second := [2]map[float64]float64{
		{0.01: 30, 0.05: 90, 0.1: 160, 0.5: 190, inf: 195},
		{0.01: 1, 0.05: 9, 0.1: 20, 0.5: 34, inf: 40},
	}
	bodies := []string{
		exposition(float64(t0.Unix()-100), 60, 20, first, [2]float64{3.5, 1.2}),
		exposition(float64(t0.Unix()-100), 180, 55, second, [2]float64{12.5, 7.2}),
	}
	for i, body := range bodies {
		tg.mu.Lock()
		tg.body = body
		tg.mu.Unlock()
		now = t0.Add(time.Duration(i) * time.Minute)
		a.ScrapeOnce(context.Background())
	}
	st := a.Stats()
	if len(st) != 1 || !st[0].Up || st[0].P95LatencyMS == nil {
		t.Fatalf("stats = %+v", st)
	}
	s := st[0]
	if *s.RequestsTotal != 235 || *s.ErrorsTotal != 55 || s.WindowSeconds != 60 {
		t.Errorf("totals = %v requests, %v errors over %vs", *s.RequestsTotal, *s.ErrorsTotal, s.WindowSeconds)
	}
	if want := 100 * 35.0 / 155.0; math.Abs(*s.ErrorRatePercent-want) > 0.0005 { // rounded to 3 decimals
		t.Errorf("error rate = %v%%, want %v%%", *s.ErrorRatePercent, want)
	}
	if want := 1000 * (12.5 + 7.2 - 3.5 - 1.2) / (195 + 40 - 70 - 10); math.Abs(*s.LatencyMS-want) > 0.0005 {
		t.Errorf("latency = %v ms, want %v", *s.LatencyMS, want)
	}
	if v := *s.UptimeSeconds; v != 160 {
		t.Errorf("uptime = %v, want 160", v)
	}

	// PromQL on the same two scrapes, one minute apart.
	var in strings.Builder
	in.WriteString("load 1m\n")
	for r := range 2 {
		for le := range first[r] {
			fmt.Fprintf(&in, "  d_bucket{route=\"%d\",le=\"%s\"} %g %g\n", r, formatLE(le), first[r][le], second[r][le])
		}
	}
	want := evalVector(t, in.String(), "histogram_quantile(0.95, sum by (le) (d_bucket - d_bucket offset 1m))", time.Unix(60, 0), "le")
	if got := *s.P95LatencyMS / 1000; got != want[""] {
		t.Errorf("p95 = %v s, PromQL says %v s", got, want[""])
	}
	reg := tel.Registry
	if v := telemetrytest.Value(t, reg, "service_p95_latency_ms", map[string]string{"service": "order-service"}); v != *s.P95LatencyMS {
		t.Errorf("service_p95_latency_ms = %v, want %v", v, *s.P95LatencyMS)
	}
	for _, name := range []string{"service_up", "service_uptime_seconds", "service_requests_total", "service_errors_total", "service_error_rate_percent", "service_latency_ms"} {
		if telemetrytest.Count(t, reg, name) != 1 {
			t.Errorf("%s: %d series, want 1", name, telemetrytest.Count(t, reg, name))
		}
	}
}

// TestDownService: a service that cannot be scraped is reported down, with
// no latency or error rate, never as 0 ms; it comes back with a fresh
// window.
func TestDownService(t *testing.T) {
	tg := mustTarget(t)
	inf := math.Inf(1)
	tg.body = exposition(1, 10, 0, [2]map[float64]float64{{0.1: 5, inf: 10}, {0.1: 0, inf: 0}}, [2]float64{0.5, 0})
	dead := freeport.URL(t) // reserved: nothing will listen on it
	names := aggregator.Target{Requests: "order_http_requests_total", Duration: "order_http_request_duration_seconds"}
	up, down := names, names
	up.Service, up.URL = "order-service", tg.srv.URL
	down.Service, down.URL = "user-service", dead
	a, tel := mustAggregator(t, []aggregator.Target{up, down}, time.Now)
	a.ScrapeOnce(context.Background())
	tg.mu.Lock()
	tg.body = exposition(1, 20, 0, [2]map[float64]float64{{0.1: 9, inf: 20}, {0.1: 0, inf: 0}}, [2]float64{0.9, 0})
	tg.mu.Unlock()
	a.ScrapeOnce(context.Background())

	reg := tel.Registry
	if v := telemetrytest.Value(t, reg, "service_up", map[string]string{"service": "user-service"}); v != 0 {
		t.Errorf("service_up{user-service} = %v, want 0", v)
	}
	if telemetrytest.Count(t, reg, "service_up") != 2 {
		t.Errorf("service_up must have a series for both services")
	}
	for _, name := range []string{"service_p95_latency_ms", "service_latency_ms", "service_error_rate_percent", "service_uptime_seconds", "service_requests_total"} {
		if v := telemetrytest.Count(t, reg, name); v != 1 {
			t.Errorf("%s has %d series; the down service must have none", name, v)
		}
	}
	if v := telemetrytest.Value(t, reg, "service_up", map[string]string{"service": "order-service"}); v != 1 {
		t.Errorf("service_up{order-service} = %v", v)
	}
	if v := telemetrytest.Value(t, reg, "aggregator_scrapes_total", map[string]string{"service": "user-service", "result": "failure"}); v != 2 {
		t.Errorf("failed scrapes = %v", v)
	}

	// A restart resets the counters: no negative rates, a new window.
	tg.mu.Lock()
	tg.body = exposition(2, 3, 1, [2]map[float64]float64{{0.1: 1, inf: 4}, {0.1: 0, inf: 0}}, [2]float64{0.1, 0})
	tg.mu.Unlock()
	a.ScrapeOnce(context.Background())
	for _, s := range a.Stats() {
		if s.Service == "order-service" && (s.ErrorRatePercent != nil || s.P95LatencyMS != nil) {
			t.Errorf("after a counter reset the first scrape has no window yet: %+v", s)
		}
	}
}

// TestNoQuantileWithoutTraffic: no requests in the window means no latency
// series, not 0.
func TestNoQuantileWithoutTraffic(t *testing.T) {
	tg := mustTarget(t)
	inf := math.Inf(1)
	tg.body = exposition(1, 10, 0, [2]map[float64]float64{{0.1: 5, inf: 10}, {0.1: 0, inf: 0}}, [2]float64{0.5, 0})
	a, _ := mustAggregator(t, []aggregator.Target{{Service: "s", URL: tg.srv.URL, Requests: "order_http_requests_total",
		Duration: "order_http_request_duration_seconds"}}, time.Now)
	a.ScrapeOnce(context.Background())
	a.ScrapeOnce(context.Background())
	s := a.Stats()[0]
	if s.P95LatencyMS != nil || s.LatencyMS != nil || s.ErrorRatePercent != nil {
		t.Errorf("idle window reported %+v", s)
	}
}

// TestScrapeTimeout: a scrape may take longer than the interval when
// Options.Timeout allows it (the service stays up and gets its window);
// one that outlasts the timeout marks the service down.
func TestScrapeTimeout(t *testing.T) {
	inf := math.Inf(1)
	tg := mustTarget(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // six intervals
		tg.srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	target := aggregator.Target{Service: "order-service", URL: slow.URL,
		Requests: "order_http_requests_total", Duration: "order_http_request_duration_seconds"}
	for _, tc := range []struct {
		timeout time.Duration
		up      bool
	}{{10 * time.Second, true}, {100 * time.Millisecond, false}} {
		tel := telemetrytest.MustNew(t)
		a, err := aggregator.New(aggregator.Options{Targets: func() []aggregator.Target { return []aggregator.Target{target} },
			Meter: tel.Meter("test"), Interval: 50 * time.Millisecond, Timeout: tc.timeout})
		if err != nil {
			t.Fatal(err)
		}
		tg.mu.Lock()
		tg.body = exposition(1, 10, 0, [2]map[float64]float64{{0.1: 5, inf: 10}, {0.1: 0, inf: 0}}, [2]float64{0.5, 0})
		tg.mu.Unlock()
		a.ScrapeOnce(context.Background())
		tg.mu.Lock()
		tg.body = exposition(1, 20, 0, [2]map[float64]float64{{0.1: 9, inf: 20}, {0.1: 0, inf: 0}}, [2]float64{0.9, 0})
		tg.mu.Unlock()
		a.ScrapeOnce(context.Background())
		up := telemetrytest.Value(t, tel.Registry, "service_up", map[string]string{"service": "order-service"}) == 1
		windowed := telemetrytest.Count(t, tel.Registry, "service_p95_latency_ms") == 1
		if up != tc.up || windowed != tc.up {
			t.Errorf("timeout %s, scrapes of 300 ms: up %v, p95 %v; want %v", tc.timeout, up, windowed, tc.up)
		}
	}
}
