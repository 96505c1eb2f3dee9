// Package logstore keeps the latest log lines written inside a span, by
// trace id, so a trace view can show what its requests logged: a ring
// bounded by a byte budget, oldest lines evicted first, in memory only.
// Its Handler tees a process's slog output into it.
package logstore

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// DefaultMaxBytes is the budget when Options.MaxBytes is 0.
const DefaultMaxBytes = 8 << 20

// Options configures a Store.
type Options struct {
	MaxBytes int64            // DefaultMaxBytes if 0
	Now      func() time.Time // time.Now if nil
}

// Record is one log line, as the API returns it.
type Record struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	// Component is the logger's "component" attribute: the service's
	// OTel name for the services' lines.
	Component  string            `json:"component,omitempty"`
	TraceID    string            `json:"traceID"`
	SpanID     string            `json:"spanID"`
	Attributes map[string]string `json:"attributes,omitempty"`
	size       int64
}

// Store is the ring. It is safe for concurrent use.
type Store struct {
	opts    Options
	mu      sync.Mutex
	queue   []*Record // oldest first, from head
	head    int
	byTrace map[string][]*Record // oldest first
	bytes   int64
	// counters
	received, evicted, dropped uint64
}

// New returns an empty store.
func New(o Options) *Store {
	o.MaxBytes = cmp.Or(o.MaxBytes, DefaultMaxBytes)
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{opts: o, byTrace: map[string][]*Record{}}
}

// recordOverhead is the estimated fixed memory of a record besides its
// strings: the struct, its map, the queue and index slots.
const recordOverhead, attrOverhead = 256, 48

// Add stores r, evicting the oldest records beyond the budget. A record
// larger than the whole budget is dropped.
func (s *Store) Add(r Record) {
	r.size = recordOverhead + int64(len(r.Message)+len(r.Component)+len(r.Level)+len(r.TraceID)+len(r.SpanID))
	for k, v := range r.Attributes {
		r.size += attrOverhead + int64(len(k)+len(v))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received++
	if r.size > s.opts.MaxBytes {
		s.dropped++
		return
	}
	for s.bytes+r.size > s.opts.MaxBytes && s.head < len(s.queue) {
		s.evictOldest()
	}
	p := &r
	s.queue = append(s.queue, p)
	s.byTrace[r.TraceID] = append(s.byTrace[r.TraceID], p)
	s.bytes += r.size
}

func (s *Store) evictOldest() {
	old := s.queue[s.head]
	s.queue[s.head] = nil
	s.head++
	if s.head > 1024 && s.head*2 > len(s.queue) { // compact the queue
		s.queue = append([]*Record(nil), s.queue[s.head:]...)
		s.head = 0
	}
	rs := s.byTrace[old.TraceID]
	if len(rs) <= 1 {
		delete(s.byTrace, old.TraceID)
	} else {
		rs[0] = nil
		s.byTrace[old.TraceID] = rs[1:]
	}
	s.bytes -= old.size
	s.evicted++
}

// Trace returns the kept records of a trace, oldest first; with spanID,
// only that span's.
func (s *Store) Trace(traceID, spanID string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.byTrace[traceID] {
		if spanID == "" || r.SpanID == spanID {
			out = append(out, *r)
		}
	}
	return out
}

// Stats is the store's state.
type Stats struct {
	Records, Bytes, MaxBytes   int64
	Oldest                     time.Time // zero when empty
	Received, Evicted, Dropped uint64
}

// Stats returns the store's state.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Records: int64(len(s.queue) - s.head), Bytes: s.bytes, MaxBytes: s.opts.MaxBytes,
		Received: s.received, Evicted: s.evicted, Dropped: s.dropped}
	if s.head < len(s.queue) {
		st.Oldest = s.queue[s.head].Time
	}
	return st
}

// Handler returns a slog.Handler that passes every record to next and
// keeps, in s, those next handles (its level) written inside a span.
func (s *Store) Handler(next slog.Handler) slog.Handler { return &handler{s: s, next: next} }

