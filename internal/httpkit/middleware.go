package httpkit

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// MetricNames names one service's HTTP instruments. They are OTel names;
// the Prometheus exporter turns "order.http.requests" into
// order_http_requests_total and a duration in seconds into ..._seconds.
type MetricNames struct {
	Requests          string // counter {method, <route label>, status}
	Duration          string // histogram, seconds {method, <route label>[, status]}
	InFlight          string // up-down counter, requests being served
	RouteLabel        string // "endpoint" for services, "route" for the gateway
	DurationHasStatus bool   // the gateway's duration histogram also carries status
}

// ServiceMetricNames returns the names reference 002 uses for a service
// whose metrics share a prefix: <prefix>_http_requests_total and the
// duration histogram given, labelled by endpoint.
func ServiceMetricNames(prefix, duration string) MetricNames {
	return MetricNames{
		Requests:   prefix + ".http.requests",
		Duration:   duration,
		InFlight:   prefix + ".http.requests.in_flight",
		RouteLabel: "endpoint",
	}
}

// UnmatchedRoute is the route label of every request no route matched, so
// random paths cannot create series.
const UnmatchedRoute = "unmatched"

// DurationBuckets are the HTTP latency bucket bounds in seconds: fine below
// 100 ms where healthy requests live, coarse up to the 10 s timeouts.
var DurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Middleware records the per-service HTTP metrics and a server span for
// every request. Wrap the service's mux with it once; it labels requests by
// the route template the mux matched, never the raw path.
type Middleware struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	inFlight metric.Int64UpDownCounter
	tracer   trace.Tracer // nil: no spans
	prop     propagation.TextMapPropagator
	names    MetricNames

	cache telemetry.Memo[attrKey, *attrs]
}

type attrKey struct {
	method  string // normalised, from a closed set
	pattern string // mux pattern, "" when unmatched
	status  int
}

// attrs are the precomputed measurement options for one label combination,
// so the hot path allocates nothing for metrics.
type attrs struct {
	add      []metric.AddOption
	record   []metric.RecordOption
	route    string
	spanName string
}

// NewMiddleware creates the instruments on meter. tracer may be nil.
func NewMiddleware(meter metric.Meter, tracer trace.Tracer, prop propagation.TextMapPropagator, names MetricNames) (*Middleware, error) {
	m := &Middleware{tracer: tracer, prop: prop, names: names}
	if m.prop == nil {
		m.prop = propagation.TraceContext{}
	}
	in := telemetry.NewInstruments(meter)
	m.requests = in.Counter(names.Requests, "{request}", "HTTP requests served, by method, route template and status code.")
	m.duration = in.Histogram(names.Duration, "s", "HTTP request latency from first byte read to handler return.", DurationBuckets)
	m.inFlight = in.UpDownCounter(names.InFlight, "{request}", "HTTP requests being served right now.")
	if m.inFlight != nil {
		// An up-down counter reports its real value from the first
		// scrape: nothing in flight yet.
		m.inFlight.Add(context.Background(), 0)
	}
	return m, in.Err()
}

// Wrap instruments next, which should be the service's *http.ServeMux.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		method := MethodLabel(r.Method)
		ctx := r.Context()
		var span trace.Span
		if m.tracer != nil {
			ctx = m.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
			ctx, span = m.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.URLPath(r.URL.Path)))
			r = r.WithContext(ctx)
		}
		m.inFlight.Add(ctx, 1)
		rw := newWriter(w, r)
		defer func() {
			status := rw.status
			if p := recover(); p != nil {
				status = http.StatusInternalServerError
				defer panic(p) // net/http logs it and closes the connection
			}
			if status == 0 {
				status = http.StatusOK
			}
			a := m.lookup(method, r.Pattern, status)
			m.requests.Add(ctx, 1, a.add...)
			m.duration.Record(ctx, time.Since(start).Seconds(), a.record...)
			m.inFlight.Add(ctx, -1)
			if span != nil {
				span.SetName(a.spanName)
				span.SetAttributes(semconv.HTTPRoute(a.route), semconv.HTTPResponseStatusCode(status))
				if status >= 500 {
					span.SetStatus(codes.Error, http.StatusText(status))
				}
				span.End()
			}
			rw.release()
		}()
		next.ServeHTTP(rw, r)
	})
}

