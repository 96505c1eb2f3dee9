package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cloudcart-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "cloudcart")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running cloudcart process.
type proc struct {
	cmd    *exec.Cmd
	urls   map[string]string // serve name → base URL, from the printed plan
	stderr *fleettest.Buffer // read (a failure's tail) while os/exec still writes it
}

var planLine = regexp.MustCompile(`^\s+(\w+)\s+\S+\s+(http://\S+)$`)

// mustStart starts the binary with every port on 0 and waits until each
// printed service answers /readyz.
func mustStart(tb testing.TB, args ...string) *proc {
	tb.Helper()
	if args[0] == "run" {
		// No background load unless the test asks for it (later flags
		// win): tests count orders and requests exactly.
		args = append([]string{"run", "--load.rate=0"}, args[1:]...)
	}
	for _, p := range fleet.Planned {
		// serve NAME has only that service's port flag.
		if args[0] == "run" || args[1] == p.Name {
			args = append(args, fmt.Sprintf("--%s.port=0", p.Name))
		}
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_SERVICE_NAME=", serviceTokenEnv)
	stdout, _ := cmd.StdoutPipe()
	p := &proc{cmd: cmd, urls: map[string]string{}, stderr: &fleettest.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "CloudCart") {
		tb.Fatalf("no start banner; stderr:\n%s", p.stderr)
	}
	want := 1 // serve NAME
	if args[0] == "run" {
		want = len(fleet.Services)
		if !slices.Contains(args, "--no-prometheus") {
			want++ // the embedded Prometheus
		}
	}
	for len(p.urls) < want && sc.Scan() {
		if m := planLine.FindStringSubmatch(sc.Text()); m != nil {
			p.urls[m[1]] = m[2]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	for name, u := range p.urls {
		mustEventually(tb, 10*time.Second, name+" ready", func() bool {
			resp, err := http.Get(u + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	return p
}

// stop sends SIGTERM and requires a clean exit.
func (p *proc) stop(tb testing.TB) {
	tb.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, p.stderr)
		}
	case <-time.After(time.Minute):
		tb.Fatalf("no exit a minute after SIGTERM; stderr:\n%s", p.stderr)
	}
}

func mustEventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testServiceToken is the service credential of every process the tests
// start (CLOUDCART_SERVICE_TOKEN): processes with separate data
// directories must share one, and the tests' direct calls to the services
// act as an internal caller with it (docs/security.md).
const testServiceToken = "cmd-test-service-token-0123456789abcdef"

var serviceTokenEnv = "CLOUDCART_SERVICE_TOKEN=" + testServiceToken

// asService marks req as an internal caller's.
func asService(req *http.Request) *http.Request {
	req.Header.Set(authn.HeaderServiceToken, testServiceToken)
	return req
}

func mustJSON(tb testing.TB, method, url string, wantStatus int, v any) {
	tb.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, url, nil)
	resp, err := http.DefaultClient.Do(asService(req))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		tb.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
}

// TestRunSimulateRestart is the first issue's acceptance path, on the real
// binary: simulate 100 orders, see the counters move by exactly 100 and the
// queue drain, stop with SIGTERM, start again, and find every order.
func TestRunSimulateRestart(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			dataDir := t.TempDir()
			args := []string{"run", "--data-dir", dataDir}
			if dsn, _ := sqlstoretest.MustConfig(t, backend); dsn != "" {
				args = append(args, "--postgres-dsn", dsn)
			}
			p := mustStart(t, args...)
			mustAllUp(t, p)
			orders := p.urls["orders"]
			var sim struct{ Succeeded, Failed, Rejected int }
			mustJSON(t, "POST", orders+"/simulate?count=100&error_rate=0.1", 200, &sim)

			m := telemetrytest.Scrape(t, orders+"/metrics")
			ok := telemetrytest.Value(t, m, "orders_processed_total", map[string]string{"status": "success"})
			failed := telemetrytest.Value(t, m, "orders_processed_total", map[string]string{"status": "failure"})
			// A simulated order refused at the inventory check (out of
			// stock) is rejected: never stored, never processed.
			if ok+failed+float64(sim.Rejected) != 100 || int(failed) != sim.Failed || failed > 25 {
				t.Fatalf("orders_processed_total success=%v failure=%v (response %+v)", ok, failed, sim)
			}
			if d := telemetrytest.Value(t, m, "order_queue_depth", nil); d != 0 {
				t.Fatalf("order_queue_depth = %v", d)
			}
			var before struct{ Total int }
			mustJSON(t, "GET", orders+"/orders", 200, &before)
			// Every processed order is stored, and only those.
			if before.Total != int(ok+failed) {
				t.Fatalf("GET /orders total = %d, orders_processed_total %v", before.Total, ok+failed)
			}
			p.stop(t)

			p = mustStart(t, args...)
			var after struct{ Total int }
			mustJSON(t, "GET", p.urls["orders"]+"/orders", 200, &after)
			if after.Total != before.Total {
				t.Fatalf("after restart %d orders, before %d", after.Total, before.Total)
			}
			p.stop(t)
		})
	}
}

