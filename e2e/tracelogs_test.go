package e2e_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
)

// TestTraceLogsInBrowser: orders fail while the product service answers
// 503; the trace view of such an order shows, under the waterfall, the
// line the order service logged inside it, and a click on the line opens
// its span with the line under "Logs". Skipped without chromium, except
// under CI=true.
func TestTraceLogsInBrowser(t *testing.T) {
	browser := mustChromium(t)
	cfg := fleettest.Config(t)
	cfg.Prometheus = &fleet.PrometheusConfig{Profile: fleet.DemoProfile}
	cfg.Traces = &fleet.TracesConfig{LogBytes: 1 << 20}
	// The store keeps what the process prints: info and above, as under run.
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	f := fleettest.Start(t, cfg)
	base, gw := f.URL("prometheus"), f.URL("gateway")
	_, tok := fleettest.MustUser(t, gw)
	body := fleettest.OrderBody(t, gw)
	if c := fleettest.Call(t, "PUT", f.URL("chaos")+"/chaos/settings", fleettest.ChaosToken,
		`{"enabled":true,"targets":{"products":{"error":{"rate":1,"status":503}}}}`, nil); c != 200 {
		t.Fatalf("chaos: %d", c)
	}

	// A failed order's trace whose logs the engine kept.
	var traceID, message string
	fleettest.WaitFor(t, 60*time.Second, "a failed order with a kept log line", func() string {
		if c := fleettest.Call(t, "POST", gw+"/api/orders", tok, body, nil); c < 500 {
			return fmt.Sprintf("POST /api/orders: %d", c)
		}
		var res struct {
			Data []struct {
				TraceID string `json:"traceID"`
			}
		}
		fleettest.MustGetJSON(t, base+"/api/traces?"+url.Values{"service": {"order-service"}, "tags": {`{"error":"true"}`}, "lookback": {"1h"}}.Encode(), &res)
		for _, tr := range res.Data {
			var logs struct {
				Data []struct {
					Message   string `json:"message"`
					Component string `json:"component"`
				}
			}
			fleettest.MustGetJSON(t, base+"/api/logs?traceID="+tr.TraceID, &logs)
			for _, l := range logs.Data {
				if l.Component == "order-service" {
					traceID, message = tr.TraceID, l.Message
					return ""
				}
			}
		}
		return fmt.Sprintf("%d error traces of order-service, none with an order-service log line", len(res.Data))
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctx = newBrowser(t, ctx, browser, 1440, 1000)
	errs := collectConsoleErrors(ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/#/traces/"+traceID)); err != nil {
		t.Fatalf("open the trace: %v", err)
	}
	b := &browserPage{t: t, ctx: ctx, load: func() {}, dir: artifactDir(t), base: base}
	b.waitJS("the trace's log lines under the waterfall", 30*time.Second, fmt.Sprintf(`(() => {
		const s = document.querySelector('#trace-view[data-state="data"] #trace-logs[data-state="data"]');
		return s !== null && [...s.querySelectorAll('tr.log-line')].some((r) => r.textContent.includes(%q) && r.textContent.includes('order-service'));
	})()`, message), `document.querySelector('#trace-view') ? document.querySelector('#trace-view').textContent.slice(0, 600) : location.hash`)
	b.eval(fmt.Sprintf(`[...document.querySelectorAll('#trace-logs tr.log-line')].find((r) => r.textContent.includes(%q)).click()`, message), nil)
	b.waitJS("the line's span, with the line under Logs", 10*time.Second, fmt.Sprintf(`(() => {
		const d = document.querySelector('#span-detail');
		const row = [...document.querySelectorAll('#trace-logs tr.log-line')].find((r) => r.textContent.includes(%q));
		return d !== null && d.querySelector('h3').textContent.startsWith('order-service') &&
			d.querySelector('.span-logs') !== null && d.querySelector('.span-logs').textContent.includes(%q) &&
			d.textContent.includes(row.dataset.spanId);
	})()`, message, message), `document.querySelector('#span-detail') ? document.querySelector('#span-detail').textContent.slice(0, 600) : 'no detail'`)
	b.screenshot("traces-logs")
	if e := errs(); len(e) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(e, "\n"))
	}
}
