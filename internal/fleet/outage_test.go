package fleet_test

import (
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
)

// mustServe runs the named services as `cloudcart serve` does: a process
// of their own, here sharing the bus at busURL ("" makes this one's
// embedded bus listen, for the others).
func mustServe(tb testing.TB, busURL string, names ...string) *fleet.Fleet {
	tb.Helper()
	ports := map[string]int{}
	for _, n := range names {
		ports[n] = 0
	}
	cfg := fleet.Config{DataDir: tb.TempDir(), Bind: "127.0.0.1", Ports: ports, Version: "test",
		Chaos: fleet.ChaosConfig{Token: testChaosToken}, Bus: fleet.BusConfig{URL: busURL}, ServiceToken: fleettest.ServiceToken}
	if busURL == "" {
		cfg.Bus.Listen = "127.0.0.1:0"
	}
	return fleettest.Run(tb, cfg, names...)
}

// TestChaosOutage: under `cloudcart serve` (one process per service, one
// bus), the chaos fault "outage" makes the order service stop listening —
// connections refused, its /metrics unreachable as for a crashed process —
// and listen again on the same address when chaos is switched off, with
// its orders still there.
func TestChaosOutage(t *testing.T) {
	chaosProc := mustServe(t, "", "chaos")
	ordersProc := mustServe(t, chaosProc.BusURL(), "orders")
	orders := ordersProc.URL("orders")
	ready := func() bool {
		resp, err := http.Get(orders + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	mustEventually(t, 15*time.Second, "order service ready", ready)
	if c := post(t, orders+"/simulate?count=5&error_rate=0", ""); c != http.StatusOK {
		t.Fatalf("simulate: %d", c)
	}

	mustChaos(t, chaosProc, "PUT", "/chaos/targets/orders", `{"outage":true}`)
	mustChaos(t, chaosProc, "POST", "/chaos/enable", "")
	mustEventually(t, 15*time.Second, "connection refused", func() bool {
		_, err := http.Get(orders + "/metrics")
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	if u := ordersProc.URL("orders"); u != orders {
		t.Errorf("URL during the outage = %q, want %q", u, orders)
	}

	mustChaos(t, chaosProc, "POST", "/chaos/disable", "")
	mustEventually(t, 15*time.Second, "order service back on its address", ready)
	var page struct {
		Orders []struct{ ID string } `json:"orders"`
	}
	getJSONInto(t, orders+"/orders?limit=10", &page)
	if len(page.Orders) != 5 {
		t.Errorf("%d orders after the outage, want 5", len(page.Orders))
	}
}
