package main

import (
	"github.com/prometheus/client_golang/prometheus"
)

// promMetrics are the same metrics made with client_golang, the Go twin of
// the prometheus_client library reference 004 uses. Here the Prometheus
// name is written out in full: no translation happens.
type promMetrics struct {
	requests        *prometheus.CounterVec
	errors          *prometheus.CounterVec
	requestDuration prometheus.Histogram
	retrieval       prometheus.Histogram
	rerank          prometheus.Histogram
	tokens          *prometheus.CounterVec
	webhooks        *prometheus.CounterVec
	webhooksActive  prometheus.Gauge
	cacheRequests   *prometheus.CounterVec
}

// newPromMetrics registers the metrics on reg; state feeds the two ratio
// gauges, computed when Prometheus scrapes (GaugeFunc).
func newPromMetrics(reg prometheus.Registerer, state *workloadState) *promMetrics {
	m := &promMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_requests_total", Help: "API requests, by endpoint, method and status code.",
		}, []string{"endpoint", "method", "status"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_errors_total", Help: "API errors, by error type.",
		}, []string{"error_type"}),
		requestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "api_request_duration_seconds", Help: "API request latency.", Buckets: requestBuckets,
		}),
		retrieval: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "document_retrieval_seconds", Help: "Document retrieval latency.", Buckets: retrievalBuckets,
		}),
		rerank: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rerank_latency_seconds", Help: "Reranking latency.", Buckets: rerankBuckets,
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llm_tokens_total", Help: "LLM tokens consumed, by model and type (prompt or completion).",
		}, []string{"model", "type"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_delivery_total", Help: "Webhook delivery attempts, by outcome.",
		}, []string{"status"}),
		webhooksActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhooks_active", Help: "Webhook deliveries in flight.",
		}),
		cacheRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "embedding_cache_requests_total", Help: "Embedding cache lookups, by result (hit or miss).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.errors, m.requestDuration, m.retrieval, m.rerank,
		m.tokens, m.webhooks, m.webhooksActive, m.cacheRequests,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "embedding_cache_hit_rate",
			Help: "Embedding cache hit rate since start (0-1). Prefer the ratio of embedding_cache_requests_total rates: see README.",
		}, func() float64 { emb, _ := state.hitRates(); return emb }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cache_hit_rate", Help: "Response cache hit rate since start (0-1).",
		}, func() float64 { _, resp := state.hitRates(); return resp }),
	)
	// Known label values exist at zero from the first scrape, so a rate()
	// or a ratio has data before the first error ever happens.
	for _, s := range []string{"success", "failure"} {
		m.webhooks.WithLabelValues(s)
	}
	for _, r := range []string{"hit", "miss"} {
		m.cacheRequests.WithLabelValues(r)
	}
	for _, t := range errorTypes {
		m.errors.WithLabelValues(t)
	}
	return m
}

func (m *promMetrics) request(r request) {
	m.requests.WithLabelValues(r.endpoint, r.method, r.status).Inc()
	m.requestDuration.Observe(r.duration)
	if r.errorType != "" {
		m.errors.WithLabelValues(r.errorType).Inc()
	}
	m.retrieval.Observe(r.retrieval)
	m.rerank.Observe(r.rerank)
	m.cacheRequests.WithLabelValues(hitOrMiss(r.embeddingHit)).Inc()
	m.tokens.WithLabelValues(r.model, "prompt").Add(float64(r.promptTokens))
	m.tokens.WithLabelValues(r.model, "completion").Add(float64(r.completionTokens))
}

func (m *promMetrics) webhookStarted() { m.webhooksActive.Inc() }
func (m *promMetrics) webhookFinished(status string) {
	m.webhooksActive.Dec()
	m.webhooks.WithLabelValues(status).Inc()
}
