package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/chaos"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/services"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// service is a stand-in service: the metrics middleware around the chaos
// middleware around a mux, as every CloudCart service is wired.
type service struct {
	mw  *chaos.Middleware
	tel *telemetry.Telemetry
	h   http.Handler
}

func mustMiddleware(tb testing.TB, target string, rnd func() float64) *service {
	tb.Helper()
	tel := telemetrytest.MustNew(tb)
	meter := tel.Meter("test")
	mw, err := chaos.NewMiddleware(chaos.MiddlewareOptions{Target: target, Meter: meter, Rand: rnd})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	mux.HandleFunc("GET /orders", ok)
	mux.HandleFunc("GET /orders/{id}", ok)
	hm, err := httpkit.NewMiddleware(meter, nil, nil, services.All.MustLookup("orders").HTTP)
	if err != nil {
		tb.Fatal(err)
	}
	return &service{mw: mw, tel: tel, h: hm.Wrap(mw.Wrap(mux))}
}

func (s *service) get(tb testing.TB, path string) int {
	tb.Helper()
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w.Code
}

// seq returns the values in turn, forever.
func seq(vs ...float64) func() float64 {
	i := 0
	return func() float64 { v := vs[i%len(vs)]; i++; return v }
}

func settings(enabled bool, targets map[string]cloudcart.ChaosFaults) cloudcart.ChaosSettings {
	return cloudcart.ChaosSettings{Enabled: enabled, Version: 1, Targets: targets}
}

// TestErrorRateMatches5xx: 50% injected errors make about half of the
// requests 5xx, and chaos_injected_errors_total equals the 5xx count the
// service's own HTTP metrics recorded.
func TestErrorRateMatches5xx(t *testing.T) {
	s := mustMiddleware(t, "orders", nil)
	const n = 2000
	for range n / 2 { // chaos off: no 5xx
		s.get(t, "/orders")
	}
	s.mw.Apply(settings(true, map[string]cloudcart.ChaosFaults{"orders": {Error: &cloudcart.ErrorFault{Rate: 0.5, Status: 503}}}))
	fivexx := 0
	for range n {
		if s.get(t, "/orders") == 503 {
			fivexx++
		}
	}
	if fivexx < n*40/100 || fivexx > n*60/100 {
		t.Errorf("%d of %d requests failed at a 50%% error rate", fivexx, n)
	}
	reg := s.tel.Registry
	injected := telemetrytest.Value(t, reg, "chaos_injected_errors_total", nil)
	served5xx := telemetrytest.Value(t, reg, "order_http_requests_total", map[string]string{"status": "503"})
	if injected != float64(fivexx) || served5xx != float64(fivexx) {
		t.Fatalf("injected = %v, order_http_requests_total{status=503} = %v, 5xx seen = %d: must be equal", injected, served5xx, fivexx)
	}
}

