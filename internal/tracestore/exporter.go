package tracestore

import (
	"context"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Exporter is an sdktrace.SpanExporter writing into a Store. Put it behind
// sdktrace.NewBatchSpanProcessor (telemetry.Options.SpanExporters does):
// a service's request path then only queues the span.
type Exporter struct {
	store *Store

	mu        sync.Mutex
	resources map[*resource.Resource]converted // each TracerProvider's resource, converted once
}

type converted struct {
	service string
	attrs   []KeyValue
}

var _ sdktrace.SpanExporter = (*Exporter)(nil)

// Exporter returns an exporter into s. One exporter serves any number of
// TracerProviders: each span carries its resource.
func (s *Store) Exporter() *Exporter {
	return &Exporter{store: s, resources: map[*resource.Resource]converted{}}
}

// ExportSpans converts and stores the spans.
func (e *Exporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]*Span, len(spans))
	e.mu.Lock()
	for i, s := range spans {
		r := s.Resource()
		c, ok := e.resources[r]
		if !ok {
			c.service, c.attrs = fromResource(r)
			if len(e.resources) < maxResources {
				e.resources[r] = c
			}
		}
		out[i] = convert(s, c.service, c.attrs)
	}
	e.mu.Unlock()
	e.store.Add(out)
	return nil
}

// Shutdown does nothing: the store outlives its exporters.
func (e *Exporter) Shutdown(context.Context) error { return nil }

// maxResources bounds the exporter's resource cache: one per
// TracerProvider, so seven in `cloudcart run`.
const maxResources = 64

// FromReadOnly converts an SDK span.
func FromReadOnly(s sdktrace.ReadOnlySpan) *Span {
	svc, res := fromResource(s.Resource())
	return convert(s, svc, res)
}

// fromResource returns service.name and the other attributes.
func fromResource(r *resource.Resource) (string, []KeyValue) {
	if r == nil {
		return "", nil
	}
	var (
		svc   string
		attrs []KeyValue
	)
	for _, kv := range r.Attributes() {
		if kv.Key == semconv.ServiceNameKey {
			svc = kv.Value.AsString()
			continue
		}
		attrs = append(attrs, fromAttr(kv))
	}
	return svc, attrs
}

// convert converts a span; spans of one resource share its attributes.
func convert(s sdktrace.ReadOnlySpan, service string, res []KeyValue) *Span {
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
		Service:  service,
		Resource: res,
	}
	switch s.Status().Code {
	case codes.Error:
		sp.Status = StatusError
	case codes.Ok:
		sp.Status = StatusOK
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
		v = kv.Value.String()
	}
	return KeyValue{Key: string(kv.Key), Value: v}
}
