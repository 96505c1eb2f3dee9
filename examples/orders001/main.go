// Command orders001 is reference 001's order service in one file: the three
// OpenTelemetry instruments that practice asks for (a Counter of orders by
// status, a Histogram of order duration, an UpDownCounter of queue depth),
// the endpoints it names (POST /orders, POST /orders?fail=true, POST
// /simulate?count=&error_rate=, GET /health, GET /metrics), and nothing
// else. CloudCart's real order service (internal/orders) grows from this.
//
//	go run ./examples/orders001
//	curl -s -X POST 'localhost:8000/simulate?count=100&error_rate=0.1'
//	curl -s localhost:8000/metrics | grep -E '^order'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// orderMetrics are 001's three instruments. Prometheus names: the exporter
// adds _total to the counter and turns unit "s" into _seconds.
type orderMetrics struct {
	processed  metric.Int64Counter       // orders_processed_total{status}
	duration   metric.Float64Histogram   // order_duration_seconds
	queueDepth metric.Int64UpDownCounter // order_queue_depth
	success    metric.MeasurementOption  // precomputed attribute sets
	failure    metric.MeasurementOption
}

func newOrderMetrics(m metric.Meter) (*orderMetrics, error) {
	processed, err1 := m.Int64Counter("orders.processed", metric.WithDescription("Orders processed, by status (success or failure)."))
	duration, err2 := m.Float64Histogram("order.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to process one order."),
		metric.WithExplicitBucketBoundaries(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5))
	depth, err3 := m.Int64UpDownCounter("order.queue.depth", metric.WithDescription("Orders waiting to be processed."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	o := &orderMetrics{processed: processed, duration: duration, queueDepth: depth,
		success: metric.WithAttributeSet(attribute.NewSet(attribute.String("status", "success"))),
		failure: metric.WithAttributeSet(attribute.NewSet(attribute.String("status", "failure")))}
	// Both statuses exist at zero from the first scrape, so the error-rate
	// query has data before the first failure.
	o.processed.Add(context.Background(), 0, o.success)
	o.processed.Add(context.Background(), 0, o.failure)
	o.queueDepth.Add(context.Background(), 0)
	return o, nil
}

// service processes simulated orders: each waits in the queue, then takes
// 10–200 ms of "work".
type service struct {
	m     *orderMetrics
	work  func() time.Duration
	sleep func(time.Duration)
}

// process handles one order and records all three instruments.
func (s *service) process(ctx context.Context, fail bool) time.Duration {
	s.m.queueDepth.Add(ctx, 1)
	defer s.m.queueDepth.Add(ctx, -1)
	d := s.work()
	s.sleep(d)
	s.m.duration.Record(ctx, d.Seconds())
	if fail {
		s.m.processed.Add(ctx, 1, s.m.failure)
	} else {
		s.m.processed.Add(ctx, 1, s.m.success)
	}
	return d
}

func (s *service) routes(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		fail := r.URL.Query().Get("fail") == "true"
		d := s.process(r.Context(), fail)
		status := http.StatusCreated
		if fail {
			status = http.StatusInternalServerError
		}
		writeJSON(w, status, map[string]any{"failed": fail, "duration_ms": d.Milliseconds()})
	})
	mux.HandleFunc("POST /simulate", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		count, rate := 20, 0.0
		var err error
		if v := q.Get("count"); v != "" {
			if count, err = strconv.Atoi(v); err != nil || count < 1 || count > 10000 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "count must be an integer from 1 to 10000"})
				return
			}
		}
		if v := q.Get("error_rate"); v != "" {
			if rate, err = strconv.ParseFloat(v, 64); err != nil || rate < 0 || rate > 1 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "error_rate must be a number from 0 to 1"})
				return
			}
		}
		failed := 0
		for range count {
			fail := rand.Float64() < rate
			if fail {
				failed++
			}
			s.process(r.Context(), fail)
		}
		writeJSON(w, http.StatusOK, map[string]int{"processed": count, "failed": failed})
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", metrics)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newService wires the instruments to a Prometheus exporter on its own
// registry and returns the service with its /metrics handler.
func newService(work func() time.Duration, sleep func(time.Duration)) (*service, http.Handler, func(), error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, nil, nil, err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m, err := newOrderMetrics(provider.Meter("orders001"))
	if err != nil {
		return nil, nil, nil, err
	}
	return &service{m: m, work: work, sleep: sleep}, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		func() { _ = provider.Shutdown(context.Background()) }, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8000", "address to listen on")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "orders001:", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, metrics, shutdown, err := newService(
		func() time.Duration { return time.Duration(10+rand.IntN(190)) * time.Millisecond }, time.Sleep)
	if err != nil {
		return err
	}
	defer shutdown()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.MaxBytesHandler(svc.routes(metrics), 1<<20), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 5 * time.Minute, IdleTimeout: time.Minute}
	fmt.Printf("order service (reference 001) on http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