// TestInjectedAnswersCarryTheRoute: an injected error or timeout is
// counted under the route template the request would have been served by,
// never under the catch-all pattern of a mux in front of the service
// (httpkit.Server's "/"), and a path no route matches stays unmatched.
func TestInjectedAnswersCarryTheRoute(t *testing.T) {
	s := mustMiddleware(t, "orders", seq(0))
	outer := http.NewServeMux() // as httpkit.Server mounts a service
	outer.Handle("/", s.h)
	s.h = outer
	s.mw.Apply(settings(true, map[string]cloudcart.ChaosFaults{
		"orders": {Error: &cloudcart.ErrorFault{Rate: 1, Status: 500}},
	}))
	for _, path := range []string{"/orders/42", "/orders/43", "/orders", "/nowhere"} {
		if c := s.get(t, path); c != http.StatusInternalServerError {
			t.Fatalf("GET %s: %d, want the injected 500", path, c)
		}
	}
	// A timeout fault on one route: its 504 carries that route too.
	s.mw.Apply(cloudcart.ChaosSettings{Enabled: true, Version: 2, Targets: map[string]cloudcart.ChaosFaults{
		"orders": {Routes: map[string]cloudcart.ChaosFaults{"/orders/{id}": {Timeout: &cloudcart.TimeoutFault{Rate: 1, AfterMS: 1}}}},
	}})
	if c := s.get(t, "/orders/44"); c != http.StatusGatewayTimeout {
		t.Fatalf("GET /orders/44: %d, want the injected 504", c)
	}
	reg := s.tel.Registry
	for _, tc := range []struct {
		endpoint, status string
		want             float64
	}{
		{"/orders/{id}", "500", 2},
		{"/orders", "500", 1},
		{httpkit.UnmatchedRoute, "500", 1},
		{"/orders/{id}", "504", 1},
		{"/", "500", 0},
		{"/", "504", 0},
	} {
		got := telemetrytest.Value(t, reg, "order_http_requests_total",
			map[string]string{"method": "GET", "endpoint": tc.endpoint, "status": tc.status})
		if got != tc.want {
			t.Errorf("order_http_requests_total{endpoint=%q,status=%q} = %v, want %v", tc.endpoint, tc.status, got, tc.want)
		}
	}
	if n := telemetrytest.Value(t, reg, "order_http_request_duration_seconds", map[string]string{"endpoint": "/orders/{id}"}); n != 3 {
		t.Errorf("order_http_request_duration_seconds{endpoint=\"/orders/{id}\"} count = %v, want 3", n)
	}
}

