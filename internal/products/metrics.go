package products

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

var (
	// Listing and search read a few hundred rows: sub-millisecond to tens
	// of milliseconds.
	readBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
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
	// ReservationsExpired counts reservations the service released itself
	// because their order was not confirmed in time.
	ReservationsExpired metric.Int64Counter // product_reservations_expired_total

	// Observed at collection time from the store and the pool.
	countByCategory metric.Int64ObservableGauge   // products_count_by_category{category}
	avgPrice        metric.Float64ObservableGauge // product_average_price_dollars{category}
	lowStock        metric.Int64ObservableGauge   // low_stock_products_count
	poolSize        metric.Int64ObservableGauge   // product_db_connection_pool_size
	topViewed       metric.Int64ObservableGauge   // product_top_viewed_views{product_id}

	category map[string]metric.MeasurementOption // precomputed per category
	reason   map[cloudcart.StockReason]metric.AddOption
	severity map[string]metric.AddOption
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{category: map[string]metric.MeasurementOption{}}
	for _, c := range append([]string{"all"}, cloudcart.Categories...) {
		m.category[c] = metric.WithAttributeSet(attribute.NewSet(attribute.String("category", c)))
	}
	in := telemetry.NewInstruments(meter)
	m.ListTime = in.Histogram("product.list_time", "s", "Time to fetch one page of the product list, by category (\"all\" when unfiltered).", readBuckets)
	m.SearchTime = in.Histogram("product.search_time", "s", "Time to run one product search.", readBuckets)
	m.Views = in.Counter("product.views", "{view}", "Product detail views by category. Per-product counts: product_top_viewed_views.")
	m.StockUpdates = in.Counter("product.stock_updates", "{update}", "Stock changes per product line by reason (purchase, cancellation, return, restock).")
	m.InventoryAlerts = in.Counter("inventory.alerts", "{alert}", "Low-stock crossings: warning below a product's threshold, critical below 5 units.")
	m.Errors = in.Counter("product.errors", "{error}", "Product service errors by type and route template.")
	m.ReservationsExpired = in.Counter("product.reservations.expired", "{reservation}", "Stock reservations released by the product service because their order was not confirmed within the reservation TTL.")
	m.countByCategory = in.IntGauge("products.count_by_category", "{product}", "Products in the catalog per category, read from the database.")
	m.avgPrice = in.Gauge("product.average_price.dollars", "", "Average list price in US dollars per category, read from the database.")
	m.lowStock = in.IntGauge("low_stock_products.count", "{product}", "Products whose stock is below their low-stock threshold, read from the database.")
	m.poolSize = in.IntGauge("product.db.connection_pool.size", "{connection}", "Open connections in the product database pool (in use + idle).")
	m.topViewed = in.IntGauge("product.top_viewed.views", "{view}", "Views in the last 5 minutes of the 10 most viewed products; at most 10 series.")
	if err := in.Err(); err != nil {
		return nil, err
	}
	m.errors = httpkit.NewErrorCounter(m.Errors)
	m.primeZero()
	return m, nil
}

// errorTypes is the closed set of product_errors_total's error_type: the
// values of httpkit.ErrorType the product service's handlers can return.
var errorTypes = []string{"validation", "unauthorized", "forbidden", "not_found", "conflict", "unavailable", "internal"}

// primeZero starts every closed-set counter at zero, so rate(), ratios and
// absent() work from the first scrape. Per-route series start in
// primeRoute.
func (m *Metrics) primeZero() {
	ctx := context.Background()
	m.ReservationsExpired.Add(ctx, 0)
	m.reason, m.severity = map[cloudcart.StockReason]metric.AddOption{}, map[string]metric.AddOption{}
	for _, r := range []cloudcart.StockReason{cloudcart.StockPurchase, cloudcart.StockCancellation, cloudcart.StockReturn, cloudcart.StockRestock} {
		m.reason[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", string(r))))
		m.StockUpdates.Add(ctx, 0, m.reason[r])
	}
	for _, sev := range []string{severityWarning, severityCritical} {
		m.severity[sev] = metric.WithAttributeSet(attribute.NewSet(attribute.String("severity", sev)))
		m.InventoryAlerts.Add(ctx, 0, m.severity[sev])
	}
	for _, opt := range m.category { // the categories and "all"
		m.Views.Add(ctx, 0, opt)
	}
}

// primeRoute starts product_errors_total at zero for each error type of
// one route template: len(errorTypes) series per route.
func (m *Metrics) primeRoute(endpoint string) {
	for _, t := range errorTypes {
		m.errors.Zero(context.Background(), t, endpoint)
	}
}

// categoryOpt returns the precomputed attribute option of a category.
func (m *Metrics) categoryOpt(c string) metric.MeasurementOption {
	if o, ok := m.category[c]; ok {
		return o
	}
	return m.category["all"]
}

// Inventory alert severities (inventory_alerts_total).
const (
	severityWarning  = "warning"  // below the product's threshold
	severityCritical = "critical" // below cloudcart.CriticalStock
)

// stockUpdated counts one stock change.
func (m *Metrics) stockUpdated(ctx context.Context, r cloudcart.StockReason) {
	o, ok := m.reason[r]
	if !ok { // a reason added to the domain but not here: still counted
		o = metric.WithAttributes(attribute.String("reason", string(r)))
	}
	m.StockUpdates.Add(ctx, 1, o)
}

// inventoryAlert counts one low-stock crossing.
func (m *Metrics) inventoryAlert(ctx context.Context, severity string) {
	m.InventoryAlerts.Add(ctx, 1, m.severity[severity])
}
