package orders

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/httpkit"
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
	// One SQL statement: sub-millisecond on SQLite, a few ms on PostgreSQL.
	dbQueryBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}
)

// Metrics are the order service's instruments. The comments give the
// Prometheus names users query.
type Metrics struct {
	errors             *httpkit.ErrorCounter       // Errors, with precomputed attribute sets
	Processed          metric.Int64Counter         // orders_processed_total{status}
	Duration           metric.Float64Histogram     // order_duration_seconds
	ProcessingDuration metric.Float64Histogram     // order_processing_duration_seconds
	Created            metric.Int64Counter         // orders_created_total
	Value              metric.Float64Counter       // orders_value_total (dollars)
	Errors             metric.Int64Counter         // order_errors_total{error_type,endpoint}
	DBQueryDuration    metric.Float64Histogram     // order_db_query_duration_seconds{query_type}
	DBConnectionErrors metric.Int64Counter         // order_db_connection_errors_total
	Cancelled          metric.Int64Counter         // orders_cancelled_total
	Completed          metric.Int64Counter         // orders_completed_total
	Payments           metric.Int64Counter         // order_payments_processed_total{status}
	InventoryCheck     metric.Float64Histogram     // order_inventory_check_duration_seconds
	queueDepth         metric.Int64ObservableGauge // order_queue_depth

	success, failure metric.AddOption
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{
		success: metric.WithAttributeSet(attribute.NewSet(attribute.String("status", "success"))),
		failure: metric.WithAttributeSet(attribute.NewSet(attribute.String("status", "failure"))),
	}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	m.Processed, err = meter.Int64Counter("orders.processed", metric.WithUnit("{order}"),
		metric.WithDescription("Orders that finished processing, by outcome (success or failure)."))
	add(err)
	m.Duration, err = meter.Float64Histogram("order.duration", metric.WithUnit("s"),
		metric.WithDescription("Order latency end to end: from acceptance through queue wait and processing to outcome."),
		metric.WithExplicitBucketBoundaries(orderDurationBuckets...))
	add(err)
	m.ProcessingDuration, err = meter.Float64Histogram("order.processing.duration", metric.WithUnit("s"),
		metric.WithDescription("Time a worker spends processing an order, excluding queue wait."),
		metric.WithExplicitBucketBoundaries(processingBuckets...))
	add(err)
	m.Created, err = meter.Int64Counter("orders.created", metric.WithUnit("{order}"),
		metric.WithDescription("Orders recorded in the database, whatever their outcome."))
	add(err)
	m.Value, err = meter.Float64Counter("orders.value", metric.WithUnit("{USD}"),
		metric.WithDescription("Revenue: total value in US dollars of successfully processed orders."))
	add(err)
	m.Errors, err = meter.Int64Counter("order.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Order service errors by type and route template."))
	add(err)
	m.DBQueryDuration, err = meter.Float64Histogram("order.db.query.duration", metric.WithUnit("s"),
		metric.WithDescription("Latency of one SQL statement of the order service, by query type."),
		metric.WithExplicitBucketBoundaries(dbQueryBuckets...))
	add(err)
	m.DBConnectionErrors, err = meter.Int64Counter("order.db.connection.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Failures to reach the order database."))
	add(err)
	m.Cancelled, err = meter.Int64Counter("orders.cancelled", metric.WithUnit("{order}"),
		metric.WithDescription("Orders cancelled after confirmation (stock returned)."))
	add(err)
	m.Completed, err = meter.Int64Counter("orders.completed", metric.WithUnit("{order}"),
		metric.WithDescription("Orders completed: delivered to the customer."))
	add(err)
	m.Payments, err = meter.Int64Counter("order.payments.processed", metric.WithUnit("{payment}"),
		metric.WithDescription("Payment attempts by outcome: success, failed (declined) or error (provider unreachable)."))
	add(err)
	m.InventoryCheck, err = meter.Float64Histogram("order.inventory_check.duration", metric.WithUnit("s"),
		metric.WithDescription("Latency of the inventory check against the product service (reference 000's orders.inventory_check.duration)."),
		metric.WithExplicitBucketBoundaries(processingBuckets...))
	add(err)
	m.queueDepth, err = meter.Int64ObservableGauge("order.queue.depth", metric.WithUnit("{order}"),
		metric.WithDescription("Orders accepted and waiting in the work queue for a worker."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Start every unlabelled or closed-set counter at zero, so rate(),
	// ratios and absent() work from the first scrape instead of after the
	// first event.
	ctx := context.Background()
	m.Processed.Add(ctx, 0, m.success)
	m.Processed.Add(ctx, 0, m.failure)
	m.Created.Add(ctx, 0)
	m.Value.Add(ctx, 0)
	m.DBConnectionErrors.Add(ctx, 0)
	m.Cancelled.Add(ctx, 0)
	m.Completed.Add(ctx, 0)
	for _, st := range []string{"success", "failed", "error"} {
		m.Payments.Add(ctx, 0, metric.WithAttributes(attribute.String("status", st)))
	}
	m.errors = httpkit.NewErrorCounter(m.Errors)
	return m, nil
}
