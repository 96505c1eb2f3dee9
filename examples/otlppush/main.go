// Command otlppush is reference 003's push path from the application's
// side: a program with no /metrics endpoint that pushes its metrics and
// traces over OTLP/HTTP with the OpenTelemetry SDK's exporters. Point it at
// `cloudcart run`'s receiver (the default) or at an OpenTelemetry
// Collector:
//
//	go run ./examples/otlppush                        # 20 "jobs", pushed to http://localhost:4318
//	curl -s 'localhost:9090/api/v1/query?query=otlppush_jobs_processed_total'
//	curl -s 'localhost:9090/api/traces?service=otlppush&limit=1'
//
// The endpoint comes from the standard OTEL_EXPORTER_OTLP_ENDPOINT
// variable; -endpoint overrides it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

func main() {
	endpoint := flag.String("endpoint", "", "OTLP/HTTP base URL (default: $OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318)")
	jobs := flag.Int("jobs", 20, "how many jobs to run")
	flag.Parse()
	url := *endpoint
	if url == "" {
		url = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if url == "" {
		url = "http://localhost:4318"
	}
	if err := run(context.Background(), url, *jobs, func(int) time.Duration { return time.Duration(5+rand.IntN(45)) * time.Millisecond }); err != nil {
		fmt.Fprintln(os.Stderr, "otlppush:", err)
		os.Exit(1)
	}
	fmt.Printf("pushed %d jobs to %s\n", *jobs, url)
}

// run does the jobs, each in a span, recording a counter by outcome and a
// duration histogram, then shuts the providers down, which pushes what is
// left: a short-lived program has no scrape to wait for.
func run(ctx context.Context, endpoint string, jobs int, work func(i int) time.Duration) error {
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("otlppush"), semconv.ServiceVersion("example")))
	if err != nil {
		return err
	}
	mexp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(endpoint+"/v1/metrics"))
	if err != nil {
		return err
	}
	texp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint+"/v1/traces"))
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(5*time.Second))))
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(texp))

	meter, tracer := mp.Meter("otlppush"), tp.Tracer("otlppush")
	// Prometheus names after translation: otlppush_jobs_processed_total
	// and otlppush_job_duration_seconds (with job="otlppush").
	processed, err1 := meter.Int64Counter("otlppush.jobs.processed", metric.WithUnit("{job}"), metric.WithDescription("Jobs processed, by outcome."))
	duration, err2 := meter.Float64Histogram("otlppush.job.duration", metric.WithUnit("s"), metric.WithDescription("Time one job takes."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1))
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	ok := metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "ok")))
	failed := metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "failed")))
	for i := range jobs {
		jctx, span := tracer.Start(ctx, "job")
		span.SetAttributes(attribute.Int("job.number", i))
		d := work(i)
		time.Sleep(d)
		duration.Record(jctx, d.Seconds())
		if i%10 == 9 { // every tenth job fails, to have something to look for
			span.SetStatus(codes.Error, "job failed")
			processed.Add(jctx, 1, failed)
		} else {
			processed.Add(jctx, 1, ok)
		}
		span.End()
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return errors.Join(tp.Shutdown(sctx), mp.Shutdown(sctx))
}
