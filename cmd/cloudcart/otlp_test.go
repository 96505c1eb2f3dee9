package main_test

import (
	"bytes"
	"compress/gzip"
	byteorder "encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/cloudcart/cloudcart/internal/freeport"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// OTelColEnv names the OpenTelemetry Collector binary built from
// deploy/otel-collector/builder-config.yaml (.ci/run builds it).
const OTelColEnv = "CLOUDCART_TEST_OTELCOL"

// TestOTLPThroughCollector is reference 003's path on real programs: the
// order and product services (`cloudcart serve`, SQLite) push OTLP/HTTP to
// the collector built from deploy/otel-collector/builder-config.yaml,
// running the shipped config.yaml; its copy differs only in addresses
// (checked), Jaeger being replaced by an OTLP/gRPC sink in the test. It
// checks that every OTel metric of the services' own /metrics reaches the
// collector's Prometheus exporter under the same name and labels, with job
// and instance from service.name and service.instance.id and the same
// values; that spans reach the debug exporter's log and the Jaeger
// endpoint, one trace spanning both services; and that Debian's Prometheus
// 2.42 scraping the collector stores the series under the services' jobs.
func TestOTLPThroughCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the collector, two services and Prometheus")
	}
	t.Parallel()
	logs := t.TempDir()
	jaeger := startOTLPSink(t)
	c := startCollector(t, logs, jaeger.addr)
	col, httpAddr, exporterAddr, healthAddr := c.daemon, c.httpAddr, c.exporterAddr, c.healthAddr

	// The services: OTLP to the collector, metrics every second and spans
	// every 200 ms instead of the SDK defaults (60 s, 5 s).
	ordersAddr, productsAddr := freeport.Addr(t), freeport.Addr(t)
	otel := []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + httpAddr,
		"OTEL_METRIC_EXPORT_INTERVAL=1000",
		"OTEL_BSP_SCHEDULE_DELAY=200",
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=otlp-test",
		"OTEL_SERVICE_NAME=",
		"CLOUDCART_BIND=127.0.0.1",
		"CLOUDCART_ORDERS_PORT=" + portOf(ordersAddr),
		"CLOUDCART_PRODUCTS_PORT=" + portOf(productsAddr),
		"CLOUDCART_ORDERS_PRODUCTS_URL=http://" + productsAddr,
		"CLOUDCART_ORDERS_PAYMENT_FAILURE_RATE=0",
	}
	products := startDaemon(t, logs, "products", append(slices.Clone(otel), "CLOUDCART_DATA_DIR="+t.TempDir()),
		binary, "serve", "products")
	orders := startDaemon(t, logs, "orders", append(slices.Clone(otel), "CLOUDCART_DATA_DIR="+t.TempDir()),
		binary, "serve", "orders")
	ordersURL, productsURL := "http://"+ordersAddr, "http://"+productsAddr
	products.waitOK(t, productsURL+"/readyz", time.Minute)
	orders.waitOK(t, ordersURL+"/readyz", time.Minute)

	// Traffic: catalog reads, orders of catalog products (one trace through
	// both services each) and simulated orders, some failing.
	var page struct{ Products []struct{ SKU string } }
	getInto(t, productsURL+"/products?limit=5", &page)
	if len(page.Products) == 0 {
		t.Fatal("no products")
	}
	for _, p := range page.Products {
		var o struct{ ID string }
		mustPostJSON(t, ordersURL+"/orders", fmt.Sprintf(`{"customer":"otlp","items":[{"sku":%q,"qty":1}]}`, p.SKU), &o)
	}
	var sim struct{ Succeeded, Failed int }
	mustPostJSON(t, ordersURL+"/simulate?count=20&error_rate=0.3", "", &sim)
	processed := telemetrytest.Value(t, telemetrytest.Scrape(t, ordersURL+"/metrics"), "orders_processed_total", nil)

	col.waitOK(t, "http://"+healthAddr+"/", time.Second) // still running
	jobs := map[string]string{"order-service": ordersURL, "product-service": productsURL}
	instances := map[string]string{} // job → service.instance.id
	for job, u := range jobs {
		t.Run("metrics/"+job, func(t *testing.T) {
			instances[job] = mustSameMetrics(t, job, u+"/metrics", "http://"+exporterAddr+"/metrics")
		})
	}

	t.Run("spans in the debug exporter's log", func(t *testing.T) {
		waitFor(t, time.Minute, "spans of both services in the collector log", func() bool {
			b, _ := os.ReadFile(col.log)
			return bytes.Contains(b, []byte("service.name: Str(order-service)")) &&
				bytes.Contains(b, []byte("service.name: Str(product-service)")) &&
				bytes.Contains(b, []byte("Name           : POST /orders"))
		}, func() string { return tailFile(col.log, 60) })
	})

	t.Run("spans at the Jaeger endpoint", func(t *testing.T) {
		waitFor(t, time.Minute, "a trace with spans of both services at the OTLP/gRPC sink", func() bool {
			return len(jaeger.tracesSpanning("order-service", "product-service")) > 0
		}, func() string { return fmt.Sprintf("spans by service: %v", jaeger.countByService()) })
	})

	t.Run("prometheus scrapes the collector", func(t *testing.T) {
		promBin := requireProgram(t, "prometheus")
		promAddr := freeport.Addr(t)
		promURL := "http://" + promAddr
		dir := t.TempDir()
		// honor_labels keeps job and instance as the exporter sets them
		// (service.name, service.instance.id); the second job shows what a
		// default scrape config makes of them.
		mustWriteFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Appendf(nil, `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: otel-collector
    honor_labels: true
    static_configs:
      - targets: [%[1]q]
  - job_name: otel-collector-default
    static_configs:
      - targets: [%[1]q]
`, exporterAddr))
		prom := startDaemon(t, logs, "prometheus", nil, promBin,
			"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+promAddr)
		prom.waitOK(t, promURL+"/-/ready", time.Minute)
		for _, tc := range []struct{ query, want string }{
			{`up{job="otel-collector"}`, fmt.Sprintf(`{instance=%q, job="otel-collector"} 1`, exporterAddr)},
			{`sum by (job, instance) (orders_processed_total{job="order-service"})`,
				fmt.Sprintf(`{instance=%q, job="order-service"} %v`, instances["order-service"], processed)},
			{`group by (job, instance, exported_job, exported_instance) (orders_processed_total{job="otel-collector-default"})`,
				fmt.Sprintf(`{exported_instance=%q, exported_job="order-service", instance=%q, job="otel-collector-default"} 1`,
					instances["order-service"], exporterAddr)},
			{`count by (job) (target_info{deployment_environment_name="otlp-test", job!="otel-collector-default"})`, `{job="order-service"} 1; {job="product-service"} 1`},
		} {
			var got string
			waitFor(t, 2*time.Minute, tc.query, func() bool {
				r, ok := promQuery(promURL, tc.query)
				if !ok {
					return false
				}
				var lines []string
				for _, s := range r.Data.Result {
					delete(s.Metric, "__name__")
					lines = append(lines, fmt.Sprintf("%s %v", toLabelSet(s.Metric), s.Value[1]))
				}
				sort.Strings(lines)
				got = strings.Join(lines, "; ")
				return got == tc.want
			}, func() string { return "got " + got + "\nwant " + tc.want })
		}
	})
}

