package tracestore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cloudcart/cloudcart/internal/tracestore"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// mkTrace returns n spans of one trace: a root of the given duration in
// service api-gateway and children in order-service, the last one failed
// when failed is set.
func mkTrace(id uint64, n int, d time.Duration, failed bool) []*tracestore.Span {
	var tid tracestore.TraceID
	tid[0] = 1
	for i := range 8 {
		tid[15-i] = byte(id >> (8 * i))
	}
	spans := make([]*tracestore.Span, n)
	for i := range n {
		sp := &tracestore.Span{
			TraceID: tid, Service: "order-service", Name: "db.select", Kind: "client",
			Start: t0.Add(time.Duration(id) * time.Millisecond).Add(time.Duration(i) * time.Microsecond), Duration: d / 2,
			Attrs: []tracestore.KeyValue{{Key: "db.system.name", Value: "sqlite"}, {Key: "order.id", Value: fmt.Sprintf("o-%d", id)}},
		}
		sp.SpanID[0], sp.SpanID[7] = byte(i+1), byte(id)
		if i == 0 {
			sp.Service, sp.Name, sp.Kind, sp.Duration = "api-gateway", "POST /api/orders", "server", d
			sp.Attrs = append(sp.Attrs, tracestore.KeyValue{Key: "http.response.status_code", Value: int64(201)})
		} else {
			sp.ParentID = spans[0].SpanID
		}
		if failed && i == n-1 {
			sp.Status, sp.Message = tracestore.StatusError, "payment declined"
		}
		spans[i] = sp
	}
	return spans
}

func traceSize(tb testing.TB) int64 {
	tb.Helper()
	s := tracestore.New(tracestore.Options{})
	s.Add(mkTrace(1, 4, time.Millisecond, false))
	return s.Stats().Bytes
}

