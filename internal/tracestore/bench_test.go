package tracestore_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudcart/cloudcart/internal/tracestore"
)

// BenchmarkExporterPerSpan is what a service pays per span for the trace
// store: a span started and ended with the attributes of an HTTP server
// span, through the BatchSpanProcessor into the store (conversion and
// insertion included, on the exporter's goroutine). Compare with
// BenchmarkSpanWithoutStore, the same span with no processor.
func BenchmarkExporterPerSpan(b *testing.B) {
	st := tracestore.New(tracestore.Options{})
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(resource.Empty()),
		sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(st.Exporter(), sdktrace.WithBlocking())))
	benchSpans(b, tp)
	if err := tp.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Stats().SpansReceived)/float64(b.N), "stored/op")
}

func BenchmarkSpanWithoutStore(b *testing.B) {
	benchSpans(b, sdktrace.NewTracerProvider(sdktrace.WithResource(resource.Empty())))
}

func benchSpans(b *testing.B, tp *sdktrace.TracerProvider) {
	tr := tp.Tracer("bench")
	attrs := trace.WithAttributes(attribute.String("http.request.method", "POST"), attribute.String("http.route", "/api/orders"),
		attribute.Int("http.response.status_code", 201), attribute.String("order.id", "ord_0123456789"))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, sp := tr.Start(ctx, "POST /api/orders", attrs, trace.WithSpanKind(trace.SpanKindServer))
		if i%100 == 0 {
			sp.SetStatus(codes.Error, "payment declined")
		}
		sp.End()
	}
}

// BenchmarkIngest is the store alone: spans/s it takes in (10-span traces,
// the size of an order's), under a 64 MiB budget that is full, so every
// batch also evicts.
func BenchmarkIngest(b *testing.B) {
	st := tracestore.New(tracestore.Options{})
	batches := make([][]*tracestore.Span, 1024)
	for i := range batches {
		batches[i] = mkTrace(uint64(i), 10, 20*time.Millisecond, i%50 == 0)
	}
	for i := range 100_000 { // fill the budget
		st.Add(retrace(batches[i%len(batches)], uint64(i)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st.Add(retrace(batches[i%len(batches)], uint64(i+1_000_000)))
	}
	b.StopTimer()
	b.ReportMetric(float64(10*b.N)/b.Elapsed().Seconds(), "spans/s")
}

// deepCopy gives the spans strings and slices of their own, as spans
// recorded one by one have (shared resource excepted).
func deepCopy(spans []*tracestore.Span) []*tracestore.Span {
	for _, s := range spans {
		s.Name, s.Kind, s.Scope = strings.Clone(s.Name), strings.Clone(s.Kind), strings.Clone(s.Scope)
		attrs := make([]tracestore.KeyValue, len(s.Attrs))
		for i, kv := range s.Attrs {
			attrs[i].Key = strings.Clone(kv.Key)
			if v, ok := kv.Value.(string); ok {
				attrs[i].Value = strings.Clone(v)
			} else {
				attrs[i].Value = kv.Value
			}
		}
		s.Attrs = attrs
	}
	return spans
}

// retrace gives the spans of a template trace a new trace id.
func retrace(tpl []*tracestore.Span, id uint64) []*tracestore.Span {
	out := make([]*tracestore.Span, len(tpl))
	for i, s := range tpl {
		c := *s
		for j := range 8 {
			c.TraceID[8+j] = byte(id >> (8 * j))
		}
		c.TraceID[0] = 2
		out[i] = &c
	}
	return out
}

// BenchmarkMemoryPer10kTraces measures the heap 10,000 traces of 10 spans
// hold (converted from SDK spans with HTTP and database attributes), next
// to the store's estimate (cloudcart_traces_bytes).
func BenchmarkMemoryPer10kTraces(b *testing.B) {
	for i := 0; i < b.N; i++ {
		tpl := sdkTrace(b)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		st := tracestore.New(tracestore.Options{MaxBytes: 1 << 40})
		for j := range 10_000 {
			st.Add(deepCopy(retrace(tpl, uint64(j))))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heapMiB/10k")
		b.ReportMetric(float64(st.Stats().Bytes)/(1<<20), "estMiB/10k")
		runtime.KeepAlive(st)
	}
}

// sdkTrace records a 10-span trace like an order's (a server span, client
// and database spans with their attributes) through the SDK and converts
// it as the exporter does.
func sdkTrace(tb testing.TB) []*tracestore.Span {
	var got []*tracestore.Span
	exp := exporterFunc(func(spans []sdktrace.ReadOnlySpan) {
		for _, s := range spans {
			got = append(got, tracestore.FromReadOnly(s))
		}
	})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(resource.Default()))
	tr := tp.Tracer("cloudcart/http")
	ctx, root := tr.Start(context.Background(), "POST /orders", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", "POST"), attribute.String("http.route", "/orders"), attribute.Int("http.response.status_code", 201),
		attribute.String("url.path", "/orders"), attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", 8003)))
	for i := range 9 {
		_, sp := tr.Start(ctx, "db.insert", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("db.system.name", "sqlite"), attribute.String("db.query.text", "INSERT INTO order_items (order_id, sku, qty, price_cents) VALUES ($1, $2, $3, $4)"),
			attribute.String("order.id", "ord_0123456789"), attribute.Int("n", i)))
		sp.End()
	}
	root.End()
	_ = tp.Shutdown(context.Background())
	if len(got) != 10 {
		tb.Fatalf("%d spans", len(got))
	}
	return got
}

type exporterFunc func([]sdktrace.ReadOnlySpan)

func (f exporterFunc) ExportSpans(_ context.Context, s []sdktrace.ReadOnlySpan) error {
	f(s)
	return nil
}
func (exporterFunc) Shutdown(context.Context) error { return nil }