// mustSameMetrics compares a service's own /metrics with the collector's
// exporter: every OTel family (the runtime collectors' go_*, process_* and
// promhttp_* are not OTel instruments and do not travel over OTLP) is at
// the collector under the same name, type and help, each series with the
// same labels plus job and instance, and the same value. Background work (the
// outbox relay, the order lifecycle) keeps some series moving, so the
// collector is read between two reads of the service: a counter or
// histogram there lies between them, and a series that did not move is
// equal. It returns the service's instance label at the collector.
func mustSameMetrics(tb testing.TB, job, direct, collector string) (instance string) {
	tb.Helper()
	var diffs []string
	waitFor(tb, time.Minute, job+" metrics at the collector equal its /metrics", func() bool {
		before, ok1 := scrapeFamilies(direct)
		time.Sleep(3 * time.Second) // > export interval + batch timeout
		col, ok2 := scrapeFamilies(collector)
		after, ok3 := scrapeFamilies(direct)
		if !ok1 || !ok2 || !ok3 {
			return false
		}
		instance = ""
		if ti := after["target_info"]; ti != nil && len(ti.Metric) == 1 {
			instance = labelsOf(ti.Metric[0])["service_instance_id"]
		}
		diffs = compareFamilies(before, after, col, job, instance)
		return instance != "" && len(diffs) == 0
	}, func() string { return strings.Join(diffs, "\n") })
	return instance
}

