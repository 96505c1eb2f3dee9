package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cloudcart/cloudcart/internal/authn/authntest"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/orders"
	"github.com/cloudcart/cloudcart/internal/services"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// fixture is a running order service on a real store.
type fixture struct {
	svc   *orders.Service
	tel   *telemetry.Telemetry
	store cloudcart.OrderStore
	kit   *authntest.Kit
	h     http.Handler
}

type option func(*orders.Options)

func mustFixture(tb testing.TB, backend string, opts ...option) *fixture {
	tb.Helper()
	tel := telemetrytest.MustNew(tb)
	meter := tel.Meter("test")
	m, err := orders.NewMetrics(meter)
	if err != nil {
		tb.Fatal(err)
	}
	db := sqlstoretest.MustOpen(tb, backend, sqlstore.Options{Metrics: sqlstoretest.MustMetrics(tb, meter, sqlstore.MetricsOptions{Prefix: services.All.MustLookup("orders").Prefix, ConnectionErrors: true})})
	store, err := sqlstore.NewOrderStore(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	kit := authntest.MustNew(tb)
	o := orders.Options{Store: store, Metrics: m, Meter: meter, Tracer: tel.Tracer("test"), Auth: kit.Auth}
	for _, f := range opts {
		f(&o)
	}
	svc, err := orders.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	mw, err := httpkit.NewMiddleware(meter, tel.Tracer("test"), tel.Propagator,
		services.All.MustLookup("orders").HTTP)
	if err != nil {
		tb.Fatal(err)
	}
	mustRun(tb, svc)
	return &fixture{svc: svc, tel: tel, store: o.Store, kit: kit, h: httpkit.LimitBody(httpkit.DefaultMaxBodyBytes, mw.Wrap(svc.Handler()))}
}

func mustRun(tb testing.TB, svc *orders.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
}

// do sends a request as a service (the service credential): it may do
// everything but act as a user.
func (f *fixture) do(tb testing.TB, method, target, body string) *httptest.ResponseRecorder {
	tb.Helper()
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, authntest.AsService(httptest.NewRequest(method, target, strings.NewReader(body))))
	return rec
}

func (f *fixture) value(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	return telemetrytest.Value(tb, f.tel.Registry, name, labels)
}

func (f *fixture) rows(tb testing.TB) int {
	tb.Helper()
	_, n, err := f.store.FindOrders(context.Background(), cloudcart.OrderFilter{})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

const goodOrder = `{"customer":"alice","items":[{"sku":"SKU-1","qty":2,"price":12.50},{"sku":"SKU-2","qty":1,"price":0.99}]}`

func TestPlaceOrder(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			f := mustFixture(t, backend)
			insertsBefore := f.value(t, "order_db_query_duration_seconds", map[string]string{"query_type": "insert"})
			rec := f.do(t, "POST", "/orders", goodOrder)
			if rec.Code != http.StatusCreated {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var o cloudcart.Order
			if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil {
				t.Fatal(err)
			}
			if o.Total != 2599 || o.Status != cloudcart.OrderConfirmed || rec.Header().Get("Location") != "/orders/"+o.ID {
				t.Fatalf("order %+v location %q", o, rec.Header().Get("Location"))
			}
			got := f.do(t, "GET", "/orders/"+o.ID, "")
			if got.Code != 200 || !strings.Contains(got.Body.String(), `"total":25.99`) {
				t.Fatalf("GET: %d %s", got.Code, got.Body)
			}
			if v := f.value(t, "orders_value_total", nil); v != 25.99 {
				t.Fatalf("orders_value_total = %v, want 25.99", v)
			}
			if f.value(t, "orders_processed_total", map[string]string{"status": "success"}) != 1 ||
				f.value(t, "orders_created_total", nil) != 1 || f.value(t, "order_duration_seconds", nil) != 1 ||
				f.value(t, "order_processing_duration_seconds", nil) != 1 {
				t.Fatal("order metrics did not move by exactly one")
			}
			if f.value(t, "order_db_query_duration_seconds", map[string]string{"query_type": "insert"})-insertsBefore != 2 {
				t.Fatal("want two insert statements observed (order, items)")
			}
		})
	}
}

