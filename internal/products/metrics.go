package products

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

var (
	// Listing and search read a few hundred rows: sub-millisecond to tens
	// of milliseconds.
	readBuckets    = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	dbQueryBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}
)

// Metrics are the product service's instruments; comments give the
// Prometheus names.
type Metrics struct {
	errors          *httpkit.ErrorCounter   // Errors, with precomputed attribute sets
	ListTime        metric.Float64Histogram // product_list_time_seconds{category}
	SearchTime      metric.Float64Histogram // product_search_time_seconds
	Views           metric.Int64Counter     // product_views_total{category}
	StockUpdates    metric.Int64Counter     // product_stock_updates_total{reason}
	InventoryAlerts metric.Int64Counter     // inventory_alerts_total{severity}
	Errors          metric.Int64Counter     // product_errors_total{error_type,endpoint}
	DBQueryDuration metric.Float64Histogram // product_db_query_duration_seconds{query_type}

	// Observed at collection time from the store and the pool.
	countByCategory metric.Int64ObservableGauge   // products_count_by_category{category}
	avgPrice        metric.Float64ObservableGauge // product_average_price_dollars{category}
	lowStock        metric.Int64ObservableGauge   // low_stock_products_count
	poolSize        metric.Int64ObservableGauge   // product_db_connection_pool_size
	topViewed       metric.Int64ObservableGauge   // product_top_viewed_views{product_id}

	category map[string]metric.MeasurementOption // precomputed per category
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{category: map[string]metric.MeasurementOption{}}
	for _, c := range append([]string{"all"}, cloudcart.Categories...) {
		m.category[c] = metric.WithAttributeSet(attribute.NewSet(attribute.String("category", c)))
	}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	m.ListTime, err = meter.Float64Histogram("product.list_time", metric.WithUnit("s"),
		metric.WithDescription("Time to fetch one page of the product list, by category (\"all\" when unfiltered)."),
		metric.WithExplicitBucketBoundaries(readBuckets...))
	add(err)
	m.SearchTime, err = meter.Float64Histogram("product.search_time", metric.WithUnit("s"),
		metric.WithDescription("Time to run one product search."), metric.WithExplicitBucketBoundaries(readBuckets...))
	add(err)
	m.Views, err = meter.Int64Counter("product.views", metric.WithUnit("{view}"),
		metric.WithDescription("Product detail views by category. Per-product counts: product_top_viewed_views."))
	add(err)
	m.StockUpdates, err = meter.Int64Counter("product.stock_updates", metric.WithUnit("{update}"),
		metric.WithDescription("Stock changes per product line by reason (purchase, cancellation, return, restock)."))
	add(err)
	m.InventoryAlerts, err = meter.Int64Counter("inventory.alerts", metric.WithUnit("{alert}"),
		metric.WithDescription("Low-stock crossings: warning below a product's threshold, critical below 5 units."))
	add(err)
	m.Errors, err = meter.Int64Counter("product.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Product service errors by type and route template."))
	add(err)
	m.DBQueryDuration, err = meter.Float64Histogram("product.db.query.duration", metric.WithUnit("s"),
		metric.WithDescription("Latency of one SQL statement of the product service, by query type."),
		metric.WithExplicitBucketBoundaries(dbQueryBuckets...))
	add(err)
	m.countByCategory, err = meter.Int64ObservableGauge("products.count_by_category", metric.WithUnit("{product}"),
		metric.WithDescription("Products in the catalog per category, read from the database."))
	add(err)
	m.avgPrice, err = meter.Float64ObservableGauge("product.average_price.dollars",
		metric.WithDescription("Average list price in US dollars per category, read from the database."))
	add(err)
	m.lowStock, err = meter.Int64ObservableGauge("low_stock_products.count", metric.WithUnit("{product}"),
		metric.WithDescription("Products whose stock is below their low-stock threshold, read from the database."))
	add(err)
	m.poolSize, err = meter.Int64ObservableGauge("product.db.connection_pool.size", metric.WithUnit("{connection}"),
		metric.WithDescription("Open connections in the product database pool (in use + idle)."))
	add(err)
	m.topViewed, err = meter.Int64ObservableGauge("product.top_viewed.views", metric.WithUnit("{view}"),
		metric.WithDescription("Views in the last 5 minutes of the 10 most viewed products; at most 10 series."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ctx := context.Background()
	for _, r := range []cloudcart.StockReason{cloudcart.StockPurchase, cloudcart.StockCancellation, cloudcart.StockReturn, cloudcart.StockRestock} {
		m.StockUpdates.Add(ctx, 0, metric.WithAttributes(attribute.String("reason", string(r))))
	}
	for _, sev := range []string{"warning", "critical"} {
		m.InventoryAlerts.Add(ctx, 0, metric.WithAttributes(attribute.String("severity", sev)))
	}
	m.errors = httpkit.NewErrorCounter(m.Errors)
	return m, nil
}

// categoryOpt returns the precomputed attribute option of a category.
func (m *Metrics) categoryOpt(c string) metric.MeasurementOption {
	if o, ok := m.category[c]; ok {
		return o
	}
	return m.category["all"]
}
