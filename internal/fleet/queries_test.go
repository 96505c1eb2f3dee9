package fleet_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/cloudcart/cloudcart/internal/dashboards"
	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

type refQuery struct{ ref, expr, service string }

var queryRowRe = regexp.MustCompile("^\\| ([0-9§ ]+) \\| `(.+)` \\| ([a-z-]+) \\|$")

func readQueries(tb testing.TB) []refQuery {
	tb.Helper()
	f, err := os.Open("../../docs/queries.md")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []refQuery
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := queryRowRe.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, refQuery{m[1], m[2], m[3]})
		}
	}
	if len(out) < 50 {
		tb.Fatalf("read %d queries from docs/queries.md; the table format changed?", len(out))
	}
	return out
}

// TestDashboardQueries runs every panel query of every dashboard against
// the embedded engine after a short load of the whole fleet and requires
// an answer; a query naming a metric that no service exposes and no rule
// records fails even before that.
func TestDashboardQueries(t *testing.T) {
	queries := readDashboardQueries(t)
	p := parser.NewParser(parser.Options{})
	exprs := make([]parser.Expr, len(queries))
	for i, q := range queries {
		e, err := p.ParseExpr(dashboards.Expand(q.Expr, dashboardVars, ".*"))
		if err != nil {
			t.Fatalf("%s: does not parse: %v", q, err)
		}
		exprs[i] = e
	}

	f := sharedFleetWithPrometheus(t)
	orders := f.URL("orders")
	edge := edgeTraffic(t, f)
	commerce := commerceTraffic(t, f)
	events := eventTraffic(t, f)
	load := func() {
		post(t, orders+"/simulate?count=20&error_rate=0.2", "")
		post(t, orders+"/orders", `{"customer":"x","items":[]}`)
		edge()
		commerce()
		events()
	}
	load()

	api := mustPromAPI(t, f.URL("prometheus"))
	for i, q := range queries {
		t.Run(q.Dashboard+"/"+q.Panel+"/"+q.RefID, func(t *testing.T) {
			// An SLO panel answers only once its window holds enough
			// data (dashboards.NotEnoughData), which a fleet of minutes
			// never has: its value, without that guard, must have data.
			expr := withoutDataGuard(exprs[i]).String()
			mustEventually(t, 30*time.Second, q.String(), func() bool {
				v, _, err := api.Query(context.Background(), expr, time.Now())
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				if nonEmpty(v) {
					return true
				}
				load() // keep rates above zero across the window
				return false
			})
		})
	}

	// Gathered after the load: some families appear with their first use.
	known := knownMetrics(t, f)
	for i, q := range queries {
		if unknown := unknownMetrics(exprs[i], known); len(unknown) > 0 {
			t.Errorf("%s: no service exposes and no rule records %q", q, unknown)
		}
	}
}

