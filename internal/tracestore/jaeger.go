package tracestore

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The JSON of Jaeger's HTTP query API (jaeger's model/json and the query
// service's structured response), as Grafana's Jaeger data source decodes it
// (grafana pkg/tsdb/jaeger/types): times and durations in microseconds,
// parents as CHILD_OF references, events as logs, resources as processes.

type jaegerResponse struct {
	Data   any           `json:"data"`
	Total  int           `json:"total"`
	Limit  int           `json:"limit"`
	Offset int           `json:"offset"`
	Errors []jaegerError `json:"errors"`
}

type jaegerError struct {
	Code    int    `json:"code"`
	Msg     string `json:"msg"`
	TraceID string `json:"traceID,omitempty"`
}

type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
	Warnings  []string                 `json:"warnings"`
}

type jaegerSpan struct {
	TraceID       string            `json:"traceID"`
	SpanID        string            `json:"spanID"`
	Flags         int               `json:"flags"`
	OperationName string            `json:"operationName"`
	References    []jaegerReference `json:"references"`
	StartTime     int64             `json:"startTime"`
	Duration      int64             `json:"duration"`
	Tags          []jaegerKV        `json:"tags"`
	Logs          []jaegerLog       `json:"logs"`
	ProcessID     string            `json:"processID"`
	Warnings      []string          `json:"warnings"`
}

type jaegerReference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jaegerKV struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type jaegerLog struct {
	Timestamp int64      `json:"timestamp"`
	Fields    []jaegerKV `json:"fields"`
}

type jaegerProcess struct {
	ServiceName string     `json:"serviceName"`
	Tags        []jaegerKV `json:"tags"`
}

// maxSearchLimit bounds /api/traces?limit=.
const maxSearchLimit = 1000

// Handler serves Jaeger's query API: GET /api/services,
// /api/services/{service}/operations, /api/traces (search) and
// /api/traces/{traceID}. Mount it beside Prometheus's /api/v1/: the paths
// do not overlap.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/services", func(w http.ResponseWriter, r *http.Request) {
		svcs := s.Services()
		writeJaeger(w, http.StatusOK, jaegerResponse{Data: svcs, Total: len(svcs)})
	})
	mux.HandleFunc("GET /api/services/{service}/operations", func(w http.ResponseWriter, r *http.Request) {
		ops := s.Operations(r.PathValue("service"))
		writeJaeger(w, http.StatusOK, jaegerResponse{Data: ops, Total: len(ops)})
	})
	mux.HandleFunc("GET /api/traces/{traceID}", func(w http.ResponseWriter, r *http.Request) {
		id, err := ParseTraceID(r.PathValue("traceID"))
		if err != nil {
			jaegerFail(w, http.StatusBadRequest, err.Error())
			return
		}
		spans, ok := s.Trace(id)
		if !ok {
			writeJaeger(w, http.StatusNotFound, jaegerResponse{Errors: []jaegerError{{Code: http.StatusNotFound,
				Msg: "trace not found: it was never stored here or has been evicted (see cloudcart_traces_oldest_age_seconds)", TraceID: id.String()}}})
			return
		}
		writeJaeger(w, http.StatusOK, jaegerResponse{Data: []jaegerTrace{toJaeger(spans)}, Total: 1})
	})
	mux.HandleFunc("GET /api/traces", func(w http.ResponseWriter, r *http.Request) {
		q, err := ParseQuery(r.URL.Query(), s.opts.Now())
		if err != nil {
			jaegerFail(w, http.StatusBadRequest, err.Error())
			return
		}
		found := s.Search(q)
		out := make([]jaegerTrace, len(found))
		for i, spans := range found {
			out[i] = toJaeger(spans)
		}
		writeJaeger(w, http.StatusOK, jaegerResponse{Data: out, Total: len(out), Limit: q.Limit})
	})
	return mux
}

