package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

func mustFleetWithTraces(tb testing.TB) *fleet.Fleet {
	tb.Helper()
	pc := &fleet.PrometheusConfig{Profile: fleet.DemoProfile}
	return mustFleetConfig(tb, func(c *fleet.Config) {
		c.Prometheus = pc
		c.Traces = &fleet.TracesConfig{OTLPListen: "127.0.0.1:0", LogBytes: 1 << 20} // as under run
	})
}

// jaegerTrace is the part of the Jaeger API's trace the tests read.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		Tags          []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// services returns the services of the trace's spans, and whether a span
// has the attribute key=value.
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

func (t jaegerTrace) hasTag(key, value string) bool {
	for _, s := range t.Spans {
		for _, kv := range s.Tags {
			if kv.Key == key && fmt.Sprint(kv.Value) == value {
				return true
			}
		}
	}
	return false
}

func getTrace(tb testing.TB, base, id string) (jaegerTrace, int) {
	tb.Helper()
	resp, err := http.Get(base + "/api/traces/" + id)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Data []jaegerTrace }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatalf("GET /api/traces/%s: %d, %v", id, resp.StatusCode, err)
	}
	if len(out.Data) == 0 {
		return jaegerTrace{}, resp.StatusCode
	}
	return out.Data[0], resp.StatusCode
}

// TestTracesEndToEnd on the real wiring of `cloudcart run`: an order
// placed through the gateway becomes one trace in the engine's trace store
// with spans of api-gateway, order-service, product-service and their
// databases, the order id on its spans; the gateway latency histogram's
// exemplars, as the engine scraped them, lead to stored traces; an app
// sending OTLP to the receiver appears in the Jaeger API; the engine's
// cloudcart_* families are the ones docs/metrics.md lists.
func TestTracesEndToEnd(t *testing.T) {
	f := mustFleetWithTraces(t)
	base, gw := f.URL("prometheus"), f.URL("gateway")
	_, tok := mustUser(t, gw)
	orderID := mustPlaceOrder(t, gw, tok)

	// The order's trace, found by searching the gateway's operation.
	var found jaegerTrace
	fleettest.WaitFor(t, 30*time.Second, "the order's trace with spans of every service", func() string {
		var res struct{ Data []jaegerTrace }
		getJSONInto(t, base+"/api/traces?"+url.Values{"service": {"order-service"}, "tags": {`{"order.id":"` + orderID + `"}`}}.Encode(), &res)
		if len(res.Data) == 0 {
			return "no trace has order.id=" + orderID
		}
		// The placement's trace; the order's later lifecycle steps
		// (shipped, delivered) are traces of their own with its id.
		msg := ""
	traces:
		for _, tr := range res.Data {
			svcs := tr.services()
			for _, want := range []string{"api-gateway", "order-service", "product-service", "order-service/db", "product-service/db"} {
				if svcs[want] == 0 {
					msg = fmt.Sprintf("trace %s has no %s span yet: %v", tr.TraceID, want, svcs)
					continue traces
				}
			}
			found = tr
			return ""
		}
		return msg
	})
	if !found.hasTag("order.id", orderID) {
		t.Errorf("order id not on the trace's spans")
	}
	if got, code := getTrace(t, base, found.TraceID); code != 200 || len(got.Spans) < len(found.Spans) {
		t.Errorf("GET /api/traces/%s: %d, %d spans", found.TraceID, code, len(got.Spans))
	}

	// Exemplars of the gateway's latency lead to traces in the store.
	fleettest.WaitFor(t, 60*time.Second, "an exemplar of the gateway's latency whose trace is stored", func() string {
		mustPlaceOrder(t, gw, tok)
		now := time.Now()
		var ex struct {
			Data []struct {
				Exemplars []struct {
					Labels map[string]string `json:"labels"`
				} `json:"exemplars"`
			} `json:"data"`
		}
		getJSONInto(t, base+"/api/v1/query_exemplars?"+url.Values{"query": {`http_request_duration_seconds_bucket{job="api-gateway"}`},
			"start": {fmt.Sprint(now.Add(-time.Minute).Unix())}, "end": {fmt.Sprint(now.Unix())}}.Encode(), &ex)
		n := 0
		for _, s := range ex.Data {
			for _, e := range s.Exemplars {
				n++
				if tr, code := getTrace(t, base, e.Labels["trace_id"]); code == 200 && tr.services()["api-gateway"] > 0 {
					return ""
				}
			}
		}
		return fmt.Sprintf("%d exemplars, none of a stored gateway trace", n)
	})

	// Another app pushes a span over OTLP.
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "laptop-app")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	tid := pcommon.TraceID{0xca, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	sp.SetTraceID(tid)
	sp.SetSpanID(pcommon.SpanID{1, 1, 1, 1, 1, 1, 1, 1})
	sp.SetName("GET /hello")
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(time.Millisecond)))
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(f.OTLPURL()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/traces: %d", resp.StatusCode)
	}
	if tr, code := getTrace(t, base, fmt.Sprintf("%x", tid[:])); code != 200 || tr.services()["laptop-app"] != 1 {
		t.Errorf("the OTLP span: %d %+v", code, tr)
	}
	var svcs struct{ Data []string }
	getJSONInto(t, base+"/api/services", &svcs)
	if !strings.Contains(strings.Join(svcs.Data, ","), "laptop-app") {
		t.Errorf("services = %v", svcs.Data)
	}

	// The engine's own cloudcart_* families are documented.
	fams, err := telemetrytest.Scrape(t, base+"/metrics").Gather()
	if err != nil {
		t.Fatal(err)
	}
	var ours = fams[:0]
	for _, mf := range fams {
		if strings.HasPrefix(mf.GetName(), "cloudcart_") {
			ours = append(ours, mf)
		}
	}
	checkDocumented(t, fleet.PrometheusJob, readMetricDocs(t)[fleet.PrometheusJob], ours)
	if v := telemetrytest.Value(t, telemetrytest.Scrape(t, base+"/metrics"), "cloudcart_otlp_requests_total", map[string]string{"signal": "traces", "code": "2xx"}); v != 1 {
		t.Errorf("cloudcart_otlp_requests_total{signal=traces,code=2xx} = %v, want 1", v)
	}
}

