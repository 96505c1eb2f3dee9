package cloudcart_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

func TestEventEnvelope(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	e, err := cloudcart.NewEvent(cloudcart.EventOrderCreated, "order-service", cloudcart.OrderCreatedData{OrderID: "ord_1", Total: 1250}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.ID, "evt_") || e.Version != cloudcart.EventVersion || !e.Time.Equal(now) || e.Validate() != nil {
		t.Fatalf("event = %+v, %v", e, e.Validate())
	}
	b, _ := json.Marshal(e)
	for _, field := range []string{`"id":`, `"type":"order.created"`, `"version":1`, `"time":`, `"source":"order-service"`, `"data":{"order_id":"ord_1"`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("envelope %s lacks %s", b, field)
		}
	}
	if _, err := cloudcart.NewEvent("order.shipped", "x", nil, now); cloudcart.ErrorCode(err) != cloudcart.EINVALID {
		t.Errorf("unknown type: %v", err)
	}
	for name, mutate := range map[string]func(*cloudcart.Event){
		"bad id":       func(e *cloudcart.Event) { e.ID = "a b" },
		"unknown type": func(e *cloudcart.Event) { e.Type = "x.y" },
		"version 2":    func(e *cloudcart.Event) { e.Version = 2 },
		"no time":      func(e *cloudcart.Event) { e.Time = time.Time{} },
		"no source":    func(e *cloudcart.Event) { e.Source = "" },
		"no data":      func(e *cloudcart.Event) { e.Data = nil },
	} {
		c := *e
		mutate(&c)
		if cloudcart.ErrorCode(c.Validate()) != cloudcart.EINVALID {
			t.Errorf("%s: valid", name)
		}
	}
	var d cloudcart.OrderCreatedData
	bad := *e
	bad.Data = json.RawMessage(`"not an order"`)
	if cloudcart.ErrorCode(bad.DecodeData(&d)) != cloudcart.EINVALID {
		t.Error("a payload of the wrong shape decoded")
	}
	newer := *e
	newer.Data = json.RawMessage(`{"order_id":"ord_1","added_later":true}`)
	if err := newer.DecodeData(&d); err != nil || d.OrderID != "ord_1" {
		t.Errorf("a payload with an added field: %v", err)
	}
}

func TestChaosSettingsValidate(t *testing.T) {
	known := []string{"orders", "users"}
	for _, tc := range []struct {
		name string
		s    cloudcart.ChaosSettings
		want string // "" = valid
	}{
		{"empty", cloudcart.ChaosSettings{}, ""},
		{"full", cloudcart.ChaosSettings{Enabled: true, PaymentFailureRate: 1, Targets: map[string]cloudcart.ChaosFaults{
			"orders": {Latency: &cloudcart.LatencyFault{Probability: 0.5, FixedMS: 9000, JitterMS: 1000}, Error: &cloudcart.ErrorFault{Rate: 0.5, Status: 599},
				Timeout: &cloudcart.TimeoutFault{Rate: 0.5, AfterMS: 25000}, Random: &cloudcart.RandomFault{Rate: 1},
				Routes: map[string]cloudcart.ChaosFaults{"/orders/{id}": {}}},
			"*": {}}}, ""},
		{"payment rate", cloudcart.ChaosSettings{PaymentFailureRate: 1.01}, "payment_failure_rate"},
		{"NaN", cloudcart.ChaosSettings{PaymentFailureRate: nan()}, "payment_failure_rate"},
		{"unknown target", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"billing": {}}}, "unknown service"},
		{"chaos itself", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"chaos": {}}}, "itself"},
		{"bad target", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"Orders!": {}}}, "not a service name"},
		{"latency bound", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"orders": {Latency: &cloudcart.LatencyFault{FixedMS: 10001}}}}, "at most 10000"},
		{"negative jitter", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"orders": {Latency: &cloudcart.LatencyFault{JitterMS: -1}}}}, "negative"},
		{"status", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"orders": {Error: &cloudcart.ErrorFault{Status: 429}}}}, "5xx"},
		{"timeout bound", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"orders": {Timeout: &cloudcart.TimeoutFault{AfterMS: 25001}}}}, "after_ms"},
		{"error + timeout", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"orders": {Error: &cloudcart.ErrorFault{Rate: 0.7}, Timeout: &cloudcart.TimeoutFault{Rate: 0.4}}}}, "at most 1"},
		{"route", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"orders": {Routes: map[string]cloudcart.ChaosFaults{"orders": {}}}}}, "route template"},
		{"nested routes", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"orders": {Routes: map[string]cloudcart.ChaosFaults{"/a": {Routes: map[string]cloudcart.ChaosFaults{"/b": {}}}}}}}, "do not nest"},
		{"route fault", cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{"orders": {Routes: map[string]cloudcart.ChaosFaults{"/a": {Random: &cloudcart.RandomFault{Rate: 2}}}}}}, "routes./a.random.rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate(known)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("invalid: %v", err)
			case tc.want != "" && (cloudcart.ErrorCode(err) != cloudcart.EINVALID || !strings.Contains(cloudcart.ErrorMessage(err), tc.want)):
				t.Fatalf("error %v, want EINVALID saying %q", err, tc.want)
			}
		})
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestFaultsFor(t *testing.T) {
	route := cloudcart.ChaosFaults{Error: &cloudcart.ErrorFault{Rate: 1}}
	s := cloudcart.ChaosSettings{Enabled: true, Targets: map[string]cloudcart.ChaosFaults{
		"orders": {Latency: &cloudcart.LatencyFault{Probability: 1}, Routes: map[string]cloudcart.ChaosFaults{"/orders/{id}": route}},
		"*":      {Timeout: &cloudcart.TimeoutFault{Rate: 1}},
	}}
	for _, tc := range []struct {
		target, route, want string
	}{
		{"orders", "/orders/{id}", "error"},
		{"orders", "/orders", "latency"},
		{"orders", "", "latency"},
		{"users", "/users", "timeout"},
		{"chaos", "/chaos/settings", "none"},
	} {
		f, ok := s.FaultsFor(tc.target, tc.route)
		got := "none"
		if ok && len(f.FaultTypes()) > 0 {
			got = f.FaultTypes()[0]
		}
		if got != tc.want {
			t.Errorf("FaultsFor(%s, %s) = %s, want %s", tc.target, tc.route, got, tc.want)
		}
	}
	s.Enabled = false
	if _, ok := s.FaultsFor("orders", ""); ok {
		t.Error("faults while disabled")
	}
}

