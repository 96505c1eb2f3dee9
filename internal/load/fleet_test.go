package load_test

import (
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/load"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
	"github.com/cloudcart/cloudcart/internal/users"
)

// mustFleet runs the real fleet in-process on free loopback ports, with
// `cloudcart run`'s payment latency (20–50 ms) and 2% declined (four times
// its default, so failed orders are sure to show), and waits
// until every service is ready.
func mustFleet(tb testing.TB) *fleet.Fleet {
	tb.Helper()
	ports := map[string]int{}
	for _, p := range fleet.Planned {
		ports[p.Name] = 0
	}
	return fleettest.Start(tb, fleet.Config{
		DataDir: tb.TempDir(), Bind: "127.0.0.1", Ports: ports, Version: "test", AllInOne: true,
		Products: fleet.ProductsConfig{SeedSize: 300},
		Orders: fleet.OrdersConfig{PaymentLatency: 20 * time.Millisecond, PaymentJitter: 30 * time.Millisecond,
			PaymentFailureRate: 0.02},
		Users: fleet.UsersConfig{BcryptCost: users.MinBcryptCost},
		// bcrypt under the race detector on a busy 2-core box can take
		// seconds; a login must not become the gateway's 504.
		Gateway: fleet.GatewayConfig{UpstreamTimeout: 30 * time.Second},
	})
}

// TestLoadOnTheFleet drives the real fleet through its gateway for 5 s at
// 20 journeys a second: every journey runs, nothing answers 5xx, the
// generator sends nothing the API refuses, the gateway counted at least
// every request the generator sent, and the only failed orders are the
// payments the simulated provider declined.
func TestLoadOnTheFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the fleet for 5 s")
	}
	f := mustFleet(t)
	gw, orders := f.URL("gateway"), f.URL("orders")
	gwBefore := telemetrytest.Scrape(t, gw+"/metrics")
	ordersBefore := telemetrytest.Scrape(t, orders+"/metrics")

	// Logins are bcrypt, seconds each under the race detector on a busy
	// machine: two users, and time for journeys waiting on them to finish.
	g := mustGenerator(t, load.Config{Target: gw, Rate: 20, Duration: 5 * time.Second, Users: 2,
		ThinkTime: 100 * time.Millisecond, Seed: 1, Grace: time.Minute})
	sum := mustRun(t, g)
	t.Logf("%d journeys, %d requests, p50 %s p99 %s; %d orders, %d cancelled, %d declined, %d skipped, %d conflicts, %d rate-limited",
		sum.JourneysStarted, sum.Requests, sum.Latency.P50, sum.Latency.P99, sum.OrdersPlaced, sum.OrdersCancelled,
		sum.Declined, sum.OrdersSkipped, sum.Conflicts, sum.RateLimited)

	if sum.Arrivals != 100 || sum.Dropped != 0 {
		t.Errorf("arrivals %d dropped %d, want 100 and none", sum.Arrivals, sum.Dropped)
	}
	for _, name := range load.JourneyNames() {
		if j := sum.Journeys[name]; j.Completed == 0 {
			t.Errorf("journey %s: %+v", name, j)
		}
	}
	if sum.Errors != 0 || sum.ClientErrors != 0 {
		t.Errorf("errors %d (%v), unexpected 4xx %d; statuses %v", sum.Errors, sum.ErrorsByStatus, sum.ClientErrors, sum.Statuses)
	}
	if sum.JourneysFailed > sum.RateLimited {
		t.Errorf("%d journeys failed, %d answers 429", sum.JourneysFailed, sum.RateLimited)
	}
	if sum.OrdersPlaced == 0 {
		t.Error("no order placed")
	}

	delta := func(before, after float64) float64 { return after - before }
	mustEventually(t, 10*time.Second, "the gateway counting every request", func() bool {
		after := telemetrytest.Scrape(t, gw+"/metrics")
		return delta(telemetrytest.Value(t, gwBefore, "http_requests_total", nil),
			telemetrytest.Value(t, after, "http_requests_total", nil)) >= float64(sum.Requests)
	})
	gwAfter := telemetrytest.Scrape(t, gw+"/metrics")
	for _, st := range []string{"500", "502", "503", "504"} {
		if d := delta(telemetrytest.Value(t, gwBefore, "http_requests_total", map[string]string{"status": st}),
			telemetrytest.Value(t, gwAfter, "http_requests_total", map[string]string{"status": st})); d != 0 {
			t.Errorf("the gateway answered %v × %s", d, st)
		}
	}
	failure := map[string]string{"status": "failure"}
	ordersAfter := telemetrytest.Scrape(t, orders+"/metrics")
	if d := delta(telemetrytest.Value(t, ordersBefore, "orders_processed_total", failure),
		telemetrytest.Value(t, ordersAfter, "orders_processed_total", failure)); d != float64(sum.Declined) {
		t.Errorf("orders_processed_total{status=failure} moved by %v, the generator saw %d declined payments and nothing else fail",
			d, sum.Declined)
	}
}
