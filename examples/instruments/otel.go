package main

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Bucket layouts of reference 004, in seconds. An explicit layout is a
// choice: each bound is a question you can answer later ("how many
// retrievals took under 250 ms?"); between bounds, histogram_quantile can
// only interpolate.
var (
	requestBuckets   = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10}
	retrievalBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5}
	rerankBuckets    = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
)

// otelMetrics are reference 004's metrics made with the OpenTelemetry
// metrics API. The comment after each field is the name Prometheus shows:
// the exporter turns dots into underscores, adds the unit ("s" becomes
// _seconds) and adds _total to counters.
type otelMetrics struct {
	requests        metric.Int64Counter     // api_requests_total{endpoint,method,status}
	errors          metric.Int64Counter     // api_errors_total{error_type}
	requestDuration metric.Float64Histogram // api_request_duration_seconds
	retrieval       metric.Float64Histogram // document_retrieval_seconds
	rerank          metric.Float64Histogram // rerank_latency_seconds
	tokens          metric.Int64Counter     // llm_tokens_total{model,type}
	webhooks        metric.Int64Counter     // webhook_delivery_total{status}
	webhooksActive  metric.Int64UpDownCounter
	cacheRequests   metric.Int64Counter // embedding_cache_requests_total{result}

	// Reference 004's two ratio gauges, observed from the workload's state
	// at scrape time: embedding_cache_hit_rate and cache_hit_rate.
	hitRate, cacheHitRate metric.Float64ObservableGauge
	reg                   metric.Registration
}

// newOTelMetrics creates the instruments on meter. state is read when
// Prometheus scrapes, for the two gauges.
func newOTelMetrics(meter metric.Meter, state *workloadState) (*otelMetrics, error) {
	m := &otelMetrics{}
	var errs []error
	keep := func(err error) { errs = append(errs, err) }
	var err error

	// Counters only go up; Prometheus's rate() turns them into per-second
	// rates and copes with restarts (a drop to zero is a reset).
	m.requests, err = meter.Int64Counter("api.requests", metric.WithDescription("API requests, by endpoint, method and status code."))
	keep(err)
	m.errors, err = meter.Int64Counter("api.errors", metric.WithDescription("API errors, by error type."))
	keep(err)
	m.tokens, err = meter.Int64Counter("llm.tokens", metric.WithDescription("LLM tokens consumed, by model and type (prompt or completion)."))
	keep(err)
	m.webhooks, err = meter.Int64Counter("webhook.delivery", metric.WithDescription("Webhook delivery attempts, by outcome."))
	keep(err)
	m.cacheRequests, err = meter.Int64Counter("embedding.cache.requests", metric.WithDescription("Embedding cache lookups, by result (hit or miss)."))
	keep(err)

	// Histograms keep a distribution: quantiles, averages and "share under
	// X" all come out of the same _bucket/_sum/_count series.
	m.requestDuration, err = meter.Float64Histogram("api.request.duration", metric.WithUnit("s"),
		metric.WithDescription("API request latency."), metric.WithExplicitBucketBoundaries(requestBuckets...))
	keep(err)
	m.retrieval, err = meter.Float64Histogram("document.retrieval", metric.WithUnit("s"),
		metric.WithDescription("Document retrieval latency."), metric.WithExplicitBucketBoundaries(retrievalBuckets...))
	keep(err)
	m.rerank, err = meter.Float64Histogram("rerank.latency", metric.WithUnit("s"),
		metric.WithDescription("Reranking latency."), metric.WithExplicitBucketBoundaries(rerankBuckets...))
	keep(err)

	// A value that goes up and down and that the code changes itself: an
	// UpDownCounter, exposed as a Prometheus gauge.
	m.webhooksActive, err = meter.Int64UpDownCounter("webhooks.active", metric.WithDescription("Webhook deliveries in flight."))
	keep(err)

	// A value read from somewhere when asked: an observable gauge. No unit:
	// the exporter would turn unit "1" into a _ratio suffix.
	m.hitRate, err = meter.Float64ObservableGauge("embedding.cache.hit_rate",
		metric.WithDescription("Embedding cache hit rate since start (0-1). Prefer the ratio of embedding_cache_requests_total rates: see README."))
	keep(err)
	m.cacheHitRate, err = meter.Float64ObservableGauge("cache.hit_rate",
		metric.WithDescription("Response cache hit rate since start (0-1)."))
	keep(err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Known label values exist at zero from the first scrape, so a rate()
	// or a ratio has data before the first failure ever happens.
	for _, s := range []string{"success", "failure"} {
		m.webhooks.Add(context.Background(), 0, metric.WithAttributes(attribute.String("status", s)))
	}
	for _, r := range []string{"hit", "miss"} {
		m.cacheRequests.Add(context.Background(), 0, metric.WithAttributes(attribute.String("result", r)))
	}
	for _, t := range errorTypes {
		m.errors.Add(context.Background(), 0, metric.WithAttributes(attribute.String("error_type", t)))
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		emb, resp := state.hitRates()
		o.ObserveFloat64(m.hitRate, emb)
		o.ObserveFloat64(m.cacheHitRate, resp)
		return nil
	}, m.hitRate, m.cacheHitRate)
	return m, err
}

func (m *otelMetrics) request(r request) {
	ctx := context.Background()
	m.requests.Add(ctx, 1, metric.WithAttributes(
		attribute.String("endpoint", r.endpoint), attribute.String("method", r.method), attribute.String("status", r.status)))
	m.requestDuration.Record(ctx, r.duration)
	if r.errorType != "" {
		m.errors.Add(ctx, 1, metric.WithAttributes(attribute.String("error_type", r.errorType)))
	}
	m.retrieval.Record(ctx, r.retrieval)
	m.rerank.Record(ctx, r.rerank)
	m.cacheRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("result", hitOrMiss(r.embeddingHit))))
	m.tokens.Add(ctx, r.promptTokens, metric.WithAttributes(attribute.String("model", r.model), attribute.String("type", "prompt")))
	m.tokens.Add(ctx, r.completionTokens, metric.WithAttributes(attribute.String("model", r.model), attribute.String("type", "completion")))
}

func (m *otelMetrics) webhookStarted() { m.webhooksActive.Add(context.Background(), 1) }
func (m *otelMetrics) webhookFinished(status string) {
	ctx := context.Background()
	m.webhooksActive.Add(ctx, -1)
	m.webhooks.Add(ctx, 1, metric.WithAttributes(attribute.String("status", status)))
}

func hitOrMiss(hit bool) string {
	if hit {
		return "hit"
	}
	return "miss"
}
