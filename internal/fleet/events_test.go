package fleet_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// testChaosToken is the chaos admin token of every test fleet.
const testChaosToken = fleettest.ChaosToken

// hook is a local HTTP receiver standing in for Slack or a webhook: it
// records every post and answers like Slack ("ok"), except for the first
// failFirst posts, which get a 500.
type hook struct {
	mu        sync.Mutex
	posts     []hookPost
	failFirst int
	srv       *httptest.Server
}

type hookPost struct {
	header http.Header
	body   []byte
}

func mustHook(tb testing.TB, failFirst int) *hook {
	tb.Helper()
	h := &hook{failFirst: failFirst}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.failFirst > 0 {
			h.failFirst--
			http.Error(w, "rollup_error", http.StatusInternalServerError)
			return
		}
		h.posts = append(h.posts, hookPost{r.Header.Clone(), b})
		_, _ = io.WriteString(w, "ok")
	}))
	tb.Cleanup(h.srv.Close)
	return h
}

func (h *hook) received() []hookPost {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookPost(nil), h.posts...)
}

// chaosAPI calls the chaos admin API with the test token (tok "" sends
// none) and returns the status and body.
func chaosAPI(tb testing.TB, f *fleet.Fleet, method, path, tok, body string) (int, string) {
	tb.Helper()
	a := fleettest.Send(tb, method, f.URL("chaos")+path, tok, body)
	return a.Status, a.Body
}

func mustChaos(tb testing.TB, f *fleet.Fleet, method, path, body string) {
	tb.Helper()
	if code, resp := chaosAPI(tb, f, method, path, testChaosToken, body); code != http.StatusOK {
		tb.Fatalf("%s %s: %d %s", method, path, code, resp)
	}
}

// unitMetrics gathers a unit's registry.
func unitValue(tb testing.TB, f *fleet.Fleet, name, family string, labels map[string]string) float64 {
	tb.Helper()
	for _, u := range f.Units() {
		if u.Service.Name == name {
			return telemetrytest.Value(tb, u.Telemetry.Registry, family, labels)
		}
	}
	tb.Fatalf("no unit %s", name)
	return 0
}

func hasFamily(tb testing.TB, u *fleet.Unit, family string) bool {
	tb.Helper()
	return telemetrytest.Count(tb, u.Telemetry.Registry, family) > 0
}

