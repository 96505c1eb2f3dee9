package fleet_test

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// latencies collects per-request durations from parallel workers.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) report(b *testing.B, elapsed time.Duration, unit string) {
	slices.Sort(l.d)
	if len(l.d) == 0 {
		return
	}
	q := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(l.d))/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// benchFleet runs the whole fleet with the gateway's per-client rate limit
// off, so the benchmark measures the services, not the limiter, and the
// aggregator scraping every service every 5 s as under `cloudcart run`
// (the tests' 250 ms makes scrapes, not orders, a tenth of the CPU). The
// stores are SQLite, or PostgreSQL (a fresh schema) when
// CLOUDCART_TEST_POSTGRES_DSN is set. The garbage collector's target is
// the binary's (fleet.TuneGC; GOGC in the environment overrides it).
func benchFleet(b *testing.B, opts ...func(*fleet.Config)) *fleet.Fleet {
	b.Cleanup(fleet.TuneGC())
	return mustFleetConfig(b, append([]func(*fleet.Config){func(c *fleet.Config) {
		c.Gateway.RateLimit = -1
		c.Orders.PaymentLatency, c.Orders.PaymentJitter = 0, 0
		c.Aggregator.Interval = 5 * time.Second
		if os.Getenv(sqlstoretest.PostgresEnv) != "" {
			c.PostgresDSN, _ = sqlstoretest.MustConfig(b, "postgres")
		}
	}}, opts...)...)
}

// BenchmarkOrderPlacementThroughGateway places orders of catalog products
// through the gateway with a logged-in user's token, -fleet.bench-clients
// clients (8) in parallel, on the embedded stores (SQLite, synchronous=FULL): gateway →
// order service → one call to the product service that prices, checks and
// reserves the stock → payment → confirmation (the reservation's commit
// follows, batched), every step a real HTTP call or transaction.
//
// With CLOUDCART_BENCH_SPANS=1 it also prints where an order's time goes:
// every span the fleet recorded, summed by instrumentation scope and name
// (how many per order, mean duration, time per order), the longest first.
func BenchmarkOrderPlacementThroughGateway(b *testing.B) {
	var spans *spanTotals
	var opts []func(*fleet.Config)
	if os.Getenv("CLOUDCART_BENCH_SPANS") != "" {
		spans = &spanTotals{d: map[string]time.Duration{}, n: map[string]int{}}
		opts = append(opts, func(c *fleet.Config) {
			c.TelemetryOptions = func(o *telemetry.Options) { o.SpanExporters = append(o.SpanExporters, spans) }
		})
	}
	placeOrders(b, benchFleet(b, opts...))
	spans.report(b)
}

// spanTotals is a span exporter that sums span durations by scope and
// name. Spans reach it through each service's batch span processor, so
// those of the last few orders may be missing from the report.
type spanTotals struct {
	mu sync.Mutex
	d  map[string]time.Duration
	n  map[string]int
}

func (t *spanTotals) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range spans {
		k := s.InstrumentationScope().Name + " " + s.Name()
		t.d[k] += s.EndTime().Sub(s.StartTime())
		t.n[k]++
	}
	return nil
}

func (t *spanTotals) Shutdown(context.Context) error { return nil }

// report prints the 30 names with the most time, per order placed, on
// stdout (a benchmark's log is cut at a few lines); not for the
// benchmark's one-order probe run.
func (t *spanTotals) report(b *testing.B) {
	if t == nil || b.N == 1 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := slices.Collect(maps.Keys(t.d))
	slices.SortFunc(keys, func(x, y string) int { return cmp.Compare(t.d[y], t.d[x]) })
	out := &strings.Builder{}
	fmt.Fprintf(out, "%-64s %9s %10s %10s\n", "scope and span", "per order", "mean", "per order")
	for _, k := range keys[:min(30, len(keys))] {
		fmt.Fprintf(out, "%-64s %9.2f %10v %10v\n", k, float64(t.n[k])/float64(b.N),
			(t.d[k] / time.Duration(t.n[k])).Round(time.Microsecond), (t.d[k] / time.Duration(b.N)).Round(time.Microsecond))
	}
	fmt.Print(out.String())
}

// BenchmarkOrderTelemetryCost places orders as
// BenchmarkOrderPlacementThroughGateway does, on fleets that differ only in
// telemetry: off (no-op meters and tracers in every service), metrics only
// (what the fleet records for Prometheus, spans off), and metrics with
// every trace sampled (100%) and exported through a batch span processor
// to an exporter that discards the spans. On a noisy machine, alternate
// the variants: -bench 'BenchmarkOrderTelemetryCost/off$' and so on, in
// turn (docs/benchmarks.md).
func BenchmarkOrderTelemetryCost(b *testing.B) {
	for _, v := range []struct {
		name string
		opts func(*telemetry.Options)
	}{
		{"off", func(o *telemetry.Options) { o.MetricsOff, o.TracesOff = true, true }},
		{"metrics", func(o *telemetry.Options) { o.TracesOff = true }},
		{"metrics-traces-sampled", func(o *telemetry.Options) {
			o.Sampler = sdktrace.AlwaysSample()
			o.SpanExporters = append(o.SpanExporters, discardSpans{})
		}},
	} {
		b.Run(v.name, func(b *testing.B) {
			placeOrders(b, benchFleet(b, func(c *fleet.Config) { c.TelemetryOptions = v.opts }))
		})
	}
}