// compareFamilies lists how the collector's families differ from the
// service's own, read before and after, for the series of job/instance.
func compareFamilies(before, after, col map[string]*dto.MetricFamily, job, instance string) []string {
	var diffs []string
	for _, name := range slices.Sorted(maps.Keys(after)) {
		if runtimeFamily(name) {
			continue
		}
		af, cf := after[name], col[name]
		if cf == nil {
			diffs = append(diffs, name+": missing at the collector")
			continue
		}
		if cf.GetType() != af.GetType() || cf.GetHelp() != af.GetHelp() {
			diffs = append(diffs, fmt.Sprintf("%s: %s %q at the collector, %s %q direct", name, cf.GetType(), cf.GetHelp(), af.GetType(), af.GetHelp()))
		}
		got := map[string][]float64{}
		for _, m := range cf.Metric {
			l := labelsOf(m)
			if l["job"] != job || l["instance"] != instance {
				continue
			}
			delete(l, "job")
			delete(l, "instance")
			got[labelKey(l)] = sampleValues(m)
		}
		key := func(m *dto.Metric) string {
			l := labelsOf(m)
			if name == "target_info" {
				// The exporter turns service.name and service.instance.id
				// into job and instance; the rest stays.
				delete(l, "service_name")
				delete(l, "service_instance_id")
			}
			return labelKey(l)
		}
		was := map[string][]float64{}
		if bf := before[name]; bf != nil {
			for _, m := range bf.Metric {
				was[key(m)] = sampleValues(m)
			}
		}
		for _, m := range af.Metric {
			k, now := key(m), sampleValues(m)
			c, atCol := got[k]
			delete(got, k)
			old, existed := was[k]
			switch {
			case !atCol && existed:
				diffs = append(diffs, fmt.Sprintf("%s%s: missing at the collector", name, k))
			case !atCol, !existed:
				// Created while the collector was read: either is right.
			case slices.Equal(old, now) && !slices.Equal(c, now):
				diffs = append(diffs, fmt.Sprintf("%s%s: %v at the collector, %v direct", name, k, c, now))
			case af.GetType() != dto.MetricType_GAUGE && !between(old, c, now):
				diffs = append(diffs, fmt.Sprintf("%s%s: %v at the collector, not between %v and %v direct", name, k, c, old, now))
			}
		}
		for k := range got {
			diffs = append(diffs, fmt.Sprintf("%s%s: only at the collector", name, k))
		}
	}
	return diffs
}

// between reports whether lo[i] <= v[i] <= hi[i] for every i.
func between(lo, v, hi []float64) bool {
	if len(lo) != len(v) || len(v) != len(hi) {
		return false
	}
	for i := range v {
		if v[i] < lo[i] || v[i] > hi[i] {
			return false
		}
	}
	return true
}

// runtimeFamily reports whether a family comes from client_golang's Go and
// process collectors rather than from an OTel instrument.
func runtimeFamily(name string) bool {
	return strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_")
}

func scrapeFamilies(u string) (map[string]*dto.MetricFamily, bool) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	return fams, err == nil && resp.StatusCode == http.StatusOK
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.Label {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func labelKey(l map[string]string) string {
	return toLabelSet(l).String()
}

func toLabelSet(l map[string]string) model.LabelSet {
	out := model.LabelSet{}
	for k, v := range l {
		out[model.LabelName(k)] = model.LabelValue(v)
	}
	return out
}

// sampleValues are a series' numbers: a histogram's count, sum and
// cumulative bucket counts, else the value.
func sampleValues(m *dto.Metric) []float64 {
	switch {
	case m.Counter != nil:
		return []float64{m.Counter.GetValue()}
	case m.Gauge != nil:
		return []float64{m.Gauge.GetValue()}
	case m.Histogram != nil:
		out := []float64{float64(m.Histogram.GetSampleCount()), m.Histogram.GetSampleSum()}
		for _, b := range m.Histogram.Bucket {
			out = append(out, float64(b.GetCumulativeCount()))
		}
		return out
	case m.Untyped != nil:
		return []float64{m.Untyped.GetValue()}
	}
	return nil
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func mustPostJSON(tb testing.TB, u, body string, v any) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(asService(req))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		tb.Fatalf("POST %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("POST %s: %v: %s", u, err, b)
	}
}

// otlpSink stands in for Jaeger's OTLP/gRPC endpoint: it answers the
// unary TraceService/Export call over cleartext HTTP/2 (gRPC's wire
// format needs no gRPC library) and keeps what it received.
type otlpSink struct {
	addr  string
	mu    sync.Mutex
	spans []sinkSpan
}

type sinkSpan struct{ service, traceID, name string }

const traceExportPath = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

func startOTLPSink(tb testing.TB) *otlpSink {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &otlpSink{addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(s.export), ReadHeaderTimeout: 10 * time.Second, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { srv.Close() })
	return s
}

// export handles one gRPC call: a length-prefixed message (flag byte:
// compressed or not, 4-byte length) in, one out, status in the trailers.
func (s *otlpSink) export(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/grpc")
	status := func(code int, msg string) {
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", fmt.Sprint(code))
		w.Header().Set(http.TrailerPrefix+"Grpc-Message", msg)
	}
	if r.URL.Path != traceExportPath {
		status(12, "unimplemented") // UNIMPLEMENTED
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || len(body) < 5 || int(byteorder.BigEndian.Uint32(body[1:5])) != len(body)-5 {
		status(3, "bad frame") // INVALID_ARGUMENT
		return
	}
	msg := body[5:]
	if body[0] == 1 {
		if r.Header.Get("Grpc-Encoding") != "gzip" {
			status(12, "compression "+r.Header.Get("Grpc-Encoding"))
			return
		}
		zr, err := gzip.NewReader(bytes.NewReader(msg))
		if err == nil {
			msg, err = io.ReadAll(zr)
		}
		if err != nil {
			status(3, err.Error())
			return
		}
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(msg, &req); err != nil {
		status(3, err.Error())
		return
	}
	s.mu.Lock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				s.spans = append(s.spans, sinkSpan{service, hex.EncodeToString(sp.TraceId), sp.Name})
			}
		}
	}
	s.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	frame := make([]byte, 5, 5+len(out))
	byteorder.BigEndian.PutUint32(frame[1:], uint32(len(out)))
	_, _ = w.Write(append(frame, out...))
	status(0, "")
}

