// Package telemetrytest reads metrics by value in tests, from a fresh
// telemetry pipeline or any Prometheus gatherer.
package telemetrytest

import (
	"net/http"

	"context"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// MustNew builds a telemetry pipeline that ignores the environment (no
// OTLP export), shut down at cleanup.
func MustNew(tb testing.TB, opts ...func(*telemetry.Options)) *telemetry.Telemetry {
	tb.Helper()
	o := telemetry.Options{ServiceName: "test-service", Getenv: func(string) string { return "" }}
	for _, f := range opts {
		f(&o)
	}
	tel, err := telemetry.New(context.Background(), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

// Value sums the series of family name whose labels include match: the
// value of counters and gauges, the sample count of histograms. A family
// that does not exist yet is 0.
func Value(tb testing.TB, g prometheus.Gatherer, name string, match map[string]string) float64 {
	tb.Helper()
	var sum float64
	for _, m := range series(tb, g, name, match) {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

// Count is the number of series of family name.
func Count(tb testing.TB, g prometheus.Gatherer, name string) int {
	tb.Helper()
	return len(series(tb, g, name, nil))
}

func series(tb testing.TB, g prometheus.Gatherer, name string, match map[string]string) []*dto.Metric {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range match {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// Scrape fetches a /metrics URL in the text format and returns it as a
// Gatherer, so Value and Count work on a live process too.
func Scrape(tb testing.TB, url string) prometheus.Gatherer {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape %s: status %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("parse %s: %v", url, err)
	}
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		out := make([]*dto.MetricFamily, 0, len(fams))
		for _, f := range fams {
			out = append(out, f)
		}
		return out, nil
	})
}

// ContractNames are metric names reference 002 fixes that client_golang's
// linter objects to (a gauge named *_count). CloudCart keeps the contract
// and documents it in docs/metrics.md; Lint ignores exactly these.
var ContractNames = map[string]bool{
	"low_stock_products_count": true,
	"total_users_count":        true,
	"active_users_count":       true,
	"admin_users_count":        true,
}

// Lint runs client_golang's metric linter over g and fails tb for every
// problem outside ContractNames.
func Lint(tb testing.TB, g prometheus.Gatherer) {
	tb.Helper()
	problems, err := testutil.GatherAndLint(g)
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range problems {
		if !ContractNames[p.Metric] {
			tb.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}
