package notifier

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/telemetry"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Bucket layouts in seconds.
var (
	// Handling one message: a SQLite or PostgreSQL transaction.
	processingBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	// One Slack API call, up to the client's 10 s timeout.
	slackBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// Chaos event actions, the closed set of chaos_type.
var chaosTypes = []string{"enable", "disable", "configure"}

// Metrics are the notification worker's instruments (reference 002 §7.1,
// Kafka renamed to the bus). The comments give the Prometheus names.
type Metrics struct {
	restarts       metric.Int64Counter     // notification_worker_restarts_total
	consumed       metric.Int64Counter     // notification_messages_consumed_total{topic}
	processed      metric.Int64Counter     // notification_messages_processed_total{topic,event_type}
	failed         metric.Int64Counter     // notification_messages_failed_total{topic,error_type}
	duration       metric.Float64Histogram // notification_message_processing_duration_seconds{topic,event_type}
	deadLettered   metric.Int64Counter     // notification_messages_dead_lettered_total{topic}
	duplicates     metric.Int64Counter     // notification_messages_duplicate_total{topic}
	orderEvents    metric.Int64Counter     // notification_order_events_processed_total
	paymentEvents  metric.Int64Counter     // notification_payment_events_processed_total
	chaosEvents    metric.Int64Counter     // notification_chaos_events_processed_total{chaos_type}
	notifEvents    metric.Int64Counter     // notification_notification_events_processed_total
	procErrors     metric.Int64Counter     // notification_processing_errors_total{error_type}
	deserErrors    metric.Int64Counter     // notification_deserialization_errors_total
	handlerErrors  metric.Int64Counter     // notification_handler_errors_total
	sent           metric.Int64Counter     // notification_notifications_sent_total{channel,status}
	sendFailed     metric.Int64Counter     // notification_notifications_failed_total{channel,reason}
	slackLatency   metric.Float64Histogram // notification_slack_api_latency_seconds
	alerts         metric.Int64Counter     // notification_alerts_received_total{status}
	recordFailures metric.Int64Counter     // notification_store_failures_total

	// Observed at collection (registered by New):
	running      metric.Int64ObservableGauge   // notification_worker_running
	uptime       metric.Float64ObservableGauge // notification_worker_uptime_seconds
	lag          metric.Float64ObservableGauge // notification_consumer_lag_seconds{topic}
	distribution metric.Float64ObservableGauge // notification_event_types_distribution{event_type}

	mu    sync.Mutex
	attrs map[string]attribute.Set
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{attrs: map[string]attribute.Set{}}
	in := telemetry.NewInstruments(meter)
	counter := in.Counter
	m.restarts = counter("notification.worker.restarts", "{restart}", "Times a consume loop failed (NATS unreachable, consumer deleted) and restarted.")
	m.consumed = counter("notification.messages.consumed", "{message}", "Messages received from the bus, by topic (JetStream subject), redeliveries included.")
	m.processed = counter("notification.messages.processed", "{message}", "Messages handled and acknowledged, by topic and event type.")
	m.failed = counter("notification.messages.failed", "{message}", "Deliveries that failed, by topic and error type (deserialization, handler).")
	m.deadLettered = counter("notification.messages.dead_lettered", "{message}", "Messages moved to the dead-letter subject cloudcart.dlq.<type>, by topic.")
	m.duplicates = counter("notification.messages.duplicate", "{message}", "Redeliveries of events already handled, dropped by the deduplication table.")
	m.orderEvents = counter("notification.order_events.processed", "{event}", "Order events (order.created, order.cancelled, order.completed) handled, once each.")
	m.paymentEvents = counter("notification.payment_events.processed", "{event}", "payment.processed events handled, once each.")
	m.chaosEvents = counter("notification.chaos_events.processed", "{event}", "chaos.injected events handled, by action (enable, disable, configure).")
	m.notifEvents = counter("notification.notification_events.processed", "{event}", "notification.sent events handled (recorded, never notified again).")
	m.procErrors = counter("notification.processing.errors", "{error}", "Processing errors by type (deserialization, handler).")
	m.deserErrors = counter("notification.deserialization.errors", "{error}", "Messages that are not a valid event envelope.")
	m.handlerErrors = counter("notification.handler.errors", "{error}", "Handler failures: payload of the wrong shape, storage errors.")
	m.sent = counter("notification.notifications.sent", "{notification}", "Notification send attempts by channel and status (success, failed).")
	m.sendFailed = counter("notification.notifications.failed", "{notification}", "Failed notification sends by channel and reason.")
	m.recordFailures = counter("notification.store.failures", "{failure}", "Failures to record a delivery's outcome or read the due deliveries (a full disk, a locked database); the worker backs off and sends nothing again meanwhile.")
	m.alerts = counter("notification.alerts.received", "{alert}", "Alerts received on POST /alerts (Alertmanager webhook), by status (firing, resolved).")
	m.duration = in.Histogram("notification.message.processing.duration", "s",
		"Time to handle one message, by topic and event type.", processingBuckets)
	m.slackLatency = in.Histogram("notification.slack.api.latency", "s",
		"Latency of Slack incoming-webhook calls.", slackBuckets)
	m.running = in.IntGauge("notification.worker.running", "",
		"1 while every consume loop is attached to the bus, 0 otherwise.")
	m.uptime = in.Gauge("notification.worker.uptime", "s", "Seconds since the worker started.")
	m.lag = in.Gauge("notification.consumer.lag", "s",
		"Age of the oldest message on the topic the worker has not acknowledged yet (JetStream consumer state), 0 when caught up.")
	m.distribution = in.Gauge("notification.event_types.distribution", "",
		"Share (0-1) of each event type among the events handled since start.")
	if err := in.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// set returns a cached attribute set for label pairs.
func (m *Metrics) set(kv ...string) attribute.Set {
	key := ""
	for _, s := range kv {
		key += s + "\x00"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.attrs[key]; ok {
		return s
	}
	attrs := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, attribute.String(kv[i], kv[i+1]))
	}
	s := attribute.NewSet(attrs...)
	m.attrs[key] = s
	return s
}

func (m *Metrics) add(c metric.Int64Counter, kv ...string) {
	c.Add(context.Background(), 1, metric.WithAttributeSet(m.set(kv...)))
}

// init starts the closed-set series at zero, so rates and ratios exist
// from the first scrape.
func (m *Metrics) init(channels []string) {
	ctx := context.Background()
	zero := func(c metric.Int64Counter, kv ...string) { c.Add(ctx, 0, metric.WithAttributeSet(m.set(kv...))) }
	for _, t := range cloudcart.EventTypes {
		topic := bus.Subject(t)
		zero(m.consumed, "topic", topic)
		zero(m.processed, "topic", topic, "event_type", string(t))
		zero(m.deadLettered, "topic", topic)
		zero(m.duplicates, "topic", topic)
		for _, et := range []string{bus.ReasonDeserialization, bus.ReasonHandler} {
			zero(m.failed, "topic", topic, "error_type", et)
		}
	}
	for _, et := range []string{bus.ReasonDeserialization, bus.ReasonHandler} {
		zero(m.procErrors, "error_type", et)
	}
	zero(m.recordFailures)
	for _, ct := range chaosTypes {
		zero(m.chaosEvents, "chaos_type", ct)
	}
	for _, s := range []string{"firing", "resolved"} {
		zero(m.alerts, "status", s)
	}
	for _, ch := range channels {
		zero(m.sent, "channel", ch, "status", "success")
		zero(m.sent, "channel", ch, "status", "failed")
		for _, r := range failureReasons {
			zero(m.sendFailed, "channel", ch, "reason", r)
		}
	}
	for _, c := range []metric.Int64Counter{m.restarts, m.orderEvents, m.paymentEvents, m.notifEvents, m.deserErrors, m.handlerErrors} {
		zero(c)
	}
}
