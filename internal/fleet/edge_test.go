package fleet_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// call sends a JSON request with an optional bearer token and decodes a
// JSON answer into out (when not nil), returning the status.
func call(tb testing.TB, method, url, tok, body string, out any) int {
	tb.Helper()
	return fleettest.Call(tb, method, url, tok, body, out)
}

// The admin every test fleet creates at start (Config.Users.AdminEmail).
const (
	testAdminEmail    = fleettest.AdminEmail
	testAdminPassword = fleettest.AdminPassword
)

// mustUser registers a new user through the gateway and logs in.
func mustUser(tb testing.TB, gw string) (email, tok string) {
	tb.Helper()
	return fleettest.MustUser(tb, gw)
}

func mustLogin(tb testing.TB, gw, email, password string) string {
	tb.Helper()
	return fleettest.MustLogin(tb, gw, email, password)
}

// mustPlaceOrder places an order of one catalog product through the
// gateway and returns its id.
func mustPlaceOrder(tb testing.TB, gw, tok string) string {
	tb.Helper()
	return fleettest.MustPlaceOrder(tb, gw, tok)
}

// TestEdgeEndToEnd is the curl walk-through of the README on the real
// wiring: register, log in, call authenticated routes of the user and
// order services through the gateway; an admin created at start lists
// users.
func TestEdgeEndToEnd(t *testing.T) {
	f := mustFleet(t)
	gw := f.URL("gateway")
	email, tok := mustUser(t, gw)

	var me struct{ ID, Email, Role string }
	if c := call(t, "GET", gw+"/api/users/me", tok, "", &me); c != http.StatusOK || me.Email != email || me.Role != "user" {
		t.Fatalf("GET /api/users/me: %d %+v", c, me)
	}
	if c := call(t, "GET", gw+"/api/users/me", "", "", nil); c != http.StatusUnauthorized {
		t.Fatalf("GET /api/users/me without a token: %d", c)
	}
	id := mustPlaceOrder(t, gw, tok)
	var o struct{ ID string }
	if c := call(t, "GET", gw+"/api/orders/"+id, tok, "", &o); c != http.StatusOK || o.ID != id {
		t.Fatalf("GET /api/orders/%s: %d", id, c)
	}
	if c := call(t, "POST", gw+"/api/orders", "", `{}`, nil); c != http.StatusUnauthorized {
		t.Fatalf("POST /api/orders without a token: %d", c)
	}
	if c := call(t, "GET", gw+"/api/users", tok, "", nil); c != http.StatusForbidden {
		t.Fatalf("GET /api/users as a user: %d", c)
	}
	var list struct{ Total int }
	if c := call(t, "GET", gw+"/api/users", mustLogin(t, gw, testAdminEmail, testAdminPassword), "", &list); c != http.StatusOK || list.Total != 2 {
		t.Fatalf("GET /api/users as admin: %d, %d users", c, list.Total)
	}

	gwm := telemetrytest.Scrape(t, gw+"/metrics")
	if v := telemetrytest.Value(t, gwm, "upstream_service_latency_seconds", map[string]string{"service": "orders"}); v != 2 {
		t.Fatalf("gateway → orders calls observed: %v, want 2 (the 401 never left the gateway)", v)
	}
	um := telemetrytest.Scrape(t, f.URL("users")+"/metrics")
	if v := telemetrytest.Value(t, um, "total_users_count", nil); v != 2 {
		t.Fatalf("total_users_count = %v, want 2", v)
	}
}

// TestTraceAcrossGatewayAndOrders: an order placed through the gateway is
// one trace: the gateway's server span, its client span to the order
// service, the order service's server span as that client span's child,
// and the order service's work and SQL statements below it.
func TestTraceAcrossGatewayAndOrders(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	f := mustFleetConfig(t, func(c *fleet.Config) {
		c.TelemetryOptions = func(o *telemetry.Options) { o.SpanProcessors = append(o.SpanProcessors, rec) }
	})
	gw := f.URL("gateway")
	_, tok := mustUser(t, gw)
	id := mustPlaceOrder(t, gw, tok)

	var root trace.SpanContext
	mustEventually(t, 10*time.Second, "the gateway's POST /api/orders span", func() bool {
		for _, s := range rec.Ended() {
			if s.Name() == "POST /api/orders" && s.SpanKind() == trace.SpanKindServer {
				root = s.SpanContext()
				return true
			}
		}
		return false
	})
	type found struct{ gatewayClient, orderServer, orderDB bool }
	var got found
	mustEventually(t, 10*time.Second, "spans of the order service in the gateway's trace", func() bool {
		got = found{}
		var clientID trace.SpanID
		spans := rec.Ended()
		for _, s := range spans {
			if s.SpanContext().TraceID() != root.TraceID() {
				continue
			}
			name, _ := s.Resource().Set().Value(semconv.ServiceNameKey)
			if name.AsString() == "api-gateway" && s.SpanKind() == trace.SpanKindClient && s.Parent().SpanID() == root.SpanID() {
				got.gatewayClient, clientID = true, s.SpanContext().SpanID()
			}
		}
		for _, s := range spans {
			if s.SpanContext().TraceID() != root.TraceID() {
				continue
			}
			name, _ := s.Resource().Set().Value(semconv.ServiceNameKey)
			switch {
			case name.AsString() == "order-service" && s.Name() == "POST /orders" && s.Parent().SpanID() == clientID:
				got.orderServer = true
			case name.AsString() == "order-service" && strings.HasPrefix(s.Name(), "db.insert"):
				got.orderDB = true
			}
		}
		return got == found{true, true, true}
	})
	t.Logf("order %s: one trace %s spans gateway → order service → database", id, root.TraceID())
}

// edgeTraffic registers and logs in one user and the admin through the
// gateway, then returns a cheap function (no password hashing) that moves
// the gateway's and the user service's metrics, for tests that load the
// fleet repeatedly.
func edgeTraffic(tb testing.TB, f *fleet.Fleet) func() {
	tb.Helper()
	return fleettest.EdgeTraffic(tb, f)
}