// discardSpans is a span exporter that drops what it is given: the cost
// measured is the SDK's (recording, batching), not a backend's.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// benchClients is how many clients place orders at once. The issue's
// measure is 8; at 8 an order's latency, not the cores, bounds the rate
// (8 clients / 14 ms), so -fleet.bench-clients 16 shows the rate at which
// the fleet keeps both cores busy (docs/benchmarks.md).
var benchClients = flag.Int("fleet.bench-clients", 8, "clients placing orders at once in the order benchmarks (a multiple of GOMAXPROCS)")

// placeOrders places b.N orders of catalog products through f's gateway
// with a logged-in user's token, -fleet.bench-clients clients in parallel
// (8), and reports orders/s, p50 and p99 latency and the answers that
// were not 201.
func placeOrders(b *testing.B, f *fleet.Fleet) {
	gw := f.URL("gateway")
	_, tok := mustUser(b, gw)
	skus := inStock(b, f.URL("products"), b.N)
	var (
		lat  latencies
		next atomic.Int64
		bad  atomic.Int64
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.SetParallelism(max(1, *benchClients/runtime.GOMAXPROCS(0))) // clients = parallelism × GOMAXPROCS
	b.ResetTimer()
	cpu0 := processCPU(b)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sku := skus[next.Add(1)%int64(len(skus))]
			req, _ := http.NewRequest("POST", gw+"/api/orders", strings.NewReader(`{"customer":"bench","items":[{"sku":"`+sku+`","qty":1}]}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			t := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			// Read to the end, as a client keeping its connection does: an
			// answer closed unread closes the connection, and every order
			// then paid for a new one (a TCP handshake and a new server
			// connection at the gateway).
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat.add(time.Since(t))
			if resp.StatusCode != http.StatusCreated {
				bad.Add(1)
			}
		}
	})
	lat.report(b, time.Since(start), "orders")
	// CPU per order counts what the orders cost, however busy the machine
	// (orders/s and latency also count the waiting for a core).
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/order")
	b.ReportMetric(float64(bad.Load()), "non-201")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<20), "go-sys-MB") // the memory Go took from the OS, at its peak
	for _, svc := range []string{"orders", "products", "notifier"} {
		if n, commits := commitBatches(b, f.URL(svc)+"/metrics"); commits > 0 {
			b.ReportMetric(n/commits, svc+"-tx/commit")
			b.ReportMetric(commits/float64(b.N), svc+"-commits/order")
		}
	}
}

// inStock returns the SKUs to order n units of, one at a time in turn: the
// most stocked products of the whole catalog, as many as can each hold
// their share (ceil(n/k) of k products), so that no order is refused for
// want of stock. A refusal is far cheaper than an order, and would flatter
// the rate (the catalog's first 100 products could not take 3,000 orders:
// 198 came back 409).
func inStock(b *testing.B, productsURL string, n int) []string {
	type product struct {
		SKU   string
		Stock int
	}
	var all []product
	for off := 0; ; off += 100 {
		var page struct{ Products []product }
		getJSON(b, fmt.Sprintf("%s/products?limit=100&offset=%d", productsURL, off), &page)
		all = append(all, page.Products...)
		if len(page.Products) < 100 {
			break
		}
	}
	slices.SortFunc(all, func(x, y product) int { return cmp.Compare(y.Stock, x.Stock) })
	for k := len(all); k > 0; k-- {
		if all[k-1].Stock >= (n+k-1)/k+1 { // +1: the benchmark's one-order probe run
			skus := make([]string, k)
			for i, p := range all[:k] {
				skus[i] = p.SKU
			}
			return skus
		}
	}
	b.Fatalf("the catalog's %d products cannot take %d orders", len(all), n)
	return nil
}

// processCPU is the CPU time (user and system) the test process used so
// far: the whole fleet and the benchmark's clients.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// commitBatches sums a service's <prefix>_db_commit_batch_size: the
// transactions group commit made durable and the COMMITs it took (0, 0
// if the service has no group-committed database).
func commitBatches(b *testing.B, url string) (txs, commits float64) {
	mfs, err := telemetrytest.Scrape(b, url).Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasSuffix(mf.GetName(), "_db_commit_batch_size") {
			for _, m := range mf.GetMetric() {
				h := m.GetHistogram()
				txs += h.GetSampleSum()
				commits += float64(h.GetSampleCount())
			}
		}
	}
	return txs, commits
}

// BenchmarkProductListReads reads catalog pages, 8 clients in parallel:
// straight from the product service, and through the gateway (whose
// response cache serves repeated public reads).
func BenchmarkProductListReads(b *testing.B) {
	f := benchFleet(b)
	for _, tc := range []struct{ name, base string }{
		{"direct", f.URL("products") + "/products"},
		{"gateway", f.URL("gateway") + "/api/products"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var lat latencies
			var n atomic.Int64
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					url := fmt.Sprintf("%s?limit=20&offset=%d", tc.base, (i%15)*20)
					t := time.Now()
					resp, err := client.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body) // to keep the connection
					resp.Body.Close()
					lat.add(time.Since(t))
				}
			})
			lat.report(b, time.Since(start), "req")
		})
	}
}
