package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// LogHandler wraps a service's slog.Handler so logs point at traces: a
// record logged with a context that holds a recording span gets trace_id
// and span_id, and warnings and errors are also added to that span as an
// event ("log", with the message, level and attributes), so the trace view
// shows them where they happened.
//
// Only the *Context methods (InfoContext, ErrorContext, ...) carry the
// span; lines logged without a context stay as they were.
type LogHandler struct {
	base   slog.Handler // as passed to NewLogHandler
	next   slog.Handler // base with the WithAttrs and WithGroup calls applied
	attrs  []slog.Attr  // from WithAttrs inside their groups, for span events
	groups []string
	calls  []func(slog.Handler) slog.Handler // the With calls, to replay on base
}

// NewLogHandler wraps next.
func NewLogHandler(next slog.Handler) *LogHandler { return &LogHandler{base: next, next: next} }

// Enabled implements slog.Handler: a disabled level is not logged, but a
// warning is still recorded on the span.
func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l) || (l >= slog.LevelWarn && trace.SpanFromContext(ctx).IsRecording())
}

// Handle implements slog.Handler.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	span := trace.SpanFromContext(ctx)
	sc := span.SpanContext()
	if r.Level >= slog.LevelWarn && span.IsRecording() {
		span.AddEvent("log", trace.WithTimestamp(r.Time), trace.WithAttributes(h.eventAttrs(r)...))
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	if !sc.IsValid() {
		return h.next.Handle(ctx, r)
	}
	ids := []slog.Attr{slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String())}
	if len(h.groups) == 0 {
		r = r.Clone()
		r.AddAttrs(ids...)
		return h.next.Handle(ctx, r)
	}
	// Inside a group the ids would land in it; keep them at the top level
	// where log queries look for them (rare: CloudCart does not group).
	next := h.base.WithAttrs(ids)
	for _, c := range h.calls {
		next = c(next)
	}
	return next.Handle(ctx, r)
}

// eventAttrs turns the record into span event attributes: the message and
// level under the OTel log field names, then the record's attributes.
func (h *LogHandler) eventAttrs(r slog.Record) []attribute.KeyValue {
	kvs := []attribute.KeyValue{
		attribute.String("message", r.Message),
		attribute.String("level", r.Level.String()),
	}
	prefix := ""
	for _, g := range h.groups {
		prefix += g + "."
	}
	for _, a := range h.attrs { // already inside their groups
		kvs = appendAttr(kvs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		kvs = appendAttr(kvs, prefix, a)
		return true
	})
	return kvs
}

func appendAttr(kvs []attribute.KeyValue, prefix string, a slog.Attr) []attribute.KeyValue {
	FlattenAttr(prefix, a, func(key string, v slog.Value) {
		switch v.Kind() {
		case slog.KindBool:
			kvs = append(kvs, attribute.Bool(key, v.Bool()))
		case slog.KindInt64:
			kvs = append(kvs, attribute.Int64(key, v.Int64()))
		case slog.KindFloat64:
			kvs = append(kvs, attribute.Float64(key, v.Float64()))
		default:
			kvs = append(kvs, attribute.String(key, v.String()))
		}
	})
	return kvs
}

// FlattenAttr calls leaf with each non-group value of a, resolved, under
// its dotted key: prefix, then the keys of the groups it is in, then its
// own ("order.items.count"). As slog's handlers do, a group with an empty
// key is inlined and an attribute with an empty key is dropped.
func FlattenAttr(prefix string, a slog.Attr, leaf func(key string, v slog.Value)) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			FlattenAttr(p, g, leaf)
		}
		return
	}
	if a.Key != "" {
		leaf(prefix+a.Key, v)
	}
}

// WithAttrs implements slog.Handler.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), prefixed(h.groups, attrs)...)
	c.calls = append(append([]func(slog.Handler) slog.Handler(nil), h.calls...),
		func(n slog.Handler) slog.Handler { return n.WithAttrs(attrs) })
	return &c
}

// WithGroup implements slog.Handler.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.groups = append(append([]string(nil), h.groups...), name)
	c.calls = append(append([]func(slog.Handler) slog.Handler(nil), h.calls...),
		func(n slog.Handler) slog.Handler { return n.WithGroup(name) })
	return &c
}

// prefixed wraps attrs in the open groups, so a later WithGroup does not
// move them into its own.
func prefixed(groups []string, attrs []slog.Attr) []slog.Attr {
	for i := len(groups) - 1; i >= 0; i-- {
		attrs = []slog.Attr{{Key: groups[i], Value: slog.GroupValue(attrs...)}}
	}
	return attrs
}
