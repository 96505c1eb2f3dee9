// Package scenario runs CloudCart's failure scenarios against a running
// fleet and times the alert path end to end. A scenario applies a cause
// (chaos through the chaos admin API, reference 001's failing orders, a
// bulk order), keeps shoppers on the shop (internal/load), watches the
// Prometheus API until the expected alert fires and the notification
// worker has recorded its notification, restores what it changed, and
// waits for the alert to resolve. The Result is a timeline: cause applied,
// first bad sample, alert pending, firing, notification, restored,
// resolved.
//
// Everything goes over HTTP, so the same runner drives `cloudcart run`
// and a fleet of `cloudcart serve` processes (`cloudcart scenario`), and
// an in-process fleet in tests.
package scenario

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/load"
	"github.com/cloudcart/cloudcart/internal/services"
)

// Alert names an alert and the labels that tell it from the other alerts
// of that name (docs/alerts.md, "Alert list").
type Alert struct {
	Name   string            `json:"alertname"`
	Labels map[string]string `json:"labels,omitempty"`
}

// String is the alert as PromQL would select it, e.g.
// HighErrorRate{job="order-service",sli="orders"}.
func (a Alert) String() string {
	if len(a.Labels) == 0 {
		return a.Name
	}
	parts := make([]string, 0, len(a.Labels))
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, a.Labels[k]))
	}
	return a.Name + "{" + strings.Join(parts, ",") + "}"
}

