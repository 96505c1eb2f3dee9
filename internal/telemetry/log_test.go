package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// TestLogHandler: a line logged inside a span carries its trace_id and
// span_id; warnings and errors also become span events with the message,
// level and attributes (groups included); info lines do not; a line with
// no span is unchanged; a warning below the handler's level is not printed
// but still recorded on the span.
func TestLogHandler(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var buf bytes.Buffer
	log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))).
		With("component", "order-service")

	ctx, span := tp.Tracer("test").Start(context.Background(), "POST /orders")
	log.InfoContext(ctx, "order placed", "order_id", "o-1")
	log.WithGroup("db").WarnContext(ctx, "slow query", "ms", 250)
	// As slog's own handlers do: a group without a key is inlined, an
	// attribute without a key dropped.
	log.ErrorContext(ctx, "payment failed", "err", "declined", slog.Group("", "provider", "sim"), slog.String("", "dropped"))
	log.Info("no span here")
	span.End()

	sc := span.SpanContext()
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), buf.String())
	}
	for i, want := range []bool{true, true, true, false} {
		var m map[string]any
		if err := json.Unmarshal(lines[i], &m); err != nil {
			t.Fatal(err)
		}
		if got := m["trace_id"] == sc.TraceID().String() && m["span_id"] == sc.SpanID().String(); got != want {
			t.Errorf("line %d: has this span's ids = %v, want %v: %s", i, got, want, lines[i])
		}
		if _, ok := m["trace_id"]; !want && ok {
			t.Errorf("line %d outside a span has a trace_id: %s", i, lines[i])
		}
	}

	ended := rec.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans ended", len(ended))
	}
	events := ended[0].Events()
	if len(events) != 2 {
		t.Fatalf("span events = %d, want 2 (warning and error only): %+v", len(events), events)
	}
	want := []map[string]string{
		{"message": "slow query", "level": "WARN", "component": "order-service", "db.ms": "250"},
		{"message": "payment failed", "level": "ERROR", "component": "order-service", "err": "declined", "provider": "sim"},
	}
	for i, ev := range events {
		if ev.Name != "log" {
			t.Errorf("event %d name = %q, want log", i, ev.Name)
		}
		got := map[string]string{}
		for _, kv := range ev.Attributes {
			got[string(kv.Key)] = kv.Value.String()
		}
		for k, v := range want[i] {
			if got[k] != v {
				t.Errorf("event %d attribute %s = %q, want %q (all: %v)", i, k, got[k], v, got)
			}
		}
		if len(got) != len(want[i]) {
			t.Errorf("event %d attributes %v, want exactly %v", i, got, want[i])
		}
	}

	t.Run("warning below the level is still a span event", func(t *testing.T) {
		var quiet bytes.Buffer
		log := slog.New(telemetry.NewLogHandler(slog.NewTextHandler(&quiet, &slog.HandlerOptions{Level: slog.LevelError})))
		ctx, span := tp.Tracer("test").Start(context.Background(), "GET /products")
		log.WarnContext(ctx, "cache miss storm")
		span.End()
		if quiet.Len() != 0 {
			t.Errorf("printed below the level: %s", quiet.String())
		}
		last := rec.Ended()[len(rec.Ended())-1]
		if len(last.Events()) != 1 || last.Events()[0].Attributes[0].Value.AsString() != "cache miss storm" {
			t.Errorf("events = %+v", last.Events())
		}
	})
}
