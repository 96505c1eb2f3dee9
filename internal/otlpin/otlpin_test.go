package otlpin_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/cloudcart/cloudcart/internal/otlpin"
	"github.com/cloudcart/cloudcart/internal/promengine"
	"github.com/cloudcart/cloudcart/internal/tracestore"
)

// mustEngine runs an embedded Prometheus with nothing to scrape, for its
// TSDB and PromQL.
func mustEngine(tb testing.TB) *promengine.Engine {
	tb.Helper()
	e, err := promengine.New(promengine.Options{DataDir: tb.TempDir(), Config: []byte("global:\n  scrape_interval: 1s\n")})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); !e.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("engine not ready")
		}
	}
	return e
}

type receiver struct {
	url   string
	store *tracestore.Store
	eng   *promengine.Engine
	reg   *prometheus.Registry
}

func mustReceiver(tb testing.TB, maxBody int64) *receiver {
	tb.Helper()
	r := &receiver{store: tracestore.New(tracestore.Options{}), eng: mustEngine(tb), reg: prometheus.NewRegistry()}
	rc, err := otlpin.New(otlpin.Options{Traces: r.store, Metrics: r.eng.OTLPMetricsHandler(), MaxBodyBytes: maxBody, Registerer: r.reg})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(rc.Handler())
	tb.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

var (
	traceID = pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	rootID  = pcommon.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
)

// sampleTraces is one trace of a foreign app: a server span and a failed
// client child with an event, and one span without ids (to be rejected).
func sampleTraces(start time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop-app")
	rs.Resource().Attributes().PutStr("deployment.environment.name", "laptop")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	root := spans.AppendEmpty()
	root.SetTraceID(traceID)
	root.SetSpanID(rootID)
	root.SetName("GET /cart")
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	root.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(120 * time.Millisecond)))
	root.Attributes().PutInt("http.response.status_code", 500)
	child := spans.AppendEmpty()
	child.SetTraceID(traceID)
	child.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	child.SetParentSpanID(rootID)
	child.SetName("SELECT carts")
	child.SetKind(ptrace.SpanKindClient)
	child.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(10 * time.Millisecond)))
	child.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(100 * time.Millisecond)))
	child.Status().SetCode(ptrace.StatusCodeError)
	child.Status().SetMessage("deadlock")
	ev := child.Events().AppendEmpty()
	ev.SetName("retry")
	ev.Attributes().PutInt("attempt", 2)
	spans.AppendEmpty().SetName("no ids")
	return td
}

func post(tb testing.TB, u, ctype, enc string, body []byte) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func gz(tb testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestTraces(t *testing.T) {
	r := mustReceiver(t, 0)
	req := ptraceotlp.NewExportRequestFromTraces(sampleTraces(time.Now()))
	pb, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	js, err := req.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, ctype, enc string
		body             []byte
	}{
		{"protobuf", "application/x-protobuf", "", pb},
		{"JSON", "application/json", "", js},
		{"protobuf gzip", "application/x-protobuf", "gzip", gz(t, pb)},
		{"JSON gzip", "application/json; charset=utf-8", "gzip", gz(t, js)},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := post(t, r.url+"/v1/traces", c.ctype, c.enc, c.body)
			if code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			resp := ptraceotlp.NewExportResponse()
			if c.ctype == "application/x-protobuf" {
				err = resp.UnmarshalProto(body)
			} else {
				err = resp.UnmarshalJSON(body)
			}
			if err != nil || resp.PartialSuccess().RejectedSpans() != 1 {
				t.Errorf("response %s (%v): want partial success with 1 rejected span", body, err)
			}
		})
	}
	if got := r.store.Stats().Spans; got != 2 {
		t.Errorf("%d spans stored after four exports of the same two, want 2 (duplicates are not stored twice)", got)
	}
}

// TestTracesStored: what arrives is what the Jaeger API shows.
func TestTracesStored(t *testing.T) {
	r := mustReceiver(t, 0)
	pb, _ := ptraceotlp.NewExportRequestFromTraces(sampleTraces(time.Now())).MarshalProto()
	if code, body := post(t, r.url+"/v1/traces", "application/x-protobuf", "", pb); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	spans, ok := r.store.Trace(tracestore.TraceID(traceID))
	if !ok || len(spans) != 2 {
		t.Fatalf("stored %d spans (found %v)", len(spans), ok)
	}
	root, child := spans[0], spans[1]
	if root.Service != "shop-app" || root.Name != "GET /cart" || root.Kind != "server" || root.Duration != 120*time.Millisecond {
		t.Errorf("root = %+v", root)
	}
	if child.ParentID != tracestore.SpanID(rootID) || !child.IsError() || child.Message != "deadlock" ||
		len(child.Events) != 1 || child.Events[0].Name != "retry" || child.Events[0].Attrs[0].Value != int64(2) {
		t.Errorf("child = %+v", child)
	}
	if got := r.store.Stats().SpansRejectedOTLP; got != 1 {
		t.Errorf("rejected = %d, want 1", got)
	}
}

