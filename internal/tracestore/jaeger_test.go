package tracestore_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/tracestore"
)

// The response types of Grafana's Jaeger data source
// (grafana/grafana pkg/tsdb/jaeger/types/types.go), which decodes
// /api/services, /api/services/{s}/operations, /api/traces and
// /api/traces/{id}. The API's answers are decoded into them with unknown
// fields disallowed, so a field Grafana does not know, or a wrong JSON
// type, fails the test.
type (
	grafanaServices struct {
		Data   []string `json:"data"`
		Errors any      `json:"errors"`
		Limit  int      `json:"limit"`
		Offset int      `json:"offset"`
		Total  int      `json:"total"`
	}
	grafanaKV struct {
		Key   string `json:"key"`
		Type  string `json:"type"`
		Value any    `json:"value"`
	}
	grafanaProcess struct {
		ServiceName string      `json:"serviceName"`
		Tags        []grafanaKV `json:"tags"`
	}
	grafanaRef struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
		TraceID string `json:"traceID"`
	}
	grafanaLog struct {
		Timestamp int64       `json:"timestamp"`
		Fields    []grafanaKV `json:"fields"`
		Name      string      `json:"name"`
	}
	grafanaSpan struct {
		TraceID       string       `json:"traceID"`
		SpanID        string       `json:"spanID"`
		ProcessID     string       `json:"processID"`
		OperationName string       `json:"operationName"`
		StartTime     int64        `json:"startTime"`
		Duration      int64        `json:"duration"`
		Logs          []grafanaLog `json:"logs"`
		References    []grafanaRef `json:"references"`
		Tags          []grafanaKV  `json:"tags"`
		Warnings      []string     `json:"warnings"`
		Flags         int          `json:"flags"`
		StackTraces   []string     `json:"stackTraces"`
	}
	grafanaTrace struct {
		Processes map[string]grafanaProcess `json:"processes"`
		TraceID   string                    `json:"traceID"`
		Warnings  []string                  `json:"warnings"`
		Spans     []grafanaSpan             `json:"spans"`
	}
	grafanaTraces struct {
		Data   []grafanaTrace `json:"data"`
		Errors any            `json:"errors"`
		Limit  int            `json:"limit"`
		Offset int            `json:"offset"`
		Total  int            `json:"total"`
	}
	jaegerErrors struct {
		Errors []struct {
			Code    int    `json:"code"`
			Msg     string `json:"msg"`
			TraceID string `json:"traceID"` // jaeger's structuredError
		} `json:"errors"`
	}
)

