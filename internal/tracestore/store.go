package tracestore

import (
	"cmp"
	"container/list"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultMaxBytes         = 64 << 20
	DefaultMaxSpansPerTrace = 10000
	// slowQuantile: a trace at least as long as this quantile of the
	// recent traces' durations counts as slow and may be kept.
	slowQuantile = 0.99
	slowWindow   = 1024 // recent durations the quantile is taken over
	// traceOverhead is a trace's own cost besides its spans: the entry in
	// the index and the pool, its service counts.
	traceOverhead = 512
	slowRecalc    = 64 // recompute the threshold every this many traces
)

// Options configure a Store.
type Options struct {
	// MaxBytes bounds the estimated memory of all stored spans; past it the
	// oldest traces go first. DefaultMaxBytes if 0.
	MaxBytes int64
	// KeepBytes is the part of MaxBytes where error traces and the slowest
	// traces (slowQuantile of recent ones) move when they become the oldest,
	// instead of being evicted; they leave it oldest first too. MaxBytes/8
	// if 0; negative turns keeping off.
	KeepBytes int64
	// MaxSpansPerTrace drops further spans of a trace that has this many.
	// DefaultMaxSpansPerTrace if 0.
	MaxSpansPerTrace int
	// Now is the clock for ages; time.Now if nil.
	Now func() time.Time
}

// Store holds recent traces in memory. It is safe for concurrent use.
type Store struct {
	opts Options

	mu        sync.Mutex
	traces    map[TraceID]*trace
	recent    list.List // of *trace, oldest arrival first
	kept      list.List // of *trace moved here when evicted from recent
	bytes     int64     // all stored spans
	keptBytes int64     // spans of kept traces
	spans     int
	ops       map[string]map[string]int // service → operation → spans stored
	slow      slowTracker
	stats     Stats
}

// Stats are the store's counters since it was created.
type Stats struct {
	SpansReceived      uint64
	SpansDroppedLimit  uint64 // the trace had MaxSpansPerTrace spans
	SpansDroppedSize   uint64 // one span larger than the whole budget
	SpansDuplicate     uint64 // a span id the trace already has
	TracesEvicted      uint64 // from the recent pool
	TracesKept         uint64 // moved to the keep pool instead
	TracesKeptEvicted  uint64 // from the keep pool
	SpansEvicted       uint64
	SpansRejectedOTLP  uint64 // counted by the OTLP receiver (AddRejected)
	Traces, Spans      int
	Bytes, KeptBytes   int64
	KeptTraces         int
	OldestRecent       time.Time // arrival of the oldest trace of each pool
	OldestKept         time.Time
	SlowThreshold      time.Duration
	MaxBytes, KeepSize int64
}

type trace struct {
	id       TraceID
	spans    []*Span
	bytes    int64
	first    time.Time // earliest span start
	last     time.Time // latest span end
	arrived  time.Time
	errors   int
	kept     bool
	elem     *list.Element
	services map[string]int
}

func (t *trace) duration() time.Duration { return t.last.Sub(t.first) }

func (t *trace) has(id SpanID) bool {
	for _, sp := range t.spans {
		if sp.SpanID == id {
			return true
		}
	}
	return false
}

