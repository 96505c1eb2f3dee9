package tracestore

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Exporter is an sdktrace.SpanExporter writing into a Store. Put it behind
// sdktrace.NewBatchSpanProcessor (telemetry.Options.SpanExporters does):
// a service's request path then only queues the span.
type Exporter struct{ store *Store }

var _ sdktrace.SpanExporter = (*Exporter)(nil)

// Exporter returns an exporter into s. One exporter serves any number of
// TracerProviders: each span carries its resource.
func (s *Store) Exporter() *Exporter { return &Exporter{store: s} }

// ExportSpans converts and stores the spans.
func (e *Exporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]*Span, len(spans))
	for i, s := range spans {
		out[i] = FromReadOnly(s)
	}
	e.store.Add(out)
	return nil
}

// Shutdown does nothing: the store outlives its exporters.
func (e *Exporter) Shutdown(context.Context) error { return nil }

// FromReadOnly converts an SDK span.
func FromReadOnly(s sdktrace.ReadOnlySpan) *Span {
	sc := s.SpanContext()
	sp := &Span{
		TraceID:  TraceID(sc.TraceID()),
		SpanID:   SpanID(sc.SpanID()),
		ParentID: SpanID(s.Parent().SpanID()),
		Name:     s.Name(),
		Kind:     kindName(s.SpanKind()),
		Start:    s.StartTime(),
		Duration: s.EndTime().Sub(s.StartTime()),
		Message:  s.Status().Description,
		Attrs:    fromAttrs(s.Attributes()),
		Scope:    s.InstrumentationScope().Name,
	}
	switch s.Status().Code {
	case codes.Error:
		sp.Status = StatusError
	case codes.Ok:
		sp.Status = StatusOK
	}
	if r := s.Resource(); r != nil {
		for _, kv := range r.Attributes() {
			if kv.Key == semconv.ServiceNameKey {
				sp.Service = kv.Value.AsString()
				continue
			}
			sp.Resource = append(sp.Resource, fromAttr(kv))
		}
	}
	for _, ev := range s.Events() {
		sp.Events = append(sp.Events, Event{Time: ev.Time, Name: ev.Name, Attrs: fromAttrs(ev.Attributes)})
	}
	for _, l := range s.Links() {
		sp.Links = append(sp.Links, Link{TraceID: TraceID(l.SpanContext.TraceID()), SpanID: SpanID(l.SpanContext.SpanID())})
	}
	return sp
}

func kindName(k oteltrace.SpanKind) string {
	if k == oteltrace.SpanKindUnspecified {
		return "internal"
	}
	return strings.ToLower(k.String())
}

func fromAttrs(kvs []attribute.KeyValue) []KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]KeyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = fromAttr(kv)
	}
	return out
}

func fromAttr(kv attribute.KeyValue) KeyValue {
	var v any
	switch kv.Value.Type() {
	case attribute.BOOL:
		v = kv.Value.AsBool()
	case attribute.INT64:
		v = kv.Value.AsInt64()
	case attribute.FLOAT64:
		v = kv.Value.AsFloat64()
	default:
		v = kv.Value.Emit()
	}
	return KeyValue{Key: string(kv.Key), Value: v}
}
