// Package tracestore keeps recent traces in memory for `cloudcart run`: the
// spans of every service of the process (through Exporter, an sdktrace
// SpanExporter, with no network hop) and of any app that sends OTLP
// (internal/otlpin), under a byte budget with oldest-first eviction and a
// smaller second budget where error traces and the slowest traces live
// longer. It serves them through Jaeger's HTTP query API (jaeger.go), which
// Grafana's Jaeger data source and the console read.
//
// Nothing is written to disk: a restart starts with an empty store.
package tracestore

import (
	"encoding/hex"
	"fmt"
	"time"
)

// TraceID and SpanID are the W3C identifiers.
type (
	TraceID [16]byte
	SpanID  [8]byte
)

// String is the lowercase hex form used by W3C traceparent, exemplars and
// Jaeger.
func (t TraceID) String() string { return hex.EncodeToString(t[:]) }

// String is the lowercase hex form.
func (s SpanID) String() string { return hex.EncodeToString(s[:]) }

// IsValid reports whether the id is not all zeroes.
func (s SpanID) IsValid() bool { return s != SpanID{} }

// ParseTraceID reads a hex trace id. Shorter ids (64-bit Jaeger ids) are
// left-padded with zeroes, as Jaeger does.
func ParseTraceID(s string) (TraceID, error) {
	var t TraceID
	if len(s) == 0 || len(s) > 32 {
		return t, fmt.Errorf("trace id %q: want 1 to 32 hex digits", s)
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return t, fmt.Errorf("trace id %q: not hex", s)
	}
	copy(t[16-len(b):], b)
	if t == (TraceID{}) {
		return t, fmt.Errorf("trace id %q: all zeroes", s)
	}
	return t, nil
}

// Status is a span's status code.
type Status uint8

// Span status codes, as in OTLP.
const (
	StatusUnset Status = iota
	StatusOK
	StatusError
)

// KeyValue is an attribute. Value is a string, bool, int64 or float64;
// arrays, maps and bytes arrive as their string form.
type KeyValue struct {
	Key   string
	Value any
}

// Event is a span event (a Jaeger log).
type Event struct {
	Time  time.Time
	Name  string
	Attrs []KeyValue
}

// Link points at another span (a Jaeger FOLLOWS_FROM reference).
type Link struct {
	TraceID TraceID
	SpanID  SpanID
}

// Span is one stored span, independent of where it came from.
type Span struct {
	TraceID  TraceID
	SpanID   SpanID
	ParentID SpanID // zero for a root
	Service  string // resource service.name
	Name     string
	Kind     string // server, client, producer, consumer, internal
	Start    time.Time
	Duration time.Duration
	Status   Status
	Message  string // status description
	Attrs    []KeyValue
	Events   []Event
	Links    []Link
	Resource []KeyValue // resource attributes but service.name; shared by the spans of one resource
	Scope    string     // instrumentation scope name
}

// IsError reports whether the span failed: an error status, as the SDK and
// the HTTP middleware set it.
func (s *Span) IsError() bool { return s.Status == StatusError }

// Fixed costs in the size estimate: the Span struct with its slice headers,
// one attribute, one event, one link, and a string header. They match the
// Go layout on 64-bit platforms; BenchmarkMemoryPer10kTraces compares the
// estimate with the heap the store really holds.
const (
	spanOverhead  = 256
	kvOverhead    = 32 // string header + interface
	eventOverhead = 64
	linkOverhead  = 24
)

// size estimates the bytes the span holds in memory: the struct, its
// strings, attributes, events and links; not the resource, which the spans
// of a process share.
func (s *Span) size() int64 {
	n := int64(spanOverhead + len(s.Service) + len(s.Name) + len(s.Kind) + len(s.Message) + len(s.Scope))
	n += kvSize(s.Attrs) // Resource is shared: its slice header is in spanOverhead
	for _, e := range s.Events {
		n += eventOverhead + int64(len(e.Name)) + kvSize(e.Attrs)
	}
	n += int64(len(s.Links)) * linkOverhead
	return n
}

func kvSize(kvs []KeyValue) int64 {
	var n int64
	for _, kv := range kvs {
		n += kvOverhead + int64(len(kv.Key))
		switch v := kv.Value.(type) {
		case string:
			n += 16 + int64(len(v))
		default:
			n += 8
		}
	}
	return n
}
