package fleet_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/users"
)

// mustFleet builds and runs the real wiring in-process on free ports.
func mustFleet(tb testing.TB) *fleet.Fleet {
	tb.Helper()
	return mustFleetConfig(tb)
}

func mustFleetConfig(tb testing.TB, opts ...func(*fleet.Config)) *fleet.Fleet {
	tb.Helper()
	ports := map[string]int{}
	for _, p := range fleet.Planned {
		ports[p.Name] = 0
	}
	cfg := fleet.Config{DataDir: tb.TempDir(), Bind: "127.0.0.1", Ports: ports, Version: "test", AllInOne: true,
		Products: fleet.ProductsConfig{SeedSize: 300},
		Users:    fleet.UsersConfig{BcryptCost: users.MinBcryptCost, AdminEmail: testAdminEmail, AdminPassword: testAdminPassword},
		// bcrypt under the race detector on a busy 2-core box can take
		// seconds; a login must not become the gateway's 504.
		Gateway: fleet.GatewayConfig{UpstreamTimeout: 30 * time.Second}}
	eventsDefaults(tb, &cfg)
	cfg.ServiceToken = testServiceToken
	for _, o := range opts {
		o(&cfg)
	}
	return fleettest.Start(tb, cfg)
}

// testServiceToken is the service credential of the tests' fleets.
const testServiceToken = "fleet-test-service-token-0123456789abcdef"

// asService sends req with the fleet's service credential: the tests'
// direct calls to the services act as an internal caller (docs/security.md).
func asService(tb testing.TB, req *http.Request) *http.Response {
	tb.Helper()
	req.Header.Set(authn.HeaderServiceToken, testServiceToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return resp
}

func post(tb testing.TB, url, body string) int {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp := asService(tb, req)
	resp.Body.Close()
	return resp.StatusCode
}

func get(tb testing.TB, url string) int {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp := asService(tb, req)
	resp.Body.Close()
	return resp.StatusCode
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
			fams, err := u.Telemetry.Registry.Gather()
			if err != nil {
				t.Fatal(err)
			}
			checkDocumented(t, u.Service.ServiceName, docsFor(docs, u.Service.ServiceName), fams)
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
