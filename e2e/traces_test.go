package e2e_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
)

// mustFleetWithTraces is internal/fleet's fleet with the embedded engine
// (demo profile) and its trace store taking OTLP.
func mustFleetWithTraces(tb testing.TB) *fleet.Fleet {
	tb.Helper()
	cfg := fleettest.Config(tb)
	cfg.Prometheus = &fleet.PrometheusConfig{Profile: fleet.DemoProfile}
	cfg.Traces = &fleet.TracesConfig{OTLPListen: "127.0.0.1:0"}
	return fleettest.Start(tb, cfg)
}

// jaegerTrace is the part of the Jaeger API's trace the test reads.
type jaegerTrace struct {
	Spans []struct {
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// services counts the trace's spans by service, database spans as
// "<service>/db".
func (t jaegerTrace) services() map[string]int {
	out := map[string]int{}
	for _, s := range t.Spans {
		svc := t.Processes[s.ProcessID].ServiceName
		if strings.HasPrefix(s.OperationName, "db.") {
			svc += "/db"
		}
		out[svc]++
	}
	return out
}

// TestTracesInBrowser: orders placed through the gateway; the Query page
// charts the gateway's order latency with its exemplars; a click on one
// opens its trace's waterfall, with spans of api-gateway, order-service,
// product-service and their databases and the order's id shown. The
// Overview lists slowest and error traces, and the Traces page finds the
// orders. Skipped without chromium, except under CI=true.
func TestTracesInBrowser(t *testing.T) {
	browser := mustChromium(t)
	f := mustFleetWithTraces(t)
	base, gw := f.URL("prometheus"), f.URL("gateway")
	_, tok := fleettest.MustUser(t, gw)
	orders := map[string]bool{}
	for range 5 {
		orders[fleettest.MustPlaceOrder(t, gw, tok)] = true
	}
	// Every order's trace is complete in the store (the batch processors
	// export every few seconds) before the browser looks.
	fleettest.WaitFor(t, 60*time.Second, "the orders' complete traces", func() string {
		for id := range orders {
			var res struct{ Data []jaegerTrace }
			fleettest.MustGetJSON(t, base+"/api/traces?"+url.Values{"service": {"order-service"}, "tags": {`{"order.id":"` + id + `"}`}}.Encode(), &res)
			complete := false // the placement's trace; the order's later lifecycle traces carry its id too
			for _, tr := range res.Data {
				complete = complete || tr.services()["product-service/db"] > 0 && tr.services()["api-gateway"] > 0
			}
			if !complete {
				return "order " + id + " not complete yet"
			}
		}
		return ""
	})

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ctx = newBrowser(t, ctx, browser, 1440, 1000)
	errs := collectConsoleErrors(ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("open the console: %v", err)
	}
	b := &browserPage{t: t, ctx: ctx, load: func() {}, dir: artifactDir(t), base: base}

	// A latency chart with exemplars: only order placements' exemplars, so
	// any dot is an order's trace.
	latency := `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="api-gateway",method="POST",route="/api/orders"}[1m])))`
	goHash(b, "#/query?mode=range&range=5m&expr="+url.QueryEscape(latency))
	b.waitJS("exemplar dots on the latency chart", 90*time.Second, `document.querySelector('#result svg.chart circle.exemplar') !== null`,
		`document.querySelector('#result') ? document.querySelector('#result').dataset.state : 'no result'`)
	b.load = func() { // the chart refreshes only on Run
		b.eval(`document.getElementById('run').click()`, nil)
	}
	b.screenshot("traces-exemplars")
	b.eval(`document.querySelector('#result svg.chart circle.exemplar').dispatchEvent(new MouseEvent('click', {bubbles: true}))`, nil)
	b.load = func() {}

	// The waterfall of that order.
	b.waitJS("the waterfall with every service and the order id", 30*time.Second, `(() => {
		const v = document.querySelector('#trace-view[data-state="data"]');
		if (!v) return false;
		const has = (svc) => v.querySelector('.span-row[data-service="' + svc + '"]') !== null;
		const db = [...v.querySelectorAll('.span-row .label')].some((l) => l.textContent.includes(' db.'));
		const id = v.querySelector('.id-tag[data-key="order.id"] b');
		return has('api-gateway') && has('order-service') && has('product-service') && db && id !== null && `+jsOrderIDs(orders)+`.includes(id.textContent);
	})()`, `document.querySelector('#trace-view') ? document.querySelector('#trace-view').textContent.slice(0, 400) : location.hash`)
	b.eval(`document.querySelector('.span-row[data-service="product-service"]').click()`, nil)
	b.waitJS("a span's attributes", 10*time.Second, `document.querySelector('#span-detail h3') !== null && document.querySelector('#span-detail h3').textContent.startsWith('product-service')`)
	b.screenshot("traces-waterfall")

	// The Traces page and the Overview's card.
	goHash(b, "#/traces?service=api-gateway&lookback=15m")
	b.waitJS("search results", 30*time.Second, `document.querySelector('#trace-results[data-state="data"] circle.trace-dot') !== null &&
		document.querySelectorAll('#trace-results tbody tr').length >= 5`)
	b.screenshot("traces-search")
	goHash(b, "#/")
	b.waitJS("the overview's slowest traces", 30*time.Second, `document.querySelector('#recent-traces[data-state="data"] #slowest-traces a.trace-link') !== null`)

	if e := errs(); len(e) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(e, "\n"))
	}
}

func jsOrderIDs(orders map[string]bool) string {
	var ids []string
	for id := range orders {
		ids = append(ids, fmt.Sprintf("%q", id))
	}
	return "[" + strings.Join(ids, ",") + "]"
}

// goHash changes the console's page by its location hash, as a click on a
// link does.
func goHash(b *browserPage, hash string) {
	b.t.Helper()
	b.eval(fmt.Sprintf("location.hash = %q", hash), nil)
}
