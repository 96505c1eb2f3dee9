package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestReference001Metrics places orders through the handlers with a fixed
// 100 ms of work and no real sleeping, then reads /metrics: the counter by
// status, the histogram's count, sum and bucket, the queue back at zero.
func TestReference001Metrics(t *testing.T) {
	svc, metrics, shutdown, err := newService(func() time.Duration { return 100 * time.Millisecond }, func(time.Duration) {})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown()
	srv := httptest.NewServer(svc.routes(metrics))
	defer srv.Close()

	for _, c := range []struct {
		path string
		want int
	}{
		{"/orders", 201}, {"/orders?fail=true", 500}, {"/simulate?count=10&error_rate=0", 200},
		{"/simulate?count=5&error_rate=1", 200}, {"/simulate?count=abc", 400}, {"/simulate?error_rate=2", 400},
	} {
		resp, err := http.Post(srv.URL+c.path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("POST %s: %d, want %d", c.path, resp.StatusCode, c.want)
		}
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]float64{}
	for _, m := range fams["orders_processed_total"].GetMetric() {
		status[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	if status["success"] != 11 || status["failure"] != 6 {
		t.Errorf("orders_processed_total = %v, want success 11, failure 6", status)
	}
	h := fams["order_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 17 || h.GetSampleSum() < 1.699 || h.GetSampleSum() > 1.701 {
		t.Errorf("order_duration_seconds count %d sum %v, want 17 and 1.7", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 0.1 {
			want = 17
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if q := fams["order_queue_depth"].GetMetric()[0].GetGauge().GetValue(); q != 0 {
		t.Errorf("order_queue_depth = %v after every order finished", q)
	}
	if !strings.Contains(fams["order_queue_depth"].GetType().String(), "GAUGE") {
		t.Errorf("order_queue_depth is a %v; an UpDownCounter is exposed as a gauge", fams["order_queue_depth"].GetType())
	}
}