// TestEngineAlone is `cloudcart serve prometheus`: the engine in a process
// of its own scrapes a service of another process on its port, and takes
// the spans an app sends over OTLP into its trace store.
func TestEngineAlone(t *testing.T) {
	var ordersPort int
	other := mustFleetConfig(t, func(c *fleet.Config) {}) // stands for the other processes
	u, err := url.Parse(other.URL("orders"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscan(u.Port(), &ordersPort); err != nil {
		t.Fatal(err)
	}
	eng := fleettest.Start(t, fleet.Config{DataDir: t.TempDir(), Bind: "127.0.0.1", Version: "test",
		Ports:      map[string]int{"orders": ordersPort, fleet.EngineRole: 0}, // the others at their defaults: down
		Prometheus: &fleet.PrometheusConfig{Profile: fleet.DemoProfile},
		Traces:     &fleet.TracesConfig{OTLPListen: "127.0.0.1:0"},
	}, fleet.EngineRole)
	if n := len(eng.Units()); n != 1 || eng.OTLPURL() == "" {
		t.Fatalf("%d units, OTLP at %q", n, eng.OTLPURL())
	}
	base := eng.URL(fleet.EngineRole)
	fleettest.WaitFor(t, 30*time.Second, "the other process's order service scraped", func() string {
		var q struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		getJSONInto(t, base+"/api/v1/query?query="+url.QueryEscape(`up{job="order-service"}`), &q)
		if len(q.Data.Result) != 1 || q.Data.Result[0].Value[1] != "1" {
			return fmt.Sprintf("up = %+v", q.Data.Result)
		}
		return ""
	})
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "order-service")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9})
	sp.SetSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, 9})
	sp.SetName("POST /orders")
	body, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	resp, err := http.Post(eng.OTLPURL()+"/v1/traces", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if tr, code := getTrace(t, base, "09090909090909090909090909090909"); resp.StatusCode != 200 || code != 200 || tr.services()["order-service"] != 1 {
		t.Errorf("OTLP %d, trace %d %+v", resp.StatusCode, code, tr)
	}
}

// TestOTLPAddressTaken: the default OTLP address may be the compose
// stack's Collector's; then `cloudcart run` starts without the receiver.
// An address the user chose must work or the start fails.
func TestOTLPAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := fleet.Config{DataDir: t.TempDir(), Bind: "127.0.0.1", Version: "test", Ports: map[string]int{fleet.EngineRole: 0},
		Prometheus: &fleet.PrometheusConfig{Profile: fleet.DemoProfile},
		Traces:     &fleet.TracesConfig{OTLPListen: ln.Addr().String(), OTLPOptional: true}}
	f := fleettest.Start(t, cfg, fleet.EngineRole)
	if f.OTLPURL() != "" || f.Traces() == nil {
		t.Errorf("OTLP at %q with the address taken; store %v", f.OTLPURL(), f.Traces())
	}
	cfg.DataDir = t.TempDir()
	cfg.Traces = &fleet.TracesConfig{OTLPListen: ln.Addr().String()}
	if _, err := fleet.New(context.Background(), cfg, fleet.EngineRole); err == nil || !strings.Contains(err.Error(), "--otlp.listen") {
		t.Errorf("explicit taken address: err = %v", err)
	}
}
