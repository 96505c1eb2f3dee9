package dashboards

// goldenSignals is reference 002 §9's SRE dashboard: latency, traffic,
// errors and saturation of every service, from the golden-signal recording
// rules (keyed by job, whatever each service calls its HTTP metrics), then
// §9's per-service queries.
func goldenSignals() board {
	return board{
		uid:         "cloudcart-sre",
		title:       "SRE golden signals",
		file:        "sre-golden-signals.json",
		description: "Latency, traffic, errors and saturation of every CloudCart service (reference 002 §9), from the job:* recording rules.",
		tags:        []string{"sre", "golden-signals", "reference-002"},
		from:        "now-30m",
		vars:        []variable{{name: "job", label: "Service", metric: "job:http_requests:rate5m", labelName: "job"}},
		rows: []row{
			{title: "Services", panels: []panel{
				statPanel("Up", "none",
					q(`up{job=~"$job"}`, "{{job}}")).
					describe("Whether Prometheus can scrape each service. UpstreamServiceDown fires after 1m down.").
					size(24, 4).baseColor("red").thresholds(at(1, "green")).
					withMappings(mapping{"0", "DOWN", "red"}, mapping{"1", "UP", "green"}),
			}},
			{title: "Latency", panels: []panel{
				timeSeries("p95 latency by service", "s",
					q(`job:http_request_duration_seconds:p95_5m{job=~"$job"}`, "{{job}}")).
					describe("95th percentile HTTP latency per service over 5m. HighLatency (sli=http) fires above 1s for 5m.").
					withMin(0).thresholds(at(1, "red")),
				timeSeries("p50 and p99 latency by service", "s",
					q(`job:http_request_duration_seconds:p50_5m{job=~"$job"}`, "{{job}} p50"),
					q(`job:http_request_duration_seconds:p99_5m{job=~"$job"}`, "{{job}} p99")).
					describe("Median and 99th percentile HTTP latency per service over 5m.").
					withMin(0).thresholds(at(1, "red")),
				timeSeries("API gateway p95 by route", "s",
					q(`histogram_quantile(0.95, sum by (route, le) (rate(http_request_duration_seconds_bucket{job="api-gateway"}[$__rate_interval])))`, "{{route}}")).
					describe("Latency clients see at the edge, upstream time included (reference 002 §9.1).").
					withMin(0).thresholds(at(1, "red")),
				timeSeries("Upstream p99 by backend", "s",
					q(`histogram_quantile(0.99, sum by (service, le) (rate(upstream_service_latency_seconds_bucket[$__rate_interval])))`, "{{service}}")).
					describe("Gateway → backend time to response headers, by backend (reference 002 §2).").
					withMin(0).thresholds(at(1, "red")),
				timeSeries("User service p95 by endpoint", "s",
					q(`histogram_quantile(0.95, sum by (endpoint, le) (rate(user_request_duration_seconds_bucket[$__rate_interval])))`, "{{endpoint}}")).
					describe("Reference 002 §9.1; login and registration include bcrypt.").
					withMin(0).thresholds(at(1, "red")),
				timeSeries("Product list p95 by category", "s",
					q(`histogram_quantile(0.95, sum by (category, le) (rate(product_list_time_seconds_bucket[$__rate_interval])))`, "{{category}}")).
					describe("Time to fetch one page of the catalog, by category filter (reference 002 §9.1).").
					withMin(0).thresholds(at(1, "red")),
			}},
			{title: "Traffic", panels: []panel{
				timeSeries("Requests per second by service", "reqps",
					q(`job:http_requests:rate5m{job=~"$job"}`, "{{job}}")).
					describe("HTTP requests each service answered, per second over 5m.").
					withMin(0),
				timeSeries("API gateway requests by route", "reqps",
					q(`sum by (route) (rate(http_requests_total{job="api-gateway"}[$__rate_interval]))`, "{{route}}")).
					describe("Overall request volume at the edge, by gateway route (reference 002 §9.2).").
					withMin(0).stack(),
				timeSeries("Orders and notifications per second", "ops",
					q(`sum(rate(orders_created_total[$__rate_interval]))`, "orders created"),
					q(`sum by (channel) (rate(notification_notifications_sent_total[$__rate_interval]))`, "notifications via {{channel}}")).
					describe("Business traffic: orders stored, notifications sent per channel (reference 002 §9.2).").
					withMin(0),
			}},
			{title: "Errors", panels: []panel{
				timeSeries("5xx ratio by service", "percentunit",
					q(`job:http_errors:ratio_rate5m{job=~"$job"}`, "{{job}}")).
					describe("Share of HTTP requests answered 5xx per service over 5m. HighErrorRate (sli=http) fires above 5% for 2m.").
					withMin(0).thresholds(at(0.05, "red")),
				timeSeries("API gateway 5xx ratio", "percentunit",
					q(`(sum(rate(http_requests_total{job="api-gateway",status=~"5.."}[$__rate_interval])) or vector(0)) / sum(rate(http_requests_total{job="api-gateway"}[$__rate_interval]))`, "5xx")).
					describe("Reference 002 §9.3's gateway error percentage, as a ratio of sums (0 while there is no 5xx series).").
					withMin(0).thresholds(at(0.05, "red")),
				timeSeries("Upstream failures by backend", "ops",
					q(`sum by (service, status_code) (rate(upstream_service_errors_total{status_code!~"4.."}[$__rate_interval])) or sum by (service) (rate(upstream_service_latency_seconds_count[$__rate_interval])) * 0`, "{{service}} {{status_code}}")).
					describe("Backend calls that failed server-side: 5xx, timeout (504), connection_error (502), no_upstream (503). A backend that was called but never failed shows 0 (the `or` term) instead of a gap.").
					withMin(0),
				timeSeries("Authentication failures by reason", "ops",
					q(`sum by (reason) (rate(user_auth_failures_total[$__rate_interval]))`, "users: {{reason}}"),
					q(`sum by (reason) (rate(jwt_validation_failures_total[$__rate_interval]))`, "gateway JWT: {{reason}}")).
					describe("Logins and tokens refused by the user service, bearer tokens refused by the gateway (reference 002 §9.3).").
					withMin(0),
				timeSeries("Product service errors by endpoint", "ops",
					q(`sum by (endpoint) (rate(product_errors_total[$__rate_interval]))`, "{{endpoint}}")).
					describe("Reference 002 §9.3.").
					withMin(0),
				timeSeries("Order service errors by endpoint", "ops",
					q(`sum by (endpoint) (rate(order_errors_total[$__rate_interval]))`, "{{endpoint}}")).
					describe("Reference 002 §9.3.").
					withMin(0),
			}},
			{title: "Saturation", panels: []panel{
				timeSeries("Requests in flight by service", "short",
					q(`job:http_requests_in_flight:sum{job=~"$job"}`, "{{job}}")).
					describe("Requests being served right now per service.").
					withMin(0),
				timeSeries("Order queue depth", "short",
					q(`sum by (job) (order_queue_depth)`, "{{job}}")).
					describe("Orders waiting for a worker; at the queue size (256 by default) new orders get 503.").
					withMin(0).thresholds(at(128, "orange"), at(256, "red")),
				timeSeries("Consumer lag by topic", "s",
					q(`max by (topic) (notification_consumer_lag_seconds)`, "{{topic}}")).
					describe("Age of the oldest event the notification worker has not acknowledged (reference 002 §9.4, NATS JetStream). HighConsumerLag fires above 30s for 10m.").
					withMin(0).thresholds(at(30, "red")),
				timeSeries("Product DB connection pool", "short",
					q(`product_db_connection_pool_size`, "{{job}} open connections")).
					describe("Open connections (in use + idle) in the product service's pool (reference 002 §9.4).").
					withMin(0),
				timeSeries("Low-stock products", "short",
					q(`max by (job) (low_stock_products_count)`, "{{job}}")).
					describe("Products below their low-stock threshold: inventory pressure (reference 002 §9.4). LowStock fires while above 0 for 5m.").
					withMin(0).thresholds(at(1, "orange")),
				timeSeries("Rate-limited requests", "reqps",
					q(`sum by (client_class) (rate(rate_limit_exceeded_total[$__rate_interval]))`, "{{client_class}}")).
					describe("Requests the gateway refused with 429, by client class.").
					withMin(0),
			}},
		},
	}
}