// TestBudget pushes far more traces than the budget holds: the store never
// exceeds it, evicts oldest first, and error traces and the slowest traces
// outlive ordinary ones of the same age.
func TestBudget(t *testing.T) {
	per := traceSize(t)
	max := 100 * per
	s := tracestore.New(tracestore.Options{MaxBytes: max, KeepBytes: 20 * per})
	const total = 2000
	for i := range uint64(total) {
		d := 10 * time.Millisecond
		if i%100 == 7 {
			d = time.Second // the slowest 1%
		}
		s.Add(mkTrace(i, 4, d, i%50 == 3))
		if st := s.Stats(); st.Bytes > max || st.KeptBytes > 20*per {
			t.Fatalf("after trace %d: %d bytes (%d kept), budget %d (%d kept)", i, st.Bytes, st.KeptBytes, max, 20*per)
		}
	}
	st := s.Stats()
	t.Logf("%+v", st)
	if st.Traces < 90 || st.TracesEvicted == 0 || st.TracesKept == 0 {
		t.Fatalf("stats = %+v", st)
	}
	// The newest 80 traces are there, the oldest ordinary ones are not.
	for i := uint64(total - 80); i < total; i++ {
		if _, ok := s.Trace(mkTrace(i, 1, 0, false)[0].TraceID); !ok {
			t.Errorf("recent trace %d evicted", i)
		}
	}
	survivors := func(pred func(uint64) bool) (n int) {
		for i := range uint64(total - 200) { // long evicted from the recent pool
			if _, ok := s.Trace(mkTrace(i, 1, 0, false)[0].TraceID); ok {
				if !pred(i) {
					t.Errorf("old ordinary trace %d is still stored", i)
				}
				n++
			}
		}
		return n
	}
	if n := survivors(func(i uint64) bool { return i%50 == 3 || i%100 == 7 }); n == 0 {
		t.Error("no error or slow trace older than the recent pool survived")
	}
	// The metrics say the same, by value.
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	if problems, err := testutil.CollectAndLint(s.Collector()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"cloudcart_traces_stored", []string{"recent"}, float64(st.Traces - st.KeptTraces)},
		{"cloudcart_traces_stored", []string{"kept"}, float64(st.KeptTraces)},
		{"cloudcart_traces_bytes", []string{"kept"}, float64(st.KeptBytes)},
		{"cloudcart_traces_evicted_total", []string{"recent"}, float64(st.TracesEvicted)},
		{"cloudcart_traces_spans_received_total", nil, total * 4},
		{"cloudcart_traces_spans_stored", nil, float64(st.Spans)},
		{"cloudcart_traces_max_bytes", []string{"all"}, float64(max)},
	} {
		if got := gauge(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if st.Spans != 4*st.Traces {
		t.Errorf("%d spans in %d traces", st.Spans, st.Traces)
	}
}

func gauge(tb testing.TB, g prometheus.Gatherer, name string, pool ...string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(pool) > 0 && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != pool[0]) {
				continue
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	tb.Fatalf("%s%v not found", name, pool)
	return 0
}

// TestLimits: spans past MaxSpansPerTrace and spans larger than the whole
// budget are dropped and counted.
func TestLimits(t *testing.T) {
	s := tracestore.New(tracestore.Options{MaxSpansPerTrace: 3, MaxBytes: 4096})
	s.Add(mkTrace(1, 5, time.Millisecond, false))
	huge := mkTrace(2, 1, time.Millisecond, false)
	huge[0].Attrs = append(huge[0].Attrs, tracestore.KeyValue{Key: "blob", Value: string(make([]byte, 8192))})
	s.Add(huge)
	st := s.Stats()
	if st.SpansDroppedLimit != 2 || st.SpansDroppedSize != 1 || st.Spans != 3 {
		t.Errorf("stats = %+v", st)
	}
}

// TestSearch: Jaeger's filters, each alone, newest first, with limit.
func TestSearch(t *testing.T) {
	s := tracestore.New(tracestore.Options{})
	for i := range uint64(10) {
		s.Add(mkTrace(i, 3, time.Duration(i+1)*10*time.Millisecond, i == 4))
	}
	ids := func(found [][]*tracestore.Span) []string {
		var out []string
		for _, tr := range found {
			out = append(out, tr[0].Attrs[1].Value.(string))
		}
		return out
	}
	for _, c := range []struct {
		name string
		q    tracestore.Query
		want string
	}{
		{"all, newest first, limit", tracestore.Query{Limit: 3}, "[o-9 o-8 o-7]"},
		{"service", tracestore.Query{Service: "api-gateway", Limit: 2}, "[o-9 o-8]"},
		{"unknown service", tracestore.Query{Service: "nope"}, "[]"},
		{"operation of another service", tracestore.Query{Service: "order-service", Operation: "POST /api/orders"}, "[]"},
		{"min duration (root span)", tracestore.Query{Service: "api-gateway", MinDuration: 80 * time.Millisecond}, "[o-9 o-8 o-7]"},
		{"max duration", tracestore.Query{Service: "api-gateway", Operation: "POST /api/orders", MaxDuration: 20 * time.Millisecond}, "[o-1 o-0]"},
		{"error tag", tracestore.Query{Tags: map[string]string{"error": "true"}}, "[o-4]"},
		{"attribute tag", tracestore.Query{Tags: map[string]string{"order.id": "o-6"}}, "[o-6]"},
		{"int attribute", tracestore.Query{Tags: map[string]string{"http.response.status_code": "201"}, Limit: 1}, "[o-9]"},
		{"time range", tracestore.Query{Start: t0.Add(2 * time.Millisecond), End: t0.Add(3*time.Millisecond + time.Microsecond)}, "[o-3 o-2]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fmt.Sprint(ids(s.Search(c.q))); got != c.want {
				if got == "[]" && c.want == "[]" {
					return
				}
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
	if got := fmt.Sprint(s.Services()); got != "[api-gateway order-service]" {
		t.Errorf("services = %s", got)
	}
	if got := fmt.Sprint(s.Operations("order-service")); got != "[db.select]" {
		t.Errorf("operations = %s", got)
	}
}
