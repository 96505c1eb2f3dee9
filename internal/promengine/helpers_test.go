package promengine_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	apiv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/cloudcart/cloudcart/internal/promengine"
)

// Test timing: short intervals keep the package fast; waits are generous
// because CI machines are small (2 cores) and tests run in parallel.
const (
	testInterval = 200 * time.Millisecond
	waitTimeout  = time.Minute
)

// target is a real client_golang registry served over HTTP (OpenMetrics
// enabled, so exemplars are exposed), standing in for a CloudCart service.
type target struct {
	srv      *httptest.Server
	requests prometheus.Counter
	latency  prometheus.Histogram
	trigger  prometheus.Gauge
}

// mustTarget starts a target on 127.0.0.1:0 with requests_total = 5
// (exemplar trace_id=abc123) and one 0.3s latency observation (exemplar
// trace_id=def456).
func mustTarget(tb testing.TB) *target {
	tb.Helper()
	reg := prometheus.NewRegistry()
	t := &target{
		requests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cloudcart_test_requests_total",
			Help: "Requests handled by the test target.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cloudcart_test_request_duration_seconds",
			Help:    "Request latency of the test target.",
			Buckets: []float64{0.1, 0.5, 1},
		}),
		trigger: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cloudcart_test_alert_trigger",
			Help: "Set to 1 to make the test alert's expression true.",
		}),
	}
	reg.MustRegister(t.requests, t.latency, t.trigger)
	t.requests.(prometheus.ExemplarAdder).AddWithExemplar(5, prometheus.Labels{"trace_id": "abc123"})
	t.latency.(prometheus.ExemplarObserver).ObserveWithExemplar(0.3, prometheus.Labels{"trace_id": "def456"})

	// httptest servers listen on 127.0.0.1:0.
	t.srv = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	tb.Cleanup(t.srv.Close)
	return t
}

// addr is the target's host:port, as it appears in the instance label.
func (t *target) addr() string { return strings.TrimPrefix(t.srv.URL, "http://") }

// testConfig is a prometheus.yml scraping targets under job "test-target"
// every testInterval and loading ruleFiles.
func testConfig(ruleFiles []string, targets ...*target) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", model.Duration(testInterval), model.Duration(testInterval))
	if len(ruleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range ruleFiles {
			fmt.Fprintf(&b, "  - %q\n", f)
		}
	}
	if len(targets) > 0 {
		b.WriteString("scrape_configs:\n  - job_name: test-target\n    static_configs:\n      - targets:\n")
		for _, t := range targets {
			fmt.Fprintf(&b, "          - %q\n", t.addr())
		}
	}
	return []byte(b.String())
}

// mustWriteFile writes content to name inside dir and returns the path.
func mustWriteFile(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// running is an engine under test: Run in a goroutine, Handler served on
// 127.0.0.1:0.
type running struct {
	engine  *promengine.Engine
	dataDir string
	url     string
	api     apiv1.API
	srv     *httptest.Server
	cancel  context.CancelFunc
	done    chan error
}

// mustStart builds an engine from opts (a fresh DataDir unless set), runs it
// and waits until it is ready. The engine is stopped at test cleanup unless
// the test stops it first.
func mustStart(tb testing.TB, opts promengine.Options, tweak ...func(*promengine.Engine)) *running {
	tb.Helper()
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(tb.TempDir(), "prometheus")
	}
	e, err := promengine.New(opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	for _, f := range tweak {
		f(e)
	}
	r := &running{engine: e, dataDir: opts.DataDir, done: make(chan error, 1)}
	r.srv = httptest.NewServer(e.Handler())
	r.url = r.srv.URL

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- e.Run(ctx) }()
	tb.Cleanup(func() { r.stop(tb) })

	client, err := api.NewClient(api.Config{Address: r.url})
	if err != nil {
		tb.Fatal(err)
	}
	r.api = apiv1.NewAPI(client)

	deadline := time.Now().Add(waitTimeout)
	for !e.Ready() {
		select {
		case err := <-r.done:
			r.done <- err
			tb.Fatalf("Run returned before ready: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatal("engine not ready in time")
		}
	}
	return r
}

// stop cancels Run and requires it to return nil. Safe to call twice.
func (r *running) stop(tb testing.TB) {
	tb.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			tb.Errorf("Run: %v", err)
		}
	case <-time.After(waitTimeout):
		tb.Error("Run did not return after cancel")
	}
	r.srv.Close()
}

// eventually polls cond until it returns "" (met) or the timeout passes;
// then it fails with cond's last explanation.
func eventually(tb testing.TB, timeout time.Duration, cond func() string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %s: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// instant runs query at ts and returns its single sample value, or an
// explanation of why there is not exactly one.
func instant(ctx context.Context, a apiv1.API, query string, ts time.Time) (float64, string) {
	v, _, err := a.Query(ctx, query, ts)
	if err != nil {
		return 0, fmt.Sprintf("query %s: %v", query, err)
	}
	vec, ok := v.(model.Vector)
	if !ok || len(vec) != 1 {
		return 0, fmt.Sprintf("query %s: want one sample, got %v", query, v)
	}
	return float64(vec[0].Value), ""
}

// waitValue waits until query evaluates to want at "now".
func waitValue(tb testing.TB, a apiv1.API, query string, want float64) {
	tb.Helper()
	eventually(tb, waitTimeout, func() string {
		got, why := instant(context.Background(), a, query, time.Now())
		if why != "" {
			return why
		}
		if got != want {
			return fmt.Sprintf("%s = %v, want %v", query, got, want)
		}
		return ""
	})
}
