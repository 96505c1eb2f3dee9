package telemetry_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// TestInstruments: instruments come out with their unit (none when empty)
// and help, and a bad instrument is reported by Err.
func TestInstruments(t *testing.T) {
	tel := telemetrytest.MustNew(t)
	in := telemetry.NewInstruments(tel.Meter("test"))
	in.Counter("jobs", "{job}", "Jobs done.").Add(context.Background(), 3)
	in.Histogram("job.duration", "s", "Time per job.", []float64{0.1, 1}).Record(context.Background(), 0.5)
	share := in.Gauge("jobs.share", "", "Share of jobs (0-1).")
	if _, err := tel.Meter("test").RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveFloat64(share, 0.25)
		return nil
	}, share); err != nil {
		t.Fatal(err)
	}
	if err := in.Err(); err != nil {
		t.Fatalf("Err = %v, want nil", err)
	}
	families, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	help := map[string]string{}
	for _, f := range families {
		help[f.GetName()] = f.GetHelp()
	}
	// "s" becomes _seconds; no unit leaves the name alone (unit "1" would
	// have made it jobs_share_ratio).
	for name, want := range map[string]string{"jobs_total": "Jobs done.", "job_duration_seconds": "Time per job.", "jobs_share": "Share of jobs (0-1)."} {
		if help[name] != want {
			t.Errorf("%s: help %q, want %q (families %v)", name, help[name], want, help)
		}
	}
	if v := telemetrytest.Value(t, tel.Registry, "jobs_share", nil); v != 0.25 {
		t.Errorf("jobs_share = %v, want 0.25", v)
	}

	bad := telemetry.NewInstruments(tel.Meter("test"))
	bad.Counter("9 not a name", "", "Invalid.")
	if bad.Err() == nil {
		t.Error("Err = nil after an invalid instrument name")
	}
}

// TestPairCounter: each pair of label values is its own series, counted by
// value, from any number of goroutines.
func TestPairCounter(t *testing.T) {
	tel := telemetrytest.MustNew(t)
	in := telemetry.NewInstruments(tel.Meter("test"))
	p := telemetry.NewPairCounter(in.Counter("upstream.errors", "{error}", "Failed calls."), "service", "status_code")
	ctx := context.Background()
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				p.Add(ctx, "orders", "503")
				p.Add(ctx, "users", "timeout")
			}
		}()
	}
	for range 4 {
		<-done
	}
	p.Add(ctx, "orders", "502")
	for _, tc := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"service": "orders", "status_code": "503"}, 400},
		{map[string]string{"service": "users", "status_code": "timeout"}, 400},
		{map[string]string{"service": "orders", "status_code": "502"}, 1},
		{map[string]string{"service": "orders"}, 401},
	} {
		if got := telemetrytest.Value(t, tel.Registry, "upstream_errors_total", tc.labels); got != tc.want {
			t.Errorf("upstream_errors_total%v = %v, want %v", tc.labels, got, tc.want)
		}
	}
	if n := telemetrytest.Count(t, tel.Registry, "upstream_errors_total"); n != 3 {
		t.Errorf("%d series, want 3", n)
	}
}

// TestPairCounterZero: Zero creates a pair's series at 0 before its first
// event, and counting afterwards adds to that series.
func TestPairCounterZero(t *testing.T) {
	tel := telemetrytest.MustNew(t)
	in := telemetry.NewInstruments(tel.Meter("test"))
	p := telemetry.NewPairCounter(in.Counter("order.errors", "{error}", "Errors."), "error_type", "endpoint")
	ctx := context.Background()
	p.Zero(ctx, "internal", "/orders")
	p.Zero(ctx, "not_found", "/orders/{id}")
	if n := telemetrytest.Count(t, tel.Registry, "order_errors_total"); n != 2 {
		t.Fatalf("%d series after Zero, want 2", n)
	}
	if v := telemetrytest.Value(t, tel.Registry, "order_errors_total", map[string]string{"error_type": "internal", "endpoint": "/orders"}); v != 0 {
		t.Errorf("after Zero: %v, want 0", v)
	}
	p.Add(ctx, "internal", "/orders")
	p.Zero(ctx, "internal", "/orders") // adds nothing
	if v := telemetrytest.Value(t, tel.Registry, "order_errors_total", map[string]string{"error_type": "internal", "endpoint": "/orders"}); v != 1 {
		t.Errorf("after Zero and one Add: %v, want 1", v)
	}
}