func TestServeOneService(t *testing.T) {
	p := mustStart(t, "serve", "orders", "--bind", "127.0.0.1", "--data-dir", t.TempDir())
	if len(p.urls) != 1 || p.urls["orders"] == "" {
		t.Fatalf("serve orders started %v", p.urls)
	}
	var h struct{ Status, Service string }
	mustJSON(t, "GET", p.urls["orders"]+"/health", 200, &h)
	if h.Status != "ok" || h.Service != "order-service" {
		t.Fatalf("health %+v", h)
	}
	p.stop(t)
}

func TestCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		mentions string
	}{
		{[]string{"serve"}, "exactly one service name"},
		{[]string{"serve", "warehouse"}, `unknown service "warehouse"`},
		{[]string{"fly"}, `unknown command "fly"`},
		{[]string{"run", "--orders.port", "eighty"}, "invalid value"},
		{[]string{"run", "--log.format", "xml"}, "--log.format"},
		{[]string{"run", "--traces.max-bytes", "lots"}, "--traces.max-bytes"},
		{[]string{"serve", "prometheus", "--traces.max-bytes", "1MiB", "--traces.keep-bytes", "2MiB"}, "--traces.keep-bytes"},
		{[]string{"run", "--logs.max-bytes", "lots"}, "--logs.max-bytes"},
		{[]string{"serve", "prometheus", "--prometheus.targets", "orders"}, "--prometheus.targets"},
		{[]string{"run", "--prometheus.targets", "orders=http://orders:8003"}, "not defined: -prometheus.targets"},
		{[]string{"load", "--rate", "0"}, "rate must be a positive"},
		{[]string{"load", "--journeys", "browse=1,checkout=2"}, `unknown journey "checkout"`},
		{[]string{"load", "--target", "http://127.0.0.1:1", "--duration", "1s"}, "nothing answers at --target"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := exec.Command(binary, tc.args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.mentions) {
				t.Fatalf("err %v, output %q; want failure mentioning %q", err, out, tc.mentions)
			}
		})
	}
	out, err := exec.Command(binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "cloudcart ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

// TestServeFlags: `serve NAME -h` lists the process's flags and what
// that service reads, registered next to its wiring; `serve -h` and
// `run -h` list every service's. CLOUDCART_* variables of another
// service's flags are ignored, not errors (a shared env file works).
func TestServeFlags(t *testing.T) {
	flagsOf := func(args ...string) []string {
		t.Helper()
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		var names []string
		for _, m := range regexp.MustCompile(`(?m)^  -(\S+)`).FindAllStringSubmatch(string(out), -1) {
			names = append(names, m[1])
		}
		return names
	}
	shared := []string{"bind", "data-dir", "http.max-conns", "log.format", "log.level", "nats.listen", "nats.url", "postgres-dsn", "sqlite.commit-wait", "telemetry.histograms"}
	orders := flagsOf("serve", "orders", "-h")
	for _, want := range append(shared, "orders.port", "orders.workers", "orders.products-url", "orders.payment-failure-rate") {
		if !slices.Contains(orders, want) {
			t.Errorf("serve orders -h lacks --%s: %v", want, orders)
		}
	}
	// Besides its own, the order service reads what verifying its callers
	// takes (the tokens' issuer and audience, the user service's JWK Set at
	// --users.port, the service credential).
	verify := []string{"users.port", "users.token-issuer", "users.token-audience", "service-token", "service-token-file"}
	for _, f := range orders {
		if !slices.Contains(shared, f) && !slices.Contains(verify, f) && !strings.HasPrefix(f, "orders.") {
			t.Errorf("serve orders -h lists --%s, which the order service does not read", f)
		}
	}
	for _, want := range verify {
		if !slices.Contains(orders, want) {
			t.Errorf("serve orders -h lacks --%s", want)
		}
	}
	gw := flagsOf("serve", "--bind", "127.0.0.1", "gateway", "-h")
	for _, want := range []string{"gateway.rate-limit", "gateway.orders-url", "orders.port", "users.token-issuer"} {
		if !slices.Contains(gw, want) {
			t.Errorf("serve gateway -h lacks --%s: %v", want, gw)
		}
	}
	all, run := flagsOf("serve", "-h"), flagsOf("run", "-h")
	for _, s := range fleet.Services {
		if !slices.Contains(all, s.Name+".port") || !slices.Contains(run, s.Name+".port") {
			t.Errorf("serve -h or run -h lacks --%s.port", s.Name)
		}
		if len(flagsOf("serve", s.Name, "-h")) >= len(all) {
			t.Errorf("serve %s -h lists every flag", s.Name)
		}
	}
	if len(run) <= len(all) || !slices.Contains(run, "prometheus.retention.time") {
		t.Errorf("run -h lists %d flags, serve -h %d", len(run), len(all))
	}
	// The environment sets the flags a process has, and only those.
	for _, tc := range []struct{ service, bad string }{{"orders", "CLOUDCART_ORDERS_WORKERS"}, {"gateway", "CLOUDCART_GATEWAY_RATE_LIMIT"}} {
		env := exec.Command(binary, "serve", tc.service)
		env.Env = append(os.Environ(), "CLOUDCART_ORDERS_WORKERS=x", "CLOUDCART_GATEWAY_RATE_LIMIT=x")
		if out, err := env.CombinedOutput(); err == nil || !strings.Contains(string(out), tc.bad+`="x"`) {
			t.Errorf("serve %s with %s=x (and the other service's set to x too): %v %s", tc.service, tc.bad, err, out)
		}
	}
	cmd := exec.Command(binary, "serve", "orders", "--gateway.rate-limit", "1")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "-gateway.rate-limit") {
		t.Errorf("serve orders --gateway.rate-limit: %v %s", err, out)
	}
}

