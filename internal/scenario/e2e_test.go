package scenario_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/load"
	"github.com/cloudcart/cloudcart/internal/scenario"
	"github.com/cloudcart/cloudcart/internal/users"
)

const (
	testChaosToken    = "test-chaos-token-0123456789"
	testAdminEmail    = "admin@example.com"
	testAdminPassword = "admin-password-0123"
	// baseline is how long a healthy fleet under background load must page
	// nobody.
	baseline = 60 * time.Second
)

// mustFleet runs every service and the embedded Prometheus (demo profile)
// in-process on free ports, configured as `cloudcart run` is by default
// (the simulated payment provider's latency included) but with 2% of
// payments declined, four times the default: the healthy baseline must not
// page even so,
// with an admin account, and waits until every service is ready.
func mustFleet(tb testing.TB) *fleet.Fleet {
	tb.Helper()
	ports := map[string]int{}
	for _, p := range fleet.Planned {
		ports[p.Name] = 0
	}
	cfg := fleet.Config{DataDir: tb.TempDir(), Bind: "127.0.0.1", Ports: ports, Version: "test", AllInOne: true,
		Products: fleet.ProductsConfig{SeedSize: 300},
		Orders: fleet.OrdersConfig{Workers: 4, QueueSize: 256, PaymentLatency: 20 * time.Millisecond,
			PaymentJitter: 30 * time.Millisecond, PaymentFailureRate: 0.02,
			ShipAfter: 5 * time.Second, DeliverAfter: 10 * time.Second, PendingTimeout: 30 * time.Second,
			DemoEndpoints: true}, // as under `cloudcart run`: error-spike posts /simulate anonymously
		// bcrypt under the race detector on a busy 2-core box can take
		// seconds; a login must not become the gateway's 504.
		Users:      fleet.UsersConfig{BcryptCost: users.MinBcryptCost, AdminEmail: testAdminEmail, AdminPassword: testAdminPassword},
		Gateway:    fleet.GatewayConfig{UpstreamTimeout: 30 * time.Second},
		Chaos:      fleet.ChaosConfig{Token: testChaosToken},
		Prometheus: &fleet.PrometheusConfig{Profile: fleet.DemoProfile},
	}
	return fleettest.Start(tb, cfg)
}

// backgroundLoad is `cloudcart run`'s default background load (--load.rate
// 2, --load.users 5, --load.think-time 1s), until the test ends.
func backgroundLoad(tb testing.TB, gateway string) {
	tb.Helper()
	g, err := load.New(load.Config{Target: gateway, Rate: 2, Users: 5, ThinkTime: time.Second, Seed: 1, Grace: -1})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _, _ = g.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
}

// TestScenariosEndToEnd boots the whole fleet with the embedded Prometheus
// on the demo profile and `cloudcart run`'s background load. For a first
// minute the fleet is healthy: no page-severity alert may fire (no false
// positives). Then every scenario runs, in `cloudcart scenario all`'s
// order: its alert must fire, its notification reach the notification
// worker, and the alert resolve after the restore. The timelines are
// logged; deadlines are failure bounds, not assertions about speed.
func TestScenariosEndToEnd(t *testing.T) {
	f := mustFleet(t)
	backgroundLoad(t, f.URL("gateway"))

	t.Run("healthy baseline pages nobody", func(t *testing.T) {
		c, err := promapi.NewClient(promapi.Config{Address: f.URL("prometheus")})
		if err != nil {
			t.Fatal(err)
		}
		api := promv1.NewAPI(c)
		paged := map[string]bool{}
		for end := time.Now().Add(baseline); time.Now().Before(end); time.Sleep(time.Second) {
			res, err := api.Alerts(context.Background())
			if err != nil {
				t.Fatalf("alerts API: %v", err)
			}
			for _, a := range res.Alerts {
				if a.Labels["severity"] != "page" {
					continue
				}
				key := string(a.State) + " " + a.Labels.String()
				if !paged[key] {
					paged[key] = true
					if a.State == promv1.AlertStateFiring {
						t.Errorf("a healthy fleet pages: %s (value %s)", a.Labels, a.Value)
					} else {
						t.Logf("pending, not firing: %s (value %s)", a.Labels, a.Value)
					}
				}
			}
		}
	})
	if t.Failed() {
		t.FailNow() // the scenarios could not tell their alerts from the noise
	}

	var (
		mu   sync.Mutex
		live []scenario.Event // as the runner printed them
	)
	r, err := scenario.New(scenario.Config{
		Observe: func(_ scenario.Scenario, e scenario.Event) { mu.Lock(); live = append(live, e); mu.Unlock() },
		Gateway: f.URL("gateway"), Prometheus: f.URL("prometheus"), Chaos: f.URL("chaos"),
		Notifier: f.URL("notifier"), Orders: f.URL("orders"), ChaosToken: testChaosToken,
		AdminEmail: testAdminEmail, AdminPassword: testAdminPassword,
		Timeout: 4 * time.Minute, ResolveTimeout: 4 * time.Minute,
		LoadRate: 0, // the background load is running
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenario.All("") {
		t.Run(sc.Name, func(t *testing.T) {
			mu.Lock()
			live = nil
			mu.Unlock()
			res := r.Run(context.Background(), sc)
			// What `cloudcart scenario` prints live is the table: the same
			// steps, times and words, in time order.
			mu.Lock()
			if a, b := fmt.Sprint(live), fmt.Sprint(res.Events); a != b {
				t.Errorf("%s: observed live\n%s\nthe timeline\n%s", sc.Name, a, b)
			}
			mu.Unlock()
			var b strings.Builder
			if err := scenario.WriteTimeline(&b, res); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s\n%s", sc.Cause, b.String())
			if !res.Passed {
				t.Fatalf("%s: %s", sc.Name, res.Error)
			}
			for _, step := range []string{scenario.StepCause, scenario.StepFiring, scenario.StepNotification, scenario.StepRestored, scenario.StepResolved} {
				if _, ok := res.Event(step); !ok {
					t.Errorf("%s: no %q in the timeline", sc.Name, step)
				}
			}
			n, _ := res.Event(scenario.StepNotification)
			if !strings.Contains(n.Detail, sc.Expect.Name) || !strings.Contains(n.Detail, "("+sc.Severity+",") {
				t.Errorf("%s: notification %q is not of %s (%s)", sc.Name, n.Detail, sc.Expect, sc.Severity)
			}
		})
	}
}
