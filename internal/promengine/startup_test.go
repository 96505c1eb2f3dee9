package promengine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cloudcart/cloudcart/internal/promengine"
)

// hourlyConfig scrapes targets once an hour: upstream's jitter would delay
// each target's first scrape by a random part of that hour.
func hourlyConfig(targets ...*target) []byte {
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs:\n  - job_name: test-target\n    static_configs:\n      - targets:\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "          - %q\n", t.addr())
	}
	b.WriteString("  - job_name: other\n    scrape_interval: 30m\n    static_configs:\n      - targets:\n")
	fmt.Fprintf(&b, "          - %q\n", targets[0].addr())
	return []byte(b.String())
}

// TestFirstScrapeAtOnce: every target is scraped as soon as it is
// discovered, whatever its interval; with upstream's jitter offset, a
// target scraped hourly would first be scraped at a random point of the
// hour (this test would then pass with a chance of a few in a thousand).
func TestFirstScrapeAtOnce(t *testing.T) {
	t.Parallel()
	targets := []*target{mustTarget(t), mustTarget(t), mustTarget(t)}
	r := mustStart(t, promengine.Options{Config: hourlyConfig(targets...)})
	waitValue(t, r.api, `count(up{job="test-target"} == 1)`, float64(len(targets)))
	waitValue(t, r.api, `up{job="other"}`, 1)
	waitValue(t, r.api, `sum(cloudcart_test_requests_total)`, 5*float64(len(targets)+1))
}

// BenchmarkStartToTargetsUp measures the time from Run to every target's
// first scrape, on the production profile's 15 s interval with the fleet's
// eight targets (docs/benchmarks.md, "Start-up").
//
//	go test -run '^$' -bench BenchmarkStartToTargetsUp -benchtime 5x ./internal/promengine/
func BenchmarkStartToTargetsUp(b *testing.B) {
	targets := make([]*target, 8)
	for i := range targets {
		targets[i] = mustTarget(b)
	}
	cfg := strings.Replace(string(testConfig(nil, targets...)), model.Duration(testInterval).String(), "15s", 2)
	var total, worst time.Duration
	for b.Loop() {
		start := time.Now()
		r := mustStart(b, promengine.Options{Config: []byte(cfg)})
		eventually(b, time.Minute, func() string { // longer than the 15 s jitter bound
			got, why := instant(context.Background(), r.api, `count(up == 1)`, time.Now())
			if why == "" && got != float64(len(targets)) {
				why = fmt.Sprintf("%v of %d targets up", got, len(targets))
			}
			return why
		})
		d := time.Since(start)
		total, worst = total+d, max(worst, d)
		r.stop(b)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-all-up")
	b.ReportMetric(float64(worst.Milliseconds()), "ms-worst")
}
