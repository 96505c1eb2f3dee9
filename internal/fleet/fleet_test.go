package fleet_test

import (
	"os"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
)

// shared holds the fleet with the embedded engine that the query tests use
// together (sharedFleetWithPrometheus); it is stopped when a test asks for
// a fleet of its own (mustFleetConfig), so it never runs beside another
// fleet nor idles, scraping and evaluating, through the later tests, and
// by TestMain after the last test.
var shared fleettest.Shared

func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }

// sharedFleetWithPrometheus is the whole fleet with the embedded engine on
// the demo profile, shared (fleettest.Shared) by the tests that only query
// it and add traffic of their own: TestDashboardQueries,
// TestEngineStoresNativeHistograms and TestReferenceQueries, in that order
// in queries_test.go, so that one fleet serves the three. Each test's
// traffic only adds to the series the others wait for, and each sets the
// same chaos (eventTraffic). A test that changes the fleet (chaos of its
// own, rate limits, the disk) or asserts absolute counts starts its own.
func sharedFleetWithPrometheus(tb testing.TB) *fleet.Fleet {
	tb.Helper()
	return shared.Fleet(tb, "prometheus", func(c *fleet.Config) {
		c.Prometheus = &fleet.PrometheusConfig{Profile: fleet.DemoProfile}
	})
}

// mustFleet builds and runs the real wiring in-process on free ports.
func mustFleet(tb testing.TB) *fleet.Fleet {
	tb.Helper()
	return mustFleetConfig(tb)
}

func mustFleetConfig(tb testing.TB, opts ...func(*fleet.Config)) *fleet.Fleet {
	tb.Helper()
	if err := shared.Close(); err != nil {
		tb.Errorf("stopping the shared fleet: %v", err)
	}
	cfg := fleettest.Config(tb)
	for _, o := range opts {
		o(&cfg)
	}
	return fleettest.Start(tb, cfg)
}

func post(tb testing.TB, url, body string) int { tb.Helper(); return fleettest.Post(tb, url, body) }

func get(tb testing.TB, url string) int { tb.Helper(); return fleettest.Get(tb, url) }

// allExposed tells whether every family of docs is among fams.
func allExposed(docs map[string]docRow, fams []*dto.MetricFamily) bool {
	live := map[string]bool{}
	for _, mf := range fams {
		live[mf.GetName()] = true
	}
	for name := range docs {
		if !live[name] {
			return false
		}
	}
	return true
}

// TestMetricsAreDocumented drives every code path that creates a series
// and checks each service's live families against docs/metrics.md.
func TestMetricsAreDocumented(t *testing.T) {
	f := mustFleet(t)
	orders := f.URL("orders")
	if c := post(t, orders+"/simulate?count=20&error_rate=0.5", ""); c != 200 {
		t.Fatalf("simulate: %d", c)
	}
	post(t, orders+"/orders", `{"customer":"x","items":[]}`) // validation error
	get(t, orders+"/orders")
	edgeTraffic(t, f)()
	commerceTraffic(t, f)()
	eventTraffic(t, f)()
	outboxTraffic(t, f)
	docs := readMetricDocs(t)
	for _, u := range f.Units() {
		t.Run(u.Service.ServiceName, func(t *testing.T) {
			documented := docsFor(docs, u.Service.ServiceName)
			// Some families appear with a background loop's next round
			// (the aggregator's roll-up of what it polled): on a busy
			// machine, wait for every documented one, then check.
			var fams []*dto.MetricFamily
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
				var err error
				if fams, err = u.Telemetry.Registry.Gather(); err != nil {
					t.Fatal(err)
				}
				if allExposed(documented, fams) || time.Now().After(deadline) {
					break
				}
			}
			checkDocumented(t, u.Service.ServiceName, documented, fams)
		})
	}
}

// TestHealthEndpoints: every service answers /healthz, /readyz and
// /metrics, and a stopped fleet is no longer ready.
func TestHealthEndpoints(t *testing.T) {
	f := mustFleet(t)
	for _, u := range f.Units() {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			if c := get(t, u.Server.URL()+path); c != 200 {
				t.Errorf("%s%s: %d", u.Service.Name, path, c)
			}
		}
	}
}
