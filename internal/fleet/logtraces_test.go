package fleet_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
)

// jsonLines decodes the JSON log lines written to b so far.
func jsonLines(b *fleettest.Buffer) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestRequestLogsCarryTraceIDs: the lines the services log about the
// requests they handle (every line with a method: errors answered, orders
// failing) carry trace_id and span_id, and
// those open the request's trace and span in the trace store, where
// /api/logs (the trace view's Logs) has the line. Orders
// succeed, then fail with the product service answering 503 to every
// call, which makes the order service and the gateway log.
// TestLogCallsPassTheContext (internal/telemetry) checks the code; this
// checks the wiring, in the fleet `cloudcart run` builds.
func TestRequestLogsCarryTraceIDs(t *testing.T) {
	var logs fleettest.Buffer
	f := mustFleetConfig(t, func(c *fleet.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Prometheus = &fleet.PrometheusConfig{Profile: fleet.DemoProfile}
		c.Traces = &fleet.TracesConfig{LogBytes: 1 << 20}
	})
	gw := f.URL("gateway")
	_, tok := fleettest.MustUser(t, gw)
	for range 3 {
		fleettest.MustPlaceOrder(t, gw, tok)
	}
	body := fleettest.OrderBody(t, gw)
	mustChaos(t, f, "PUT", "/chaos/settings", `{"enabled":true,"targets":{"products":{"error":{"rate":1,"status":503}}}}`)
	fleettest.WaitFor(t, 30*time.Second, "orders failing with the product service down", func() string {
		if c := fleettest.Call(t, "POST", gw+"/api/orders", tok, body, nil); c < 500 {
			return fmt.Sprintf("POST /api/orders: %d", c)
		}
		return ""
	})
	for range 3 {
		fleettest.Call(t, "POST", gw+"/api/orders", tok, body, nil)
	}
	mustChaos(t, f, "PUT", "/chaos/settings", `{"enabled":false}`)

	var request []map[string]any
	for _, l := range jsonLines(&logs) {
		if _, ok := l["method"]; ok { // the HTTP layer's lines about a request
			request = append(request, l)
		}
	}
	byService := map[string]int{}
	for _, l := range request {
		byService[fmt.Sprint(l["component"])]++
	}
	if byService["order-service"] == 0 {
		t.Fatalf("no request line from the order service while its orders failed (lines by component: %v): the test would prove nothing", byService)
	}
	base := f.URL(fleet.EngineRole)
	for _, l := range request {
		tid, _ := l["trace_id"].(string)
		sid, _ := l["span_id"].(string)
		if len(tid) != 32 || len(sid) != 16 {
			t.Errorf("a line logged while handling a request has no trace_id/span_id: %v", l)
			continue
		}
		fleettest.WaitFor(t, 30*time.Second, "the trace of a log line in the store", func() string {
			tr, code := getTrace(t, base, tid)
			if code != http.StatusOK {
				return fmt.Sprintf("GET /api/traces/%s: %d (line %v)", tid, code, l)
			}
			for _, s := range tr.Spans {
				if s.SpanID == sid {
					return ""
				}
			}
			return fmt.Sprintf("trace %s has no span %s (line %v)", tid, sid, l)
		})
		// The engine kept the line for the trace view.
		var kept struct {
			Data []struct {
				Message   string `json:"message"`
				Component string `json:"component"`
				SpanID    string `json:"spanID"`
			} `json:"data"`
		}
		getJSONInto(t, base+"/api/logs?traceID="+tid+"&spanID="+sid, &kept)
		found := false
		for _, k := range kept.Data {
			found = found || (k.Message == l["msg"] && k.Component == l["component"] && k.SpanID == sid)
		}
		if !found {
			t.Errorf("/api/logs?traceID=%s&spanID=%s does not have the line %v: %+v", tid, sid, l, kept.Data)
		}
	}
	t.Logf("%d request lines checked, by component: %v", len(request), byService)
}