func TestForcedFailureIsRecordedNotPaid(t *testing.T) {
	f := mustFixture(t, "sqlite")
	rec := f.do(t, "POST", "/orders?fail=true", goodOrder)
	if rec.Code != http.StatusPaymentRequired || !strings.Contains(rec.Body.String(), "payment declined") {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	page, _, _ := f.store.FindOrders(context.Background(), cloudcart.OrderFilter{Status: cloudcart.OrderFailed})
	if len(page) != 1 {
		t.Fatalf("failed orders stored = %d, want 1", len(page))
	}
	if f.value(t, "orders_processed_total", map[string]string{"status": "failure"}) != 1 ||
		f.value(t, "orders_value_total", nil) != 0 ||
		f.value(t, "order_errors_total", map[string]string{"error_type": "payment_declined", "endpoint": "/orders"}) != 1 {
		t.Fatal("failure not accounted as one failure, no revenue, one payment_declined error")
	}
}

func TestSimulate(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			f := mustFixture(t, backend)
			rec := f.do(t, "POST", "/simulate?count=100&error_rate=0.1", "")
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var res orders.SimulateResult
			_ = json.Unmarshal(rec.Body.Bytes(), &res)
			ok := f.value(t, "orders_processed_total", map[string]string{"status": "success"})
			failed := f.value(t, "orders_processed_total", map[string]string{"status": "failure"})
			if ok+failed != 100 || res.Succeeded != int(ok) || res.Failed != int(failed) {
				t.Fatalf("processed success=%v failure=%v, response %+v; want exactly 100", ok, failed, res)
			}
			// Binomial(100, 0.1): P(failures > 25) < 1e-5.
			if failed > 25 {
				t.Fatalf("failure share %v%% is implausible for error_rate=0.1", failed)
			}
			if d := f.value(t, "order_queue_depth", nil); d != 0 {
				t.Fatalf("order_queue_depth = %v after simulate returned", d)
			}
			if n := f.rows(t); n != 100 {
				t.Fatalf("%d rows, want 100", n)
			}
		})
	}
	t.Run("defaults to 20", func(t *testing.T) {
		f := mustFixture(t, "sqlite")
		f.do(t, "POST", "/simulate", "")
		if n := f.rows(t); n != 20 {
			t.Fatalf("%d rows, want 20", n)
		}
	})
}