type handler struct {
	s      *Store
	next   slog.Handler
	attrs  []slog.Attr // with their group prefix in the key
	prefix string
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		rec := Record{Time: r.Time, Level: r.Level.String(), Message: r.Message,
			TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String()}
		add := func(key string, v slog.Value) {
			if key == "component" && rec.Component == "" {
				rec.Component = v.String()
				return
			}
			if key == "trace_id" || key == "span_id" {
				return
			}
			if rec.Attributes == nil {
				rec.Attributes = map[string]string{}
			}
			rec.Attributes[key] = v.String()
		}
		for _, a := range h.attrs {
			add(a.Key, a.Value.Resolve())
		}
		r.Attrs(func(a slog.Attr) bool {
			telemetry.FlattenAttr(h.prefix, a, add)
			return true
		})
		h.s.Add(rec)
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		telemetry.FlattenAttr(h.prefix, a, func(k string, v slog.Value) { c.attrs = append(c.attrs, slog.Attr{Key: k, Value: v}) })
	}
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	c.next = h.next.WithGroup(name)
	return &c
}

// DefaultLimit and MaxLimit bound the records one API answer returns.
const DefaultLimit, MaxLimit = 200, 1000

// APIHandler serves GET /api/logs?traceID=<32 hex>[&spanID=<16 hex>][&limit=N]:
// {"data":[records, oldest first],"total":N,"oldest":time}, the latest
// limit of the trace's (or span's) kept records; "oldest" is how far back
// the store reaches. Bad parameters answer 400 with a JSON error.
func (s *Store) APIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			fail(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: GET")
			return
		}
		q := r.URL.Query()
		tid, sid := q.Get("traceID"), q.Get("spanID")
		if !isHex(tid, 32) {
			fail(w, http.StatusBadRequest, fmt.Sprintf("traceID %q: want 32 lowercase hex digits", tid))
			return
		}
		if sid != "" && !isHex(sid, 16) {
			fail(w, http.StatusBadRequest, fmt.Sprintf("spanID %q: want 16 lowercase hex digits", sid))
			return
		}
		limit := DefaultLimit
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxLimit {
				fail(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want 1 to %d", v, MaxLimit))
				return
			}
			limit = n
		}
		recs := s.Trace(tid, sid)
		total := len(recs)
		recs = recs[max(0, len(recs)-limit):]
		body := struct {
			Data   []Record   `json:"data"`
			Total  int        `json:"total"`
			Oldest *time.Time `json:"oldest"`
		}{Data: recs, Total: total}
		if recs == nil {
			body.Data = []Record{}
		}
		if st := s.Stats(); !st.Oldest.IsZero() {
			body.Oldest = &st.Oldest
		}
		httpkit.WriteJSON(w, http.StatusOK, body)
	})
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func fail(w http.ResponseWriter, status int, msg string) {
	code := map[int]string{http.StatusBadRequest: "invalid", http.StatusMethodNotAllowed: "method_not_allowed"}[status]
	httpkit.WriteJSON(w, status, httpkit.ErrorResponse{Error: httpkit.ErrorBody{Code: code, Message: msg}})
}

// Collector exposes the store's state as cloudcart_logs_* metrics.
func (s *Store) Collector() prometheus.Collector { return &collector{s: s} }

type collector struct{ s *Store }

var (
	descRecords  = prometheus.NewDesc("cloudcart_logs_records", "Log records kept by trace id (lines written inside a span).", nil, nil)
	descBytes    = prometheus.NewDesc("cloudcart_logs_bytes", "Estimated memory of the kept log records.", nil, nil)
	descMax      = prometheus.NewDesc("cloudcart_logs_max_bytes", "Byte budget of the log records (--logs.max-bytes).", nil, nil)
	descOldest   = prometheus.NewDesc("cloudcart_logs_oldest_age_seconds", "Age of the oldest kept log record: how far back a trace's logs reach. 0 when empty.", nil, nil)
	descReceived = prometheus.NewDesc("cloudcart_logs_records_received_total", "Log records written inside a span, offered to the store.", nil, nil)
	descEvicted  = prometheus.NewDesc("cloudcart_logs_records_evicted_total", "Log records evicted, oldest first, to stay within the budget.", nil, nil)
	descDropped  = prometheus.NewDesc("cloudcart_logs_records_dropped_total", "Log records not kept: larger than the whole budget.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descBytes, descMax, descOldest, descReceived, descEvicted, descDropped} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	ctr := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	g(descRecords, float64(st.Records))
	g(descBytes, float64(st.Bytes))
	g(descMax, float64(st.MaxBytes))
	age := 0.0
	if !st.Oldest.IsZero() {
		age = c.s.opts.Now().Sub(st.Oldest).Seconds()
	}
	g(descOldest, age)
	ctr(descReceived, st.Received)
	ctr(descEvicted, st.Evicted)
	ctr(descDropped, st.Dropped)
}