func (m *Middleware) lookup(method, pattern string, status int) *attrs {
	k := attrKey{method, pattern, status}
	if a, ok := m.cache.Lookup(k); ok {
		return a
	}
	return m.cache.LoadOrBuild(k, func() *attrs { return m.build(method, pattern, status) })
}

// build makes the measurement options of one label combination.
func (m *Middleware) build(method, pattern string, status int) *attrs {
	route := RouteLabel(pattern)
	st := attribute.Int("status", status)
	if status < 100 || status > 599 {
		st = attribute.String("status", "other")
	}
	counterSet := attribute.NewSet(attribute.String("method", method), attribute.String(m.names.RouteLabel, route), st)
	durSet := attribute.NewSet(attribute.String("method", method), attribute.String(m.names.RouteLabel, route))
	if m.names.DurationHasStatus {
		durSet = counterSet
	}
	return &attrs{
		add:      []metric.AddOption{metric.WithAttributeSet(counterSet)},
		record:   []metric.RecordOption{metric.WithAttributeSet(durSet)},
		route:    route,
		spanName: method + " " + route,
	}
}

// RouteLabel turns a mux pattern such as "POST /orders/{id}" into the route
// template "/orders/{id}"; an empty pattern (no route matched) becomes
// UnmatchedRoute.
func RouteLabel(pattern string) string {
	if pattern == "" {
		return UnmatchedRoute
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 { // drop a host part
		pattern = pattern[i:]
	}
	return pattern
}

// RouteFinder finds the route pattern a request will be served by;
// *http.ServeMux is one. Middleware that answers before the mux (the chaos
// middleware) uses it to label the answer by its route template.
type RouteFinder interface {
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// WithRoutes returns h as a RouteFinder that finds routes in mux: for a
// service whose handler wraps its mux (the gateway measures payloads
// around it).
func WithRoutes(h http.Handler, mux RouteFinder) http.Handler { return routed{h, mux} }

type routed struct {
	h   http.Handler
	mux RouteFinder
}

func (r routed) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.h.ServeHTTP(w, req) }

func (r routed) Handler(req *http.Request) (http.Handler, string) { return r.mux.Handler(req) }

// MethodLabel maps a request method onto a closed set; anything else is
// "_OTHER" (the OpenTelemetry convention), so made-up methods cannot create
// series.
func MethodLabel(m string) string {
	switch m {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodOptions:
		return http.MethodOptions
	}
	return "_OTHER"
}

// writer captures the status code and turns the mux's plain-text 404/405
// answers for unmatched requests into the JSON error format.
type writer struct {
	http.ResponseWriter
	req         *http.Request
	status      int
	intercepted bool
}

var writerPool = sync.Pool{New: func() any { return new(writer) }}

func newWriter(w http.ResponseWriter, r *http.Request) *writer {
	rw := writerPool.Get().(*writer)
	*rw = writer{ResponseWriter: w, req: r}
	return rw
}

func (w *writer) release() {
	*w = writer{}
	writerPool.Put(w)
}

func (w *writer) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	w.status = status
	if (status == http.StatusNotFound || status == http.StatusMethodNotAllowed) && w.req.Pattern == "" {
		w.intercepted = true
		writeRoutingError(w.ResponseWriter, w.req, status)
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *writer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.intercepted {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *writer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.intercepted {
		if w.status == 0 {
			w.WriteHeader(http.StatusOK)
		}
		f.Flush()
	}
}

func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("httpkit: hijack not supported")
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
