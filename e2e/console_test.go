package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
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
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/scenario"
)

// mustFleetWithPrometheus runs the whole fleet in-process, the embedded
// Prometheus on the demo profile included, with internal/fleet's test
// configuration.
func mustFleetWithPrometheus(tb testing.TB) *fleet.Fleet {
	tb.Helper()
	cfg := fleettest.Config(tb)
	cfg.Prometheus = &fleet.PrometheusConfig{Profile: fleet.DemoProfile}
	return fleettest.Start(tb, cfg)
}

// newBrowser starts headless Chromium (Debian's) for one test, with the
// flags this machine needs: no sandbox (tests run as root), no GPU, and
// none of the background connections a closed network refuses. It returns
// a tab's context; the browser stops when the test ends.
func newBrowser(t *testing.T, ctx context.Context, path string, width, height int) context.Context {
	t.Helper()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the machine runs tests as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(cancelTab)
	return ctx
}

// TestConsoleInBrowser drives the built-in console of `cloudcart run` in
// headless Chromium (Debian's chromium). Every page is opened by its URL
// path, as a Prometheus user types it (/graph, /targets, /alerts, /rules,
// /query, /runbooks/<alert>, /dashboards/<uid>, /chaos), gets its content,
// and shows no "NaN", "Infinity" or "undefined" anywhere. The SLO panels
// say "not enough data yet" on a young fleet; a drag zooms a chart and
// the reset undoes it; a notifier consume_latency fault is described and
// "Reset all faults" clears it; `cloudcart scenario`'s error-spike, run
// from the chaos page, fires HighErrorRate, which the Alerts page and the
// overview show with the runbook served locally. The browser console stays
// free of errors.
//
// A screenshot of each page is written to $CLOUDCART_TEST_ARTIFACTS (or a
// new directory under the system's temporary directory); with
// CLOUDCART_SCREENSHOTS=<dir> (make screenshots: docs/images) the pages'
// screenshots go there instead, each checked to stay under 1 MiB.
//
// Skipped without chromium, except under CI=true, where it fails.
func TestConsoleInBrowser(t *testing.T) {
	browser := mustChromium(t)
	f := mustFleetWithPrometheus(t)
	load := consoleTraffic(t, f)
	load()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ctx = newBrowser(t, ctx, browser, 1360, 900)
	errs := collectConsoleErrors(ctx)

	base := f.URL("prometheus")
	shots, docs := artifactDir(t), os.Getenv("CLOUDCART_SCREENSHOTS")
	if docs != "" {
		if err := os.MkdirAll(docs, 0o755); err != nil {
			t.Fatal(err)
		}
		shots = docs
	}
	b := &browserPage{t: t, ctx: ctx, load: load, dir: shots, base: base, viewport: docs != ""}

	// Overview: every service listed with its signals, the traffic chart,
	// the alert notifications (the test's own alert) apart from events.
	b.open("/")
	b.waitJS("the overview's services, alerts, notifications and traffic chart", 60*time.Second, `
		document.querySelector('#services[data-state="data"] tr[data-job="order-service"]') !== null &&
		document.querySelector('#alerts[data-state="data"]') !== null &&
		document.querySelector('#traffic[data-state="data"] path.series') !== null &&
		document.querySelector('#notifications[data-filter="alert"] li.note[data-kind="alert"]') !== null &&
		document.querySelectorAll('#services tr[data-up="1"]').length === `+fmt.Sprint(len(f.Units())))
	b.noBadNumbers("overview")

	// Numbers as the console formats them, in the page's own modules.
	var numbersOK bool
	b.eval(`(async () => {
		const f = await import('/console/static/js/format.js');
		const c = await import('/console/static/js/chart.js');
		const div = document.createElement('div');
		c.renderBarGauge(div, [{ name: 'overspent', value: -5.17 }, { name: 'half', value: 0.5 }, { name: 'idle', value: NaN }], { unit: 'percentunit', min: 0, max: 1 });
		const bars = [...div.querySelectorAll('.bar')];
		return [NaN, Infinity, -Infinity, null, undefined].every((v) => f.formatValue(v, 'percentunit') === '–') &&
			f.formatValue(0.6224999999999994, 'percentunit') === '62.2%' && f.formatValue(-5.17, 'percentunit') === '-517%' &&
			bars[0].dataset.fill === '0.000' && bars[0].querySelector('.track.out-below') !== null && bars[0].textContent.includes('-517%') &&
			bars[1].dataset.fill === '0.500' && bars[2].textContent.includes('–') && !div.textContent.includes('NaN');
	})()`, &numbersOK, chromedp.EvalAwaitPromise)
	if !numbersOK {
		t.Error("the console's number formatting: NaN, ±Inf and null must be '–', values rounded, a −517% budget an empty bar")
	}

	// Prometheus's paths.
	b.open("/targets")
	b.waitJS("every target up on the Targets page", 30*time.Second, fmt.Sprintf(`
		document.querySelectorAll('#targets[data-state="data"] tr.target[data-health="up"]').length === %d &&
		document.querySelector('tr.target[data-job="order-service"] .chip') !== null`, len(f.Units())))
	b.noBadNumbers("targets")
	b.screenshot("targets")

	b.open("/rules")
	b.waitJS("the rule groups with healthy rules", 30*time.Second, `
		document.querySelectorAll('#rules[data-state="data"] section.rule-group').length >= 5 &&
		document.querySelector('tr.rule[data-rule="job:http_requests:rate5m"][data-health="ok"]') !== null &&
		document.querySelector('tr.rule[data-type="alerting"][data-rule="HighErrorRate"]') !== null &&
		document.querySelectorAll('tr.rule:not([data-health="ok"])').length === 0`)
	b.noBadNumbers("rules")
	b.screenshot("rules")

	b.open("/graph?g0.expr=" + url.QueryEscape("sum by (job) (job:http_requests:rate5m)") + "&g0.tab=0")
	b.waitJS("Prometheus's /graph link as a range query with a chart and a table", 30*time.Second, `
		location.hash.startsWith('#/query?') && document.querySelector('nav a.active[data-nav="query"]') !== null &&
		document.querySelector('#result[data-state="data"] path.series') !== null &&
		document.querySelectorAll('#result table.results tbody tr').length >= 5`)
	b.noBadNumbers("graph")
	b.drag("#result svg.chart", "the query chart")
	b.screenshot("query")

	b.open("/query")
	b.waitJS("the empty query page", 10*time.Second, `document.querySelector('#expr') !== null && document.querySelector('#result[data-state="idle"]') !== null`)

	// Every dashboard: each panel gets data (the Observability dashboard
	// shows faults and failures this load does not cause: most panels are
	// enough there; the SLO panels over windows longer than 10 × the
	// fleet's age say so).
	var cfg struct {
		Dashboards []struct{ UID string }
	}
	fleettest.MustGetJSON(t, base+"/console/api/config", &cfg)
	var uids []string
	for _, d := range cfg.Dashboards {
		uids = append(uids, d.UID)
	}
	if all, err := dashboards.All(); err != nil || len(uids) != len(all) {
		t.Fatalf("dashboards %v", uids)
	}
	for _, uid := range uids {
		b.open("/dashboards/" + uid) // the default range: the fleet's age
		need := "ps.every(p => p.dataset.state === 'data')"
		switch uid {
		case "cloudcart-observability":
			need = "ps.every(p => p.dataset.state === 'data' || p.dataset.state === 'nodata') && ps.filter(p => p.dataset.state === 'data').length >= ps.length * 0.75"
		case "cloudcart-slo":
			need = "ps.every(p => p.dataset.state === 'data' || (p.dataset.state === 'nodata' && p.textContent.includes('not enough data yet'))) && " +
				"ps.some(p => p.textContent.includes('not enough data yet')) && ps.some(p => p.dataset.state === 'data')"
		}
		b.waitJS("every chart of "+uid+" with data", 90*time.Second, fmt.Sprintf(`(() => {
			const ps = [...document.querySelectorAll('.grid[data-dashboard=%q] .panel')];
			return ps.length >= 4 && %s; })()`, uid, need),
			fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('.grid[data-dashboard=%q] .panel')].filter(p => p.dataset.state !== 'data').map(p => p.dataset.title + ': ' + p.dataset.state + ' ' + p.querySelector('.panel-note').textContent))`, uid))
		b.noBadNumbers(uid)
		if uid == "cloudcart-sre" {
			b.drag(".panel[data-type=timeseries] svg.chart", "a dashboard chart")
		}
		b.screenshot("dashboard-" + strings.TrimPrefix(uid, "cloudcart-"))
	}

	// Chaos: the scenarios are cloudcart scenario's; every fault type is
	// described; Reset all faults clears them.
	b.open("/chaos")
	b.waitJS("cloudcart scenario's scenarios on the chaos page", 20*time.Second, fmt.Sprintf(`
		JSON.stringify([...document.querySelectorAll('button[data-scenario]')].map(b => b.dataset.scenario)) === %q &&
		document.querySelectorAll('button[data-scenario][data-available="1"]').length === %d &&
		document.querySelector('#chaos-status[data-state="data"]') !== null`, mustJSON(t, scenario.Names()), len(scenario.Names())))
	b.eval(`fetch('/console/api/chaos/targets/notifier', {method: 'PUT', headers: {'X-CloudCart-Console': '1', 'Content-Type': 'application/json'},
		body: JSON.stringify({consume_latency: {probability: 1, fixed_ms: 5000}})}).then(r => r.status)`, nil, chromedp.EvalAwaitPromise)
	b.eval(`fetch('/console/api/chaos/targets/products', {method: 'PUT', headers: {'X-CloudCart-Console': '1', 'Content-Type': 'application/json'},
		body: JSON.stringify({timeout: {rate: 0.3, after_ms: 2000}, routes: {'/products/{sku}': {error: {rate: 0.1, status: 503}}}})}).then(r => r.status)`, nil, chromedp.EvalAwaitPromise)
	b.waitJS("the notifier's consume latency and the products faults described", 20*time.Second, `
		document.querySelector('#chaos-status tr[data-target="notifier"] .fault-text')?.textContent === 'consume latency 5000 ms on 100% of events' &&
		document.querySelector('#chaos-status tr[data-target="products"] .fault-text')?.textContent.includes('route /products/{sku}: error 503 on 10% of requests')`)
	b.noBadNumbers("chaos")
	b.click("#chaos-reset")
	b.waitJS("every fault cleared", 20*time.Second, `document.querySelector('#chaos-status[data-faults="0"] #chaos-enabled[data-enabled="0"]') !== null &&
		document.querySelector('#chaos-status tr[data-target="notifier"]') === null`)

	// error-spike from the console: the runner's timeline shows the alert
	// firing; the test keeps failing orders coming so it stays firing.
	orders := f.URL("orders")
	b.load = func() {
		fleettest.Post(t, orders+"/simulate?count=10&error_rate=0.6", "")
		load()
	}
	b.click(`button[data-scenario="error-spike"]`)
	b.waitJS("error-spike's alert firing in the scenario run", 4*time.Minute, `
		document.querySelector('#scenario-run[data-scenario="error-spike"] tr[data-step="alert firing"]') !== null`,
		`document.querySelector('#scenario-run')?.textContent`)
	b.noBadNumbers("chaos with a scenario run")
	b.screenshot("chaos")

	b.open("/alerts")
	b.waitJS("HighErrorRate firing for order-service on the Alerts page, its runbook local", 60*time.Second, `
		document.querySelector('section.alert-rule[data-alertname="HighErrorRate"][data-state="firing"] tr.alert[data-state="firing"][data-job="order-service"]') !== null &&
		document.querySelector('section.alert-rule[data-alertname="HighErrorRate"] a.runbook[href="#/runbooks/higherrorrate"]') !== null`)
	b.noBadNumbers("alerts")
	b.screenshot("alerts")

	b.open("/")
	b.waitJS("HighErrorRate firing on the overview, with its alert notification", 60*time.Second, `
		document.querySelector('#alerts tr.alert[data-alertname="HighErrorRate"][data-state="firing"][data-job="order-service"] a.runbook[href="#/runbooks/higherrorrate"]') !== null &&
		[...document.querySelectorAll('#notifications li.note[data-kind="alert"]')].some(li => li.textContent.includes('HighErrorRate'))`)
	b.noBadNumbers("overview")
	b.screenshot("overview")
	b.click(`#note-filters button[data-filter="event"]`)
	b.waitJS("the event notifications behind their filter", 20*time.Second, `document.querySelector('#notifications[data-filter="event"]') !== null &&
		[...document.querySelectorAll('#notifications li.note')].every(li => li.dataset.kind !== 'alert')`)

	b.click(`#alerts a.runbook[href="#/runbooks/higherrorrate"]`)
	b.waitJS("the HighErrorRate runbook, served by the console", 20*time.Second, `
		document.querySelector('article.runbook[data-anchor="higherrorrate"] h1')?.textContent === 'HighErrorRate' &&
		document.querySelector('article.runbook pre code') !== null && document.body.innerText.includes('Meaning.')`)
	b.noBadNumbers("runbook")
	b.screenshot("runbook")
	b.open("/runbooks/errorbudgetburn")
	b.waitJS("a runbook by its path", 20*time.Second, `document.querySelector('article.runbook[data-anchor="errorbudgetburn"]') !== null`)

	// Stop the run (it restores) and clear everything.
	b.load = load
	b.open("/chaos")
	b.waitJS("the scenario run on the chaos page", 20*time.Second, `document.querySelector('#scenario-run[data-scenario="error-spike"]') !== null`)
	b.click("#chaos-reset")
	b.waitJS("the run over and chaos off", 60*time.Second, `document.querySelector('#scenario-run[data-state="running"]') === null &&
		document.querySelector('#chaos-status[data-faults="0"] #chaos-enabled[data-enabled="0"]') !== null`)

	if e := errs(); len(e) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(e, "\n"))
	}
	t.Logf("screenshots in %s", shots)
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
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
// notification worker. Unlike internal/fleet's eventTraffic it switches
// no chaos on: the test turns chaos on itself, through the console.
func consoleTraffic(tb testing.TB, f *fleet.Fleet) func() {
	tb.Helper()
	edge := fleettest.EdgeTraffic(tb, f)
	commerce := fleettest.CommerceTraffic(tb, f)
	notifier := f.URL("notifier")
	if c := fleettest.Post(tb, notifier+"/alerts", fleettest.TestAlert("firing")); c != http.StatusOK {
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
		fleettest.Post(tb, orders+"/simulate?count=10&error_rate=0.1", "")
		edge()
		commerce()
		fleettest.Get(tb, notifier+"/notifications?limit=5")
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

// browserPage drives the console.
type browserPage struct {
	t        *testing.T
	ctx      context.Context
	load     func()
	dir      string
	base     string
	viewport bool // screenshots of the viewport only (docs/images)
}

// open loads a path of the console, as typed in the address bar.
func (b *browserPage) open(path string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(b.base+path)); err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
}

func (b *browserPage) click(sel string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
}

// noBadNumbers fails if the page shows NaN, Infinity or undefined.
func (b *browserPage) noBadNumbers(page string) {
	b.t.Helper()
	if bad := b.eval(`(document.body.innerText.match(/.{0,60}\b(NaN|Infinity|undefined)\b.{0,60}/) || [''])[0]`, nil); bad != "" {
		b.screenshot("bad-number")
		b.t.Errorf("%s shows %q", page, bad)
	}
}

// drag zooms the first chart matching sel by a drag across its middle,
// checks the zoom, then resets it.
func (b *browserPage) drag(sel, what string) {
	b.t.Helper()
	var ok bool
	b.eval(fmt.Sprintf(`(() => {
		const svg = document.querySelector(%q);
		const r = svg.getBoundingClientRect();
		const at = (type, x) => svg.dispatchEvent(new MouseEvent(type, { bubbles: true, button: 0, clientX: r.left + x, clientY: r.top + r.height / 2 }));
		at('mousedown', r.width * 0.4); at('mousemove', r.width * 0.6); at('mouseup', r.width * 0.6);
		return document.querySelector('#zoom-reset') !== null;
	})()`, sel), &ok)
	if !ok {
		b.t.Fatalf("%s: a drag did not zoom", what)
	}
	b.waitJS(what+" zoomed", 20*time.Second, `document.querySelector('#zoom-reset') !== null && document.querySelector('.zoom-note').textContent.startsWith('Zoomed to')`)
	b.click("#zoom-reset")
	b.waitJS(what+" zoom reset", 20*time.Second, `document.querySelector('#zoom-reset') === null`)
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
	var (
		png []byte
		err error
	)
	if b.viewport {
		b.eval("window.scrollTo(0, 0)", nil)
		png, err = chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	} else {
		png, err = chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	}
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if b.viewport && len(png) > 900<<10 {
		b.t.Errorf("screenshot %s is %d KiB: keep committed images well under 1 MiB", name, len(png)>>10)
	}
	p := filepath.Join(b.dir, "console-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
}
