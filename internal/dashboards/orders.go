package dashboards

// orderService is reference 001's dashboard: its four panels (Order Rate,
// P95 Latency, Queue Depth, Error Rate) with the thresholds of its two
// alerts, then the order pipeline of reference 002 §5 below them.
//
// 001's Error Rate divides series by series, which pairs failure with
// failure only (docs/queries.md); here both sides are summed.
func orderService() board {
	return board{
		uid:         "cloudcart-order-service",
		title:       "Order Service",
		file:        "order-service.json",
		description: "Reference 001's order-processing dashboard: order rate, p95 latency, queue depth and error rate, with the order pipeline of reference 002 §5.",
		tags:        []string{"orders", "reference-001"},
		from:        "now-30m",
		vars:        []variable{{name: "job", label: "Service", metric: "orders_processed_total", labelName: "job"}},
		rows: []row{
			{title: "Orders (reference 001)", panels: []panel{
				timeSeries("Order Rate", "ops",
					q(`sum by (status) (rate(orders_processed_total{job=~"$job"}[$__rate_interval]))`, "{{status}}")).
					describe("Orders that finished processing per second, by outcome (orders_processed_total).").
					size(6, 8).withMin(0).stack(),
				timeSeries("P95 Latency", "s",
					q(`histogram_quantile(0.95, sum by (le) (rate(order_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))`, "p95")).
					describe("95th percentile of the end-to-end order latency, queue wait included. HighLatency (sli=orders) fires above 2s for 1m.").
					size(6, 8).withMin(0).thresholds(at(2, "red")),
				timeSeries("Queue Depth", "short",
					q(`sum(order_queue_depth{job=~"$job"})`, "waiting")).
					describe("Orders accepted and waiting for a worker. The queue holds 256 by default (--orders.queue-size); a full queue answers 503.").
					size(6, 8).withMin(0).thresholds(at(128, "orange"), at(256, "red")),
				timeSeries("Error Rate", "percentunit",
					q(`sum(rate(orders_processed_total{job=~"$job",status="failure"}[$__rate_interval])) / sum(rate(orders_processed_total{job=~"$job"}[$__rate_interval]))`, "failed")).
					describe("Share of processed orders that failed. HighErrorRate (sli=orders) fires above 20% for 2m.").
					size(6, 8).withMin(0).thresholds(at(0.2, "red")),
			}},
			{title: "Order pipeline (reference 002 §5)", panels: []panel{
				timeSeries("Orders created, completed, cancelled", "ops",
					q(`sum(rate(orders_created_total{job=~"$job"}[$__rate_interval]))`, "created"),
					q(`sum(rate(orders_completed_total{job=~"$job"}[$__rate_interval]))`, "completed"),
					q(`sum(rate(orders_cancelled_total{job=~"$job"}[$__rate_interval]))`, "cancelled")).
					describe("The order lifecycle per second: stored, delivered by the fulfilment worker, cancelled by the customer.").
					withMin(0),
				timeSeries("Payments by status", "ops",
					q(`sum by (status) (rate(order_payments_processed_total{job=~"$job"}[$__rate_interval]))`, "{{status}}")).
					describe("Payment attempts per second: success, failed (declined) or error (provider unreachable).").
					withMin(0).stack(),
				timeSeries("Processing vs end-to-end latency (p95)", "s",
					q(`histogram_quantile(0.95, sum by (le) (rate(order_processing_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))`, "processing"),
					q(`histogram_quantile(0.95, sum by (le) (rate(order_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))`, "end to end")).
					describe("Worker time per order against the end-to-end latency; the gap is the queue wait.").
					withMin(0).thresholds(at(2, "red")),
				timeSeries("HTTP requests by endpoint and status", "reqps",
					q(`sum by (endpoint, status) (rate(order_http_requests_total{job=~"$job"}[$__rate_interval]))`, "{{endpoint}} {{status}}")).
					describe("Requests the order service answered, by route template and status.").
					withMin(0),
				timeSeries("Errors by type", "ops",
					q(`sum by (error_type) (rate(order_errors_total{job=~"$job"}[$__rate_interval]))`, "{{error_type}}")).
					describe("Error answers by type (validation, not_found, unavailable, payment_declined, ...).").
					withMin(0).stack(),
				timeSeries("Database query latency (p95)", "s",
					q(`histogram_quantile(0.95, sum by (query_type, le) (rate(order_db_query_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))`, "{{query_type}}")).
					describe("95th percentile of one SQL statement, by statement type. DatabaseSlowQueries fires above 2s for 3m.").
					withMin(0).thresholds(at(2, "red")),
			}},
		},
	}
}
