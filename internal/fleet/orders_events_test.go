package fleet_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/notifier"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// outboxTraffic takes one product below its low-stock threshold (an admin
// stock adjustment, straight to the product service), then waits until the
// relays of the user, order and product services have published, so their
// <prefix>_event_publish_duration_seconds histograms have a sample. The
// user and order events come from the admin created at start and from
// orders placed by the other traffic functions.
func outboxTraffic(tb testing.TB, f *fleet.Fleet) {
	tb.Helper()
	products := f.URL("products")
	var page struct {
		Products []struct {
			SKU       string `json:"sku"`
			Stock     int    `json:"stock"`
			Threshold int    `json:"low_stock_threshold"`
		} `json:"products"`
	}
	getJSON(tb, products+"/products?limit=1", &page)
	if len(page.Products) == 0 {
		tb.Fatal("no products")
	}
	p := page.Products[0]
	admin := mustLogin(tb, f.URL("gateway"), testAdminEmail, testAdminPassword)
	adjust := func(delta int, reason string) {
		req, _ := http.NewRequest("POST", products+"/products/"+p.SKU+"/stock",
			strings.NewReader(fmt.Sprintf(`{"delta":%d,"reason":%q}`, delta, reason)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin) // verified by the product service
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			tb.Fatalf("adjust stock of %s by %d: %d", p.SKU, delta, resp.StatusCode)
		}
	}
	if p.Stock < p.Threshold {
		adjust(p.Threshold-p.Stock, "restock")
		p.Stock = p.Threshold
	}
	adjust(p.Threshold-1-p.Stock, "purchase") // crosses below the threshold
	for _, svc := range []struct{ name, family string }{
		{"users", "user_event_publish_duration_seconds"},
		{"orders", "order_event_publish_duration_seconds"},
		{"products", "product_event_publish_duration_seconds"},
	} {
		for _, u := range f.Units() {
			if u.Service.Name == svc.name {
				mustEventually(tb, 10*time.Second, svc.family+" observed", func() bool {
					return telemetrytest.Count(tb, u.Telemetry.Registry, svc.family) > 0
				})
			}
		}
	}
}

// notificationsFor pages through the notifier's notifications of kind and
// returns those whose order_id field is orderID.
func notificationsFor(tb testing.TB, notifierURL string, kind cloudcart.EventType, orderID string) []*cloudcart.Notification {
	tb.Helper()
	var out []*cloudcart.Notification
	before := ""
	for {
		q := url.Values{"kind": {string(kind)}, "limit": {"500"}}
		if before != "" {
			q.Set("before", before)
		}
		var page notifier.NotificationList
		getJSONInto(tb, notifierURL+"/notifications?"+q.Encode(), &page)
		for _, n := range page.Notifications {
			if n.Fields["order_id"] == orderID {
				out = append(out, n)
			}
		}
		if page.Next == "" {
			return out
		}
		before = page.Next
	}
}

// TestOrderCreatedReachesNotifierOnce: an order placed through the gateway
// is written with its order.created event in one transaction; the relay
// publishes it, the notification worker handles it exactly once, and the
// worker's handling is in the trace of the gateway's request.
func TestOrderCreatedReachesNotifierOnce(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	f := mustFleetConfig(t, func(c *fleet.Config) {
		c.TelemetryOptions = func(o *telemetry.Options) { o.SpanProcessors = append(o.SpanProcessors, rec) }
	})
	gw := f.URL("gateway")
	_, tok := mustUser(t, gw)
	id := mustPlaceOrder(t, gw, tok)

	mustEventually(t, 15*time.Second, "the order.created notification", func() bool {
		return len(notificationsFor(t, f.URL("notifier"), cloudcart.EventOrderCreated, id)) > 0
	})
	time.Sleep(500 * time.Millisecond) // a second handling would show now
	if ns := notificationsFor(t, f.URL("notifier"), cloudcart.EventOrderCreated, id); len(ns) != 1 {
		t.Fatalf("order %s: %d order.created notifications, want exactly 1", id, len(ns))
	}

	var root trace.SpanContext
	mustEventually(t, 10*time.Second, "the gateway's POST /api/orders span", func() bool {
		for _, s := range rec.Ended() {
			svc, _ := s.Resource().Set().Value(semconv.ServiceNameKey)
			if svc.AsString() == "api-gateway" && s.Name() == "POST /api/orders" && s.SpanKind() == trace.SpanKindServer {
				root = s.SpanContext()
				return true
			}
		}
		return false
	})
	const handled = "process cloudcart.events." + string(cloudcart.EventOrderCreated)
	mustEventually(t, 10*time.Second, "the notifier's "+handled+" span in the gateway's trace", func() bool {
		for _, s := range rec.Ended() {
			svc, _ := s.Resource().Set().Value(semconv.ServiceNameKey)
			if svc.AsString() == "notification-worker" && s.Name() == handled && s.SpanContext().TraceID() == root.TraceID() {
				return true
			}
		}
		return false
	})
	t.Logf("order %s: one notification, one trace %s from the gateway to the notification worker", id, root.TraceID())
}
