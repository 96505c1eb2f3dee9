package httpkit_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

var mustTelemetry = telemetrytest.MustNew

// mustHandler is a small service: two routes, instrumented like the real ones.
func mustHandler(tb testing.TB, tel *telemetry.Telemetry, names httpkit.MetricNames) http.Handler {
	tb.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			httpkit.Error(w, r, nil, cloudcart.Errorf(cloudcart.ENOTFOUND, "item not found"))
			return
		}
		httpkit.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			Name string `json:"name"`
		}
		if err := httpkit.DecodeJSON(r, &v); err != nil {
			httpkit.Error(w, r, nil, err)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	mw, err := httpkit.NewMiddleware(tel.Meter("test"), tel.Tracer("test"), tel.Propagator, names)
	if err != nil {
		tb.Fatal(err)
	}
	return httpkit.LimitBody(64, mw.Wrap(mux))
}

var orderNames = httpkit.ServiceMetricNames("order", "order.http.request.duration")

func do(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	return rec
}

func TestMiddlewareRecordsByRouteTemplate(t *testing.T) {
	tel := mustTelemetry(t)
	h := mustHandler(t, tel, orderNames)
	for _, id := range []string{"a", "b", "c"} {
		do(h, "GET", "/items/"+id, "")
	}
	do(h, "GET", "/items/missing", "")
	do(h, "POST", "/items", `{"name":"x"}`)

	want := `
# HELP order_http_requests_total HTTP requests served, by method, route template and status code.
# TYPE order_http_requests_total counter
order_http_requests_total{endpoint="/items",method="POST",status="201"} 1
order_http_requests_total{endpoint="/items/{id}",method="GET",status="200"} 3
order_http_requests_total{endpoint="/items/{id}",method="GET",status="404"} 1
`
	if err := testutil.GatherAndCompare(tel.Registry, strings.NewReader(want), "order_http_requests_total"); err != nil {
		t.Fatal(err)
	}
	// Duration has no status label for services; 4 GETs on one template.
	if n := telemetrytest.Count(t, tel.Registry, "order_http_request_duration_seconds"); n != 2 {
		t.Fatalf("duration series = %d, want 2 (one per method+endpoint)", n)
	}
	if got := telemetrytest.Value(t, tel.Registry, "order_http_requests_in_flight", nil); got != 0 {
		t.Fatalf("in flight = %v after all requests finished", got)
	}
}

func TestGatewayNamesCarryStatusOnDuration(t *testing.T) {
	tel := mustTelemetry(t)
	h := mustHandler(t, tel, httpkit.MetricNames{Requests: "http.requests", Duration: "http.request.duration",
		InFlight: "http.requests.in_flight", RouteLabel: "route", DurationHasStatus: true})
	do(h, "GET", "/items/a", "")
	want := `
# HELP http_requests_total HTTP requests served, by method, route template and status code.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/items/{id}",status="200"} 1
`
	if err := testutil.GatherAndCompare(tel.Registry, strings.NewReader(want), "http_requests_total"); err != nil {
		t.Fatal(err)
	}
	mfs, _ := tel.Registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "http_request_duration_seconds" {
			if l := mf.GetMetric()[0].GetLabel(); len(l) != 3 {
				t.Fatalf("gateway duration labels = %v, want method, route, status", l)
			}
			return
		}
	}
	t.Fatal("http_request_duration_seconds missing")
}

// TestSeriesStayBounded sends 10,000 requests with random paths and
// methods: they must collapse into a bounded set of series.
func TestSeriesStayBounded(t *testing.T) {
	tel := mustTelemetry(t)
	h := mustHandler(t, tel, orderNames)
	rng := rand.New(rand.NewPCG(1, 2))
	methods := []string{"GET", "POST", "DELETE", "PUT", "BREW", "PROPFIND", "X" + fmt.Sprint(rng.IntN(1e6))}
	for i := range 10_000 {
		path := fmt.Sprintf("/%x/%d", rng.Uint64(), i)
		do(h, methods[rng.IntN(len(methods))], path, "")
	}
	// unmatched × {GET, POST, DELETE, PUT, _OTHER} × {404} (+405 never: no route matched)
	const bound = 5
	if n := telemetrytest.Count(t, tel.Registry, "order_http_requests_total"); n > bound {
		t.Fatalf("%d request series after 10,000 random paths, want at most %d", n, bound)
	}
	if n := telemetrytest.Count(t, tel.Registry, "order_http_request_duration_seconds"); n > bound {
		t.Fatalf("%d duration series, want at most %d", n, bound)
	}
}

func TestRoutingErrorsAreJSON(t *testing.T) {
	h := mustHandler(t, mustTelemetry(t), orderNames)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/nope", 404, "not_found"},
		{"DELETE", "/items", 405, "method_not_allowed"},
		{"GET", "/items/missing", 404, "not_found"}, // a handler's own 404 passes through
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := do(h, tc.method, tc.path, "")
			mustErrorBody(t, rec, tc.status, tc.code)
		})
	}
}

func TestDecodeJSONRejections(t *testing.T) {
	h := mustHandler(t, mustTelemetry(t), orderNames)
	for _, tc := range []struct {
		name, body string
		status     int
		mentions   string
	}{
		{"malformed", `{"name":`, 400, "malformed JSON"},
		{"unknown field", `{"name":"x","admin":true}`, 400, `unknown field "admin"`},
		{"wrong type", `{"name":5}`, 400, `field "name" must be of type string`},
		{"two objects", `{"name":"a"}{"name":"b"}`, 400, "single JSON object"},
		{"empty", ``, 400, "must not be empty"},
		{"too large", `{"name":"` + strings.Repeat("x", 100) + `"}`, 413, "at most 64 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(h, "POST", "/items", tc.body)
			body := mustErrorBody(t, rec, tc.status, "")
			if !strings.Contains(body.Error.Message, tc.mentions) {
				t.Fatalf("message %q does not mention %q", body.Error.Message, tc.mentions)
			}
		})
	}
}

func mustErrorBody(tb testing.TB, rec *httptest.ResponseRecorder, status int, code string) httpkit.ErrorResponse {
	tb.Helper()
	if rec.Code != status {
		tb.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var body httpkit.ErrorResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		tb.Fatalf("body is not the JSON error format: %v: %q", err, rec.Body)
	}
	if body.Error.Message == "" || (code != "" && body.Error.Code != code) {
		tb.Fatalf("error = %+v, want code %q and a message", body.Error, code)
	}
	return body
}

func TestServerSpanContinuesIncomingTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel := mustTelemetry(t, func(o *telemetry.Options) { o.SpanProcessors = append(o.SpanProcessors, rec) })
	h := mustHandler(t, tel, orderNames)
	req := httptest.NewRequest("GET", "/items/a", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "GET /items/{id}" || s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" ||
		s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("span %q trace %s parent %s", s.Name(), s.SpanContext().TraceID(), s.Parent().SpanID())
	}
}

func TestMetricsPassLint(t *testing.T) {
	tel := mustTelemetry(t)
	h := mustHandler(t, tel, orderNames)
	do(h, "GET", "/items/a", "")
	problems, err := testutil.GatherAndLint(tel.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricsEndpointNegotiatesOpenMetrics(t *testing.T) {
	tel := mustTelemetry(t)
	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/openmetrics-text") || !strings.HasSuffix(string(b), "# EOF\n") {
		t.Fatalf("content type %q, want OpenMetrics", resp.Header.Get("Content-Type"))
	}
}
