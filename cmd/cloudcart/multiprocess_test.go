package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/freeport"
	"github.com/cloudcart/cloudcart/internal/ruletest"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

// TestMultiProcessFleet runs CloudCart the way docker compose does: each of
// the seven services is its own `cloudcart serve` process, configured only
// through CLOUDCART_* variables, sharing a PostgreSQL database and Debian's
// nats-server (JetStream) as the bus; Debian's Prometheus 2.42 scrapes them
// with the shipped prometheus.yml and rules, and Debian's Alertmanager routes
// with the shipped alertmanager.yml. The test copies of both files differ
// from the shipped ones in addresses (checked), for 2.42 in the two
// native-histogram fields of Prometheus 3, and, since the test is about
// the wiring and not the production timing, in their timing: 2 s scrapes
// and evaluations instead of 15 s, and each rule's `for` scaled as
// `cloudcart run`'s demo profile scales it (× 0.05, at least 10 s;
// fastTimings), so the chaos alert arrives in well under a minute instead
// of three.
//
// It checks that every target is up, every rule group loaded and evaluates,
// and that chaos (every product-service request failing with 503, traffic
// through the gateway) fires HighErrorRate, which Alertmanager delivers to
// the notification worker.
func TestMultiProcessFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs eleven processes for several minutes")
	}
	t.Parallel()
	promBin := requireProgram(t, "prometheus")
	amBin := requireProgram(t, "prometheus-alertmanager", "alertmanager")
	natsBin := requireProgram(t, "nats-server")
	if os.Getenv(sqlstoretest.PostgresEnv) == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; .ci/run must start PostgreSQL", sqlstoretest.PostgresEnv)
		}
		t.Skipf("%s not set", sqlstoretest.PostgresEnv)
	}
	dsn, _ := sqlstoretest.MustConfig(t, "postgres") // a new schema, dropped at the end
	logs := t.TempDir()

	// The bus: JetStream with its store in a temp dir.
	natsAddr := freeport.Addr(t)
	natsHost, natsPort, _ := net.SplitHostPort(natsAddr)
	nats := startDaemon(t, logs, "nats-server", nil, natsBin,
		"-js", "-a", natsHost, "-p", natsPort, "-sd", filepath.Join(t.TempDir(), "jetstream"))
	nats.waitListening(t, natsAddr, time.Minute)

	// The OTel Collector as in the compose stack: the services send it
	// their traces (metrics are scraped), it passes them on to "Jaeger",
	// here an OTLP sink, and Prometheus scrapes its own telemetry.
	jaeger := startOTLPSink(t)
	col := startCollector(t, logs, jaeger.addr)

	// The services, each knowing every port (the gateway and the
	// aggregator find the others by them), started all at once as a
	// compose file or a rollout would: their migrations of the shared
	// database must serialise (internal/sqlstore/migrate.go).
	addrs := map[string]string{} // serve name → 127.0.0.1:port
	for _, s := range fleet.Services {
		addrs[s.Name] = freeport.Addr(t)
	}
	const chaosToken = "multiprocess-test-chaos-token"
	env := []string{
		"CLOUDCART_BIND=127.0.0.1",
		"CLOUDCART_POSTGRES_DSN=" + dsn,
		"CLOUDCART_NATS_URL=nats://" + natsAddr,
		"CLOUDCART_CHAOS_TOKEN=" + chaosToken,
		"CLOUDCART_PRODUCTS_SEED_SIZE=50",
		"CLOUDCART_ORDERS_PRODUCTS_URL=http://" + addrs["products"],
		"CLOUDCART_ORDERS_USERS_URL=http://" + addrs["users"],
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + col.httpAddr, "OTEL_METRICS_EXPORTER=none", "OTEL_SERVICE_NAME=",
	}
	for name, a := range addrs {
		_, port, _ := net.SplitHostPort(a)
		env = append(env, envName(name+".port")+"="+port)
	}
	var started []*daemon
	for _, s := range fleet.Services {
		started = append(started, startDaemon(t, logs, s.Name, append(slices.Clone(env), "CLOUDCART_DATA_DIR="+t.TempDir()), binary, "serve", s.Name))
	}
	for i, s := range fleet.Services {
		started[i].waitOK(t, "http://"+addrs[s.Name]+"/readyz", 2*time.Minute)
	}

	// Alertmanager with the shipped routing; the webhooks reach this
	// notification worker.
	amAddr := freeport.Addr(t)
	amDir := t.TempDir()
	amConfig := mustRewriteAddrs(t, "../../deploy/alertmanager/alertmanager.yml", map[string]string{
		"notifier:8005": addrs["notifier"],
	})
	mustWriteFile(t, filepath.Join(amDir, "alertmanager.yml"), amConfig)
	am := startDaemon(t, logs, "alertmanager", nil, amBin,
		"--config.file="+filepath.Join(amDir, "alertmanager.yml"), "--storage.path="+filepath.Join(amDir, "data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")
	am.waitOK(t, "http://"+amAddr+"/-/ready", time.Minute)

	// Prometheus with the shipped configuration and rules.
	promAddr := freeport.Addr(t)
	promURL := "http://" + promAddr
	promDir := t.TempDir()
	rewrite := map[string]string{"alertmanager:9093": amAddr, "otel-collector:8888": col.selfAddr}
	for _, s := range fleet.Services {
		rewrite[fmt.Sprintf("%s:%d", s.Name, s.Port)] = addrs[s.Name]
	}
	// Prometheus 2.42 rejects the shipped file's 3.x native-histogram
	// fields; it runs the file without them and scrapes the classic
	// histograms (docs/histograms.md).
	promCfg, _, err := ruletest.Config2x(mustRewriteAddrs(t, "../../deploy/prometheus/prometheus.yml", rewrite))
	if err != nil {
		t.Fatal(err)
	}
	mustWriteFile(t, filepath.Join(promDir, "prometheus.yml"), fastTimings(t, promCfg))
	ruleFiles, err := filepath.Glob("../../deploy/prometheus/rules/*.yml")
	if err != nil || len(ruleFiles) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	for _, f := range ruleFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		mustWriteFile(t, filepath.Join(promDir, "rules", filepath.Base(f)), fastTimings(t, b))
	}
	prom := startDaemon(t, logs, "prometheus", nil, promBin,
		"--config.file="+filepath.Join(promDir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(promDir, "data"),
		"--web.listen-address="+promAddr)
	prom.waitOK(t, promURL+"/-/ready", time.Minute)

	t.Run("every target up", func(t *testing.T) {
		want := map[string]bool{"otel-collector": true}
		for _, s := range fleet.Services {
			want[s.ServiceName] = true
		}
		var got map[string]string
		waitFor(t, 3*time.Minute, "up == 1 for every service", func() bool {
			var r promVector
			if !httpGetJSON(promURL+"/api/v1/query?query=up", &r) {
				return false
			}
			got = map[string]string{}
			for _, s := range r.Data.Result {
				got[s.Metric["job"]] = fmt.Sprint(s.Value[1])
			}
			for job := range want {
				if got[job] != "1" {
					return false
				}
			}
			return len(got) == len(want)
		}, func() string { return fmt.Sprintf("up by job: %v", got) })
	})

	t.Run("rules loaded", func(t *testing.T) {
		want := map[string]bool{} // "file/group"
		for _, f := range ruleFiles {
			var rf struct{ Groups []struct{ Name string } }
			b, _ := os.ReadFile(f)
			if err := yaml.Unmarshal(b, &rf); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, g := range rf.Groups {
				want[filepath.Base(f)+"/"+g.Name] = true
			}
		}
		var bad []string
		waitFor(t, 3*time.Minute, "every rule group loaded and every rule evaluated ok", func() bool {
			var r struct {
				Data struct {
					Groups []struct {
						Name, File string
						Rules      []struct{ Name, Health, LastError string }
					}
				}
			}
			if !httpGetJSON(promURL+"/api/v1/rules", &r) {
				return false
			}
			bad = nil
			seen := map[string]bool{}
			for _, g := range r.Data.Groups {
				key := filepath.Base(g.File) + "/" + g.Name
				seen[key] = true
				for _, rule := range g.Rules {
					if rule.Health != "ok" {
						bad = append(bad, fmt.Sprintf("%s %s: %s %s", key, rule.Name, rule.Health, rule.LastError))
					}
				}
			}
			for k := range want {
				if !seen[k] {
					bad = append(bad, k+": not loaded")
				}
			}
			return len(bad) == 0 && len(seen) == len(want)
		}, func() string { return strings.Join(bad, "\n") })
	})

	t.Run("alertmanager discovered", func(t *testing.T) {
		waitFor(t, time.Minute, "Prometheus sends alerts to the test Alertmanager", func() bool {
			var r struct {
				Data struct{ ActiveAlertmanagers []struct{ URL string } }
			}
			return httpGetJSON(promURL+"/api/v1/alertmanagers", &r) && len(r.Data.ActiveAlertmanagers) == 1 &&
				strings.Contains(r.Data.ActiveAlertmanagers[0].URL, amAddr)
		}, nil)
	})
	if t.Failed() {
		return
	}

	t.Run("chaos alert reaches the notifier", func(t *testing.T) {
		chaos := "http://" + addrs["chaos"]
		mustChaosCall(t, chaos, chaosToken, "PUT", "/chaos/targets/products", `{"error":{"rate":1,"status":503}}`)
		mustChaosCall(t, chaos, chaosToken, "POST", "/chaos/enable", "")
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		codes := make(chan map[int]int, 1)
		go func() { codes <- gatewayTraffic(ctx, "http://"+addrs["gateway"]+"/api/products?limit=1") }()

		var titles []string
		waitFor(t, 10*time.Minute, "a HighErrorRate page at the notification worker", func() bool {
			var page struct {
				Notifications []struct{ Title, Severity string }
			}
			if !httpGetJSON("http://"+addrs["notifier"]+"/notifications?kind=alert&limit=100", &page) {
				return false
			}
			titles = titles[:0]
			for _, n := range page.Notifications {
				titles = append(titles, n.Severity+" "+n.Title)
				if n.Severity == "page" && (strings.HasPrefix(n.Title, "[FIRING] HighErrorRate (product-service)") ||
					strings.HasPrefix(n.Title, "[FIRING] HighErrorRate (api-gateway)")) {
					return true
				}
			}
			return false
		}, func() string {
			var alerts bytes.Buffer
			for _, u := range []string{promURL + "/api/v1/alerts", "http://" + amAddr + "/api/v2/alerts"} {
				if resp, err := http.Get(u); err == nil {
					_, _ = io.Copy(&alerts, io.LimitReader(resp.Body, 4000))
					resp.Body.Close()
					alerts.WriteString("\n")
				}
			}
			return fmt.Sprintf("alert notifications: %q\nalerts:\n%s", titles, alerts.String())
		})
		stop()
		t.Logf("gateway answers during chaos: %v", <-codes)
		mustChaosCall(t, chaos, chaosToken, "POST", "/chaos/disable", "")
	})

	t.Run("traces reach Jaeger through the collector", func(t *testing.T) {
		waitFor(t, time.Minute, "a trace spanning the gateway and the product service", func() bool {
			return len(jaeger.tracesSpanning("api-gateway", "product-service")) > 0
		}, func() string { return fmt.Sprintf("spans by service: %v", jaeger.countByService()) })
	})
}

