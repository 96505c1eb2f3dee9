package orders

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// Bucket layouts, in seconds, each fitted to its quantity. Every layout has
// a bound at 2 s, the HighLatency and slow-query alert threshold, so the
// alert compares against a real bucket edge rather than an interpolation.
var (
	// End to end, queue wait included: a saturated queue pushes this into
	// seconds. 2.5 s is the order-placement latency SLO's threshold
	// (deploy/slo/slos.yml), which must be a bucket edge.
	orderDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 30}
	// Work only: storage and payment, milliseconds when healthy.
	processingBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}
)

// Metrics are the order service's instruments. The comments give the
// Prometheus names users query.
type Metrics struct {
	errors             *httpkit.ErrorCounter       // Errors, with precomputed attribute sets
	Processed          metric.Int64Counter         // orders_processed_total{status}
	Duration           metric.Float64Histogram     // order_duration_seconds
	ProcessingDuration metric.Float64Histogram     // order_processing_duration_seconds
	Created            metric.Int64Counter         // orders_created_total
	Errors             metric.Int64Counter         // order_errors_total{error_type,endpoint}
	Cancelled          metric.Int64Counter         // orders_cancelled_total
	Completed          metric.Int64Counter         // orders_completed_total
	Payments           metric.Int64Counter         // order_payments_processed_total{status}
	InventoryCheck     metric.Float64Histogram     // order_inventory_check_duration_seconds
	queueDepth         metric.Int64ObservableGauge // order_queue_depth
	// orders_value_total (dollars), observed from a sum kept in cents: a
	// float counter adding 12.34 at a time drifts (38648.40000000001).
	value      metric.Float64ObservableCounter
	valueCents atomic.Int64

	success, failure metric.AddOption
	payment          map[string]metric.AddOption // by status
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{
		success: metric.WithAttributeSet(attribute.NewSet(attribute.String("status", "success"))),
		failure: metric.WithAttributeSet(attribute.NewSet(attribute.String("status", "failure"))),
	}
	in := telemetry.NewInstruments(meter)
	m.Processed = in.Counter("orders.processed", "{order}", "Orders that finished processing, by outcome (success or failure).")
	m.Duration = in.Histogram("order.duration", "s", "Order latency end to end: from acceptance through queue wait and processing to outcome.", orderDurationBuckets)
	m.ProcessingDuration = in.Histogram("order.processing.duration", "s", "Time a worker spends processing an order, excluding queue wait.", processingBuckets)
	m.Created = in.Counter("orders.created", "{order}", "Orders recorded in the database, whatever their outcome.")
	m.value = in.ObservableCounter("orders.value", "{USD}", "Revenue: total value in US dollars of successfully processed orders.")
	m.Errors = in.Counter("order.errors", "{error}", "Order service errors by type and route template.")
	m.Cancelled = in.Counter("orders.cancelled", "{order}", "Orders cancelled after confirmation (stock returned).")
	m.Completed = in.Counter("orders.completed", "{order}", "Orders completed: delivered to the customer.")
	m.Payments = in.Counter("order.payments.processed", "{payment}", "Payment attempts by outcome: success, failed (declined) or error (provider unreachable).")
	m.InventoryCheck = in.Histogram("order.inventory_check.duration", "s", "Latency of the inventory check against the product service (reference 000's orders.inventory_check.duration).", processingBuckets)
	m.queueDepth = in.IntGauge("order.queue.depth", "{order}", "Orders accepted and waiting in the work queue for a worker.")
	if err := in.Err(); err != nil {
		return nil, err
	}
	if _, err := meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		obs.ObserveFloat64(m.value, float64(m.valueCents.Load())/100)
		return nil
	}, m.value); err != nil {
		return nil, err
	}
	m.errors = httpkit.NewErrorCounter(m.Errors)
	m.primeZero()
	return m, nil
}

// AddValue adds a successful order's total to orders_value_total.
func (m *Metrics) AddValue(total cloudcart.Money) { m.valueCents.Add(int64(total)) }

// errorTypes is the closed set of order_errors_total's error_type:
// httpkit.ErrorType's values for request errors, and the processing steps'
// own (stepErrorType, fail, storage failures).
var errorTypes = []string{"validation", "unauthorized", "forbidden", "not_found", "conflict", "unavailable", "internal",
	"out_of_stock", "upstream", "payment_declined", "storage"}

// primeZero starts every unlabelled or closed-set counter at zero, so
// rate(), ratios and absent() work from the first scrape instead of after
// the first event. Per-route series start in primeRoute.
func (m *Metrics) primeZero() {
	ctx := context.Background()
	m.Processed.Add(ctx, 0, m.success)
	m.Processed.Add(ctx, 0, m.failure)
	m.Created.Add(ctx, 0)
	m.Cancelled.Add(ctx, 0)
	m.Completed.Add(ctx, 0)
	m.payment = map[string]metric.AddOption{}
	for _, st := range []string{paymentSuccess, paymentFailed, paymentError} {
		m.payment[st] = metric.WithAttributeSet(attribute.NewSet(attribute.String("status", st)))
		m.Payments.Add(ctx, 0, m.payment[st])
	}
}

// primeRoute starts order_errors_total at zero for each error type of one
// route template: len(errorTypes) series per route.
func (m *Metrics) primeRoute(endpoint string) {
	for _, t := range errorTypes {
		m.errors.Zero(context.Background(), t, endpoint)
	}
}

// Payment outcomes (order_payments_processed_total{status}).
const (
	paymentSuccess = "success"
	paymentFailed  = "failed" // declined
	paymentError   = "error"  // provider unreachable
)

// paid counts one payment attempt by outcome.
func (m *Metrics) paid(ctx context.Context, status string) { m.Payments.Add(ctx, 1, m.payment[status]) }
