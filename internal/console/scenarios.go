package console

import (
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/services"
)

// Scenario is a named chaos setting one click away in the console: it
// switches chaos on and sets one target's faults, leaving the others.
type Scenario struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
	// Alert is what should fire (see docs/alerts.md), so the user knows
	// what to watch for.
	Alert string `json:"alert"`
	// Target and Faults are what the scenario sets; Reset clears every
	// target and switches chaos off instead.
	Target             string                 `json:"target,omitempty"`
	Faults             *cloudcart.ChaosFaults `json:"faults,omitempty"`
	PaymentFailureRate *float64               `json:"payment_failure_rate,omitempty"`
	Reset              bool                   `json:"reset,omitempty"`
}

// ChaosTargets are the services of table t a fault can be set on, as the
// chaos service names them, and "*" for every service without its own
// faults.
func ChaosTargets(t services.Table) []string {
	return append(t.ChaosTargets(), cloudcart.ChaosTargetAll)
}

// Scenarios lists the console's scenarios. The alerts fire within about
// a minute on the demo profile while requests reach the service.
// `cloudcart scenario` (internal/scenario) runs and times the same kinds
// of failure, and restores the settings afterwards.
func Scenarios() []Scenario {
	rate := func(v float64) *float64 { return &v }
	return []Scenario{
		{Name: "orders-errors", Title: "Break the order service",
			Description: "Every request to the order service is answered 500.",
			Alert:       "HighErrorRate (order-service, sli=http)",
			Target:      "orders", Faults: &cloudcart.ChaosFaults{Error: &cloudcart.ErrorFault{Rate: 1, Status: 500}}},
		{Name: "products-timeouts", Title: "Product service timeouts",
			Description: "30% of product service requests hang for 2 s, then answer 504.",
			Alert:       "HighErrorRate (product-service, sli=http)",
			Target:      "products", Faults: &cloudcart.ChaosFaults{Timeout: &cloudcart.TimeoutFault{Rate: 0.3, AfterMS: 2000}}},
		{Name: "gateway-latency", Title: "Slow API gateway",
			Description: "Every gateway request waits 1.2–1.5 s before it is served.",
			Alert:       "HighLatency (api-gateway, sli=http)",
			Target:      "gateway", Faults: &cloudcart.ChaosFaults{Latency: &cloudcart.LatencyFault{Probability: 1, FixedMS: 1200, JitterMS: 300}}},
		{Name: "payments-declined", Title: "Payment provider declines",
			Description:        "Half of all payments are declined: orders fail.",
			Alert:              "HighErrorRate (order-service, sli=orders), ErrorBudgetBurn (orders-availability)",
			PaymentFailureRate: rate(0.5)},
		{Name: "users-random", Title: "Flaky user service",
			Description: "20% of user service requests get a random fault: latency, an error or a timeout.",
			Alert:       "HighErrorRate (user-service, sli=http) under load",
			Target:      "users", Faults: &cloudcart.ChaosFaults{Random: &cloudcart.RandomFault{Rate: 0.2}}},
		{Name: "orders-outage", Title: "Order service down",
			Description: "The order service stops listening: connections are refused and its scrape fails, until chaos stops.",
			Alert:       "UpstreamServiceDown (order-service)",
			Target:      "orders", Faults: &cloudcart.ChaosFaults{Outage: true}},
		{Name: "notifier-slow", Title: "Slow notification worker",
			Description: "The notification worker takes 5 s over every event; with orders coming in, events back up on the bus.",
			Alert:       "HighConsumerLag (notification-worker) with orders flowing",
			Target:      "notifier", Faults: &cloudcart.ChaosFaults{ConsumeLatency: &cloudcart.LatencyFault{Probability: 1, FixedMS: 5000}}},
		{Name: "reset", Title: "Stop all chaos",
			Description: "Switch chaos off and remove every fault; the alerts resolve.",
			Reset:       true},
	}
}

func scenario(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// apply changes the settings as the scenario says.
func (sc Scenario) apply(s *cloudcart.ChaosSettings) {
	if sc.Reset {
		*s = cloudcart.ChaosSettings{}
		return
	}
	s.Enabled = true
	if sc.Faults != nil {
		if s.Targets == nil {
			s.Targets = map[string]cloudcart.ChaosFaults{}
		}
		s.Targets[sc.Target] = *sc.Faults
	}
	if sc.PaymentFailureRate != nil {
		s.PaymentFailureRate = *sc.PaymentFailureRate
	}
}
