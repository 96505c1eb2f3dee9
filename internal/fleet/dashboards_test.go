package fleet_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	yaml "go.yaml.in/yaml/v3"

	"github.com/cloudcart/cloudcart/internal/dashboards"
	"github.com/cloudcart/cloudcart/internal/fleet"
)

// dashboardVars is what the test puts in place of Grafana's variables:
// builtins get plausible values, every template variable (job, topic,
// category, ...) its "All" value.
var dashboardVars = map[string]string{"__rate_interval": "1m", "__range": "5m", "__interval": "15s"}

// readDashboardQueries extracts every panel query of the committed
// dashboards, the files Grafana provisions.
func readDashboardQueries(tb testing.TB) []dashboards.Query {
	tb.Helper()
	files, err := filepath.Glob("../../deploy/grafana/dashboards/*.json")
	if err != nil || len(files) < 5 {
		tb.Fatalf("dashboards: %v, %d files; run go run ./cmd/cloudcart dashboards generate", err, len(files))
	}
	var out []dashboards.Query
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		qs, err := dashboards.QueriesFromJSON(b)
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		out = append(out, qs...)
	}
	return out
}

// TestUnknownMetricIsReported: the check above catches a misspelt metric
// and a metric of the references that CloudCart renamed.
func TestUnknownMetricIsReported(t *testing.T) {
	known := map[string]bool{"orders_processed_total": true, "job:http_requests:rate5m": true, "up": true}
	p := parser.NewParser(parser.Options{})
	for expr, want := range map[string][]string{
		`sum(rate(orders_processed_total[1m])) / job:http_requests:rate5m`:        nil,
		`rate(orders_procesed_total[1m])`:                                         {"orders_procesed_total"},
		`notification_kafka_consumer_lag_seconds > 30 or up == 0`:                 {"notification_kafka_consumer_lag_seconds"},
		`{__name__="database_connection_time_seconds"} > 2`:                       {"database_connection_time_seconds"},
		`count({__name__=~"orders_.*"})`:                                          {`{__name__=~"orders_.*"}`},
		`histogram_quantile(0.95, sum by (le) (rate(gone_seconds_bucket[5m])))`:   {"gone_seconds_bucket"},
		`label_replace(vector(1), "a", "b", "", "") * on () group_left () up > 0`: nil,
	} {
		e, err := p.ParseExpr(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := unknownMetrics(e, known); !slices.Equal(got, want) {
			t.Errorf("%s: unknown %q, want %q", expr, got, want)
		}
	}
}

// unknownMetrics returns the metric names a query selects that are not in
// known; a selector by a regex over __name__ cannot be checked and is
// reported too.
func unknownMetrics(e parser.Expr, known map[string]bool) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name != model.MetricNameLabel {
				continue
			}
			if m.Type != labels.MatchEqual {
				out = append(out, vs.String())
				return nil
			}
			name = m.Value
		}
		if !known[name] {
			out = append(out, name)
		}
		return nil
	})
	return out
}

// knownMetrics is every series name the fleet can have: the families of
// every service's registry (with the _bucket, _sum and _count series of
// histograms and summaries), the recording rules of
// deploy/prometheus/rules, and what Prometheus itself adds to scrapes and
// alerts.
func knownMetrics(tb testing.TB, f *fleet.Fleet) map[string]bool {
	tb.Helper()
	known := map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true,
		"scrape_samples_post_metric_relabeling": true, "scrape_series_added": true, "ALERTS": true, "ALERTS_FOR_STATE": true}
	for _, u := range f.Units() {
		if u.Telemetry == nil {
			continue
		}
		fams, err := u.Telemetry.Registry.Gather()
		if err != nil {
			tb.Fatal(err)
		}
		for _, fam := range fams {
			known[fam.GetName()] = true
			switch fam.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					known[fam.GetName()+s] = true
				}
			case dto.MetricType_SUMMARY:
				known[fam.GetName()+"_sum"], known[fam.GetName()+"_count"] = true, true
			}
		}
	}
	rules, err := filepath.Glob("../../deploy/prometheus/rules/*.yml")
	if err != nil || len(rules) == 0 {
		tb.Fatalf("rule files: %v", err)
	}
	for _, path := range rules {
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		var file struct {
			Groups []struct {
				Rules []struct{ Record string }
			}
		}
		if err := yaml.Unmarshal(b, &file); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		for _, g := range file.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					known[r.Record] = true
				}
			}
		}
	}
	if len(known) < 100 || !known["job:http_requests:rate5m"] {
		tb.Fatalf("only %d known metrics", len(known))
	}
	return known
}

// withoutDataGuard is e without the SLO dashboard's data-coverage guard,
// `(expr) and on() (time() - min(min_over_time(process_start_time_seconds{...}[w])) >= n)`;
// any other expression unchanged.
func withoutDataGuard(e parser.Expr) parser.Expr {
	b, ok := e.(*parser.BinaryExpr)
	if !ok || b.Op != parser.LAND || !strings.Contains(b.RHS.String(), "process_start_time_seconds") {
		return e
	}
	if p, ok := b.LHS.(*parser.ParenExpr); ok {
		return p.Expr
	}
	return b.LHS
}
