package httpkit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// discard is a ResponseWriter that allocates nothing, so the benchmark
// measures the middleware, not the recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkMiddleware measures the per-request cost the instrumentation adds
// to a handler that does nothing: metrics only (the hot path that must not
// allocate), and metrics plus a server span.
func BenchmarkMiddleware(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	req := httptest.NewRequest("GET", "/orders/ord_123", nil)
	w := &discard{h: http.Header{}}

	b.Run("bare-mux", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mux.ServeHTTP(w, req)
		}
	})
	for _, tc := range []struct {
		name  string
		trace bool
	}{{"metrics", false}, {"metrics+span", true}} {
		b.Run(tc.name, func(b *testing.B) {
			tel := telemetrytest.MustNew(b)
			tracer := tel.Tracer("bench")
			if !tc.trace {
				tracer = nil
			}
			mw, err := httpkit.NewMiddleware(tel.Meter("bench"), tracer, tel.Propagator, orderNames)
			if err != nil {
				b.Fatal(err)
			}
			h := mw.Wrap(mux)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkErrorCounter compares counting an error with the precomputed
// attribute sets of ErrorCounter against building the attributes per call,
// as the order and product services did.
func BenchmarkErrorCounter(b *testing.B) {
	ctx := context.Background()
	tel := telemetrytest.MustNew(b)
	c, err := tel.Meter("bench").Int64Counter("bench.errors")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("precomputed", func(b *testing.B) {
		e := httpkit.NewErrorCounter(c)
		b.ReportAllocs()
		for b.Loop() {
			e.Add(ctx, "validation", "/orders")
		}
	})
	b.Run("per-call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Add(ctx, 1, metric.WithAttributes(attribute.String("error_type", "validation"), attribute.String("endpoint", "/orders")))
		}
	})
}
