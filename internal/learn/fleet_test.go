package learn_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/learn"
	"github.com/cloudcart/cloudcart/internal/users"
)

const testChaosToken = "learn-test-chaos-token-0123456789"

// TestLessonsOnAFleet walks the whole path on a fresh in-process fleet
// with the embedded engine (demo profile, as `cloudcart run` starts): for
// each lesson in order, every check is first run on the engine (it must be
// valid PromQL or a working API path), then the lesson's own requests are
// made, and the test waits until every check passes. A lesson whose
// actions cannot make its checks pass fails here.
func TestLessonsOnAFleet(t *testing.T) {
	ports := map[string]int{}
	for _, p := range fleet.Planned {
		ports[p.Name] = 0
	}
	f := fleettest.Start(t, fleet.Config{
		DataDir: t.TempDir(), Bind: "127.0.0.1", Ports: ports, Version: "test", AllInOne: true,
		Products:   fleet.ProductsConfig{SeedSize: 300},
		Users:      fleet.UsersConfig{BcryptCost: users.MinBcryptCost},
		Chaos:      fleet.ChaosConfig{Token: testChaosToken},
		Gateway:    fleet.GatewayConfig{UpstreamTimeout: 30 * time.Second},
		Prometheus: &fleet.PrometheusConfig{Profile: fleet.DemoProfile},
	})
	r := &learn.Runner{BaseURL: f.URL, EngineURL: f.URL("prometheus"), ChaosToken: testChaosToken}
	ctx := context.Background()

	for _, l := range learn.Lessons {
		t.Run(l.ID, func(t *testing.T) {
			for _, c := range l.Checks {
				if _, err := r.Passes(ctx, c); err != nil {
					t.Fatalf("check %q does not run on the engine: %v", c.Description, err)
				}
			}
			for _, a := range l.Actions {
				if !a.HTTP() {
					continue
				}
				res, err := r.Do(ctx, a)
				if err != nil {
					t.Fatalf("action %q: %v", a.Label, err)
				}
				t.Logf("%s → %d %s", a.Label, res.Status, res.Counts)
				if a.Repeat <= 1 && !(a.Expect == 0 && res.Status/100 == 2) && res.Status != a.Expect {
					t.Fatalf("action %q answered %d, want %s: %s", a.Label, res.Status, expected(a), res.Body)
				}
			}
			// Alerts need their window and `for` (10 s in the demo
			// profile); the rest need a scrape or two.
			deadline := time.Now().Add(2 * time.Minute)
			for _, c := range l.Checks {
				for {
					ok, err := r.Passes(ctx, c)
					if err != nil {
						t.Fatalf("check %q: %v", c.Description, err)
					}
					if ok {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("check %q still fails 2 minutes after the lesson's actions: %s", c.Description, c.Query+c.API)
					}
					time.Sleep(500 * time.Millisecond)
				}
			}
		})
	}
}

func expected(a learn.Action) string {
	if a.Expect == 0 {
		return "2xx"
	}
	return fmt.Sprint(a.Expect)
}
