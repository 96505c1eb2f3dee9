// Command instruments is reference 004's tutorial in Go: the metrics of a
// retrieval-augmented generation (RAG) API — counters, histograms with
// explicit buckets, gauges — defined twice, once with the OpenTelemetry
// metrics API and once with client_golang, driven by the same simulated
// workload and served side by side:
//
//	go run ./examples/instruments
//	curl -s localhost:8000/metrics | grep -v '^#'                # OpenTelemetry → Prometheus exporter
//	curl -s localhost:8000/metrics/client_golang | grep -v '^#'  # client_golang
//
// See examples/instruments/README.md for what each instrument kind turns
// into in Prometheus.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "instruments:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("instruments", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8000", "address to serve /metrics on")
	every := fs.Duration("every", 200*time.Millisecond, "one simulated request this often (0: none)")
	seed := fs.Uint64("seed", 4, "seed of the simulated workload")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ex, err := newExample(*seed)
	if err != nil {
		return err
	}
	defer ex.shutdown()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: ex.handler(), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	slog.Info("serving", "otel", "http://"+ln.Addr().String()+"/metrics",
		"client_golang", "http://"+ln.Addr().String()+"/metrics/client_golang")
	go ex.drive(ctx, *every)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// example holds both metric pipelines and the workload that feeds them.
type example struct {
	otelRegistry, promRegistry *prometheus.Registry
	provider                   *sdkmetric.MeterProvider
	work                       *workload
}

func newExample(seed uint64) (*example, error) {
	state := &workloadState{}
	// OpenTelemetry: instruments are created on a Meter; the Prometheus
	// exporter is a Reader that turns them into Prometheus metrics when
	// /metrics is scraped.
	otelReg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(otelReg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	om, err := newOTelMetrics(provider.Meter("cloudcart/examples/instruments"), state)
	if err != nil {
		return nil, err
	}
	// client_golang: collectors registered straight on a registry.
	promReg := prometheus.NewRegistry()
	pm := newPromMetrics(promReg, state)
	return &example{otelRegistry: otelReg, promRegistry: promReg, provider: provider,
		work: newWorkload(seed, state, om, pm)}, nil
}

func (e *example) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.otelRegistry, promhttp.HandlerOpts{}))
	mux.Handle("GET /metrics/client_golang", promhttp.HandlerFor(e.promRegistry, promhttp.HandlerOpts{}))
	return mux
}

// drive simulates one request every period until ctx ends.
func (e *example) drive(ctx context.Context, period time.Duration) {
	if period <= 0 {
		return
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.work.step()
		}
	}
}

func (e *example) shutdown() { _ = e.provider.Shutdown(context.Background()) }