// TestEngineStoresNativeHistograms runs the fleet with the default
// --telemetry.histograms=both and the embedded engine's generated config,
// drives the traffic that creates every documented series, and checks in
// the engine's TSDB, for every histogram of docs/metrics.md in every
// service: the classic _bucket series are there as before, the _native
// twin is stored as native-histogram samples (not as a one-bucket classic
// histogram, which a text scrape would make of it), and the gateway's
// native latency histogram carries exemplars that name a trace.
func TestEngineStoresNativeHistograms(t *testing.T) {
	f := sharedFleetWithPrometheus(t)
	orders := f.URL("orders")
	post(t, orders+"/simulate?count=20&error_rate=0.5", "")
	post(t, orders+"/orders", `{"customer":"x","items":[]}`)
	get(t, orders+"/orders")
	edgeTraffic(t, f)()
	commerceTraffic(t, f)()
	eventTraffic(t, f)()
	outboxTraffic(t, f)
	api := mustPromAPI(t, f.URL("prometheus"))
	query := func(q string) model.Vector {
		v, _, err := api.Query(context.Background(), q, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v.(model.Vector)
	}

	docs := readMetricDocs(t)
	checked := 0
	for _, u := range f.Units() {
		if u.Telemetry == nil {
			continue // the engine itself
		}
		job := u.Service.ServiceName
		var names []string
		for name, row := range docsFor(docs, job) {
			if row.typ == "histogram" && !strings.HasSuffix(name, telemetry.NativeSuffix) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			checked++
			t.Run(job+"/"+name, func(t *testing.T) {
				sel := fmt.Sprintf(`{job=%q}`, job)
				native := telemetry.NativeName(name)
				check := func() string {
					if len(query(name+"_bucket"+sel)) == 0 {
						return "no classic " + name + "_bucket series"
					}
					v := query(native + sel)
					if len(v) == 0 {
						return "no " + native + " series"
					}
					for _, s := range v {
						if s.Histogram == nil {
							return fmt.Sprintf("%s is a float sample, not a native histogram", s.Metric)
						}
					}
					return ""
				}
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
					why := check()
					if why == "" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("after 30s: %s", why)
					}
				}
				if v := query(native + "_bucket" + sel); len(v) != 0 {
					t.Errorf("%s_bucket exists (%d series): the native twin was scraped as text", native, len(v))
				}
			})
		}
	}
	if checked < 30 {
		t.Fatalf("checked %d histograms; docs/metrics.md lists more", checked)
	}

	t.Run("exemplars on native histograms", func(t *testing.T) {
		q := `http_request_duration_seconds_native{job="api-gateway"}`
		mustEventually(t, 30*time.Second, "an exemplar with a trace_id on "+q, func() bool {
			edgeTraffic(t, f)() // traced requests through the gateway
			res, err := api.QueryExemplars(context.Background(), q, time.Now().Add(-5*time.Minute), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				for _, e := range r.Exemplars {
					if len(e.Labels["trace_id"]) == 32 {
						return true
					}
				}
			}
			return false
		})
	})
}

// TestReferenceQueries runs every reference query whose service is built
// against the embedded engine after a short load, and parses the rest.
func TestReferenceQueries(t *testing.T) {
	queries := readQueries(t)
	p := parser.NewParser(parser.Options{})
	for _, q := range queries {
		if _, err := p.ParseExpr(q.expr); err != nil {
			t.Errorf("%s: %q does not parse: %v", q.ref, q.expr, err)
		}
	}
	f := sharedFleetWithPrometheus(t)
	orders := f.URL("orders")
	edge := edgeTraffic(t, f)
	commerce := commerceTraffic(t, f)
	events := eventTraffic(t, f)
	load := func() {
		post(t, orders+"/simulate?count=30&error_rate=0.2", "")
		post(t, orders+"/orders", `{"customer":"x","items":[]}`)
		get(t, orders+"/orders?limit=5")
		edge()
		commerce()
		events()
	}
	load()
	api := mustPromAPI(t, f.URL("prometheus"))
	var pending []string
	for _, q := range queries {
		if _, built := fleet.Lookup(q.service); !built {
			pending = append(pending, q.service+": "+q.expr)
			continue
		}
		t.Run(q.ref+" "+q.expr, func(t *testing.T) {
			mustEventually(t, 30*time.Second, q.expr, func() bool {
				v, _, err := api.Query(context.Background(), q.expr, time.Now())
				if err != nil {
					t.Fatalf("query: %v", err)
				}
				if nonEmpty(v) {
					return true
				}
				load() // more of what the query reads, for the next try
				return false
			})
		})
	}
	t.Logf("%d queries wait for services not built yet:\n%s", len(pending), strings.Join(pending, "\n"))
}

func nonEmpty(v model.Value) bool {
	switch v := v.(type) {
	case model.Vector:
		return len(v) > 0
	case model.Matrix:
		return len(v) > 0
	case *model.Scalar:
		return true
	}
	return false
}

func mustPromAPI(tb testing.TB, base string) promv1.API {
	tb.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: base})
	if err != nil {
		tb.Fatal(err)
	}
	return promv1.NewAPI(c)
}

func mustEventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