// matches reports whether an alert with these labels (alertname included)
// is a.
func (a Alert) matches(labels map[string]string) bool {
	if labels["alertname"] != a.Name {
		return false
	}
	for k, v := range a.Labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Symptom is the raw signal a scenario's cause shows up in first, before
// any rule has evaluated it: the timeline's "first bad sample" is the
// first scraped sample of Series after the cause that passes the test.
type Symptom struct {
	Series string // a series selector, e.g. up{job="order-service"}
	// Rises: bad once a series counts up from its value at the cause (a
	// counter). Otherwise bad when the value is above Above, or, with
	// Below set, below Below.
	Rises bool
	Above float64
	Below *float64
	What  string // what the first bad sample means, for the timeline
}

func (s Symptom) bad(before, v float64) bool {
	switch {
	case s.Rises:
		return v > before
	case s.Below != nil:
		return v < *s.Below
	}
	return v > s.Above
}

// Scenario is one failure, its cause and the alert it must raise.
type Scenario struct {
	Name        string   `json:"name"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Cause       string   `json:"cause"` // what the runner does, in one line
	Expect      Alert    `json:"expect"`
	Severity    string   `json:"severity"`       // Expect's severity label
	Also        []string `json:"also,omitempty"` // other alerts the cause raises, not checked
	Symptom     Symptom  `json:"-"`
	// Load, when set, is load the cause needs on top of the runner's
	// (e.g. orders, to make events), run from just before the cause until
	// the alert has resolved.
	Load *load.Config `json:"-"`
	// prepare readies the shop (may be nil); apply makes the cause and
	// returns how to undo it.
	prepare func(ctx context.Context, e *env) error
	// needsAdmin: the scenario logs in as the fleet's admin; without the
	// account it is skipped.
	needsAdmin bool
	apply      func(ctx context.Context, e *env) (undo func(context.Context) error, err error)
}

// OutageTargets are the services service-down may stop, with their job
// names: those of the service table t an outage fault may take down
// (services.Service.Outage; never the chaos service nor the notification
// worker, cloudcart.ChaosFaults.Outage).
func OutageTargets(t services.Table) map[string]string { return t.OutageTargets() }

// All returns every scenario of CloudCart's fleet (services.All), in the
// order `cloudcart scenario all` runs them; see Of.
func All(service string) []Scenario { return Of(services.All, service) }

// Of returns every scenario of the fleet of service table t, in the order
// `cloudcart scenario all` runs them: payment-outage before error-spike,
// whose failed orders would otherwise still be in the long windows of the
// SLO alert payment-outage times (an error budget remembers). service is
// the service that service-down stops (a key of OutageTargets(t); "" for
// orders).
func Of(t services.Table, service string) []Scenario {
	if service == "" {
		service = "orders"
	}
	job := OutageTargets(t)[service]
	jobOf := func(name string) string { s, _ := t.Lookup(name); return s.ServiceName }
	gwJob, ordersJob, productsJob, notifierJob := jobOf("gateway"), jobOf("orders"), jobOf("products"), jobOf(cloudcart.ChaosNotifierTarget)
	downSeverity := "page"
	if service == "aggregator" {
		downSeverity = "ticket"
	}
	one := 1.0
	return []Scenario{
		{
			Name:  "latency-spike",
			Title: "Slow API gateway",
			Description: "Every request through the API gateway waits 1.2 to 1.5 s before it is served " +
				"(chaos latency), so p95 passes 1 s and the gateway latency SLO (500 ms) burns its budget.",
			Cause: "chaos: gateway latency, probability 1, 1200 ms + up to 300 ms",
			Expect: Alert{Name: "HighLatency", Labels: map[string]string{
				"job": gwJob, "sli": "http"}},
			Severity: "ticket",
			Also:     []string{`ErrorBudgetBurn{slo="gateway-latency",severity="page"}`},
			Symptom:  Symptom{Series: fmt.Sprintf(`chaos_injected_latency_ms_count{job=%q}`, gwJob), Rises: true, What: "an injected delay counted"},
			apply: withChaos(func(s *cloudcart.ChaosSettings) {
				s.Targets["gateway"] = cloudcart.ChaosFaults{Latency: &cloudcart.LatencyFault{Probability: 1, FixedMS: 1200, JitterMS: 300}}
			}),
		},
		{
			Name:  "payment-outage",
			Title: "Payment provider outage",
			Description: "The payment provider declines every payment (the chaos payment failure rate), so every " +
				"order fails and the orders-availability SLO (99%) burns its error budget fast enough to page.",
			Cause: "chaos: payment_failure_rate 1, plus 1 order/s",
			Expect: Alert{Name: "ErrorBudgetBurn", Labels: map[string]string{
				"slo": "orders-availability", "severity": "page"}},
			Severity: "page",
			Also:     []string{fmt.Sprintf(`HighErrorRate{job=%q,sli="orders"}`, ordersJob)},
			Symptom:  Symptom{Series: fmt.Sprintf(`order_payments_processed_total{job=%q,status="failed"}`, ordersJob), Rises: true, What: "a declined payment counted"},
			Load:     &load.Config{Rate: 1, Journeys: map[string]float64{load.Order: 1}},
			apply: withChaos(func(s *cloudcart.ChaosSettings) {
				s.PaymentFailureRate = 1
			}),
		},
		{
			Name:  "error-spike",
			Title: "Orders fail (reference 001)",
			Description: "Reference 001's error spike: the order service's POST /simulate places synthetic orders " +
				"through the real queue, workers and payment step, half of them made to fail.",
			Cause:    fmt.Sprintf("POST /simulate?count=%d&error_rate=%g on the order service every %s", simulateCount, simulateErrorRate, simulateEvery),
			Expect:   Alert{Name: "HighErrorRate", Labels: map[string]string{"job": ordersJob, "sli": "orders"}},
			Severity: "page",
			Also:     []string{`ErrorBudgetBurn{slo="orders-availability"}`},
			Symptom:  Symptom{Series: fmt.Sprintf(`orders_processed_total{job=%q,status="failure"}`, ordersJob), Rises: true, What: "a failed order counted"},
			apply:    simulateErrors,
		},
		{
			Name:  "consumer-lag",
			Title: "Slow notification worker",
			Description: "The notification worker takes 5 s over every event it consumes (chaos consume_latency) " +
				"while shoppers place 2 orders a second: events back up on the bus and the consumer lag passes 30 s.",
			Cause:    "chaos: notifier consume_latency 5000 ms, plus 2 orders/s",
			Expect:   Alert{Name: "HighConsumerLag", Labels: map[string]string{"job": notifierJob}},
			Severity: "ticket",
			Symptom:  Symptom{Series: fmt.Sprintf(`notification_consumer_lag_seconds{job=%q}`, notifierJob), Above: 5, What: "consumer lag above 5 s"},
			Load:     &load.Config{Rate: 2, Journeys: map[string]float64{load.Order: 1}},
			apply: withChaos(func(s *cloudcart.ChaosSettings) {
				s.Targets[cloudcart.ChaosNotifierTarget] = cloudcart.ChaosFaults{ConsumeLatency: &cloudcart.LatencyFault{Probability: 1, FixedMS: 5000}}
			}),
		},
		{
			Name:  "service-down",
			Title: "A service goes down",
			Description: fmt.Sprintf("The %s service stops listening (chaos outage): connections are refused, "+
				"Prometheus's scrape fails and up == 0; the gateway answers 502 for it.", service),
			Cause:    fmt.Sprintf("chaos: %s outage", service),
			Expect:   Alert{Name: "UpstreamServiceDown", Labels: map[string]string{"job": job}},
			Severity: downSeverity,
			Also:     []string{fmt.Sprintf(`HighErrorRate{job=%q,sli="http"}`, gwJob)},
			Symptom:  Symptom{Series: fmt.Sprintf(`up{job=%q}`, job), Below: &one, What: "a failed scrape (up == 0)"},
			apply: withChaos(func(s *cloudcart.ChaosSettings) {
				s.Targets[service] = cloudcart.ChaosFaults{Outage: true}
			}),
		},
		{
			Name:  "low-stock",
			Title: "A product runs low",
			Description: "A bulk order through the gateway takes a product one unit below its low-stock " +
				"threshold; an admin restock puts it back. Needs the admin account (--users.admin-email).",
			Cause:      "a bulk order of one product, down to threshold - 1",
			Expect:     Alert{Name: "LowStock", Labels: map[string]string{"job": productsJob}},
			Severity:   "info",
			Symptom:    Symptom{Series: fmt.Sprintf(`low_stock_products_count{job=%q}`, productsJob), Above: 0, What: "a product below its threshold"},
			prepare:    restockLowProducts,
			needsAdmin: true,
			apply:      drainProduct,
		},
	}
}

// Lookup finds a scenario of All(service) by name.
func Lookup(name, service string) (Scenario, bool) {
	for _, s := range All(service) {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Names lists the scenarios' names.
func Names() []string {
	var out []string
	for _, s := range All("") {
		out = append(out, s.Name)
	}
	return out
}