// tracesSpanning returns the trace ids with spans of every service named.
func (s *otlpSink) tracesSpanning(services ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := map[string]map[string]bool{}
	for _, sp := range s.spans {
		if by[sp.traceID] == nil {
			by[sp.traceID] = map[string]bool{}
		}
		by[sp.traceID][sp.service] = true
	}
	var out []string
	for id, svcs := range by {
		if len(svcs) >= len(services) && !slices.ContainsFunc(services, func(n string) bool { return !svcs[n] }) {
			out = append(out, id)
		}
	}
	return out
}

func (s *otlpSink) countByService() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, sp := range s.spans {
		out[sp.service]++
	}
	return out
}

// collector is a running OTel Collector built from
// deploy/otel-collector/builder-config.yaml, with the shipped config.yaml
// whose copy differs only in addresses (checked by mustRewriteAddrs).
type collector struct {
	daemon                                       *daemon
	grpcAddr, httpAddr, exporterAddr, healthAddr string
	selfAddr                                     string // the collector's own metrics
}

// startCollector runs the collector, its traces going to jaegerAddr. A
// missing build fails the test under CI (.ci/run builds it) and skips it
// elsewhere.
func startCollector(tb testing.TB, logs, jaegerAddr string) *collector {
	tb.Helper()
	otelcol := os.Getenv(OTelColEnv)
	if otelcol == "" {
		otelcol, _ = exec.LookPath("otelcol-cloudcart")
	}
	if otelcol == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set; .ci/run builds the collector from deploy/otel-collector/builder-config.yaml", OTelColEnv)
		}
		tb.Skipf("no collector: set %s to a build of deploy/otel-collector/builder-config.yaml (docs/otlp.md)", OTelColEnv)
	}
	c := &collector{grpcAddr: freeport.Addr(tb), httpAddr: freeport.Addr(tb), exporterAddr: freeport.Addr(tb),
		healthAddr: freeport.Addr(tb), selfAddr: freeport.Addr(tb)}
	cfgFile := filepath.Join(tb.TempDir(), "config.yaml")
	mustWriteFile(tb, cfgFile, mustRewriteAddrs(tb, "../../deploy/otel-collector/config.yaml", map[string]string{
		"0.0.0.0:4317":  c.grpcAddr,
		"0.0.0.0:4318":  c.httpAddr,
		"0.0.0.0:8889":  c.exporterAddr,
		"0.0.0.0:13133": c.healthAddr,
		"jaeger:4317":   jaegerAddr,
		"port: 8888":    "port: " + portOf(c.selfAddr),
	}))
	c.daemon = startDaemon(tb, logs, "otelcol", nil, otelcol, "--config="+cfgFile)
	c.daemon.waitOK(tb, "http://"+c.healthAddr+"/", time.Minute)
	return c
}