// ParseQuery reads Jaeger's search parameters: service, operation, tags
// (a JSON object, or repeated tag=key:value), minDuration and maxDuration
// (Go durations: 100ms, 1.5s), start and end (Unix microseconds), lookback
// (a duration before now, when start is absent) and limit.
func ParseQuery(v map[string][]string, now time.Time) (Query, error) {
	get := func(k string) string {
		if len(v[k]) == 0 {
			return ""
		}
		return strings.TrimSpace(v[k][0])
	}
	q := Query{Service: get("service"), Operation: get("operation"), Limit: 20}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, fmt.Errorf("limit %q: want a non-negative integer", s)
		}
		if n > 0 {
			q.Limit = min(n, maxSearchLimit)
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"minDuration", &q.MinDuration}, {"maxDuration", &q.MaxDuration}} {
		if s := get(p.name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return q, fmt.Errorf("%s %q: want a duration such as 250ms or 1.5s", p.name, s)
			}
			*p.dst = d
		}
	}
	if q.MaxDuration > 0 && q.MinDuration > q.MaxDuration {
		return q, fmt.Errorf("minDuration %s is greater than maxDuration %s", q.MinDuration, q.MaxDuration)
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"start", &q.Start}, {"end", &q.End}} {
		if s := get(p.name); s != "" {
			us, err := strconv.ParseInt(s, 10, 64)
			if err != nil || us < 0 {
				return q, fmt.Errorf("%s %q: want Unix time in microseconds", p.name, s)
			}
			*p.dst = time.UnixMicro(us)
		}
	}
	if s := get("lookback"); s != "" && s != "custom" && q.Start.IsZero() {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return q, fmt.Errorf("lookback %q: want a duration such as 1h", s)
		}
		q.Start = now.Add(-d)
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.Start.After(q.End) {
		return q, fmt.Errorf("start is after end")
	}
	if s := get("tags"); s != "" {
		if err := json.Unmarshal([]byte(s), &q.Tags); err != nil {
			return q, fmt.Errorf(`tags %q: want a JSON object of strings, e.g. {"http.route":"/orders"}`, s)
		}
	}
	for _, t := range v["tag"] {
		k, val, ok := strings.Cut(t, ":")
		if !ok || k == "" {
			return q, fmt.Errorf("tag %q: want key:value", t)
		}
		if q.Tags == nil {
			q.Tags = map[string]string{}
		}
		q.Tags[k] = val
	}
	return q, nil
}

func jaegerFail(w http.ResponseWriter, status int, msg string) {
	writeJaeger(w, status, jaegerResponse{Errors: []jaegerError{{Code: status, Msg: msg}}})
}

func writeJaeger(w http.ResponseWriter, status int, resp jaegerResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

// toJaeger converts one trace's spans. Spans of the same service and
// resource share a process, numbered p1, p2, ... in order of appearance.
func toJaeger(spans []*Span) jaegerTrace {
	t := jaegerTrace{Processes: map[string]jaegerProcess{}, Spans: make([]jaegerSpan, 0, len(spans))}
	if len(spans) > 0 {
		t.TraceID = spans[0].TraceID.String()
	}
	procByKey := map[string]string{}
	for _, sp := range spans {
		key := sp.Service + "\x00" + fmt.Sprint(sp.Resource)
		pid, ok := procByKey[key]
		if !ok {
			pid = "p" + strconv.Itoa(len(procByKey)+1)
			procByKey[key] = pid
			t.Processes[pid] = jaegerProcess{ServiceName: sp.Service, Tags: toJaegerKVs(sp.Resource)}
		}
		js := jaegerSpan{
			TraceID:       sp.TraceID.String(),
			SpanID:        sp.SpanID.String(),
			Flags:         1, // sampled
			OperationName: sp.Name,
			References:    []jaegerReference{},
			StartTime:     sp.Start.UnixMicro(),
			Duration:      sp.Duration.Microseconds(),
			Tags:          toJaegerKVs(sp.Attrs),
			Logs:          []jaegerLog{},
			ProcessID:     pid,
		}
		if sp.ParentID.IsValid() {
			js.References = append(js.References, jaegerReference{RefType: "CHILD_OF", TraceID: js.TraceID, SpanID: sp.ParentID.String()})
		}
		for _, l := range sp.Links {
			js.References = append(js.References, jaegerReference{RefType: "FOLLOWS_FROM", TraceID: l.TraceID.String(), SpanID: l.SpanID.String()})
		}
		// The tags Jaeger's OTLP translation adds.
		js.Tags = append(js.Tags, jaegerKV{Key: "span.kind", Type: "string", Value: sp.Kind})
		if sp.Scope != "" {
			js.Tags = append(js.Tags, jaegerKV{Key: "otel.scope.name", Type: "string", Value: sp.Scope})
		}
		if sp.Status != StatusUnset {
			js.Tags = append(js.Tags, jaegerKV{Key: "otel.status_code", Type: "string", Value: sp.Status.String()})
		}
		if sp.IsError() {
			js.Tags = append(js.Tags, jaegerKV{Key: "error", Type: "bool", Value: true})
		}
		if sp.Message != "" {
			js.Tags = append(js.Tags, jaegerKV{Key: "otel.status_description", Type: "string", Value: sp.Message})
		}
		for _, ev := range sp.Events {
			fields := append([]jaegerKV{{Key: "event", Type: "string", Value: ev.Name}}, toJaegerKVs(ev.Attrs)...)
			js.Logs = append(js.Logs, jaegerLog{Timestamp: ev.Time.UnixMicro(), Fields: fields})
		}
		t.Spans = append(t.Spans, js)
	}
	return t
}

func toJaegerKVs(kvs []KeyValue) []jaegerKV {
	out := make([]jaegerKV, 0, len(kvs))
	for _, kv := range kvs {
		typ := "string"
		switch kv.Value.(type) {
		case bool:
			typ = "bool"
		case int64:
			typ = "int64"
		case float64:
			typ = "float64"
		}
		out = append(out, jaegerKV{Key: kv.Key, Type: typ, Value: kv.Value})
	}
	return out
}