// TestBadInput: every bad request is a 4xx with a JSON error naming the
// problem, and none moves a success counter or writes a row.
func TestBadInput(t *testing.T) {
	f := mustFixture(t, "sqlite")
	cases := []struct {
		name, method, target, body string
		status                     int
		mentions                   string
	}{
		{"malformed JSON", "POST", "/orders", `{"customer":"a","items":[`, 400, "malformed JSON"},
		{"empty body", "POST", "/orders", ``, 400, "POST /simulate"},
		{"unknown field", "POST", "/orders", `{"customer":"a","coupon":"FREE","items":[]}`, 400, `unknown field "coupon"`},
		{"negative qty", "POST", "/orders", `{"customer":"a","items":[{"sku":"S","qty":-2,"price":1}]}`, 400, "items[0].qty must be positive"},
		{"zero price", "POST", "/orders", `{"customer":"a","items":[{"sku":"S","qty":1,"price":0}]}`, 400, "items[0].price must be positive"},
		{"fractional cent", "POST", "/orders", `{"customer":"a","items":[{"sku":"S","qty":1,"price":1.234}]}`, 400, "at most two decimals"},
		{"price as string", "POST", "/orders", `{"customer":"a","items":[{"sku":"S","qty":1,"price":"1"}]}`, 400, "price"},
		{"no items", "POST", "/orders", `{"customer":"a","items":[]}`, 400, "at least one item"},
		{"no customer", "POST", "/orders", `{"items":[{"sku":"S","qty":1,"price":1}]}`, 400, "customer is required"},
		{"bad sku", "POST", "/orders", `{"customer":"a","items":[{"sku":"../etc","qty":1,"price":1}]}`, 400, "items[0].sku"},
		{"qty not integer", "POST", "/orders", `{"customer":"a","items":[{"sku":"S","qty":1.5,"price":1}]}`, 400, "qty"},
		{"huge body", "POST", "/orders", `{"customer":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "at most"},
		{"bad fail flag", "POST", "/orders?fail=maybe", goodOrder, 400, "fail must be true or false"},
		{"wrong method", "DELETE", "/orders", ``, 405, "not allowed"},
		{"unknown path", "GET", "/orderz", ``, 404, "no route"},
		{"simulate count zero", "POST", "/simulate?count=0", ``, 400, "count must be an integer between 1 and 10000"},
		{"simulate count huge", "POST", "/simulate?count=10001", ``, 400, "count must be"},
		{"simulate count text", "POST", "/simulate?count=lots", ``, 400, "count must be"},
		{"simulate rate above 1", "POST", "/simulate?error_rate=1.5", ``, 400, "error_rate must be"},
		{"simulate rate NaN", "POST", "/simulate?error_rate=NaN", ``, 400, "error_rate must be"},
		{"simulate rate negative", "POST", "/simulate?error_rate=-0.1", ``, 400, "error_rate must be"},
		{"list bad limit", "GET", "/orders?limit=0", ``, 400, "limit must be"},
		{"list bad status", "GET", "/orders?status=lost", ``, 400, "status"},
		{"get missing", "GET", "/orders/ord_nope", ``, 404, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(t, tc.method, tc.target, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			var body httpkit.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code == "" {
				t.Fatalf("not a JSON error: %q", rec.Body)
			}
			if !strings.Contains(body.Error.Message, tc.mentions) {
				t.Fatalf("message %q does not mention %q", body.Error.Message, tc.mentions)
			}
		})
	}
	if n := f.rows(t); n != 0 {
		t.Fatalf("bad input wrote %d rows", n)
	}
	for _, name := range []string{"orders_processed_total", "orders_created_total", "orders_value_total"} {
		if v := f.value(t, name, nil); v != 0 {
			t.Fatalf("%s = %v after only bad input", name, v)
		}
	}
	if v := f.value(t, "order_errors_total", map[string]string{"error_type": "validation", "endpoint": "/orders"}); v < 10 {
		t.Fatalf("validation errors on /orders = %v, want them counted", v)
	}
}

// gate is an OrderStore decorator that holds CreateOrder until released,
// so a test can fill the queue deterministically.
type gate struct {
	cloudcart.OrderStore
	entered chan struct{}
	release chan struct{}
}

func (g *gate) CreateOrder(ctx context.Context, o *cloudcart.Order) error {
	g.entered <- struct{}{}
	<-g.release
	return g.OrderStore.CreateOrder(ctx, o)
}

func TestFullQueueAnswers503(t *testing.T) {
	var g *gate
	f := mustFixture(t, "sqlite", func(o *orders.Options) {
		g = &gate{OrderStore: o.Store, entered: make(chan struct{}, 10), release: make(chan struct{})}
		o.Store, o.Workers, o.QueueSize = g, 1, 1
	})
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	post := func() {
		wg.Go(func() { codes <- f.do(t, "POST", "/orders", goodOrder).Code })
	}
	post()
	<-g.entered // the only worker is busy
	post()
	deadline := time.Now().Add(30 * time.Second)
	for f.svc.QueueDepth() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	rec := f.do(t, "POST", "/orders", goodOrder)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("full queue: status %d Retry-After %q, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if v := f.value(t, "order_queue_depth", nil); v != 1 {
		t.Fatalf("order_queue_depth = %v while one order waits", v)
	}
	close(g.release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusCreated {
			t.Fatalf("queued order finished with %d", c)
		}
	}
	if f.value(t, "order_errors_total", map[string]string{"error_type": "unavailable"}) != 1 || f.rows(t) != 2 {
		t.Fatal("want one unavailable error and the two accepted orders stored")
	}
}

func TestShutdownFinishesQueuedOrders(t *testing.T) {
	tel := telemetrytest.MustNew(t)
	m, _ := orders.NewMetrics(tel.Meter("t"))
	db := sqlstoretest.MustOpen(t, "sqlite", sqlstore.Options{})
	store, _ := sqlstore.NewOrderStore(context.Background(), db)
	svc, _ := orders.New(orders.Options{Store: store, Metrics: m, Workers: 1, QueueSize: 100, Auth: authntest.MustNew(t).Auth})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Run(ctx) }()
	results := make(chan error, 50)
	for i := range 50 {
		go func() {
			results <- svc.PlaceOrder(context.Background(), &cloudcart.Order{Customer: fmt.Sprint("c", i),
				Items: []cloudcart.Item{{SKU: "S", Qty: 1, Price: 100}}}, false, "/orders")
		}()
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for range 50 {
		if err := <-results; err == nil {
			accepted++
		} else if cloudcart.ErrorCode(err) != cloudcart.EUNAVAILABLE {
			t.Fatalf("order failed with %v, want success or unavailable", err)
		}
	}
	if _, n, _ := store.FindOrders(context.Background(), cloudcart.OrderFilter{}); n != accepted {
		t.Fatalf("%d orders accepted but %d stored", accepted, n)
	}
}

func TestMetricsLint(t *testing.T) {
	f := mustFixture(t, "sqlite")
	f.do(t, "POST", "/simulate?count=5&error_rate=0.5", "")
	f.do(t, "GET", "/orders", "")
	problems, err := testutil.GatherAndLint(f.tel.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func BenchmarkPlaceOrder(b *testing.B) {
	f := mustFixture(b, "sqlite")
	b.ReportAllocs()
	for b.Loop() {
		if rec := f.do(b, "POST", "/orders", goodOrder); rec.Code != http.StatusCreated {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// TestRefusalsAreCountedFromStart: a request without a credential (401)
// and a user asking for another user's orders (403) are counted in
// order_errors_total as unauthorized and forbidden, in series that existed
// at zero from the start: the refusals add no series.
func TestRefusalsAreCountedFromStart(t *testing.T) {
	f := mustFixture(t, "sqlite")
	series := telemetrytest.Count(t, f.tel.Registry, "order_errors_total")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, httptest.NewRequest("GET", "/orders", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("GET /orders without a credential: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	f.h.ServeHTTP(rec, f.kit.AsUser(t, httptest.NewRequest("GET", "/orders?user_id=usr_bob", nil), "usr_alice", cloudcart.RoleUser))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("GET /orders?user_id=usr_bob as usr_alice: %d %s", rec.Code, rec.Body)
	}
	for _, typ := range []string{"unauthorized", "forbidden"} {
		if v := f.value(t, "order_errors_total", map[string]string{"error_type": typ, "endpoint": "/orders"}); v != 1 {
			t.Errorf("order_errors_total{error_type=%q,endpoint=/orders} = %v, want 1", typ, v)
		}
	}
	if n := telemetrytest.Count(t, f.tel.Registry, "order_errors_total"); n != series {
		t.Errorf("order_errors_total had %d series at start and %d after the refusals: not every error type existed from start", series, n)
	}
}