// gatewayTraffic requests u ten times a second until ctx ends and counts
// the answers by status code.
func gatewayTraffic(ctx context.Context, u string) map[int]int {
	codes := map[int]int{}
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return codes
		case <-tick.C:
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		resp, err := client.Do(req)
		if err != nil {
			codes[0]++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
}

func mustChaosCall(tb testing.TB, chaosURL, token, method, path, body string) {
	tb.Helper()
	req, _ := http.NewRequest(method, chaosURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
}

// envName is the CLOUDCART_* variable of a flag (flags.go's rule).
func envName(flagName string) string {
	return "CLOUDCART_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flagName))
}

// requireProgram finds a program the test needs. Missing, the test skips
// on a developer machine and fails under CI, where .ci/run installs it.
func requireProgram(tb testing.TB, names ...string) string {
	tb.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("none of %v on PATH; .ci/run must install it", names)
	}
	tb.Skipf("none of %v on PATH", names)
	return ""
}

// daemon is a program the test started, its output in a log file. It is
// killed at cleanup, and the tail of its log is printed if the test failed.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
}

func startDaemon(tb testing.TB, logDir, name string, env []string, bin string, args ...string) *daemon {
	tb.Helper()
	d := &daemon{name: name, log: filepath.Join(logDir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(d.log)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close() // the child has its own copy
	d.cmd = exec.Command(bin, args...)
	d.cmd.Env = append(append(os.Environ(), serviceTokenEnv), env...)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	if err := d.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	tb.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.done
		if tb.Failed() {
			tb.Logf("%s: last lines of %s:\n%s", name, d.log, tailFile(d.log, 30))
		}
	})
	return d
}

