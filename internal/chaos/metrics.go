package chaos

import (
	"context"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// LatencyMagnitudeBuckets are the bounds of latency_injection_duration_ms.
var LatencyMagnitudeBuckets = InjectedLatencyBuckets

// Injection types, the closed set of chaos_injections_total's
// injection_type: the fault types, plus switching chaos on and off and the
// payment failure rate.
var injectionTypes = []string{"enable", "disable", "latency", "error", "timeout", "random", "outage", "consume_latency", "payment"}

// Metrics are the chaos service's own instruments (reference 002 §6.1).
// They count what the admin API configured; the faults injected into
// requests are counted by each service's Middleware. The comments give the
// Prometheus names.
type Metrics struct {
	injections    metric.Int64Counter     // chaos_injections_total{injection_type,status}
	enabled       metric.Int64Counter     // chaos_enabled_total
	disabled      metric.Int64Counter     // chaos_disabled_total
	configUpdates metric.Int64Counter     // chaos_config_updates_total
	latencyInj    metric.Int64Counter     // latency_injections_total
	latencyMag    metric.Float64Histogram // latency_injection_duration_ms
	errorInj      metric.Int64Counter     // error_injections_total{error_code}
	timeoutInj    metric.Int64Counter     // timeout_injections_total
	randomInj     metric.Int64Counter     // random_chaos_injections_total

	// Observed at collection (registered by New):
	uptime      metric.Float64ObservableGauge // chaos_service_uptime_seconds
	latencyProb metric.Float64ObservableGauge // chaos_latency_injection_probability
	publishOK   metric.Float64ObservableGauge // chaos_events_publish_success_percent

	mu    sync.Mutex
	attrs map[string]metric.AddOption
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{attrs: map[string]metric.AddOption{}}
	in := telemetry.NewInstruments(meter)
	counter := in.Counter
	m.injections = counter("chaos.injections", "{injection}", "Chaos configurations requested through the admin API, by injection type (enable, disable, latency, error, timeout, random, outage, consume_latency, payment) and status (success, rejected).")
	m.enabled = counter("chaos.enabled", "{change}", "Times chaos was switched on.")
	m.disabled = counter("chaos.disabled", "{change}", "Times chaos was switched off.")
	m.configUpdates = counter("chaos.config.updates", "{update}", "Accepted changes of the chaos settings.")
	m.latencyInj = counter("latency.injections", "{injection}", "Latency faults configured (one per target or route with a latency fault, per accepted change).")
	m.errorInj = counter("error.injections", "{injection}", "Error faults configured, by the status code they answer with.")
	m.timeoutInj = counter("timeout.injections", "{injection}", "Timeout faults configured.")
	m.randomInj = counter("random.chaos.injections", "{injection}", "Random-mode faults configured.")
	m.latencyMag = in.Histogram("latency.injection.duration_ms", "{ms}",
		"Largest delay (fixed + jitter, ms) of each latency fault configured.", LatencyMagnitudeBuckets)
	m.uptime = in.Gauge("chaos.service.uptime", "s", "Seconds since the chaos service started.")
	// No unit: the exporter would turn unit "1" on a gauge into a _ratio
	// suffix, and the alert queries chaos_latency_injection_probability.
	m.latencyProb = in.Gauge("chaos.latency_injection.probability", "",
		"Configured probability (0-1) that chaos latency is injected into a request (the highest over targets and routes); 0 while chaos or latency injection is off.")
	m.publishOK = in.Gauge("chaos.events.publish.success", "%",
		"Share of the chaos service's event publishes JetStream acknowledged since start, in percent; 100 before the first.")
	if err := in.Err(); err != nil {
		return nil, err
	}
	ctx := context.Background()
	for _, t := range injectionTypes {
		m.injections.Add(ctx, 0, m.injection(t, "success"))
		m.injections.Add(ctx, 0, m.injection(t, "rejected"))
	}
	for _, c := range []metric.Int64Counter{m.enabled, m.disabled, m.configUpdates, m.latencyInj, m.timeoutInj, m.randomInj} {
		c.Add(ctx, 0)
	}
	return m, nil
}

func (m *Metrics) injection(typ, status string) metric.AddOption {
	k := typ + "/" + status
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.attrs[k]
	if !ok {
		a = metric.WithAttributeSet(attribute.NewSet(attribute.String("injection_type", typ), attribute.String("status", status)))
		m.attrs[k] = a
	}
	return a
}

func errorCode(status int) metric.AddOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("error_code", strconv.Itoa(status))))
}
