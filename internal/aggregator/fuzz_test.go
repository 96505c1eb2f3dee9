package aggregator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cloudcart/cloudcart/internal/aggregator"
)

// bodies answers the aggregator's scrapes with the given bodies in turn.
type bodies struct{ b [][]byte }

func (f *bodies) RoundTrip(*http.Request) (*http.Response, error) {
	b := f.b[0]
	f.b = f.b[1:]
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(string(b))),
		Header: http.Header{"Content-Type": {"text/plain; version=0.0.4"}}}, nil
}

// FuzzExposition: whatever a scraped service answers on /metrics (two
// scrapes, so the windowed rates and the p95 are computed), the
// aggregator neither panics nor serves anything but JSON on /services,
// and its own metrics still collect.
func FuzzExposition(f *testing.F) {
	good := `# HELP order_http_requests_total r
# TYPE order_http_requests_total counter
order_http_requests_total{status="200"} 10
order_http_requests_total{status="503"} 2
# TYPE order_http_request_duration_seconds histogram
order_http_request_duration_seconds_bucket{le="0.1"} 5
order_http_request_duration_seconds_bucket{le="1"} 11
order_http_request_duration_seconds_bucket{le="+Inf"} 12
order_http_request_duration_seconds_sum 3.5
order_http_request_duration_seconds_count 12
process_start_time_seconds 1.7e9
`
	later := strings.NewReplacer(" 10\n", " 30\n", " 12\n", " 40\n", " 11\n", " 38\n").Replace(good)
	f.Add([]byte(good), []byte(later))
	f.Add([]byte(good), []byte(strings.ReplaceAll(later, "30", "NaN")))
	f.Add([]byte(good), []byte(strings.ReplaceAll(later, "38", "+Inf")))
	f.Add([]byte("process_start_time_seconds -1e300\n"), []byte("process_start_time_seconds 1e300\n"))
	f.Add([]byte("order_http_requests_total{status=\"5\"} -Inf\n"), []byte("order_http_requests_total{status=\"5\"} Inf\n"))
	f.Add([]byte("# TYPE x summary\nx{quantile=\"0.5\"} 1\n"), []byte("garbage{"))
	f.Add([]byte(""), []byte("\x00\xff"))
	target := aggregator.Target{Service: "order-service", URL: "http://order.test",
		Requests: "order_http_requests_total", Duration: "order_http_request_duration_seconds"}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		a, err := aggregator.New(aggregator.Options{
			Targets: func() []aggregator.Target { return []aggregator.Target{target} },
			Meter:   mp.Meter("fuzz"), Window: 5 * time.Minute, Now: func() time.Time { return now },
			Client: &http.Client{Transport: &bodies{b: [][]byte{first, second}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		a.ScrapeOnce(context.Background())
		now = now.Add(time.Minute)
		a.ScrapeOnce(context.Background())
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/services", nil))
		var out struct {
			Services []aggregator.Stats `json:"services"`
		}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || len(out.Services) != 1 {
			t.Fatalf("/services: %d %q", rec.Code, rec.Body.String())
		}
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatalf("collecting the aggregator's metrics: %v", err)
		}
	})
}
