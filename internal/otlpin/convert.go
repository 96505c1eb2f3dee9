package otlpin

import (
	"github.com/cloudcart/cloudcart/internal/tracestore"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// fromOTLP converts an export into store spans; spans without a valid
// trace or span id are counted, not converted.
func fromOTLP(td ptrace.Traces) (spans []*tracestore.Span, rejected int) {
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		service := "unknown_service"
		var res []tracestore.KeyValue
		rs.Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			if k == "service.name" {
				service = v.AsString()
			} else {
				res = append(res, fromValue(k, v))
			}
			return true
		})
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			ss := sss.At(j)
			scope := ss.Scope().Name()
			list := ss.Spans()
			for k := range list.Len() {
				s := list.At(k)
				if s.TraceID().IsEmpty() || s.SpanID().IsEmpty() {
					rejected++
					continue
				}
				sp := &tracestore.Span{
					TraceID:  tracestore.TraceID(s.TraceID()),
					SpanID:   tracestore.SpanID(s.SpanID()),
					ParentID: tracestore.SpanID(s.ParentSpanID()),
					Service:  service,
					Name:     s.Name(),
					Kind:     kindName(s.Kind()),
					Start:    s.StartTimestamp().AsTime(),
					Message:  s.Status().Message(),
					Attrs:    fromMap(s.Attributes()),
					Resource: res,
					Scope:    scope,
				}
				if end := s.EndTimestamp(); end > s.StartTimestamp() {
					sp.Duration = end.AsTime().Sub(sp.Start)
				}
				switch s.Status().Code() {
				case ptrace.StatusCodeError:
					sp.Status = tracestore.StatusError
				case ptrace.StatusCodeOk:
					sp.Status = tracestore.StatusOK
				}
				evs := s.Events()
				for e := range evs.Len() {
					ev := evs.At(e)
					sp.Events = append(sp.Events, tracestore.Event{Time: ev.Timestamp().AsTime(), Name: ev.Name(), Attrs: fromMap(ev.Attributes())})
				}
				links := s.Links()
				for l := range links.Len() {
					ln := links.At(l)
					sp.Links = append(sp.Links, tracestore.Link{TraceID: tracestore.TraceID(ln.TraceID()), SpanID: tracestore.SpanID(ln.SpanID())})
				}
				spans = append(spans, sp)
			}
		}
	}
	return spans, rejected
}

func kindName(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	}
	return "internal"
}

func fromMap(m pcommon.Map) []tracestore.KeyValue {
	if m.Len() == 0 {
		return nil
	}
	out := make([]tracestore.KeyValue, 0, m.Len())
	m.Range(func(k string, v pcommon.Value) bool {
		out = append(out, fromValue(k, v))
		return true
	})
	return out
}

func fromValue(k string, v pcommon.Value) tracestore.KeyValue {
	switch v.Type() {
	case pcommon.ValueTypeBool:
		return tracestore.KeyValue{Key: k, Value: v.Bool()}
	case pcommon.ValueTypeInt:
		return tracestore.KeyValue{Key: k, Value: v.Int()}
	case pcommon.ValueTypeDouble:
		return tracestore.KeyValue{Key: k, Value: v.Double()}
	}
	return tracestore.KeyValue{Key: k, Value: v.AsString()}
}
