package logstore_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/cloudcart/cloudcart/internal/logstore"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// BenchmarkHandler is the cost of a line logged inside a span with the
// attributes of the order service's line for a failed call (component,
// method, path, a 160-character error), printed as JSON to nowhere: "plain" without the store, "kept"
// with it. bytes/line is the store's estimate of one such line.
func BenchmarkHandler(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("b").Start(context.Background(), "POST /orders")
	defer span.End()
	err := errors.New("cloudcart error: code=unavailable message=product service unavailable: GET /products?limit=100&sku=BOOK-0001: 503 fault injected by chaos-service (settings version 1)")
	for _, tc := range []struct {
		name string
		keep bool
	}{{"plain", false}, {"kept", true}} {
		b.Run(tc.name, func(b *testing.B) {
			st := logstore.New(logstore.Options{})
			var h slog.Handler = slog.NewJSONHandler(discard{}, nil)
			if tc.keep {
				h = st.Handler(h)
			}
			log := slog.New(telemetry.NewLogHandler(h)).With("component", "order-service")
			b.ReportAllocs()
			for b.Loop() {
				log.InfoContext(ctx, "unavailable", "method", "POST", "path", "/orders", "err", err)
			}
			if s := st.Stats(); s.Records > 0 {
				b.ReportMetric(float64(s.Bytes)/float64(s.Records), "bytes/line")
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
