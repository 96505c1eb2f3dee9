package fleet_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/dashboards"
	"github.com/cloudcart/cloudcart/internal/fleet"
)

// TestConsoleInBrowser drives the built-in console of `cloudcart run` in
// headless Chromium (Debian's chromium): every page loads and its charts
// get data after a short load of the fleet; a click on a chaos scenario
// breaks the order service and HighErrorRate appears on the overview; the
// browser console stays free of errors. A screenshot of each page is
// written to $CLOUDCART_TEST_ARTIFACTS (or a new directory under the
// system's temporary directory).
//
// Skipped without chromium, except under CI=true, where it fails.
func TestConsoleInBrowser(t *testing.T) {
	browser := mustChromium(t)
	f := mustFleetWithPrometheus(t)
	load := consoleTraffic(t, f)
	load()

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox, // the machine runs tests as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	errs := collectConsoleErrors(ctx)

	base := f.URL("prometheus")
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("open the console: %v", err)
	}
	shots := artifactDir(t)
	b := &browserPage{t: t, ctx: ctx, load: load, dir: shots}

	// Overview: every service listed with its signals, the traffic chart.
	b.waitJS("the overview's services, alerts and traffic chart", 60*time.Second, `
		document.querySelector('#services[data-state="data"] tr[data-job="order-service"]') !== null &&
		document.querySelector('#alerts[data-state="data"]') !== null &&
		document.querySelector('#traffic[data-state="data"] path.series') !== null &&
		document.querySelectorAll('#services tr[data-up="1"]').length === `+fmt.Sprint(len(f.Units())))

	// Every dashboard: each panel gets data (the Observability dashboard
	// shows faults and failures this load does not cause: most panels are
	// enough there).
	var cfg struct {
		Dashboards []struct{ UID string }
	}
	getJSONInto(t, base+"/console/api/config", &cfg)
	var uids []string
	for _, d := range cfg.Dashboards {
		uids = append(uids, d.UID)
	}
	if all, err := dashboards.All(); err != nil || len(uids) != len(all) {
		t.Fatalf("dashboards %v", uids)
	}
	for _, uid := range uids {
		b.go_("#/dashboards/" + uid + "?range=2m") // the fleet is young: a short range shows it
		need := "ps.every(p => p.dataset.state === 'data')"
		if uid == "cloudcart-observability" {
			need = "ps.every(p => p.dataset.state === 'data' || p.dataset.state === 'nodata') && ps.filter(p => p.dataset.state === 'data').length >= ps.length * 0.75"
		}
		b.waitJS("every chart of "+uid+" with data", 90*time.Second, fmt.Sprintf(`(() => {
			const ps = [...document.querySelectorAll('.grid[data-dashboard=%q] .panel')];
			return ps.length >= 4 && %s; })()`, uid, need),
			fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('.grid[data-dashboard=%q] .panel')].filter(p => p.dataset.state !== 'data').map(p => p.dataset.title + ': ' + p.dataset.state + ' ' + p.querySelector('.panel-note').textContent))`, uid))
		b.screenshot("dashboard-" + strings.TrimPrefix(uid, "cloudcart-"))
	}

	// Query page: a range query with a chart and a table.
	b.go_("#/query?expr=" + strings.ReplaceAll("sum by (job) (job:http_requests:rate5m)", " ", "%20") + "&mode=range&range=2m")
	b.waitJS("the query's chart and table", 30*time.Second, `
		document.querySelector('#result[data-state="data"] path.series') !== null &&
		document.querySelectorAll('#result table.results tbody tr').length >= 5`)
	b.screenshot("query")

	// Chaos: one click breaks the order service.
	b.go_("#/chaos")
	b.waitJS("the chaos scenarios", 20*time.Second, `document.querySelector('button[data-scenario="orders-errors"]') !== null &&
		document.querySelector('#chaos-status[data-state="data"]') !== null`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-scenario="orders-errors"]`))); err != nil {
		t.Fatalf("click the scenario: %v", err)
	}
	b.waitJS("chaos switched on", 20*time.Second, `document.querySelector('#chaos-enabled[data-enabled="1"]') !== null &&
		document.querySelector('#chaos-status tr[data-target="orders"]') !== null`)
	b.screenshot("chaos")

	// The alert appears on the overview while requests reach the order service.
	orders := f.URL("orders") + "/orders?limit=1"
	b.load = func() {
		for range 20 {
			get(t, orders)
		}
		load()
	}
	b.go_("#/")
	b.waitJS("HighErrorRate firing for order-service on the overview", 120*time.Second,
		`document.querySelector('#alerts tr.alert[data-alertname="HighErrorRate"][data-state="firing"][data-job="order-service"]') !== null &&
		document.querySelector('#alerts tr.alert[data-alertname="HighErrorRate"] a[href*="runbooks.md#higherrorrate"]') !== null &&
		document.querySelector('#notifications[data-state="data"]') !== null`)
	b.screenshot("overview")

	b.go_("#/chaos")
	b.waitJS("the reset scenario", 20*time.Second, `document.querySelector('button[data-scenario="reset"]') !== null`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-scenario="reset"]`))); err != nil {
		t.Fatalf("click reset: %v", err)
	}
	b.waitJS("chaos switched off", 20*time.Second, `document.querySelector('#chaos-enabled[data-enabled="0"]') !== null`)

	if e := errs(); len(e) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(e, "\n"))
	}
	t.Logf("screenshots in %s", shots)
}

// mustChromium finds Debian's chromium: the test skips without it, except
// under CI=true, where .ci/run installs it and its absence is a failure.
func mustChromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("chromium is not installed (Debian package chromium; .ci/run installs it)")
	}
	tb.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// consoleTraffic is the load of the browser test: the edge, the shop, the
// order service's simulation, and an alert and a malformed message for the
// notification worker. Unlike eventTraffic it switches no chaos on: the
// test turns chaos on itself, through the console.
func consoleTraffic(tb testing.TB, f *fleet.Fleet) func() {
	tb.Helper()
	edge := edgeTraffic(tb, f)
	commerce := commerceTraffic(tb, f)
	notifier := f.URL("notifier")
	if c := post(tb, notifier+"/alerts", testAlert("firing")); c != http.StatusOK {
		tb.Fatalf("POST /alerts: %d", c)
	}
	c, err := bus.Connect(bus.ConnectOptions{URL: f.BusURL(), Name: "console-test"})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := c.Ready(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if _, err := c.JetStream().Publish(context.Background(), "cloudcart.events.order.created", []byte("garbage")); err != nil {
		tb.Fatal(err)
	}
	orders := f.URL("orders")
	return func() {
		post(tb, orders+"/simulate?count=10&error_rate=0.1", "")
		edge()
		commerce()
		get(tb, notifier+"/notifications?limit=5")
	}
}

// collectConsoleErrors gathers the errors of the page's console: calls of
// console.error, uncaught exceptions and rejections, and the browser's own
// error entries (failed requests, CSP violations).
func collectConsoleErrors(ctx context.Context) func() []string {
	var (
		mu   sync.Mutex
		errs []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s (%s %s:%d)", m, m.Source, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

func artifactDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("CLOUDCART_TEST_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
		return d
	}
	d, err := os.MkdirTemp("", "cloudcart-console-")
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// browserPage drives the console's single page.
type browserPage struct {
	t    *testing.T
	ctx  context.Context
	load func()
	dir  string
}

// go_ changes the page by its location hash, as a click on the menu does.
func (b *browserPage) go_(hash string) {
	b.t.Helper()
	b.eval(fmt.Sprintf("location.hash = %q", hash), nil)
}

func (b *browserPage) eval(js string, out *bool, opts ...chromedp.EvaluateOption) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](js, opts...))
	if err != nil {
		b.t.Fatalf("evaluate %q: %v", js, err)
	}
	if out != nil {
		*out, _ = v.(bool)
	}
	s, _ := v.(string)
	return s
}

// waitJS evaluates a boolean expression until it is true, loading the
// fleet between tries; on timeout the optional diagnostic expression says
// what is missing.
func (b *browserPage) waitJS(what string, d time.Duration, cond string, diagnostic ...string) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		b.eval(cond, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			detail := ""
			for _, js := range diagnostic {
				detail += " " + b.eval(js, nil)
			}
			b.screenshot("timeout")
			b.t.Fatalf("%s: not within %s%s", what, d, detail)
		}
		b.load()
		time.Sleep(500 * time.Millisecond)
	}
}

func (b *browserPage) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(b.dir, "console-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
}
