// Package telemetry sets up OpenTelemetry for one CloudCart service: a
// MeterProvider whose Prometheus exporter writes to a registry of that
// service alone (served at its /metrics), optional OTLP export of metrics and
// traces, W3C propagation, and the resource that names the service.
//
// Nothing here is global: the all-in-one process builds one Telemetry per
// service, so seven services in one process still expose seven separate
// /metrics pages and seven service names in traces.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// DefaultCardinalityLimit caps the series per instrument. Past it the SDK
// folds new attribute sets into one otel_metric_overflow="true" series, so a
// labelling bug cannot blow up Prometheus. CloudCart's largest legitimate
// instrument (HTTP requests: routes × methods × statuses) stays far below.
const DefaultCardinalityLimit = 2000

// Options configure New.
type Options struct {
	ServiceName    string // default service.name, e.g. "order-service"
	ServiceVersion string
	InstanceID     string // service.instance.id; a random one if empty

	// HonorEnvServiceName lets OTEL_SERVICE_NAME override ServiceName. The
	// single-service process sets it; the all-in-one process does not, or
	// every service in it would get the same name.
	HonorEnvServiceName bool

	CardinalityLimit int // per instrument; DefaultCardinalityLimit if 0

	// Histograms: classic, native or both (the default when empty); see
	// histograms.go and docs/histograms.md.
	Histograms Histograms

	// Getenv reads OTEL_* variables; os.Getenv if nil. Tests pass their own.
	Getenv func(string) string

	// SpanProcessors are added to the TracerProvider, e.g. an in-memory
	// tracetest.SpanRecorder in tests.
	SpanProcessors []sdktrace.SpanProcessor

	// SpanExporters each get a BatchSpanProcessor, e.g. the in-process trace
	// store of `cloudcart run` (internal/tracestore): no network hop, and
	// the request path only queues the span.
	SpanExporters []sdktrace.SpanExporter

	// Sampler replaces the default sampler (parent-based, always-on for
	// roots, or what OTEL_TRACES_SAMPLER says) when set.
	Sampler sdktrace.Sampler

	// MetricsOff and TracesOff give the service no-op meters and tracers,
	// so that a benchmark can measure what the signals cost
	// (BenchmarkOrderTelemetryCost, docs/benchmarks.md). /metrics still
	// serves the Go and process collectors.
	MetricsOff, TracesOff bool
}

// Telemetry is one service's telemetry pipeline.
type Telemetry struct {
	MeterProvider  *sdkmetric.MeterProvider
	TracerProvider *sdktrace.TracerProvider
	Propagator     propagation.TextMapPropagator
	Registry       *prometheus.Registry
	Resource       *resource.Resource
	ServiceName    string

	metricsOff, tracesOff bool
}

// New builds the pipeline. The caller must call Shutdown.
func New(ctx context.Context, o Options) (*Telemetry, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	limit := o.CardinalityLimit
	if limit == 0 {
		limit = DefaultCardinalityLimit
	}
	name := o.ServiceName
	if v := getenv("OTEL_SERVICE_NAME"); v != "" && o.HonorEnvServiceName {
		name = v
	}
	res, err := newResource(name, o.ServiceVersion, o.InstanceID, getenv("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	promExporter, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithoutScopeInfo(), // keep label sets exactly as documented
		otelprom.WithTranslationStrategy(translation),
	)
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mopts := []sdkmetric.Option{
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(promExporter),
		sdkmetric.WithCardinalityLimit(limit),
		sdkmetric.WithView(o.Histograms.views()...),
	}
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if o.Sampler != nil {
		topts = append(topts, sdktrace.WithSampler(o.Sampler))
	}
	for _, sp := range o.SpanProcessors {
		topts = append(topts, sdktrace.WithSpanProcessor(sp))
	}
	for _, exp := range o.SpanExporters {
		topts = append(topts, sdktrace.WithBatcher(exp))
	}

	if otlpConfigured(getenv, "METRICS") {
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp metric exporter: %w", err)
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	}
	if otlpConfigured(getenv, "TRACES") {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
	}
	// The sampler is the SDK default: parent-based, always-on for roots,
	// overridable with OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG. Sampled
	// spans are what turn histogram observations into exemplars.
	return &Telemetry{
		MeterProvider:  sdkmetric.NewMeterProvider(mopts...),
		TracerProvider: sdktrace.NewTracerProvider(topts...),
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Registry:       reg,
		Resource:       res,
		ServiceName:    name,
		metricsOff:     o.MetricsOff,
		tracesOff:      o.TracesOff,
	}, nil
}

// otlpConfigured reports whether OTLP export of the given signal
// ("METRICS" or "TRACES") is configured through the standard variables.
// OTEL_<SIGNAL>_EXPORTER=none turns it off explicitly.
func otlpConfigured(getenv func(string) string, signal string) bool {
	if getenv("OTEL_"+signal+"_EXPORTER") == "none" {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// newResource merges the defaults with OTEL_RESOURCE_ATTRIBUTES; the
// variable wins except for service.name, which is decided by the caller.
func newResource(name, version, instance, envAttrs string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{}
	for _, kv := range strings.Split(envAttrs, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" || k == string(semconv.ServiceNameKey) {
			continue
		}
		attrs = append(attrs, attribute.String(k, v))
	}
	if instance == "" {
		instance = randomID()
	}
	attrs = append(attrs,
		semconv.ServiceName(name),
		semconv.ServiceVersion(version),
		semconv.ServiceInstanceID(instance),
	)
	return resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, attrs...))
}

// Meter returns a meter of this service's provider (a no-op one with
// MetricsOff).
func (t *Telemetry) Meter(scope string) metric.Meter {
	if t.metricsOff {
		return metricnoop.NewMeterProvider().Meter(scope)
	}
	return t.MeterProvider.Meter(scope)
}

// Tracer returns a tracer of this service's provider (a no-op one with
// TracesOff).
func (t *Telemetry) Tracer(scope string) trace.Tracer {
	if t.tracesOff {
		return tracenoop.NewTracerProvider().Tracer(scope)
	}
	return t.TracerProvider.Tracer(scope)
}

// MetricsHandler serves this service's registry, negotiating OpenMetrics so
// exemplars reach Prometheus, and the protobuf format, the only one that
// carries native histograms (and their exemplars).
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		Registry:          t.Registry, // promhttp_metric_handler_errors_total
	})
}

// Shutdown flushes and stops both providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.TracerProvider.Shutdown(ctx), t.MeterProvider.Shutdown(ctx))
}
