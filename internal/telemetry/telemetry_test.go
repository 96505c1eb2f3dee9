package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	colmetric "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// otlpReceiver is a minimal OTLP/HTTP endpoint: it decodes what the SDK's
// exporters send to /v1/metrics and /v1/traces.
type otlpReceiver struct {
	mu      sync.Mutex
	metrics []*colmetric.ExportMetricsServiceRequest
	traces  []*coltrace.ExportTraceServiceRequest
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	o.mu.Lock()
	defer o.mu.Unlock()
	switch r.URL.Path {
	case "/v1/metrics":
		m := &colmetric.ExportMetricsServiceRequest{}
		if err := proto.Unmarshal(b, m); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		o.metrics = append(o.metrics, m)
	case "/v1/traces":
		m := &coltrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(b, m); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		o.traces = append(o.traces, m)
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
}

// TestOTLPExport: with OTEL_EXPORTER_OTLP_ENDPOINT set, metrics and spans
// are pushed over OTLP/HTTP (reference 003's Collector path) beside the
// /metrics endpoint, with the service's resource.
func TestOTLPExport(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,service.name=ignored")
	t.Setenv("OTEL_SERVICE_NAME", "renamed-service")
	tel, err := telemetry.New(context.Background(), telemetry.Options{ServiceName: "order-service", HonorEnvServiceName: true})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := tel.Meter("t").Int64Counter("orders.processed", metric.WithUnit("{order}"))
	c.Add(context.Background(), 3)
	_, span := tel.Tracer("t").Start(context.Background(), "work")
	span.End()
	// Shutdown flushes both exporters.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.metrics) == 0 || len(recv.traces) == 0 {
		t.Fatalf("received %d metric and %d trace exports, want both", len(recv.metrics), len(recv.traces))
	}
	rm := recv.metrics[len(recv.metrics)-1].GetResourceMetrics()[0]
	attrs := map[string]string{}
	for _, kv := range rm.GetResource().GetAttributes() {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	if attrs["service.name"] != "renamed-service" || attrs["deployment.environment.name"] != "test" || attrs["service.instance.id"] == "" {
		t.Fatalf("resource %v: want OTEL_SERVICE_NAME honoured, OTEL_RESOURCE_ATTRIBUTES merged, an instance id", attrs)
	}
	found := false
	for _, sm := range rm.GetScopeMetrics() {
		for _, m := range sm.GetMetrics() {
			if m.GetName() == "orders.processed" && m.GetSum().GetDataPoints()[0].GetAsInt() == 3 {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("orders.processed = 3 not in the OTLP export")
	}
	if n := recv.traces[0].GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()[0].GetName(); n != "work" {
		t.Fatalf("span %q, want work", n)
	}
}

// TestAllInOneIgnoresEnvServiceName: in `cloudcart run` each service keeps
// its own name whatever OTEL_SERVICE_NAME says.
func TestAllInOneIgnoresEnvServiceName(t *testing.T) {
	tel := telemetrytest.MustNew(t, func(o *telemetry.Options) {
		o.ServiceName = "order-service"
		o.Getenv = func(k string) string {
			if k == "OTEL_SERVICE_NAME" {
				return "everything"
			}
			return ""
		}
	})
	if tel.ServiceName != "order-service" {
		t.Fatalf("service name %q", tel.ServiceName)
	}
}

// TestCardinalityLimit: past the limit new label sets fold into one
// overflow series instead of growing the registry.
func TestCardinalityLimit(t *testing.T) {
	tel := telemetrytest.MustNew(t, func(o *telemetry.Options) { o.CardinalityLimit = 10 })
	c, _ := tel.Meter("t").Int64Counter("things")
	for i := range 1000 {
		c.Add(context.Background(), 1, metric.WithAttributes(attribute.Int("id", i)))
	}
	if n := telemetrytest.Count(t, tel.Registry, "things_total"); n > 10 {
		t.Fatalf("%d series with a limit of 10", n)
	}
	if v := telemetrytest.Value(t, tel.Registry, "things_total", map[string]string{"otel_metric_overflow": "true"}); v == 0 {
		t.Fatal("no overflow series")
	}
	if v := telemetrytest.Value(t, tel.Registry, "things_total", nil); v != 1000 {
		t.Fatalf("total %v, want 1000: overflow must keep the count", v)
	}
}
