package learn

// Lessons is the path, in order. The first six follow reference 001's
// phases; then 004's instrument choice, 000's traces, 003's push path,
// native histograms and SLO burn rates.
var Lessons = []Lesson{
	{
		ID: "pipeline", Title: "The pipeline: code → scrape → query", Source: "001 · Phase 1",
		Goal: "See every service expose /metrics and the embedded Prometheus pull from each of them.",
		Explain: `Every CloudCart service keeps its measurements in memory and answers ` + "`GET /metrics`" + ` with their current values in Prometheus's text format. The embedded Prometheus on :9090 *scrapes* each target on a schedule (every second in the demo profile, every 15 s in production), stores every sample in its TSDB, and answers PromQL. The console, Grafana and the alert rules all read from that one store.

For every scrape Prometheus also writes a sample of its own: ` + "`up`" + ` is 1 when the target answered and 0 when it did not, and ` + "`scrape_duration_seconds`" + ` says how long it took. Open the Targets page to see each one.`,
		Question: "Why does Prometheus pull metrics instead of having apps push them? What are the trade-offs?",
		Answer:   `Pulling makes the monitoring system the one that knows what should exist: a target that dies shows up as ` + "`up == 0`" + ` at the next scrape, instead of as silence that looks like a quiet service. The app stays simple (no client retries, no buffering when the backend is down), the scrape interval is decided in one place, and you can curl /metrics yourself to see exactly what Prometheus sees. The costs: Prometheus must reach every target (service discovery, network paths into private networks), and jobs that live for less than a scrape interval vanish between scrapes. For those, and for sending to several backends, you push — through an OpenTelemetry Collector or an OTLP receiver (lesson "Pushing over OTLP").`,
		Actions: []Action{
			{Label: "Open the Targets page", Link: "/targets"},
			{Label: "Read the order service's /metrics yourself", Service: "orders", Method: "GET", Path: "/metrics", Console: false},
		},
		Checks: []Check{
			{Description: "every target answers its scrape (up == 1 for all of them)", Query: `count(up == 1) unless count(up == 0)`},
			{Description: "the order service's scrape takes under a second", Query: `scrape_duration_seconds{job="order-service"} < 1`},
		},
	},
	{
		ID: "instruments", Title: "Counter, histogram, up-down counter", Source: "001 · Phase 2",
		Goal: "Know which instrument the order service uses for what, and see each one move.",
		Explain: `The order service records three things reference 001 asks for. A **counter** only goes up: ` + "`orders_processed_total{status}`" + ` counts orders that succeeded or failed. A **histogram** counts observations into buckets: ` + "`order_duration_seconds`" + ` (end to end, queue wait included) and ` + "`order_processing_duration_seconds`" + ` (the worker's time alone) each expose ` + "`_bucket{le=...}`" + `, ` + "`_sum`" + ` and ` + "`_count`" + `. An **up-down counter** (exposed as a gauge) goes both ways: ` + "`order_queue_depth`" + ` is how many orders wait for a worker right now.

In Go, each is created once on a ` + "`metric.Meter`" + ` (see internal/orders/metrics.go) and recorded where the work happens. The OpenTelemetry Prometheus exporter turns the dotted OTel names into the Prometheus names you query: units become suffixes (` + "`s`" + ` → ` + "`_seconds`" + `) and counters get ` + "`_total`" + `.`,
		Question: "Why use a histogram instead of just averaging latencies? What does histogram_quantile(0.95, ...) tell you that avg() doesn't?",
		Answer:   `An average hides the tail: 95 orders at 20 ms and 5 at 4 s average 218 ms, which describes nobody, while one customer in twenty waits 4 s. A histogram keeps how many observations fell under each bound, so you can ask for any quantile later (` + "`histogram_quantile(0.95, ...)`" + ` is "95% of orders were faster than this"), or the share under a threshold, and you can add histograms across instances before computing the quantile — which you cannot do with averages or with precomputed percentiles. The price is one series per bucket; native histograms (a later lesson) remove that price.`,
		Actions: []Action{
			{Label: "Read the same three instruments in one file: reference 001's service on :8000", Command: "go run ./examples/orders001"},
			{Label: "Place one order", Service: "orders", Method: "POST", Path: "/orders", Body: `{"customer":"learner","items":[{"sku":"BOOK-0001","qty":1}]}`, Console: true},
			{Label: "Place one order that fails (001's ?fail=true)", Service: "orders", Method: "POST", Path: "/orders?fail=true", Expect: 402, Body: `{"customer":"learner","items":[{"sku":"BOOK-0001","qty":1}]}`, Console: true},
		},
		Checks: []Check{
			{Description: "the counter saw a failed order in the last 5 minutes", Query: `sum(increase(orders_processed_total{status="failure"}[5m])) > 0`},
			{Description: "the histogram counted order durations", Query: `sum(order_duration_seconds_count) > 0`},
			{Description: "the queue depth gauge is exposed", Query: `count(order_queue_depth) > 0`},
		},
	},
	{
		ID: "promql", Title: "PromQL: rate() and histogram_quantile()", Source: "001 · Phase 3",
		Goal:     "Turn counters into rates and buckets into a p95, and know what a restart does to them.",
		Explain:  `A counter's raw value is only "how many since the process started". ` + "`rate(orders_processed_total[1m])`" + ` is the per-second increase over the last minute, per series; ` + "`sum(...)`" + ` adds the series up. For a histogram, take the rate of the buckets first, sum them by ` + "`le`" + `, then ask for a quantile: ` + "`histogram_quantile(0.95, sum by (le) (rate(order_duration_seconds_bucket[5m])))`" + `. Simulate a burst of orders and run both queries on the Query page.`,
		Question: "What happens to rate() if the app restarts and the counter resets to zero?",
		Answer:   `Nothing bad: rate() and increase() treat any decrease of a counter as a reset and count from zero again, so the rate stays right across a restart (the samples around the restart lose at most one scrape interval of increase). This is why counters must only go up, and why you never rate() a gauge. ` + "`resets(orders_processed_total[1h])`" + ` counts how many restarts the window saw. The one thing a reset loses is what happened between the last scrape and the crash.`,
		Actions: []Action{
			{Label: "Simulate 100 orders, 10% failing", Service: "orders", Method: "POST", Path: "/simulate?count=100&error_rate=0.1", Console: true},
			{Label: "Open the Query page", Link: "/#/query"},
		},
		Checks: []Check{
			{Description: "orders per second is above zero", Query: `sum(rate(orders_processed_total[1m])) > 0`},
			{Description: "the p95 of order duration has a value", Query: `histogram_quantile(0.95, sum by (le) (rate(order_duration_seconds_bucket[5m]))) >= 0`},
			{Description: "at least 100 orders were processed in the last 5 minutes", Query: `sum(increase(orders_processed_total[5m])) >= 100`},
		},
	},
	{
		ID: "dashboard", Title: "Dashboard queries and label cardinality", Source: "001 · Phase 4",
		Goal: "Write the Error Rate panel's query yourself, and know why some labels are dangerous.",
		Explain: `A dashboard panel is a PromQL query drawn over time. Reference 001's four panels are Order Rate, P95 Latency, Queue Depth and Error Rate; the Orders dashboard in the console draws them.

Careful with 001's Error Rate query as written: ` + "`rate(orders_processed_total{status=\"failure\"}[1m]) / rate(orders_processed_total[1m])`" + ` divides series with *identical* labels, so the failure series is divided by itself and the panel shows 1 (100%) whenever anything failed. Aggregate both sides first so the ` + "`status`" + ` label is gone before dividing.`,
		Question: "Why is label cardinality (e.g. adding customer_id as a label) dangerous in Prometheus?",
		Answer:   `Every distinct combination of label values is its own time series, with its own memory in the TSDB head, its own index entries and its own samples on every scrape. ` + "`status`" + ` has two values; ` + "`customer_id`" + ` has as many as you have customers, multiplied by every other label and by every bucket of a histogram: a million customers times 14 buckets is 14 million series from one metric, and the server runs out of memory. Identifiers belong in traces, logs and exemplars. CloudCart labels only with closed sets (route templates, status codes, error types) and sets a cardinality limit in its SDK as a last line of defence.`,
		Actions: []Action{
			{Label: "Simulate 100 orders, 20% failing", Service: "orders", Method: "POST", Path: "/simulate?count=100&error_rate=0.2", Console: true},
			{Label: "Open the Orders dashboard", Link: "/#/dashboards/cloudcart-order-service"},
		},
		Checks: []Check{
			{Description: "the Error Rate panel's query has a value", Query: `sum(rate(orders_processed_total{status="failure"}[1m])) / sum(rate(orders_processed_total[1m])) >= 0`},
			{Description: "the order service exposes a bounded number of series (fewer than 2,000)", Query: `scrape_samples_scraped{job="order-service"} < 2000`},
		},
		Exercise: &Exercise{
			Prompt:    "Write the Error Rate panel: the share of orders that failed, per second, over the last minute, as one number.",
			Reference: `sum(rate(orders_processed_total{status="failure"}[1m])) / sum(rate(orders_processed_total[1m]))`,
			Hint:      "sum() both sides so the status label is gone before you divide.",
			Tolerance: 0.01,
		},
	},
	{
		ID: "alerts", Title: "Alert rules and the for clause", Source: "001 · Phase 5",
		Goal: "Make HighErrorRate go pending, then firing, and see why it waits.",
		Explain: `An alerting rule is a PromQL expression evaluated on a schedule; every series it returns is an alert. The order service's HighErrorRate is ` + "`job:orders_failed:ratio_rate5m > 0.2`" + ` with ` + "`for: 2m`" + ` (deploy/prometheus/rules/orders.yml). When the expression first returns the series, the alert is **pending**; only if it keeps returning it for the whole ` + "`for`" + ` duration does it become **firing** and get sent on. The demo profile of ` + "`cloudcart run`" + ` compresses time twentyfold (windows 30 s, ` + "`for`" + ` 10 s), so you see both states within a minute.

Prometheus writes every active alert as a series, ` + "`ALERTS{alertname, alertstate}`" + `, which is what the checks below look for.`,
		Question: "What is the for clause in alerting rules? Why not fire immediately?",
		Answer:   `` + "`for`" + ` is how long the condition must hold, evaluation after evaluation, before the alert fires. Without it, one slow scrape, one burst of retries or one deploy would page someone at 3 a.m. for something that fixed itself in seconds. It trades detection time for fewer false pages: short for outages that hurt now (a service down), longer for trends (latency creeping up). Pending alerts are visible on the Alerts page, so nothing is hidden while it waits.`,
		Actions: []Action{
			{Label: "Simulate 200 orders, 50% failing", Service: "orders", Method: "POST", Path: "/simulate?count=200&error_rate=0.5", Console: true},
			{Label: "Open the Alerts page", Link: "/alerts"},
		},
		Checks: []Check{
			{Description: "HighErrorRate was pending", Query: `max_over_time(ALERTS{alertname="HighErrorRate",job="order-service",alertstate="pending"}[15m]) == 1`},
			{Description: "then HighErrorRate fired", Query: `max_over_time(ALERTS{alertname="HighErrorRate",job="order-service",alertstate="firing"}[15m]) == 1`},
		},
	},
	{
		ID: "notifications", Title: "From a firing alert to a person", Source: "001 · Phase 6 · 002 §7",
		Goal:     "Follow a firing alert to the notification worker, the way Alertmanager routes it.",
		Explain:  `Prometheus decides *that* something is wrong; Alertmanager decides *who hears about it*: it groups alerts, silences them, and routes them by label (` + "`severity: page`" + ` to the on-call channel, ` + "`ticket`" + ` to a queue). In ` + "`cloudcart run`" + ` the embedded engine posts alerts straight to the notification worker's ` + "`POST /alerts`" + ` (the same webhook body Alertmanager sends); with ` + "`--alertmanager.url`" + ` it sends them to a real Alertmanager with deploy/alertmanager's routing. The worker turns them into notifications: the log, ` + "`GET /notifications`" + `, Slack or any webhook.`,
		Question: "How would you add Alertmanager to route alerts to Slack or PagerDuty?",
		Answer:   `Point Prometheus at it (` + "`alerting.alertmanagers`" + ` in prometheus.yml, or ` + "`--alertmanager.url`" + ` here), then write a route tree in alertmanager.yml: a default receiver, child routes matching on labels such as ` + "`severity`" + ` or ` + "`team`" + `, each with a receiver (` + "`slack_configs`" + `, ` + "`pagerduty_configs`" + `, ` + "`webhook_configs`" + `), and ` + "`group_by`" + `/` + "`group_wait`" + `/` + "`repeat_interval`" + ` so one outage is one message, not hundreds. deploy/alertmanager/alertmanager.yml is a working example, tested against Debian's Alertmanager.`,
		Actions: []Action{
			{Label: "Simulate 200 orders, 50% failing", Service: "orders", Method: "POST", Path: "/simulate?count=200&error_rate=0.5", Console: true},
			{Label: "List the latest notifications", Service: "notifier", Method: "GET", Path: "/notifications?limit=5"},
		},
		Checks: []Check{
			{Description: "the notification worker received a firing alert", Query: `sum(notification_alerts_received_total{status="firing"}) > 0`},
		},
	},
	{
		ID: "instrument-choice", Title: "Choosing counters, histograms and gauges", Source: "004 · §1–3",
		Goal: "Pick the right instrument for a new metric, with reference 004's retrieval system as the exercise.",
		Explain: `Reference 004 builds the metrics of a retrieval system: ` + "`api_requests_total`" + ` and ` + "`llm_tokens_total{model,type}`" + ` (counters: things that happen), ` + "`document_retrieval_seconds`" + ` and ` + "`rerank_latency_seconds`" + ` (histograms: how long things take, with buckets chosen around the values you care about), ` + "`webhooks_active`" + ` (a gauge: how many right now). examples/instruments defines all of them twice, with the OpenTelemetry API and with client_golang, and serves both so you can compare the output line by line.

One of 004's choices is worth doing differently: ` + "`embedding_cache_hit_rate`" + ` as a gauge set by the app is a ratio since start, which can't be averaged across instances or over a window. Count hits and misses instead and let PromQL divide; the gateway's product cache does exactly that with ` + "`cache_hits_total`" + ` and ` + "`cache_misses_total`" + `.`,
		Question: "Should a cache hit rate be a gauge or counters? And when is a gauge right?",
		Answer:   `Counters: ` + "`rate(hits[5m]) / (rate(hits[5m]) + rate(misses[5m]))`" + ` is the hit rate over any window you choose, adds up correctly across replicas, and survives restarts; a gauge holding a ratio gives one replica's lifetime average, which you can't combine. A gauge is right for a current level that is not a sum of events: queue depth, connections open, memory in use, items in stock.`,
		Actions: []Action{
			{Label: "Run reference 004's metrics in Go", Command: "go run ./examples/instruments"},
			{Label: "Read the product list through the gateway (cached for 5 s)", Service: "gateway", Method: "GET", Path: "/api/products?limit=3", Console: true},
			{Label: "Read it again: a cache hit", Service: "gateway", Method: "GET", Path: "/api/products?limit=3", Console: true},
		},
		Checks: []Check{
			{Description: "the gateway's cache answered a read in the last 5 minutes", Query: `sum(increase(cache_hits_total[5m])) > 0`},
			{Description: "the hit ratio, computed from counters, has a value", Query: `sum(rate(cache_hits_total[5m])) / (sum(rate(cache_hits_total[5m])) + sum(rate(cache_misses_total[5m]))) >= 0`},
		},
		Exercise: &Exercise{
			Prompt:    "Write the gateway's cache hit ratio over the last 5 minutes from cache_hits_total and cache_misses_total.",
			Reference: `sum(rate(cache_hits_total[5m])) / (sum(rate(cache_hits_total[5m])) + sum(rate(cache_misses_total[5m])))`,
			Hint:      "hits divided by all lookups; rate() each counter first.",
			Tolerance: 0.01,
		},
		Example: "examples/instruments",
		Output:  "examples/instruments/testdata/otel.txt",
	},
	{
		ID: "exemplars", Title: "From a slow bucket to the trace behind it", Source: "000 · traces + metrics",
		Goal: "Follow an exemplar from a latency histogram to the request that produced it.",
		Explain: `Metrics say *that* orders got slow; a trace says *where* the time went: gateway, order service, product service, database. CloudCart records a span for every request and every SQL statement, and when a histogram observation happens inside a sampled span, the exporter attaches the trace id to the bucket as an **exemplar**. The embedded Prometheus stores exemplars beside the samples (` + "`/api/v1/query_exemplars`" + `), so a chart can show a dot per exemplar that opens that very trace.

Identifiers such as the order id or the trace id never become labels (see the cardinality lesson); they live in traces and exemplars, where one more value costs nothing.`,
		Question: "Why keep order ids in traces and exemplars instead of labels?",
		Answer:   `A label value creates a series that lives in memory for as long as it is scraped, and every query pays for it; an exemplar is a sample-sized note attached to an existing series, kept in a fixed-size ring. Traces are stored per request and sampled, so their cost grows with traffic you choose to keep, not with the number of distinct ids. You get from "p99 is up" to "this order, this SQL statement" without multiplying series.`,
		Actions: []Action{
			{Label: "Place one order", Service: "orders", Method: "POST", Path: "/orders", Body: `{"customer":"learner","items":[{"sku":"BOOK-0001","qty":1}]}`, Console: true},
			{Label: "Open the Query page with order_duration_seconds_bucket", Link: "/#/query"},
		},
		Checks: []Check{
			{Description: "order_duration_seconds has exemplars with trace ids", API: `/api/v1/query_exemplars?query=order_duration_seconds_bucket&start={start}&end={end}`},
		},
	},
	{
		ID: "otlp-push", Title: "Pushing over OTLP", Source: "003 · OTLP → Collector → Prometheus",
		Goal: "Push a metric from any program over OTLP and find it in PromQL under the name Prometheus gives it.",
		Explain: `Reference 003's services don't expose /metrics: they *push* OTLP to an OpenTelemetry Collector, which Prometheus scrapes (deploy/otel-collector, docs/otlp.md). ` + "`cloudcart run`" + ` has the receiving end built in: an OTLP/HTTP receiver on :4318 takes ` + "`/v1/metrics`" + ` into the embedded TSDB through Prometheus's own OTLP translation, and ` + "`/v1/traces`" + ` into the trace store. Any OpenTelemetry SDK finds it with ` + "`OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318`" + `.

The translation decides the names you query: dots become underscores, the unit becomes a suffix (units in braces such as ` + "`{event}`" + ` are dropped), a monotonic sum gets ` + "`_total`" + `, and the resource's ` + "`service.name`" + ` becomes the ` + "`job`" + ` label. The action below pushes a counter ` + "`lesson.pushed`" + ` of 5 events from a made-up ` + "`learner-app`" + `, as an SDK would.`,
		Question: "Push vs pull: when would you put an OpenTelemetry Collector in between?",
		Answer:   `When the program can't be scraped: it lives shorter than a scrape interval (a batch job, a function), sits behind NAT or a firewall, or runs where you can't run service discovery. When you want one pipeline for metrics, traces and logs, with batching, retries, sampling, redaction and attribute rewriting in one place instead of in every service. When you send to several backends, or may switch vendors: the app speaks OTLP, the Collector's config decides where it goes. Pull stays simpler for long-lived services Prometheus can reach: it knows when a target is down, and nothing buffers.`,
		Actions: []Action{
			{Label: "Push a counter over OTLP/HTTP (JSON), as an SDK would", Service: OTLPService, Method: "POST", Path: "/v1/metrics", Console: true,
				Body: `{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"learner-app"}}]},"scopeMetrics":[{"scope":{"name":"lesson"},"metrics":[{"name":"lesson.pushed","unit":"{event}","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asInt":"5","timeUnixNano":"` + NowNanos + `"}]}}]}]}]}`},
			{Label: "Push from a Go program with the SDK's exporters (a counter, a histogram and a span per job; no /metrics)", Command: "go run ./examples/otlppush"},
			{Label: "Point any OpenTelemetry program at the receiver", Command: "export OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318"},
		},
		Checks: []Check{
			{Description: "the pushed counter is in the TSDB as lesson_pushed_total, with its service as job", Query: `lesson_pushed_total{job="learner-app"} > 0`},
		},
	},
	{
		ID: "native-histograms", Title: "Native histograms beside the classic ones", Source: "004 · buckets · Prometheus 3",
		Goal: "Compare a classic histogram's p95 with a native histogram's, and see what each costs in series.",
		Explain: `Reference 004 picks bucket bounds by hand (` + "`0.005, 0.01, 0.025, ...`" + `): a classic histogram is one series per bound, and ` + "`histogram_quantile`" + ` can only interpolate between them, so a p99 between 1 s and 2.5 s is a guess somewhere in that gap. A **native histogram** (stable in Prometheus 3) is one series whose buckets grow exponentially (about 9% apart here) and are only stored where observations fell: sharper quantiles for fewer series, with no layout to choose.

CloudCart exposes every histogram both ways: the classic one under its documented name (rules, SLOs and dashboards use it, and Prometheus 2 understands it) and a native twin named with the suffix ` + "`_native`" + ` (` + "`order_duration_seconds_native`" + `). Query a native histogram without ` + "`_bucket`" + ` and without ` + "`by (le)`" + `: ` + "`histogram_quantile(0.95, sum(rate(order_duration_seconds_native[5m])))`" + `. Functions such as ` + "`histogram_count`" + `, ` + "`histogram_sum`" + ` and ` + "`histogram_fraction`" + ` work only on native histograms. docs/histograms.md has the measured costs.`,
		Question: "Why would you still keep classic histograms once you have native ones?",
		Answer:   `Compatibility and precision where you chose it. Prometheus 2, many remote-write backends and older dashboards only understand ` + "`_bucket`" + ` series; an SLO threshold (2.5 s here) that is a classic bucket edge is counted exactly, while a native bucket straddles it. The plan is to keep both while rules and dashboards migrate (docs/histograms.md shows how), then turn classic off with ` + "`--telemetry.histograms=native`" + ` where nothing needs it.`,
		Actions: []Action{
			{Label: "Simulate 100 orders", Service: "orders", Method: "POST", Path: "/simulate?count=100&error_rate=0", Console: true},
			{Label: "Open the Histograms dashboard: classic and native side by side", Link: "/#/dashboards/cloudcart-histograms"},
		},
		Checks: []Check{
			{Description: "the native histogram counts order durations (histogram_count works only on native ones)", Query: `sum(histogram_count(rate(order_duration_seconds_native[5m]))) > 0`},
			{Description: "the classic and the native p95 both have a value", Query: `histogram_quantile(0.95, sum by (le) (rate(order_duration_seconds_bucket[5m]))) >= 0 and on () histogram_quantile(0.95, sum(rate(order_duration_seconds_native[5m]))) >= 0`},
		},
		Exercise: &Exercise{
			Prompt:    "Write the p95 of order_duration_seconds over 5 minutes from the native histogram.",
			Reference: `histogram_quantile(0.95, sum(rate(order_duration_seconds_native[5m])))`,
			Hint:      "no _bucket, no by (le): a native histogram carries its buckets inside one series.",
			Tolerance: 0.001,
		},
	},
	{
		ID: "golden-signals", Title: "Golden signals under a fault", Source: "002 · §2, §6 (chaos)",
		Goal: "Break the product service on purpose and read latency, traffic, errors and saturation per service.",
		Explain: `Reference 002 watches every service through the four golden signals: **traffic** (requests per second), **errors** (the share that fail), **latency** (p50/p95/p99 from histograms) and **saturation** (in-flight requests, queue depth). The recording rules in deploy/prometheus/rules/golden-signals.yml compute them once per service (` + "`job:http_requests:rate5m`" + `, ` + "`job:http_errors:ratio_rate5m`" + `, ...) so dashboards and alerts read the same numbers.

The chaos service injects faults where they hurt: here, half of the product service's responses become 503s. The injected errors are counted both as ordinary 5xx responses and in ` + "`chaos_injected_errors_total`" + `, so you can tell a real incident from a drill.

One trap shows here: a series such as ` + "`product_http_requests_total{status=\"503\"}`" + ` may be born with the first 503, so its first sample is already 10. ` + "`rate()`" + ` and ` + "`increase()`" + ` need two samples and report nothing for that first jump. That is why services should create the series they know about at zero from the first scrape, and why the checks below read the raw counters.`,
		Question: "Why record the golden signals as rules instead of writing the full query in every panel and alert?",
		Answer:   `One definition, evaluated once per interval: the dashboard, the alert and the SLO all see the same number, a fix to the query fixes all of them, and a panel over 30 days reads one pre-aggregated series per service instead of re-aggregating every raw series at every step. The rule names (` + "`level:metric:operations`" + `) say what was aggregated away and how.`,
		Actions: []Action{
			{Label: "Make half of the product service's responses 503", Service: "chaos", Chaos: true, Method: "PUT", Path: "/chaos/targets/products", Body: `{"error":{"rate":0.5,"status":503}}`, Console: true},
			{Label: "Enable chaos", Service: "chaos", Chaos: true, Method: "POST", Path: "/chaos/enable", Console: true},
			{Label: "Read the catalog 20 times, straight from the product service", Service: "products", Method: "GET", Path: "/products?limit=3", Repeat: 20, Console: true},
			{Label: "Clean up: remove the fault", Service: "chaos", Chaos: true, Method: "DELETE", Path: "/chaos/targets/products", Console: true},
			{Label: "Clean up: disable chaos", Service: "chaos", Chaos: true, Method: "POST", Path: "/chaos/disable", Console: true},
		},
		Checks: []Check{
			{Description: "the chaos middleware injected errors into the product service", Query: `sum(chaos_injected_errors_total{job="product-service"}) > 0`},
			{Description: "the product service counted 5xx responses", Query: `sum(product_http_requests_total{status=~"5.."}) > 0`},
		},
	},
	{
		ID: "slo-burn", Title: "SLOs and burn rates", Source: "002 · SLO rules",
		Goal:     "Read an error budget and a burn rate, and know why the alert uses two windows.",
		Explain:  `An SLO says how good is good enough: "99% of orders succeed over 30 days" leaves an **error budget** of 1%. The **burn rate** is how fast you spend it: the error ratio divided by 1%. A burn rate of 1 uses the budget exactly in 30 days; 14.4 uses 2% of it in one hour. deploy/slo/slos.yml is the spec; ` + "`cloudcart slo generate`" + ` writes the recording rules (` + "`slo:sli_error:ratio_rate5m`" + `, ` + "`...rate1h`" + `, ...) and the multi-window ErrorBudgetBurn alerts to deploy/prometheus/rules/slo.generated.yml.`,
		Question: "Why does a burn-rate alert check a long and a short window together?",
		Answer:   `The long window (1 h) makes sure enough budget was really spent to be worth a page; the short window (5 m) makes sure it is still burning now, so the alert resolves soon after the fix instead of an hour later. Either alone pages too late or too long. A freshly started fleet has minutes of data, not 30 days: the budget it shows is an extrapolation, which is why the console says "not enough data yet" at first.`,
		Actions: []Action{
			{Label: "Simulate 100 orders, 10% failing", Service: "orders", Method: "POST", Path: "/simulate?count=100&error_rate=0.1", Console: true},
			{Label: "Open the SLO dashboard", Link: "/#/dashboards/cloudcart-slo"},
		},
		Checks: []Check{
			{Description: "the SLO recording rules produce an error ratio", Query: `count(slo:sli_error:ratio_rate5m >= 0) > 0`},
		},
	},
}
