package cloudcart_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// TestChaosOutageValidation: an outage names one service, never "*" nor
// the notification worker, never a route; consume_latency is bounded like
// latency and applies to a whole service.
func TestChaosOutageValidation(t *testing.T) {
	known := []string{"orders", "notifier", "gateway"}
	slow := &cloudcart.LatencyFault{Probability: 1, FixedMS: 2000}
	for _, c := range []struct {
		name    string
		targets map[string]cloudcart.ChaosFaults
		wantErr string
	}{
		{"outage of one service", map[string]cloudcart.ChaosFaults{"orders": {Outage: true}}, ""},
		{"outage of every service", map[string]cloudcart.ChaosFaults{"*": {Outage: true}}, "never \"*\""},
		{"outage of the notifier", map[string]cloudcart.ChaosFaults{"notifier": {Outage: true}}, "alerts about the outage"},
		{"outage of a route", map[string]cloudcart.ChaosFaults{"orders": {Routes: map[string]cloudcart.ChaosFaults{"/orders": {Outage: true}}}}, "whole service"},
		{"slow notifier", map[string]cloudcart.ChaosFaults{"notifier": {ConsumeLatency: slow}}, ""},
		{"slow route", map[string]cloudcart.ChaosFaults{"notifier": {Routes: map[string]cloudcart.ChaosFaults{"/alerts": {ConsumeLatency: slow}}}}, "whole service"},
		{"too slow", map[string]cloudcart.ChaosFaults{"notifier": {ConsumeLatency: &cloudcart.LatencyFault{Probability: 1, FixedMS: 11000}}}, "consume_latency: fixed_ms"},
		{"bad probability", map[string]cloudcart.ChaosFaults{"notifier": {ConsumeLatency: &cloudcart.LatencyFault{Probability: 2}}}, "consume_latency.probability"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := cloudcart.ChaosSettings{Enabled: true, Targets: c.targets}
			err := s.Validate(known)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("Validate = %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("Validate = %v, want an error saying %q", err, c.wantErr)
			}
		})
	}
	s := cloudcart.ChaosSettings{Enabled: true, Targets: map[string]cloudcart.ChaosFaults{"orders": {Outage: true}}}
	if !s.OutageFor("orders") || s.OutageFor("gateway") {
		t.Error("OutageFor: want orders only")
	}
	if got := strings.Join(s.Targets["orders"].FaultTypes(), ","); got != "outage" {
		t.Errorf("FaultTypes = %s", got)
	}
	s.Enabled = false
	if s.OutageFor("orders") {
		t.Error("OutageFor with chaos disabled")
	}
}

// TestChaosConfigured: every configured fault is listed, switched on or
// off, so a caller can tell faults that a later enable would bring back.
func TestChaosConfigured(t *testing.T) {
	for _, c := range []struct {
		name string
		s    cloudcart.ChaosSettings
		want []string
	}{
		{"nothing", cloudcart.ChaosSettings{Enabled: true}, nil},
		{"empty target", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"orders": {}}}, nil},
		{"disabled but configured", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{
			"orders":   {Error: &cloudcart.ErrorFault{Rate: 0.5, Status: 503}, Latency: &cloudcart.LatencyFault{Probability: 0.2, FixedMS: 200}},
			"gateway":  {Routes: map[string]cloudcart.ChaosFaults{"/api/orders": {Timeout: &cloudcart.TimeoutFault{Rate: 1}}}},
			"notifier": {ConsumeLatency: &cloudcart.LatencyFault{Probability: 1, FixedMS: 5000}},
		}, PaymentFailureRate: 0.25}, []string{
			"gateway /api/orders: timeout", "notifier: consume_latency", "orders: latency, error", "payments: payment_failure_rate 0.25"}},
		{"zero rates are no fault", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{
			"orders": {Error: &cloudcart.ErrorFault{Rate: 0}}}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.s.Configured(); !slices.Equal(got, c.want) {
				t.Fatalf("Configured() = %q, want %q", got, c.want)
			}
		})
	}
}