func TestNotificationForEvent(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		typ   cloudcart.EventType
		data  any
		title string
	}{
		{cloudcart.EventUserRegistered, cloudcart.UserRegisteredData{UserID: "usr_1"}, "New user registered"},
		{cloudcart.EventOrderCreated, cloudcart.OrderCreatedData{OrderID: "ord_1", Total: 100}, "Order ord_1 created"},
		{cloudcart.EventOrderCancelled, cloudcart.OrderCancelledData{OrderID: "ord_1"}, "Order ord_1 cancelled"},
		{cloudcart.EventOrderCompleted, cloudcart.OrderCompletedData{OrderID: "ord_1"}, "Order ord_1 completed"},
		{cloudcart.EventPaymentProcessed, cloudcart.PaymentProcessedData{OrderID: "ord_1", Status: "failed"}, "Payment for order ord_1: failed"},
		{cloudcart.EventInventoryLowStock, cloudcart.InventoryLowStockData{ProductID: "p1", SKU: "S-1"}, "Low stock: S-1"},
		{cloudcart.EventChaosInjected, cloudcart.ChaosInjectedData{Action: "enable", Enabled: true}, "Chaos enable"},
		{cloudcart.EventNotificationSent, cloudcart.NotificationSentData{NotificationID: "ntf_1"}, ""},
	} {
		e, err := cloudcart.NewEvent(tc.typ, "svc", tc.data, now)
		if err != nil {
			t.Fatal(err)
		}
		n, err := cloudcart.NotificationForEvent(e)
		if err != nil {
			t.Fatalf("%s: %v", tc.typ, err)
		}
		if tc.title == "" {
			if n != nil {
				t.Errorf("%s made a notification: a notification about a notification loops", tc.typ)
			}
			continue
		}
		if n == nil || n.Title != tc.title || n.SourceID != e.ID || n.Kind != string(tc.typ) || n.Fields["source"] != "svc" {
			t.Errorf("%s: %+v", tc.typ, n)
		}
	}
}

func TestNotificationForAlert(t *testing.T) {
	a := cloudcart.Alert{Status: "resolved", Labels: map[string]string{"alertname": "HighLatency", "job": "order-service", "severity": "ticket"},
		Annotations: map[string]string{"summary": "slow", "description": "p95 > 1s", "runbook_url": "https://x/runbooks.md#highlatency"},
		StartsAt:    time.Unix(100, 0), EndsAt: time.Unix(200, 0), Fingerprint: "fp"}
	n, err := cloudcart.NotificationForAlert(a, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n.Title != "[RESOLVED] HighLatency (order-service)" || n.Text != "slow\np95 > 1s" || n.Severity != "ticket" ||
		n.Fields["runbook"] == "" || n.Fields["ends_at"] == "" || n.Fields["label.job"] != "order-service" || n.SourceID != "fp" {
		t.Fatalf("notification = %+v", n)
	}
	if _, err := cloudcart.NotificationForAlert(cloudcart.Alert{Status: "firing"}, time.Now()); err == nil {
		t.Error("an alert without alertname")
	}
}