// upTargets returns the jobs whose up sample is 1, from the embedded
// Prometheus API.
func upTargets(tb testing.TB, promURL string) (up, total int) {
	tb.Helper()
	var r struct {
		Data struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	resp, err := http.Get(promURL + "/api/v1/query?query=up")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	if json.NewDecoder(resp.Body).Decode(&r) != nil {
		return 0, 0
	}
	for _, s := range r.Data.Result {
		total++
		if s.Value[1] == "1" {
			up++
		}
	}
	return up, total
}

// mustAllUp waits until Prometheus reports up == 1 for every service and
// for itself.
func mustAllUp(tb testing.TB, p *proc) {
	tb.Helper()
	mustEventually(tb, 10*time.Second, "up == 1 for every target", func() bool {
		up, total := upTargets(tb, p.urls["prometheus"])
		return total == len(p.urls) && up == total
	})
}

// BenchmarkStartupToAllUp measures, on the real binary with an empty data
// dir, the time from exec to the embedded Prometheus answering up == 1 for
// every target (the first scrape of every service has landed).
func BenchmarkStartupToAllUp(b *testing.B) {
	var total, worst time.Duration
	for b.Loop() {
		dir := b.TempDir()
		start := time.Now()
		args := []string{"run", "--data-dir", dir, "--log.level", "warn", "--load.rate=0"}
		for _, p := range fleet.Planned {
			args = append(args, fmt.Sprintf("--%s.port=0", p.Name))
		}
		cmd := exec.Command(binary, args...)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		urls := map[string]string{}
		for sc.Scan() {
			if m := planLine.FindStringSubmatch(sc.Text()); m != nil {
				urls[m[1]] = m[2]
			}
			if urls["prometheus"] != "" && len(urls) == len(fleet.Services)+1 {
				break
			}
		}
		for {
			if up, total := upTargets(b, urls["prometheus"]); total == len(urls) && up == total {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatal("targets not up within 30 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		d := time.Since(start)
		total, worst = total+d, max(worst, d)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-all-up")
	b.ReportMetric(float64(worst.Milliseconds()), "ms-worst")
}