func TestBadRequests(t *testing.T) {
	r := mustReceiver(t, 4096)
	big := ptrace.NewTraces()
	ss := big.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range 200 {
		s := ss.AppendEmpty()
		s.SetTraceID(traceID)
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s.SetName("a span with a long enough name to fill the body")
	}
	bigPB, _ := ptraceotlp.NewExportRequestFromTraces(big).MarshalProto()
	bomb := gz(t, make([]byte, 1<<20)) // 1 MiB of zeroes, ~1 KiB compressed
	for _, c := range []struct {
		name, path, ctype, enc string
		body                   []byte
		want                   int
	}{
		{"oversize traces", "/v1/traces", "application/x-protobuf", "", bigPB, 413},
		{"oversize metrics", "/v1/metrics", "application/x-protobuf", "", bigPB, 413},
		{"oversize after gunzip", "/v1/traces", "application/x-protobuf", "gzip", bomb, 413},
		{"malformed protobuf", "/v1/traces", "application/x-protobuf", "", []byte("\xff\xff\xff not protobuf"), 400},
		{"malformed JSON", "/v1/traces", "application/json", "", []byte(`{"resourceSpans": [`), 400},
		{"malformed metrics protobuf", "/v1/metrics", "application/x-protobuf", "", []byte("\xff\xff\xff not protobuf"), 400},
		{"malformed metrics JSON", "/v1/metrics", "application/json", "", []byte(`{"resourceMetrics": 7}`), 400},
		{"bad gzip", "/v1/traces", "application/x-protobuf", "gzip", []byte("not gzip"), 400},
		{"unknown encoding", "/v1/traces", "application/x-protobuf", "br", []byte("x"), 415},
		{"unknown content type", "/v1/traces", "text/plain", "", []byte("x"), 415},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := post(t, r.url+c.path, c.ctype, c.enc, c.body)
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if code != c.want || json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
				t.Errorf("%d %s, want %d with a JSON error", code, body, c.want)
			}
		})
	}
	if n := r.store.Stats().Spans; n != 0 {
		t.Errorf("%d spans stored from bad requests", n)
	}
	if got := counter(t, r.reg, "traces", "4xx"); got != 7 {
		t.Errorf(`cloudcart_otlp_requests_total{signal="traces",code="4xx"} = %v, want 7`, got)
	}
}

func counter(tb testing.TB, g prometheus.Gatherer, signal, code string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if mf.GetName() == "cloudcart_otlp_requests_total" && l["signal"] == signal && l["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	tb.Fatalf("no cloudcart_otlp_requests_total{signal=%q,code=%q}", signal, code)
	return 0
}

// TestMetrics: OTLP metrics land in the TSDB under the names Prometheus's
// translation gives them: dots to underscores, the unit and _total added
// for a monotonic sum, the resource's service.name as job.
func TestMetrics(t *testing.T) {
	r := mustReceiver(t, 0)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "shop-app")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	now := pcommon.NewTimestampFromTime(time.Now())
	sum := ms.AppendEmpty()
	sum.SetName("shop.orders.placed")
	sum.SetUnit("{order}")
	s := sum.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := s.DataPoints().AppendEmpty()
	dp.SetIntValue(42)
	dp.SetTimestamp(now)
	dp.Attributes().PutStr("payment.method", "card")
	g := ms.AppendEmpty()
	g.SetName("shop.cart.size")
	g.SetUnit("By")
	gp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gp.SetDoubleValue(1536)
	gp.SetTimestamp(now)

	req := pmetricotlp.NewExportRequestFromMetrics(md)
	pb, _ := req.MarshalProto()
	if code, body := post(t, r.url+"/v1/metrics", "application/x-protobuf", "gzip", gz(t, pb)); code != 200 {
		t.Fatalf("protobuf: %d %s", code, body)
	}
	for _, c := range []struct{ query, want string }{
		{`shop_orders_placed_total{job="shop-app",payment_method="card"}`, "42"},
		{`shop_cart_size_bytes{job="shop-app"}`, "1536"},
	} {
		if got := query(t, r.eng, c.query); got != c.want {
			t.Errorf("%s = %q, want %s", c.query, got, c.want)
		}
	}
	// The same export as JSON, a second later with a new value.
	dp.SetIntValue(43)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(time.Second)))
	js, _ := pmetricotlp.NewExportRequestFromMetrics(md).MarshalJSON()
	if code, body := post(t, r.url+"/v1/metrics", "application/json", "", js); code != 200 {
		t.Fatalf("JSON: %d %s", code, body)
	}
	if got := query(t, r.eng, `max_over_time(shop_orders_placed_total{job="shop-app"}[1m])`); got != "43" {
		t.Errorf("after the JSON export: %q, want 43", got)
	}
}

// query evaluates an instant query one second ahead (the samples' time)
// through the engine's API and returns the single value.
func query(tb testing.TB, e *promengine.Engine, q string) string {
	tb.Helper()
	u := "/api/v1/query?" + url.Values{"query": {q}, "time": {time.Now().Add(2 * time.Second).Format(time.RFC3339Nano)}}.Encode()
	rec := httptest.NewRecorder()
	e.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
	var resp struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Data.Result) != 1 {
		tb.Fatalf("%s: %d %s", q, rec.Code, rec.Body)
	}
	return resp.Data.Result[0].Value[1].(string)
}