func TestMiddlewareDecisions(t *testing.T) {
	lat := &cloudcart.LatencyFault{Probability: 0.5, FixedMS: 20, JitterMS: 10}
	for _, tc := range []struct {
		name     string
		s        cloudcart.ChaosSettings
		target   string
		path     string
		rnd      []float64
		want     int
		delayed  bool
		timeouts float64
	}{
		{"chaos off", settings(false, map[string]cloudcart.ChaosFaults{"orders": {Error: &cloudcart.ErrorFault{Rate: 1}}}), "orders", "/orders", []float64{0}, 200, false, 0},
		{"other target", settings(true, map[string]cloudcart.ChaosFaults{"users": {Error: &cloudcart.ErrorFault{Rate: 1}}}), "orders", "/orders", []float64{0}, 200, false, 0},
		{"error, default status", settings(true, map[string]cloudcart.ChaosFaults{"orders": {Error: &cloudcart.ErrorFault{Rate: 0.3}}}), "orders", "/orders", []float64{0.29}, 500, false, 0},
		{"error draw misses", settings(true, map[string]cloudcart.ChaosFaults{"orders": {Error: &cloudcart.ErrorFault{Rate: 0.3}}}), "orders", "/orders", []float64{0.3}, 200, false, 0},
		{"latency then success", settings(true, map[string]cloudcart.ChaosFaults{"orders": {Latency: lat}}), "orders", "/orders", []float64{0.1, 0.5, 0.9}, 200, true, 0},
		{"latency draw misses", settings(true, map[string]cloudcart.ChaosFaults{"orders": {Latency: lat}}), "orders", "/orders", []float64{0.6, 0.9}, 200, false, 0},
		{"wildcard", settings(true, map[string]cloudcart.ChaosFaults{"*": {Error: &cloudcart.ErrorFault{Rate: 1, Status: 502}}}), "orders", "/orders", []float64{0}, 502, false, 0},
		{"wildcard spares the chaos service", settings(true, map[string]cloudcart.ChaosFaults{"*": {Error: &cloudcart.ErrorFault{Rate: 1}}}), "chaos", "/orders", []float64{0}, 200, false, 0},
		{"route rule replaces the target's", settings(true, map[string]cloudcart.ChaosFaults{"orders": {Error: &cloudcart.ErrorFault{Rate: 1},
			Routes: map[string]cloudcart.ChaosFaults{"/orders/{id}": {}}}}), "orders", "/orders/42", []float64{0}, 200, false, 0},
		{"target rule on another route", settings(true, map[string]cloudcart.ChaosFaults{"orders": {Error: &cloudcart.ErrorFault{Rate: 1},
			Routes: map[string]cloudcart.ChaosFaults{"/orders/{id}": {}}}}), "orders", "/orders", []float64{0}, 500, false, 0},
		{"timeout", settings(true, map[string]cloudcart.ChaosFaults{"orders": {Error: &cloudcart.ErrorFault{Rate: 0.2},
			Timeout: &cloudcart.TimeoutFault{Rate: 0.2, AfterMS: 30}}}), "orders", "/orders", []float64{0.3}, 504, false, 1},
		{"random picks an error", settings(true, map[string]cloudcart.ChaosFaults{"orders": {Random: &cloudcart.RandomFault{Rate: 0.5},
			Error: &cloudcart.ErrorFault{Rate: 0, Status: 599}}}), "orders", "/orders", []float64{0.1, 0.5}, 599, false, 0},
		{"random picks latency", settings(true, map[string]cloudcart.ChaosFaults{"orders": {Random: &cloudcart.RandomFault{Rate: 0.5},
			Latency: &cloudcart.LatencyFault{FixedMS: 5}}}), "orders", "/orders", []float64{0.1, 0.1}, 200, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustMiddleware(t, tc.target, seq(tc.rnd...))
			s.mw.Apply(tc.s)
			start := time.Now()
			if code := s.get(t, tc.path); code != tc.want {
				t.Fatalf("status = %d, want %d", code, tc.want)
			}
			took := time.Since(start)
			reg := s.tel.Registry
			delays := telemetrytest.Value(t, reg, "chaos_injected_latency_ms", nil)
			if tc.delayed != (delays == 1) {
				t.Errorf("latency observations = %v, delayed = %v (took %s)", delays, tc.delayed, took)
			}
			if tc.delayed && took < 5*time.Millisecond {
				t.Errorf("delayed request took only %s", took)
			}
			if v := telemetrytest.Value(t, reg, "chaos_injected_timeouts_total", nil); v != tc.timeouts {
				t.Errorf("timeouts = %v, want %v", v, tc.timeouts)
			}
			wantErrs := 0.0
			if tc.want >= 500 && tc.want != 504 {
				wantErrs = 1
			}
			if v := telemetrytest.Value(t, reg, "chaos_injected_errors_total", nil); v != wantErrs {
				t.Errorf("errors = %v, want %v", v, wantErrs)
			}
		})
	}
}

// TestTimeoutEndsWithTheClient: a timeout hangs only until the client
// gives up, never past its bound.
func TestTimeoutEndsWithTheClient(t *testing.T) {
	s := mustMiddleware(t, "orders", seq(0))
	s.mw.Apply(settings(true, map[string]cloudcart.ChaosFaults{"orders": {Timeout: &cloudcart.TimeoutFault{Rate: 1, AfterMS: 20000}}}))
	srv := httptest.NewServer(s.h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/orders", nil)
	start := time.Now()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the request did not hang")
	}
	deadline := time.Now().Add(30 * time.Second)
	for telemetrytest.Value(t, s.tel.Registry, "order_http_requests_total", map[string]string{"status": "504"}) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the handler was still hanging %s after the client gave up", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLatencyProbability(t *testing.T) {
	for _, tc := range []struct {
		s    cloudcart.ChaosSettings
		want float64
	}{
		{settings(false, map[string]cloudcart.ChaosFaults{"orders": {Latency: &cloudcart.LatencyFault{Probability: 1, FixedMS: 1}}}), 0},
		{settings(true, map[string]cloudcart.ChaosFaults{"orders": {Error: &cloudcart.ErrorFault{Rate: 1}}}), 0},
		{settings(true, map[string]cloudcart.ChaosFaults{"orders": {Latency: &cloudcart.LatencyFault{Probability: 0.4, FixedMS: 1}},
			"users": {Routes: map[string]cloudcart.ChaosFaults{"/users": {Latency: &cloudcart.LatencyFault{Probability: 0.7, JitterMS: 3}}}}}), 0.7},
		{settings(true, map[string]cloudcart.ChaosFaults{"orders": {Latency: &cloudcart.LatencyFault{Probability: 1}}}), 0}, // zero delay
		{settings(true, map[string]cloudcart.ChaosFaults{"orders": {Random: &cloudcart.RandomFault{Rate: 0.6}}}), 0.2},
		{settings(true, map[string]cloudcart.ChaosFaults{"orders": {Random: &cloudcart.RandomFault{Rate: 0.6}, Latency: &cloudcart.LatencyFault{Probability: 0.5, FixedMS: 1}}}), 0.2 + 0.4*0.5},
	} {
		if got := tc.s.LatencyProbability(); fmt.Sprintf("%.9f", got) != fmt.Sprintf("%.9f", tc.want) {
			t.Errorf("%+v: probability = %v, want %v", tc.s.Targets, got, tc.want)
		}
	}
}

