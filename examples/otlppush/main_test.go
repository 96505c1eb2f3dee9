package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// TestPush runs 20 jobs against an OTLP/HTTP endpoint that decodes what the
// SDK's exporters send: the counter by outcome (18 ok, 2 failed), the
// histogram's count and sum, 20 spans with 2 errors, all under the
// resource's service.name.
func TestPush(t *testing.T) {
	var (
		mu      sync.Mutex
		metrics []*colmetrics.ExportMetricsServiceRequest
		traces  []*coltrace.ExportTraceServiceRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/v1/metrics":
			m := &colmetrics.ExportMetricsServiceRequest{}
			if err := proto.Unmarshal(body, m); err != nil {
				t.Errorf("metrics: %v", err)
			}
			metrics = append(metrics, m)
		case "/v1/traces":
			m := &coltrace.ExportTraceServiceRequest{}
			if err := proto.Unmarshal(body, m); err != nil {
				t.Errorf("traces: %v", err)
			}
			traces = append(traces, m)
		default:
			t.Errorf("unexpected path %s", r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()

	if err := run(context.Background(), srv.URL, 20, func(int) time.Duration { return time.Millisecond }); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()

	outcomes := map[string]int64{}
	var count uint64
	var sum float64
	for _, req := range metrics {
		for _, rm := range req.GetResourceMetrics() {
			if svc := serviceName(rm.GetResource().GetAttributes()); svc != "otlppush" {
				t.Errorf("metrics from service %q", svc)
			}
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					switch m.GetName() {
					case "otlppush.jobs.processed":
						if !m.GetSum().GetIsMonotonic() {
							t.Error("the counter is not a monotonic sum")
						}
						for _, dp := range m.GetSum().GetDataPoints() {
							outcomes[label(dp.GetAttributes(), "outcome")] = dp.GetAsInt()
						}
					case "otlppush.job.duration":
						for _, dp := range m.GetHistogram().GetDataPoints() {
							count, sum = dp.GetCount(), dp.GetSum()
						}
					}
				}
			}
		}
	}
	if outcomes["ok"] != 18 || outcomes["failed"] != 2 {
		t.Errorf("jobs by outcome %v, want ok 18, failed 2", outcomes)
	}
	if count != 20 || sum < 0.019 || sum > 0.021 {
		t.Errorf("duration histogram count %d sum %v, want 20 and 0.02", count, sum)
	}

	spans, errs := 0, 0
	for _, req := range traces {
		for _, rs := range req.GetResourceSpans() {
			if svc := serviceName(rs.GetResource().GetAttributes()); svc != "otlppush" {
				t.Errorf("spans from service %q", svc)
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					spans++
					if s.GetStatus().GetCode() == 2 { // STATUS_CODE_ERROR
						errs++
					}
				}
			}
		}
	}
	if spans != 20 || errs != 2 {
		t.Errorf("%d spans, %d errors; want 20 and 2", spans, errs)
	}
}

// label is the string value of attribute key, "" when absent.
func label(attrs []*common.KeyValue, key string) string {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

func serviceName(attrs []*common.KeyValue) string { return label(attrs, "service.name") }
