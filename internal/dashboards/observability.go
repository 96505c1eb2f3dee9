package dashboards

// observability is reference 002's "Observability" dashboard: the
// notification worker and its event consumption, cache performance, the
// databases, and whether chaos faults are really injected.
func observability() board {
	return board{
		uid:         "cloudcart-observability",
		title:       "Observability",
		file:        "observability.json",
		description: "Notification worker and event bus consumption, cache performance, databases and chaos injection (reference 002's Observability dashboard).",
		tags:        []string{"observability", "reference-002"},
		from:        "now-30m",
		vars: []variable{
			{name: "topic", label: "Topic", metric: "notification_consumer_lag_seconds", labelName: "topic"},
			{name: "job", label: "Database of", metric: "job_query_type:db_query_duration_seconds_bucket:rate5m", labelName: "job"},
		},
		rows: []row{
			{title: "Notification worker", panels: []panel{
				statPanel("Worker running", "none",
					q(`min(notification_worker_running)`, "consumers attached")).
					describe("1 while every consume loop is attached to the bus.").
					size(4, 8).baseColor("red").thresholds(at(1, "green")).
					withMappings(mapping{"0", "STOPPED", "red"}, mapping{"1", "RUNNING", "green"}),
				timeSeries("Messages processed by event type", "ops",
					q(`sum by (event_type) (rate(notification_messages_processed_total{topic=~"$topic"}[$__rate_interval]))`, "{{event_type}}")).
					describe("Events handled and acknowledged per second.").
					size(10, 8).withMin(0).stack(),
				timeSeries("Messages failed and dead-lettered", "ops",
					q(`sum by (error_type) (rate(notification_messages_failed_total{topic=~"$topic"}[$__rate_interval]))`, "failed: {{error_type}}"),
					q(`sum(rate(notification_messages_dead_lettered_total{topic=~"$topic"}[$__rate_interval]))`, "dead-lettered")).
					describe("Deliveries that failed (deserialization: dead-lettered at once; handler: retried with backoff), and messages moved to the dead-letter subject.").
					size(10, 8).withMin(0),
				timeSeries("Consumer lag by topic", "s",
					q(`max by (topic) (notification_consumer_lag_seconds{topic=~"$topic"})`, "{{topic}}")).
					describe("Age of the oldest unacknowledged message per subject (reference 002's Kafka consumer lag, on NATS JetStream). HighConsumerLag fires above 30s for 10m.").
					withMin(0).thresholds(at(30, "red")),
				timeSeries("Slack API latency (p95)", "s",
					q(`histogram_quantile(0.95, sum by (le) (rate(notification_slack_api_latency_seconds_bucket[$__rate_interval])))`, "p95")).
					describe("Latency of Slack incoming-webhook calls.").
					withMin(0).thresholds(at(5, "orange"), at(10, "red")),
				timeSeries("Notifications sent by channel and status", "ops",
					q(`sum by (channel, status) (rate(notification_notifications_sent_total[$__rate_interval]))`, "{{channel}} {{status}}")).
					describe("Send attempts per channel (slack, webhook, log), successful or failed.").
					withMin(0),
			}},
			{title: "Cache performance", panels: []panel{
				statPanel("Cache hit rate", "percentunit",
					q(`sum(rate(cache_hits_total[$__rate_interval])) / (sum(rate(cache_hits_total[$__rate_interval])) + sum(rate(cache_misses_total[$__rate_interval])))`, "hit rate")).
					describe("Share of cacheable reads (public product reads at the gateway) answered from the response cache.").
					size(6, 8).baseColor("red").thresholds(at(0.5, "orange"), at(0.8, "green")),
				timeSeries("Cache hits and misses by service", "ops",
					q(`sum by (job) (rate(cache_hits_total[$__rate_interval]))`, "{{job}} hits"),
					q(`sum by (job) (rate(cache_misses_total[$__rate_interval]))`, "{{job}} misses")).
					describe("Per service: the API gateway's response cache is the fleet's cache.").
					size(18, 8).withMin(0),
			}},
			{title: "Database", panels: []panel{
				timeSeries("Query latency by service and type (p95)", "s",
					q(`job_query_type:db_query_duration_seconds:p95_5m{job=~"$job"}`, "{{job}} {{query_type}}")).
					describe("95th percentile of one SQL statement over 5m. Above 2s the pool is close to exhaustion: DatabaseSlowQueries fires after 3m.").
					withMin(0).thresholds(at(1, "orange"), at(2, "red")),
				timeSeries("Queries per second by service", "ops",
					q(`sum by (job) (job_query_type:db_query_duration_seconds_bucket:rate5m{job=~"$job",le=~"\\+Inf"})`, "{{job}}")).
					describe("SQL statements per second, from the +Inf bucket of the latency histograms.").
					withMin(0),
				timeSeries("Connection pool and connection errors", "short",
					q(`product_db_connection_pool_size`, "{{job}} open connections"),
					q(`sum by (job) (rate(user_db_connection_errors_total[$__rate_interval]))`, "{{job}} connection errors/s")).
					describe("Open connections of the product service's pool, and failures to reach the user database. Reference 002's connection pool time has no metric: slow statements show in the latency panel.").
					withMin(0),
			}},
			{title: "Chaos injection", panels: []panel{
				timeSeries("Injected faults per second by service", "ops",
					q(`sum by (job) (rate(chaos_injected_errors_total[$__rate_interval]))`, "{{job}} errors"),
					q(`sum by (job) (rate(chaos_injected_timeouts_total[$__rate_interval]))`, "{{job}} timeouts"),
					q(`sum by (job) (rate(chaos_injected_latency_ms_count[$__rate_interval]))`, "{{job}} delays")).
					describe("Faults the chaos middleware of each service actually injected (reference 002's chaos verification).").
					size(12, 8).withMin(0),
				timeSeries("Share of 5xx caused by chaos", "percentunit",
					q(`sum by (job) (rate(chaos_injected_errors_total[5m])) / on (job) job:http_errors:rate5m`, "{{job}}")).
					describe("Injected errors over each service's 5xx rate (reference 002 §6's correlation, per job). Both sides over 5m, the window of the job:http_errors:rate5m recording rule.").
					size(12, 8).withMin(0).thresholds(at(0.5, "orange")),
			}},
		},
	}
}