// TestOutageAndConsumeDelay: the middleware reports an outage of its own
// service when it starts and when it ends (chaos disabled, or the fault
// removed), never through "*" or for the notification worker; and draws
// consume delays only while consume_latency applies.
func TestOutageAndConsumeDelay(t *testing.T) {
	for _, target := range []string{"orders", cloudcart.ChaosNotifierTarget} {
		t.Run(target, func(t *testing.T) {
			var calls []bool
			mw, err := chaos.NewMiddleware(chaos.MiddlewareOptions{Target: target, Meter: telemetrytest.MustNew(t).Meter("test"),
				Rand: seq(0.5), Outage: func(down bool) { calls = append(calls, down) }})
			if err != nil {
				t.Fatal(err)
			}
			down := map[string]cloudcart.ChaosFaults{target: {Outage: true}}
			for i, s := range []cloudcart.ChaosSettings{
				settings(true, map[string]cloudcart.ChaosFaults{cloudcart.ChaosTargetAll: {Outage: true}}),
				settings(true, down),
				settings(true, down), // unchanged: no second call
				settings(false, down),
				settings(true, down),
				settings(true, nil),
			} {
				s.Version = int64(i + 1)
				mw.Apply(s)
			}
			want := "[true false true false]"
			if target == cloudcart.ChaosNotifierTarget {
				want = "[]"
			}
			if got := fmt.Sprint(calls); got != want {
				t.Errorf("outage calls = %s, want %s", got, want)
			}

			slow := &cloudcart.LatencyFault{Probability: 1, FixedMS: 300}
			for _, c := range []struct {
				name string
				s    cloudcart.ChaosSettings
				want time.Duration
			}{
				{"off", settings(false, map[string]cloudcart.ChaosFaults{target: {ConsumeLatency: slow}}), 0},
				{"own target", settings(true, map[string]cloudcart.ChaosFaults{target: {ConsumeLatency: slow}}), 300 * time.Millisecond},
				{"every target", settings(true, map[string]cloudcart.ChaosFaults{cloudcart.ChaosTargetAll: {ConsumeLatency: slow}}), 300 * time.Millisecond},
				{"probability not drawn", settings(true, map[string]cloudcart.ChaosFaults{target: {ConsumeLatency: &cloudcart.LatencyFault{Probability: 0.4, FixedMS: 300}}}), 0},
				{"http latency only", settings(true, map[string]cloudcart.ChaosFaults{target: {Latency: slow}}), 0},
			} {
				mw.Apply(c.s)
				if got := mw.ConsumeDelay(); got != c.want {
					t.Errorf("%s: ConsumeDelay = %v, want %v", c.name, got, c.want)
				}
			}
		})
	}
}