// eventTraffic drives every code path of the chaos service, the chaos
// middleware, the notification worker and the aggregator that creates a
// series, and returns a load function that keeps them busy. Chaos stays
// on: 1 ms of latency on every request of every service, and errors on
// one route of the notification worker.
func eventTraffic(tb testing.TB, f *fleet.Fleet) func() {
	tb.Helper()
	if c, _ := chaosAPI(tb, f, "GET", "/chaos/settings", "", ""); c != http.StatusUnauthorized {
		tb.Fatalf("chaos API without a token: %d", c)
	}
	if c, _ := chaosAPI(tb, f, "PUT", "/chaos/targets/orders", testChaosToken, `{"error":{"rate":2}}`); c != http.StatusBadRequest {
		tb.Fatalf("invalid chaos settings: %d", c)
	}
	mustChaos(tb, f, "PUT", "/chaos/settings", `{"enabled":true,"payment_failure_rate":0.01,"targets":{
		"*":{"latency":{"probability":1,"fixed_ms":1}},
		"notifier":{"latency":{"probability":1,"fixed_ms":1},"random":{"rate":0.01},
			"routes":{"/notifications":{"error":{"rate":0.5,"status":503},"timeout":{"rate":0.01,"after_ms":100}}}}}}`)
	mustChaos(tb, f, "POST", "/chaos/disable", "")
	mustChaos(tb, f, "POST", "/chaos/enable", "")

	// Every service but chaos-service injects the latency and counts it
	// (a service without the middleware is reported by the docs test).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		missing := 0
		for _, u := range f.Units() {
			if u.Telemetry != nil && u.Service.Name != "chaos" && !hasFamily(tb, u, "chaos_injected_latency_ms") {
				missing++
				get(tb, u.Server.URL()+"/chaos-probe")
			}
		}
		if missing == 0 {
			break
		}
	}

	// The notification worker: alerts, a poison message and garbage (to the
	// dead-letter subject), and the list.
	notifier := f.URL("notifier")
	if c := post(tb, notifier+"/alerts", testAlert("firing")); c != http.StatusOK {
		tb.Fatalf("POST /alerts: %d", c)
	}
	post(tb, notifier+"/alerts", testAlert("resolved"))
	c, err := bus.Connect(bus.ConnectOptions{URL: f.BusURL(), Name: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Ready(ctx); err != nil {
		tb.Fatal(err)
	}
	poison, _ := cloudcart.NewEvent(cloudcart.EventOrderCreated, "test", "not an order", time.Now())
	b, _ := json.Marshal(poison)
	for _, m := range [][]byte{b, []byte("garbage")} {
		if _, err := c.JetStream().Publish(ctx, bus.Subject(cloudcart.EventOrderCreated), m); err != nil {
			tb.Fatal(err)
		}
	}
	for _, fam := range []string{"notification_slack_api_latency_seconds", "notification_notifications_failed_total",
		"notification_event_publish_duration_seconds", "notification_consumer_lag_seconds", "notification_event_types_distribution"} {
		mustEventually(tb, 20*time.Second, "notifier "+fam, func() bool {
			return telemetrytest.Count(tb, telemetrytest.Scrape(tb, notifier+"/metrics"), fam) > 0
		})
	}
	aggregator := f.URL("aggregator")
	mustChaos(tb, f, "PUT", "/chaos/targets/aggregator", `{"latency":{"probability":1,"fixed_ms":1,"jitter_ms":2}}`)
	load := func() {
		get(tb, notifier+"/notifications?limit=5")
		get(tb, aggregator+"/services")
	}
	load()
	mustEventually(tb, 20*time.Second, "aggregator p95", func() bool {
		load()
		return telemetrytest.Count(tb, telemetrytest.Scrape(tb, aggregator+"/metrics"), "service_p95_latency_ms") > 0
	})
	return load
}

// testAlert is an Alertmanager webhook message (version 4) with one alert.
func testAlert(status string) string { return fleettest.TestAlert(status) }

// TestChaosErrorsEndToEnd: without the token the chaos API says 401;
// with it, 50% errors on the order service make about half of its
// requests 5xx as soon as the settings arrive over the bus, the order
// service's chaos_injected_errors_total equals its 5xx count, and the
// aggregator's error rate follows.
func TestChaosErrorsEndToEnd(t *testing.T) {
	f := mustFleet(t)
	for _, tc := range []struct{ method, path, tok string }{
		{"PUT", "/chaos/targets/orders", ""},
		{"POST", "/chaos/enable", ""},
		{"POST", "/chaos/enable", "not-the-token-0123456789"},
		{"GET", "/chaos/settings", "Bearer"},
	} {
		if c, body := chaosAPI(t, f, tc.method, tc.path, tc.tok, `{"error":{"rate":0.5}}`); c != http.StatusUnauthorized {
			t.Fatalf("%s %s with token %q: %d %s, want 401", tc.method, tc.path, tc.tok, c, body)
		}
	}
	orders := f.URL("orders") + "/orders?limit=1"
	if c := get(t, orders); c != http.StatusOK {
		t.Fatalf("GET /orders before chaos: %d", c)
	}
	start := time.Now()
	mustChaos(t, f, "PUT", "/chaos/targets/orders", `{"error":{"rate":0.5,"status":503}}`)
	mustChaos(t, f, "POST", "/chaos/enable", "")
	mustEventually(t, 10*time.Second, "first injected 503", func() bool { return get(t, orders) == http.StatusServiceUnavailable })
	t.Logf("chaos settings reached the order service %s after the API call", time.Since(start).Round(time.Millisecond))

	// Injected answers are counted under their route template (never "/").
	status503 := map[string]string{"endpoint": "/orders", "status": "503"}
	before5xx := unitValue(t, f, "orders", "order_http_requests_total", status503)
	beforeInjected := unitValue(t, f, "orders", "chaos_injected_errors_total", nil)
	const n = 400
	failed := 0
	for range n {
		if get(t, orders) == http.StatusServiceUnavailable {
			failed++
		}
	}
	d5xx := unitValue(t, f, "orders", "order_http_requests_total", status503) - before5xx
	dInjected := unitValue(t, f, "orders", "chaos_injected_errors_total", nil) - beforeInjected
	if failed < n*35/100 || failed > n*65/100 {
		t.Errorf("%d of %d requests failed at a 50%% error rate", failed, n)
	}
	if d5xx != float64(failed) || dInjected != float64(failed) {
		t.Errorf("5xx seen %d, order_http_requests_total{status=503} +%v, chaos_injected_errors_total +%v: must be equal", failed, d5xx, dInjected)
	}
	if v := unitValue(t, f, "orders", "order_http_requests_total", map[string]string{"endpoint": "/"}); v != 0 {
		t.Errorf(`order_http_requests_total{endpoint="/"} = %v, want 0: injected errors must carry their route`, v)
	}
	mustEventually(t, 10*time.Second, "aggregator error rate", func() bool {
		v := telemetrytest.Value(t, telemetrytest.Scrape(t, f.URL("aggregator")+"/metrics"), "service_error_rate_percent", map[string]string{"service": "order-service"})
		return v > 30 && v < 70
	})

	// The gateway's own routes too: every injected 503 under its template.
	mustChaos(t, f, "PUT", "/chaos/targets/gateway", `{"error":{"rate":1,"status":503}}`)
	products := f.URL("gateway") + "/api/products?limit=1"
	mustEventually(t, 10*time.Second, "first injected 503 at the gateway", func() bool { return get(t, products) == http.StatusServiceUnavailable })
	route503 := map[string]string{"method": "GET", "route": "/api/products", "status": "503"}
	before := unitValue(t, f, "gateway", "http_requests_total", route503)
	for range 20 {
		if c := get(t, products); c != http.StatusServiceUnavailable {
			t.Fatalf("GET /api/products with a 100%% error rate: %d", c)
		}
	}
	if d := unitValue(t, f, "gateway", "http_requests_total", route503) - before; d != 20 {
		t.Errorf(`http_requests_total{route="/api/products",status="503"} +%v, want +20`, d)
	}
	if v := unitValue(t, f, "gateway", "http_requests_total", map[string]string{"route": "/"}); v != 0 {
		t.Errorf(`http_requests_total{route="/"} = %v, want 0: injected errors must carry their route`, v)
	}
	mustChaos(t, f, "POST", "/chaos/disable", "")
	mustEventually(t, 10*time.Second, "chaos off", func() bool {
		for range 20 {
			if get(t, orders) != http.StatusOK {
				return false
			}
		}
		return true
	})
}

// TestEventFlowEndToEnd: a change made through the chaos API produces a
// chaos.injected event through the outbox; the notification worker handles
// it once and posts it to Slack, and the whole way is one trace: the
// admin request, the publish, the consumer, the Slack call (whose
// traceparent header carries it too).
func TestEventFlowEndToEnd(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	slack := mustHook(t, 0)
	f := mustFleetConfig(t, func(c *fleet.Config) {
		c.Notifier.SlackWebhookURL = slack.srv.URL
		c.Notifier.WebhookURL = ""
		c.TelemetryOptions = func(o *telemetry.Options) { o.SpanProcessors = append(o.SpanProcessors, spans) }
	})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("PUT", f.URL("chaos")+"/chaos/targets/users", strings.NewReader(`{"latency":{"probability":0.1,"fixed_ms":5}}`))
	req.Header.Set("Authorization", "Bearer "+testChaosToken)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	// Only the chaos change's posts: the admin created at start has its own
	// user.registered notification.
	chaosPosts := func() []hookPost {
		var out []hookPost
		for _, p := range slack.received() {
			if strings.Contains(string(p.body), "Chaos") {
				out = append(out, p)
			}
		}
		return out
	}
	mustEventually(t, 15*time.Second, "slack post", func() bool { return len(chaosPosts()) > 0 })
	time.Sleep(500 * time.Millisecond) // a duplicate would arrive now
	posts := chaosPosts()
	if len(posts) != 1 {
		t.Fatalf("slack got %d posts for one change", len(posts))
	}
	if tp := posts[0].header.Get("traceparent"); !strings.Contains(tp, traceID) {
		t.Errorf("the Slack call's traceparent %q is not in trace %s", tp, traceID)
	}
	var msg struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(posts[0].body, &msg); err != nil || !strings.Contains(msg.Text, "Chaos configure") {
		t.Errorf("slack text = %q, %v", msg.Text, err)
	}
	var list struct {
		Notifications []cloudcart.Notification `json:"notifications"`
	}
	getJSONInto(t, f.URL("notifier")+"/notifications?kind=chaos.injected", &list)
	if len(list.Notifications) != 1 || list.Notifications[0].Kind != "chaos.injected" {
		t.Fatalf("notifications = %+v", list.Notifications)
	}
	want := map[string]bool{
		"chaos-service/PUT /chaos/targets/{target}":                   false,
		"chaos-service/publish cloudcart.events.chaos.injected":       false,
		"notification-worker/process cloudcart.events.chaos.injected": false,
		"notification-worker/notify slack":                            false,
	}
	mustEventually(t, 10*time.Second, "spans", func() bool {
		for _, s := range spans.Ended() {
			if s.SpanContext().TraceID().String() != traceID {
				continue
			}
			svc, _ := s.Resource().Set().Value(semconv.ServiceNameKey)
			key := svc.AsString() + "/" + s.Name()
			if _, ok := want[key]; ok {
				want[key] = true
			}
		}
		for _, seen := range want {
			if !seen {
				return false
			}
		}
		return true
	})
}

func getJSONInto(tb testing.TB, url string, v any) { tb.Helper(); fleettest.MustGetJSON(tb, url, v) }

// TestAlertsReachNotifier: in `cloudcart run` the embedded Prometheus posts
// its alerts to the notification worker by default. Chaos errors on the
// order service make HighErrorRate fire (demo profile) and it arrives in
// Slack.
func TestAlertsReachNotifier(t *testing.T) {
	slack := mustHook(t, 0)
	f := mustFleetConfig(t, func(c *fleet.Config) {
		c.Prometheus = &fleet.PrometheusConfig{Profile: fleet.DemoProfile}
		c.Notifier.SlackWebhookURL = slack.srv.URL
	})
	mustChaos(t, f, "PUT", "/chaos/settings", `{"enabled":true,"targets":{"orders":{"error":{"rate":1,"status":500}}}}`)
	orders := f.URL("orders") + "/orders?limit=1"
	mustEventually(t, 90*time.Second, "HighErrorRate for order-service in Slack", func() bool {
		for range 10 {
			get(t, orders)
		}
		for _, p := range slack.received() {
			if strings.Contains(string(p.body), "[FIRING] HighErrorRate (order-service)") {
				return true
			}
		}
		return false
	})
}
