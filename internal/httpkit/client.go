package httpkit

import (
	"net/http"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Transport is the instrumented client transport for service-to-service
// calls: a client span per request and W3C trace context (and baggage)
// injected into the outgoing headers, so one trace spans the fleet.
type Transport struct {
	Base       http.RoundTripper // http.DefaultTransport if nil
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	// Observe, when set, is called once per round trip with its outcome
	// (the response, headers read, or the error) and the time it took, so a
	// caller can record client-side metrics at this one place. The gateway
	// records its upstream latency and errors here.
	Observe func(req *http.Request, resp *http.Response, err error, elapsed time.Duration)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Observe != nil {
		start := time.Now()
		defer func() { t.Observe(req, resp, err, time.Since(start)) }()
	}
	if t.Tracer == nil {
		return base.RoundTrip(req)
	}
	method := MethodLabel(req.Method)
	ctx, span := t.Tracer.Start(req.Context(), method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(method),
			semconv.ServerAddress(req.URL.Hostname()),
			semconv.URLFull(req.URL.Redacted()),
		))
	req = req.Clone(ctx) // a RoundTripper must not modify the caller's request
	if t.Propagator != nil {
		t.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	resp, err = base.RoundTrip(req)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.End()
		return nil, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	span.End()
	return resp, nil
}