// exited reports whether the process has ended.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// waitOK waits until GET u answers 200; the process exiting fails at once.
func (d *daemon) waitOK(tb testing.TB, u string, timeout time.Duration) {
	tb.Helper()
	waitFor(tb, timeout, d.name+" answers 200 at "+u, func() bool {
		if d.exited() {
			tb.Fatalf("%s exited: %v\n%s", d.name, d.cmd.ProcessState, tailFile(d.log, 30))
		}
		resp, err := http.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, nil)
}

// waitListening waits until addr accepts TCP connections.
func (d *daemon) waitListening(tb testing.TB, addr string, timeout time.Duration) {
	tb.Helper()
	waitFor(tb, timeout, d.name+" listening on "+addr, func() bool {
		if d.exited() {
			tb.Fatalf("%s exited: %v\n%s", d.name, d.cmd.ProcessState, tailFile(d.log, 30))
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, nil)
}

// waitFor polls cond every half second until it holds; past timeout the
// test fails with what, and with explain's report when explain is set.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool, explain func() string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if explain != nil {
				msg = "\n" + explain()
			}
			tb.Fatalf("%s: not within %s%s", what, timeout, msg)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

func mustWriteFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// mustRewriteAddrs reads a shipped configuration file and replaces each
// address (host:port, or a YAML entry "port: N") in it by its test
// counterpart. It fails unless every
// address occurs in the file and, parsed as YAML, the test copy equals the
// shipped file with the addresses replaced in its values: the test runs
// the shipped configuration, only somewhere else.
// The test's timing: see TestMultiProcessFleet.
const (
	testInterval = 2 * time.Second
	forScale     = 0.05
	minFor       = 10 * time.Second
)

var (
	intervalLine = regexp.MustCompile(`(?m)^(\s*(?:scrape_interval|scrape_timeout|evaluation_interval):\s*)(\S+)\s*$`)
	forLine      = regexp.MustCompile(`(?m)^(\s*for:\s*)(\S+)\s*$`)
)

// fastTimings rewrites a shipped Prometheus configuration or rule file to
// the test's timing: every scrape interval, scrape timeout and evaluation
// interval becomes testInterval, and every `for` forScale of itself, at
// least minFor. Only those lines change; the result must still parse.
func fastTimings(tb testing.TB, shipped []byte) []byte {
	tb.Helper()
	parse := func(s string) time.Duration {
		d, err := model.ParseDuration(s)
		if err != nil {
			tb.Fatalf("duration %q: %v", s, err)
		}
		return time.Duration(d)
	}
	out := intervalLine.ReplaceAllFunc(shipped, func(m []byte) []byte {
		g := intervalLine.FindSubmatch(m)
		parse(string(g[2]))
		return append(slices.Clone(g[1]), model.Duration(testInterval).String()...)
	})
	out = forLine.ReplaceAllFunc(out, func(m []byte) []byte {
		g := forLine.FindSubmatch(m)
		d := max(time.Duration(float64(parse(string(g[2])))*forScale), minFor)
		return append(slices.Clone(g[1]), model.Duration(d).String()...)
	})
	var parsed any
	if err := yaml.Unmarshal(out, &parsed); err != nil {
		tb.Fatalf("rewritten timing: %v\n%s", err, out)
	}
	return out
}

func mustRewriteAddrs(tb testing.TB, path string, addrs map[string]string) []byte {
	tb.Helper()
	shipped, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	out := string(shipped)
	for _, from := range slices.Sorted(maps.Keys(addrs)) {
		if !strings.Contains(out, from) {
			tb.Fatalf("%s: no %s to rewrite", path, from)
		}
		out = strings.ReplaceAll(out, from, addrs[from])
	}
	var want, got any
	if err := yaml.Unmarshal(shipped, &want); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if err := yaml.Unmarshal([]byte(out), &got); err != nil {
		tb.Fatalf("%s rewritten: %v", path, err)
	}
	if want = replaceInValues(want, addrs); !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s: the test copy differs from the shipped file in more than addresses:\n%s", path, out)
	}
	return []byte(out)
}

// replaceInValues returns the YAML tree v with the addresses replaced in
// its values (not in its keys).
func replaceInValues(v any, addrs map[string]string) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = replaceInValues(e, addrs)
			// A bare port, given as "port: 8888".
			if n, ok := e.(int); ok {
				if to, ok := addrs[fmt.Sprintf("%s: %d", k, n)]; ok {
					var port int
					if _, err := fmt.Sscanf(to, k+": %d", &port); err == nil {
						out[k] = port
					}
				}
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = replaceInValues(e, addrs)
		}
		return out
	case string:
		for _, from := range slices.Sorted(maps.Keys(addrs)) {
			v = strings.ReplaceAll(v, from, addrs[from])
		}
		return v
	}
	return v
}

// promVector is a Prometheus instant query answer.
type promVector struct {
	Status string
	Data   struct {
		Result []struct {
			Metric map[string]string
			Value  [2]any
		}
	}
}

// httpGetJSON decodes the JSON answer of GET u; false on any error, so it
// can be polled while a server starts.
func httpGetJSON(u string, v any) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) == nil
}

// promQuery runs an instant query.
func promQuery(promURL, q string) (promVector, bool) {
	var r promVector
	ok := httpGetJSON(promURL+"/api/v1/query?query="+url.QueryEscape(q), &r)
	return r, ok && r.Status == "success"
}
