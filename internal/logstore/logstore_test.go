package logstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/cloudcart/cloudcart/internal/logstore"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// TestHandler: lines written inside a span are kept under its trace and
// span, with the logger's component and attributes (groups flattened);
// lines outside a span, and below the output's level, are not; the
// output itself is unchanged.
func TestHandler(t *testing.T) {
	st := logstore.New(logstore.Options{})
	var out bytes.Buffer
	log := slog.New(telemetry.NewLogHandler(st.Handler(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})))).
		With("component", "order-service")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "POST /orders")
	cctx, child := tp.Tracer("t").Start(ctx, "order.payment")
	log.InfoContext(ctx, "order placed", "order", "o-1")
	log.WithGroup("db").WarnContext(cctx, "slow query", "ms", 250)
	log.DebugContext(ctx, "not printed, not kept")
	log.Info("outside any span")
	child.End()
	span.End()

	tid, sid, csid := span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String(), child.SpanContext().SpanID().String()
	got := st.Trace(tid, "")
	if len(got) != 2 {
		t.Fatalf("kept %d lines, want 2: %+v", len(got), got)
	}
	if r := got[0]; r.Message != "order placed" || r.Component != "order-service" || r.SpanID != sid || r.Level != "INFO" || r.Attributes["order"] != "o-1" || len(r.Attributes) != 1 {
		t.Errorf("first line %+v", r)
	}
	if r := got[1]; r.Message != "slow query" || r.SpanID != csid || r.Level != "WARN" || r.Attributes["db.ms"] != "250" {
		t.Errorf("second line %+v", r)
	}
	if only := st.Trace(tid, csid); len(only) != 1 || only[0].Message != "slow query" {
		t.Errorf("span filter: %+v", only)
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("printed %d lines, want 3:\n%s", n, out.String())
	}
}

// TestBudget: the store stays within its byte budget, the oldest lines
// go first, a trace's lines go with them, and its metrics say so.
func TestBudget(t *testing.T) {
	const budget = 64 << 10
	st := logstore.New(logstore.Options{MaxBytes: budget})
	msg := strings.Repeat("x", 200)
	for i := range 2000 {
		st.Add(logstore.Record{Time: time.Unix(int64(i), 0), Level: "INFO", Message: msg,
			TraceID: fmt.Sprintf("%032x", i/10), SpanID: fmt.Sprintf("%016x", i)})
	}
	stats := st.Stats()
	if stats.Bytes > budget || stats.Records == 0 || stats.Evicted == 0 || stats.Received != 2000 || uint64(stats.Records)+stats.Evicted != 2000 {
		t.Fatalf("stats %+v: want within %d bytes, some evicted", stats, budget)
	}
	if n := len(st.Trace(fmt.Sprintf("%032x", 0), "")); n != 0 {
		t.Errorf("the oldest trace still has %d lines", n)
	}
	if n := len(st.Trace(fmt.Sprintf("%032x", 199), "")); n != 10 {
		t.Errorf("the newest trace has %d lines, want 10", n)
	}
	if want := time.Unix(2000-stats.Records, 0); !stats.Oldest.Equal(want) {
		t.Errorf("oldest %v, want %v", stats.Oldest, want)
	}
	st.Add(logstore.Record{TraceID: fmt.Sprintf("%032x", 1), Message: strings.Repeat("y", budget)})

	reg := prometheus.NewRegistry()
	reg.MustRegister(st.Collector())
	want := fmt.Sprintf(`
# HELP cloudcart_logs_records_dropped_total Log records not kept: larger than the whole budget.
# TYPE cloudcart_logs_records_dropped_total counter
cloudcart_logs_records_dropped_total 1
# HELP cloudcart_logs_records_evicted_total Log records evicted, oldest first, to stay within the budget.
# TYPE cloudcart_logs_records_evicted_total counter
cloudcart_logs_records_evicted_total %d
# HELP cloudcart_logs_records Log records kept by trace id (lines written inside a span).
# TYPE cloudcart_logs_records gauge
cloudcart_logs_records %d
# HELP cloudcart_logs_max_bytes Byte budget of the log records (--logs.max-bytes).
# TYPE cloudcart_logs_max_bytes gauge
cloudcart_logs_max_bytes %d
`, stats.Evicted, stats.Records, budget)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cloudcart_logs_records_dropped_total",
		"cloudcart_logs_records_evicted_total", "cloudcart_logs_records", "cloudcart_logs_max_bytes"); err != nil {
		t.Error(err)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %v", probs, err)
	}
}

// TestAPI: GET /api/logs answers a trace's (or span's) latest lines, and
// 400 with a JSON error on a bad parameter.
func TestAPI(t *testing.T) {
	st := logstore.New(logstore.Options{})
	tid := strings.Repeat("ab", 16)
	for i := range 5 {
		st.Add(logstore.Record{Time: time.Unix(int64(i), 0), Level: "INFO", Message: fmt.Sprint("line ", i), TraceID: tid, SpanID: fmt.Sprintf("%016x", i%2)})
	}
	srv := httptest.NewServer(st.APIHandler())
	defer srv.Close()
	get := func(q string) (int, map[string]any) {
		resp, err := http.Get(srv.URL + "/api/logs?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s: %d, not JSON: %v", q, resp.StatusCode, err)
		}
		return resp.StatusCode, body
	}
	for _, tc := range []struct {
		q     string
		lines []string
		total int
	}{
		{"traceID=" + tid, []string{"line 0", "line 1", "line 2", "line 3", "line 4"}, 5},
		{"traceID=" + tid + "&limit=2", []string{"line 3", "line 4"}, 5},
		{"traceID=" + tid + "&spanID=0000000000000001", []string{"line 1", "line 3"}, 2},
		{"traceID=" + strings.Repeat("cd", 16), nil, 0},
	} {
		code, body := get(tc.q)
		data, _ := body["data"].([]any)
		var msgs []string
		for _, d := range data {
			msgs = append(msgs, d.(map[string]any)["message"].(string))
		}
		if code != 200 || fmt.Sprint(msgs) != fmt.Sprint(tc.lines) || body["total"] != float64(tc.total) {
			t.Errorf("%s: %d %v", tc.q, code, body)
		}
	}
	for _, q := range []string{"", "traceID=xyz", "traceID=" + strings.ToUpper(tid), "traceID=" + tid + "&spanID=1", "traceID=" + tid + "&limit=0", "traceID=" + tid + "&limit=abc", "traceID=" + tid + "&limit=1001"} {
		code, body := get(q)
		e, _ := body["error"].(map[string]any)
		if code != http.StatusBadRequest || e["code"] != "invalid" || e["message"] == "" {
			t.Errorf("%q: %d %v, want 400 with a JSON error", q, code, body)
		}
	}
	resp, err := http.Post(srv.URL+"/api/logs?traceID="+tid, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}