// New returns an empty store.
func New(o Options) *Store {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.KeepBytes == 0 {
		o.KeepBytes = o.MaxBytes / 8
	}
	if o.KeepBytes < 0 {
		o.KeepBytes = 0
	}
	o.KeepBytes = min(o.KeepBytes, o.MaxBytes)
	if o.MaxSpansPerTrace <= 0 {
		o.MaxSpansPerTrace = DefaultMaxSpansPerTrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{opts: o, traces: map[TraceID]*trace{}, ops: map[string]map[string]int{}}
}

// Add stores spans, then evicts until the store is within its budget.
func (s *Store) Add(spans []*Span) {
	if len(spans) == 0 {
		return
	}
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.SpansReceived += uint64(len(spans))
	for _, sp := range spans {
		size := sp.size()
		if size > s.opts.MaxBytes {
			s.stats.SpansDroppedSize++
			continue
		}
		t := s.traces[sp.TraceID]
		if t == nil {
			t = &trace{id: sp.TraceID, first: sp.Start, last: sp.Start.Add(sp.Duration), arrived: now, services: map[string]int{}, bytes: traceOverhead}
			t.elem = s.recent.PushBack(t)
			s.traces[sp.TraceID] = t
			s.bytes += traceOverhead
		}
		if len(t.spans) >= s.opts.MaxSpansPerTrace {
			s.stats.SpansDroppedLimit++
			continue
		}
		if t.has(sp.SpanID) { // an exporter's retry
			s.stats.SpansDuplicate++
			continue
		}
		t.spans = append(t.spans, sp)
		t.bytes += size
		s.bytes += size
		if t.kept {
			s.keptBytes += size
		}
		s.spans++
		if sp.Start.Before(t.first) {
			t.first = sp.Start
		}
		if end := sp.Start.Add(sp.Duration); end.After(t.last) {
			t.last = end
		}
		if sp.IsError() {
			t.errors++
		}
		t.services[sp.Service]++
		ops := s.ops[sp.Service]
		if ops == nil {
			ops = map[string]int{}
			s.ops[sp.Service] = ops
		}
		ops[sp.Name]++
	}
	s.evictLocked()
}

// evictLocked makes room: the oldest recent trace leaves, or moves to the
// keep pool when it failed or was among the slowest; the keep pool sheds
// its own oldest past KeepBytes.
func (s *Store) evictLocked() {
	for s.bytes > s.opts.MaxBytes {
		front := s.recent.Front()
		if front == nil {
			s.removeLocked(s.kept.Front().Value.(*trace))
			s.stats.TracesKeptEvicted++
			continue
		}
		t := front.Value.(*trace)
		slow := s.slow.observe(t.duration())
		if (t.errors > 0 || slow) && t.bytes <= s.opts.KeepBytes {
			s.recent.Remove(front)
			t.kept = true
			t.elem = s.kept.PushBack(t)
			s.keptBytes += t.bytes
			s.stats.TracesKept++
			for s.keptBytes > s.opts.KeepBytes {
				s.removeLocked(s.kept.Front().Value.(*trace))
				s.stats.TracesKeptEvicted++
			}
			continue
		}
		s.removeLocked(t)
		s.stats.TracesEvicted++
	}
}

func (s *Store) removeLocked(t *trace) {
	if t.kept {
		s.kept.Remove(t.elem)
		s.keptBytes -= t.bytes
	} else {
		s.recent.Remove(t.elem)
	}
	delete(s.traces, t.id)
	s.bytes -= t.bytes
	s.spans -= len(t.spans)
	s.stats.SpansEvicted += uint64(len(t.spans))
	for _, sp := range t.spans {
		ops := s.ops[sp.Service]
		if ops[sp.Name]--; ops[sp.Name] == 0 {
			delete(ops, sp.Name)
			if len(ops) == 0 {
				delete(s.ops, sp.Service)
			}
		}
	}
}

// AddRejected counts spans a receiver could not store (internal/otlpin).
func (s *Store) AddRejected(n int) {
	s.mu.Lock()
	s.stats.SpansRejectedOTLP += uint64(n)
	s.mu.Unlock()
}

// Stats returns the current counters and sizes.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Traces, st.Spans, st.Bytes, st.KeptBytes = len(s.traces), s.spans, s.bytes, s.keptBytes
	st.KeptTraces = s.kept.Len()
	if f := s.recent.Front(); f != nil {
		st.OldestRecent = f.Value.(*trace).arrived
	}
	if f := s.kept.Front(); f != nil {
		st.OldestKept = f.Value.(*trace).arrived
	}
	st.SlowThreshold = s.slow.threshold
	st.MaxBytes, st.KeepSize = s.opts.MaxBytes, s.opts.KeepBytes
	return st
}

// Trace returns the spans of a trace, ordered by start time.
func (s *Store) Trace(id TraceID) ([]*Span, bool) {
	s.mu.Lock()
	t := s.traces[id]
	var spans []*Span
	if t != nil {
		spans = slices.Clone(t.spans)
	}
	s.mu.Unlock()
	if t == nil {
		return nil, false
	}
	sortSpans(spans)
	return spans, true
}

