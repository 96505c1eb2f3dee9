package gateway

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// Client classes label rate_limit_exceeded_total. Reference 002 labels it
// by ip_address, which is unbounded; CloudCart keeps the class, and the
// client (user id or IP) goes into the span of the rejected request.
const (
	classAuthenticated = "authenticated"
	classAnonymous     = "anonymous"
	classAuth          = "auth" // the auth routes' own buckets (Options.AuthRateLimit)
)

// Upstream error codes other than an HTTP status (status_code label).
const (
	codeTimeout    = "timeout"          // no answer within the upstream timeout
	codeConnection = "connection_error" // refused, reset, DNS, ...
	codeNoUpstream = "no_upstream"      // the service is not deployed in this fleet
)

// payloadBuckets are byte sizes, ×4 apart from 64 B up to the 1 MiB body
// limit; the 0 bucket holds body-less requests.
var payloadBuckets = []float64{0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20}

// upstreamBuckets are the upstream latency bounds in seconds, up to the
// 10 s default upstream timeout.
var upstreamBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10}

// Metrics are the gateway's own instruments (reference 002 §2.1). The
// comments give the Prometheus names users query.
type Metrics struct {
	RateLimitExceeded metric.Int64Counter     // rate_limit_exceeded_total{client_class}
	JWTFailures       metric.Int64Counter     // jwt_validation_failures_total{reason}
	UpstreamLatency   metric.Float64Histogram // upstream_service_latency_seconds{service,endpoint}
	UpstreamErrors    metric.Int64Counter     // upstream_service_errors_total{service,status_code}
	upstreamErrors    *telemetry.PairCounter  // UpstreamErrors, with precomputed attribute sets
	CacheHits         metric.Int64Counter     // cache_hits_total
	CacheMisses       metric.Int64Counter     // cache_misses_total
	RequestPayload    metric.Float64Histogram // request_payload_bytes{route}
	ResponsePayload   metric.Float64Histogram // response_payload_bytes{route}

	class  map[string]metric.AddOption
	reason map[token.Reason]metric.AddOption
}

// NewMetrics creates the instruments on meter.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{class: map[string]metric.AddOption{}, reason: map[token.Reason]metric.AddOption{}}
	for _, c := range []string{classAuthenticated, classAnonymous, classAuth} {
		m.class[c] = metric.WithAttributeSet(attribute.NewSet(attribute.String("client_class", c)))
	}
	for _, r := range token.Reasons {
		m.reason[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", string(r))))
	}
	in := telemetry.NewInstruments(meter)
	m.RateLimitExceeded = in.Counter("rate.limit.exceeded", "{request}", "Requests rejected with 429 by the per-client rate limit, by client class (authenticated or anonymous).")
	m.JWTFailures = in.Counter("jwt.validation.failures", "{failure}", "Bearer tokens refused by the gateway, by reason.")
	m.UpstreamLatency = in.Histogram("upstream.service.latency", "s", "Time from sending a request to a backend service to its response headers (or failure), by service and gateway route template.", upstreamBuckets)
	m.UpstreamErrors = in.Counter("upstream.service.errors", "{error}", "Backend calls that failed: a 4xx/5xx status, a timeout, a connection error, or no such service deployed.")
	m.CacheHits = in.Counter("cache.hits", "{request}", "Public product reads answered from the gateway's response cache.")
	m.CacheMisses = in.Counter("cache.misses", "{request}", "Public product reads the response cache could not answer.")
	m.RequestPayload = in.Histogram("request.payload", "By", "Size of incoming request bodies (Content-Length, or bytes read when chunked), by route template.", payloadBuckets)
	m.ResponsePayload = in.Histogram("response.payload", "By", "Size of response bodies sent to clients, by route template.", payloadBuckets)
	if err := in.Err(); err != nil {
		return nil, err
	}
	ctx := context.Background()
	for _, o := range m.class {
		m.RateLimitExceeded.Add(ctx, 0, o)
	}
	for _, o := range m.reason {
		m.JWTFailures.Add(ctx, 0, o)
	}
	m.CacheHits.Add(ctx, 0)
	m.CacheMisses.Add(ctx, 0)
	m.upstreamErrors = telemetry.NewPairCounter(m.UpstreamErrors, "service", "status_code")
	return m, nil
}

func (m *Metrics) jwtFailed(ctx context.Context, r token.Reason) {
	if o, ok := m.reason[r]; ok {
		m.JWTFailures.Add(ctx, 1, o)
	}
}

// upstreamError counts one failed backend call; code is an HTTP status or
// one of the code* constants.
func (m *Metrics) upstreamError(ctx context.Context, service, code string) {
	m.upstreamErrors.Add(ctx, service, code)
}