func mustGet(tb testing.TB, h http.Handler, path string, status int, into any) {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != status {
		tb.Fatalf("GET %s: %d, want %d: %s", path, rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		tb.Errorf("GET %s: Content-Type %q", path, ct)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		tb.Fatalf("GET %s: decoding into Grafana's type: %v\n%s", path, err, rec.Body)
	}
}

func TestJaegerAPI(t *testing.T) {
	s := tracestore.New(tracestore.Options{})
	for i := range uint64(5) {
		s.Add(mkTrace(i, 3, time.Duration(i+1)*10*time.Millisecond, i == 2))
	}
	one := mkTrace(1, 1, 0, false)[0].TraceID
	failed := mkTrace(2, 3, 0, true)
	failed[0].ParentID, failed[0].SpanID[1] = failed[0].SpanID, 9 // a new span, added later
	failed[0].Events = []tracestore.Event{{Time: t0, Name: "log", Attrs: []tracestore.KeyValue{{Key: "message", Value: "payment failed"}}}}
	h := s.Handler()

	t.Run("services and operations", func(t *testing.T) {
		var svcs, ops grafanaServices
		mustGet(t, h, "/api/services", 200, &svcs)
		mustGet(t, h, "/api/services/api-gateway/operations", 200, &ops)
		if len(svcs.Data) != 2 || svcs.Data[0] != "api-gateway" || len(ops.Data) != 1 || ops.Data[0] != "POST /api/orders" {
			t.Errorf("services %v operations %v", svcs.Data, ops.Data)
		}
	})

	t.Run("trace by id", func(t *testing.T) {
		var tr grafanaTraces
		mustGet(t, h, "/api/traces/"+one.String(), 200, &tr)
		if len(tr.Data) != 1 {
			t.Fatalf("data = %+v", tr.Data)
		}
		got := tr.Data[0]
		if got.TraceID != one.String() || len(got.Spans) != 3 || len(got.Processes) != 2 {
			t.Fatalf("trace = %+v", got)
		}
		root, child := got.Spans[0], got.Spans[1]
		if root.OperationName != "POST /api/orders" || got.Processes[root.ProcessID].ServiceName != "api-gateway" ||
			got.Processes[child.ProcessID].ServiceName != "order-service" {
			t.Errorf("spans %+v processes %+v", got.Spans, got.Processes)
		}
		if root.StartTime != t0.Add(time.Millisecond).UnixMicro() || root.Duration != 20000 {
			t.Errorf("root start %d duration %d: want microseconds", root.StartTime, root.Duration)
		}
		if len(root.References) != 0 || len(child.References) != 1 || child.References[0] != (grafanaRef{"CHILD_OF", root.SpanID, one.String()}) {
			t.Errorf("references: root %+v child %+v", root.References, child.References)
		}
		if !hasTag(child.Tags, "order.id", "o-1") || !hasTag(root.Tags, "http.response.status_code", float64(201)) || !hasTag(root.Tags, "span.kind", "server") {
			t.Errorf("tags: root %+v child %+v", root.Tags, child.Tags)
		}
	})

	t.Run("errors and events", func(t *testing.T) {
		s.Add(failed[:1]) // a second batch of the same trace: a span with an event
		var tr grafanaTraces
		mustGet(t, h, "/api/traces/"+failed[0].TraceID.String(), 200, &tr)
		var sawError, sawLog bool
		for _, sp := range tr.Data[0].Spans {
			sawError = sawError || hasTag(sp.Tags, "error", true) && hasTag(sp.Tags, "otel.status_description", "payment declined")
			for _, l := range sp.Logs {
				sawLog = sawLog || l.Timestamp == t0.UnixMicro() && hasTag(l.Fields, "event", "log") && hasTag(l.Fields, "message", "payment failed")
			}
		}
		if !sawError || !sawLog {
			t.Errorf("error tag %v, event as log %v: %+v", sawError, sawLog, tr.Data[0].Spans)
		}
	})

	t.Run("search", func(t *testing.T) {
		for _, c := range []struct {
			query string
			want  int
		}{
			{"service=api-gateway", 5},
			{"service=api-gateway&limit=2", 2},
			{"service=api-gateway&operation=POST+%2Fapi%2Forders&minDuration=30ms&maxDuration=40ms", 2},
			{"service=order-service&tags=" + url.QueryEscape(`{"error":"true"}`), 1},
			{"service=order-service&tag=order.id:o-3", 1},
			{"service=api-gateway&start=" + itoa(t0.Add(3*time.Millisecond).UnixMicro()) + "&end=" + itoa(t0.Add(10*time.Millisecond).UnixMicro()), 2},
			{"service=nobody", 0},
		} {
			var tr grafanaTraces
			mustGet(t, h, "/api/traces?"+c.query, 200, &tr)
			if len(tr.Data) != c.want || tr.Total != c.want {
				t.Errorf("%s: %d traces, want %d", c.query, len(tr.Data), c.want)
			}
		}
	})

	t.Run("unknown id is a 404 in JSON", func(t *testing.T) {
		var e jaegerErrors
		mustGet(t, h, "/api/traces/0123456789abcdef0123456789abcdef", 404, &struct {
			Data   any `json:"data"`
			Total  int `json:"total"`
			Limit  int `json:"limit"`
			Offset int `json:"offset"`
			*jaegerErrors
		}{jaegerErrors: &e})
		if len(e.Errors) != 1 || e.Errors[0].Code != 404 || e.Errors[0].Msg == "" {
			t.Errorf("errors = %+v", e.Errors)
		}
	})

	t.Run("bad parameters are a 400 in JSON naming them", func(t *testing.T) {
		for _, q := range []string{
			"/api/traces/not-hex", "/api/traces?limit=-1", "/api/traces?limit=ten", "/api/traces?minDuration=fast",
			"/api/traces?minDuration=2s&maxDuration=1s", "/api/traces?start=yesterday", "/api/traces?start=20&end=10",
			"/api/traces?tags=notjson", "/api/traces?tag=nocolon", "/api/traces?lookback=forever",
		} {
			var e jaegerErrors
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, q, nil))
			if rec.Code != 400 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || len(e.Errors) != 1 || e.Errors[0].Code != 400 || e.Errors[0].Msg == "" {
				t.Errorf("%s: %d %s", q, rec.Code, rec.Body)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func hasTag(kvs []grafanaKV, key string, value any) bool {
	for _, kv := range kvs {
		if kv.Key == key && kv.Value == value {
			return true
		}
	}
	return false
}