func sortSpans(spans []*Span) {
	slices.SortStableFunc(spans, func(a, b *Span) int { return a.Start.Compare(b.Start) })
}

// Services returns the services with stored spans, sorted.
func (s *Store) Services() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.ops))
	for svc := range s.ops {
		out = append(out, svc)
	}
	sort.Strings(out)
	return out
}

// Operations returns the span names of a service's stored spans, sorted.
func (s *Store) Operations(service string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.ops[service]))
	for op := range s.ops[service] {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// Query selects traces as Jaeger's search does: a trace matches when one
// of its spans matches every criterion set.
type Query struct {
	Service     string
	Operation   string
	Tags        map[string]string // span or resource attributes; "error": "true" means an error status
	MinDuration time.Duration     // of the matching span
	MaxDuration time.Duration
	Start, End  time.Time // the matching span starts within [Start, End]
	Limit       int       // 20 if 0
}

// Search returns matching traces, the latest started first, each with its
// spans ordered by start time.
func (s *Store) Search(q Query) [][]*Span {
	limit := cmp.Or(q.Limit, 20)
	type hit struct {
		start time.Time
		spans []*Span
	}
	var hits []hit
	s.mu.Lock()
	for _, t := range s.traces {
		if q.Service != "" && t.services[q.Service] == 0 {
			continue
		}
		if !q.End.IsZero() && t.first.After(q.End) || !q.Start.IsZero() && t.last.Before(q.Start) {
			continue
		}
		if slices.ContainsFunc(t.spans, q.matches) {
			hits = append(hits, hit{t.first, slices.Clone(t.spans)})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(hits, func(a, b hit) int { return b.start.Compare(a.start) })
	out := make([][]*Span, 0, min(limit, len(hits)))
	for _, h := range hits[:min(limit, len(hits))] {
		sortSpans(h.spans)
		out = append(out, h.spans)
	}
	return out
}

func (q *Query) matches(sp *Span) bool {
	switch {
	case q.Service != "" && sp.Service != q.Service,
		q.Operation != "" && sp.Name != q.Operation,
		q.MinDuration > 0 && sp.Duration < q.MinDuration,
		q.MaxDuration > 0 && sp.Duration > q.MaxDuration,
		!q.Start.IsZero() && sp.Start.Before(q.Start),
		!q.End.IsZero() && sp.Start.After(q.End):
		return false
	}
	for k, v := range q.Tags {
		if !sp.hasTag(k, v) {
			return false
		}
	}
	return true
}

// hasTag matches the tags the Jaeger view shows for the span (jaeger.go):
// its attributes, its resource, and error, span.kind, otel.status_code.
func (sp *Span) hasTag(key, want string) bool {
	switch key {
	case "error":
		return strconv.FormatBool(sp.IsError()) == want
	case "span.kind":
		return sp.Kind == want
	case "otel.status_code":
		return strings.EqualFold(sp.Status.String(), want)
	case "otel.status_description":
		return sp.Message == want
	}
	for _, kvs := range [][]KeyValue{sp.Attrs, sp.Resource} {
		for _, kv := range kvs {
			if kv.Key == key && fmt.Sprint(kv.Value) == want {
				return true
			}
		}
	}
	return false
}

// String is the OTLP name of the status code.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusError:
		return "ERROR"
	}
	return "UNSET"
}

// slowTracker estimates which durations are among the slowest of recent
// traces: slowQuantile over the last slowWindow traces that reached the
// front of the recent pool.
type slowTracker struct {
	ring      [slowWindow]time.Duration
	n         int
	threshold time.Duration
}

func (t *slowTracker) observe(d time.Duration) bool {
	t.ring[t.n%slowWindow] = d
	t.n++
	if t.n%slowRecalc == 0 || t.n == 1 {
		c := slices.Clone(t.ring[:min(t.n, slowWindow)])
		slices.Sort(c)
		t.threshold = c[int(float64(len(c)-1)*slowQuantile)]
	}
	// Until a window is seen, nothing is slow: the first traces would all be.
	// Strictly longer: when most traces take the same time, none is slow.
	return t.n >= slowRecalc && d > t.threshold
}
