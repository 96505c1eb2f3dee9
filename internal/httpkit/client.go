package httpkit

import (
	"net/http"

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
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
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
	resp, err := base.RoundTrip(req)
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
