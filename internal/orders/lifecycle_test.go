package orders_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/authn/authntest"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/orders"
	"github.com/cloudcart/cloudcart/internal/products"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// shop is an order service wired to a real product service over HTTP.
type shop struct {
	*fixture
	products *products.Service
	ptel     *telemetry.Telemetry
	pstore   *sqlstore.ProductStore
}

func mustShop(tb testing.TB, backend string, opts ...option) *shop {
	tb.Helper()
	ptel := telemetrytest.MustNew(tb)
	pm, err := products.NewMetrics(ptel.Meter("p"))
	if err != nil {
		tb.Fatal(err)
	}
	pstore, err := sqlstore.NewProductStore(context.Background(), sqlstoretest.MustOpen(tb, backend, sqlstore.Options{MaxOpenConns: 16}))
	if err != nil {
		tb.Fatal(err)
	}
	psvc, err := products.New(context.Background(), products.Options{Store: pstore, Metrics: pm, Meter: ptel.Meter("p"), Auth: authntest.MustNew(tb).Auth})
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	if err := pstore.CreateProducts(context.Background(),
		&cloudcart.Product{SKU: "HOT-1", Name: "Hot thing", Category: "toys", Price: 2500, Stock: 50, LowStockThreshold: 10, CreatedAt: now, UpdatedAt: now},
		&cloudcart.Product{SKU: "COLD-1", Name: "Cold thing", Category: "home", Price: 1000, Stock: 1000, LowStockThreshold: 10, CreatedAt: now, UpdatedAt: now},
	); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(psvc.Handler())
	tb.Cleanup(srv.Close)
	client := &http.Client{Transport: &authn.ServiceTransport{Token: authntest.ServiceToken, Base: &http.Transport{MaxIdleConnsPerHost: 64}}}
	inv := orders.NewProductClient(srv.URL, client)
	opts = append([]option{func(o *orders.Options) { o.Inventory = inv; o.Workers = 8; o.QueueSize = 512 }}, opts...)
	return &shop{fixture: mustFixture(tb, backend, opts...), products: psvc, ptel: ptel, pstore: pstore}
}

func (s *shop) stock(tb testing.TB, sku string) int {
	tb.Helper()
	p, err := s.pstore.FindProductBySKU(context.Background(), sku)
	if err != nil {
		tb.Fatal(err)
	}
	return p.Stock
}

func (s *shop) count(tb testing.TB, st cloudcart.OrderStatus) int {
	tb.Helper()
	_, n, err := s.store.FindOrders(context.Background(), cloudcart.OrderFilter{Status: st})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

const hotOrder = `{"customer":"c","items":[{"sku":"HOT-1","qty":1}]}`

// TestConcurrentOrdersNeverOversell: 200 parallel orders for a product with
// stock 50 → exactly 50 succeed, stock ends at 0, and the metrics agree with
// both databases.
func TestConcurrentOrdersNeverOversell(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			s := mustShop(t, backend, func(o *orders.Options) { o.ShipAfter = time.Hour }) // counted as confirmed below
			var wg sync.WaitGroup
			codes := make(chan int, 200)
			for range 200 {
				wg.Go(func() { codes <- s.do(t, "POST", "/orders", hotOrder).Code })
			}
			wg.Wait()
			close(codes)
			byCode := map[int]int{}
			for c := range codes {
				byCode[c]++
			}
			if byCode[201] != 50 || byCode[409] != 150 || s.stock(t, "HOT-1") != 0 {
				t.Fatalf("answers %v, stock %d; want 50×201, 150×409, stock 0", byCode, s.stock(t, "HOT-1"))
			}
			confirmed := s.count(t, cloudcart.OrderConfirmed)
			failed := s.count(t, cloudcart.OrderFailed)
			if confirmed != 50 {
				t.Fatalf("%d confirmed orders in the database, want 50", confirmed)
			}
			// Orders that lost the race at the inventory check are never
			// stored nor processed; those that lost it at the reservation
			// are stored failed and counted as processed failures.
			if got := s.value(t, "orders_created_total", nil); got != float64(confirmed+failed) {
				t.Fatalf("orders_created_total %v, database has %d orders", got, confirmed+failed)
			}
			if s.value(t, "order_payments_processed_total", map[string]string{"status": "success"}) != 50 ||
				s.value(t, "orders_processed_total", map[string]string{"status": "success"}) != 50 ||
				s.value(t, "orders_processed_total", map[string]string{"status": "failure"}) != float64(failed) {
				t.Fatalf("payments/processed do not match 50 successes and %d stored failures", failed)
			}
			purchases := telemetrytest.Value(t, s.ptel.Registry, "product_stock_updates_total", map[string]string{"reason": "purchase"})
			if purchases != 50 {
				t.Fatalf("product_stock_updates_total{reason=purchase} = %v, want 50", purchases)
			}
			if s.value(t, "order_inventory_check_duration_seconds", nil) != 200 {
				t.Fatal("want one inventory check per order")
			}
		})
	}
}

func TestPaymentFailureReleasesStock(t *testing.T) {
	s := mustShop(t, "sqlite", func(o *orders.Options) { o.Payments = orders.NewSimulatedPayments(0, 0, 1, 1) })
	rec := s.do(t, "POST", "/orders", `{"customer":"c","items":[{"sku":"HOT-1","qty":3}]}`)
	if rec.Code != http.StatusPaymentRequired {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if s.stock(t, "HOT-1") != 50 || s.count(t, cloudcart.OrderFailed) != 1 {
		t.Fatalf("stock %d, failed orders %d: a declined payment must give the stock back", s.stock(t, "HOT-1"), s.count(t, cloudcart.OrderFailed))
	}
	if s.value(t, "order_payments_processed_total", map[string]string{"status": "failed"}) != 1 {
		t.Fatal("declined payment not counted")
	}
	if held, _, _ := s.store.FindOrders(context.Background(), cloudcart.OrderFilter{StockHeld: true}); len(held) != 0 {
		t.Fatal("released stock not recorded on the order")
	}
}

func TestCatalogPricesWin(t *testing.T) {
	s := mustShop(t, "sqlite")
	rec := s.do(t, "POST", "/orders", `{"customer":"c","items":[{"sku":"COLD-1","qty":2}]}`)
	if rec.Code != 201 || !strings.Contains(rec.Body.String(), `"total":20.00`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = s.do(t, "POST", "/orders", `{"customer":"c","items":[{"sku":"COLD-1","qty":1,"price":1.00}]}`)
	if rec.Code != 409 || !strings.Contains(rec.Body.String(), "price of COLD-1 is 10.00") {
		t.Fatalf("stale client price: %d %s", rec.Code, rec.Body)
	}
	rec = s.do(t, "POST", "/orders", `{"customer":"c","items":[{"sku":"NOPE-1","qty":1}]}`)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "does not exist") {
		t.Fatalf("unknown sku: %d %s", rec.Code, rec.Body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	s := mustShop(t, "sqlite")
	post := func(key, body string) *httptest.ResponseRecorder {
		req := authntest.AsService(httptest.NewRequest("POST", "/orders", strings.NewReader(body)))
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, req)
		return rec
	}
	first := post("k-1", hotOrder)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			again := post("k-1", hotOrder)
			if again.Code != 201 || again.Header().Get("Idempotent-Replayed") != "true" || again.Body.String() != first.Body.String() {
				t.Errorf("retry: %d %s (first %s)", again.Code, again.Body, first.Body)
			}
		})
	}
	wg.Wait()
	if s.stock(t, "HOT-1") != 49 || s.value(t, "orders_created_total", nil) != 1 {
		t.Fatalf("retries created orders: stock %d created %v", s.stock(t, "HOT-1"), s.value(t, "orders_created_total", nil))
	}
	if rec := post("k-1", `{"customer":"c","items":[{"sku":"HOT-1","qty":2}]}`); rec.Code != 400 || !strings.Contains(rec.Body.String(), "different request") {
		t.Fatalf("reused key with another body: %d %s", rec.Code, rec.Body)
	}
	declined := authntest.AsService(httptest.NewRequest("POST", "/orders?fail=true", strings.NewReader(hotOrder)))
	declined.Header.Set("Idempotency-Key", "k-2")
	for range 2 {
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, declined.Clone(context.Background()))
		declined.Body = http.NoBody
		if rec.Code != http.StatusPaymentRequired {
			t.Fatalf("replayed failure: %d %s", rec.Code, rec.Body)
		}
		declined = authntest.AsService(httptest.NewRequest("POST", "/orders?fail=true", strings.NewReader(hotOrder)))
		declined.Header.Set("Idempotency-Key", "k-2")
	}
}

func TestLifecycleAndCancel(t *testing.T) {
	s := mustShop(t, "sqlite", func(o *orders.Options) {
		o.ShipAfter, o.DeliverAfter, o.SweepEvery = 50*time.Millisecond, 50*time.Millisecond, 10*time.Millisecond
	})
	var delivered, cancelled cloudcart.Order
	_ = json.Unmarshal(s.do(t, "POST", "/orders", hotOrder).Body.Bytes(), &delivered)
	mustEventually(t, 5*time.Second, "order delivered", func() bool {
		return s.value(t, "orders_completed_total", nil) == 1
	})
	if rec := s.do(t, "POST", "/orders/"+delivered.ID+"/cancel", ""); rec.Code != http.StatusConflict {
		t.Fatalf("cancel a delivered order: %d, want 409", rec.Code)
	}
	// A fresh service with slow shipping, to cancel while confirmed.
	s2 := mustShop(t, "sqlite", func(o *orders.Options) { o.ShipAfter = time.Hour })
	_ = json.Unmarshal(s2.do(t, "POST", "/orders", `{"customer":"c","items":[{"sku":"HOT-1","qty":4}]}`).Body.Bytes(), &cancelled)
	if s2.stock(t, "HOT-1") != 46 {
		t.Fatal("order did not take stock")
	}
	rec := s2.do(t, "POST", "/orders/"+cancelled.ID+"/cancel", "")
	if rec.Code != 200 || s2.stock(t, "HOT-1") != 50 || s2.value(t, "orders_cancelled_total", nil) != 1 {
		t.Fatalf("cancel: %d %s stock %d", rec.Code, rec.Body, s2.stock(t, "HOT-1"))
	}
	if rec := s2.do(t, "POST", "/orders/"+cancelled.ID+"/cancel", ""); rec.Code != http.StatusConflict {
		t.Fatalf("second cancel: %d, want 409", rec.Code)
	}
	if cancels := telemetrytest.Value(t, s2.ptel.Registry, "product_stock_updates_total", map[string]string{"reason": "cancellation"}); cancels != 1 {
		t.Fatalf("cancellation stock updates %v", cancels)
	}
}

// TestSweepAdvancesEveryDueOrder: more due orders than one sweep moves at
// once (advanceParallel) all ship and are delivered, each counted once.
func TestSweepAdvancesEveryDueOrder(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			s := mustShop(t, backend, func(o *orders.Options) {
				o.ShipAfter, o.DeliverAfter, o.SweepEvery = 50*time.Millisecond, 50*time.Millisecond, 10*time.Millisecond
			})
			const n = 40
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					if rec := s.do(t, "POST", "/orders", `{"customer":"c","items":[{"sku":"COLD-1","qty":1}]}`); rec.Code != http.StatusCreated {
						t.Errorf("order: %d %s", rec.Code, rec.Body)
					}
				})
			}
			wg.Wait()
			mustEventually(t, 10*time.Second, "every order delivered", func() bool {
				return s.count(t, cloudcart.OrderDelivered) == n
			})
			if got := s.value(t, "orders_completed_total", nil); got != n {
				t.Fatalf("orders_completed_total %v, want %d", got, n)
			}
		})
	}
}

// TestAbandonedOrderIsFailedAndReleased: an order left pending by a process
// that died, with stock reserved, is failed and its stock returned.
func TestAbandonedOrderIsFailedAndReleased(t *testing.T) {
	s := mustShop(t, "sqlite", func(o *orders.Options) {
		o.PendingTimeout, o.SweepEvery = 100*time.Millisecond, 10*time.Millisecond
	})
	ctx := context.Background()
	o := &cloudcart.Order{ID: "ord_abandoned", Customer: "c", Items: []cloudcart.Item{{SKU: "HOT-1", Qty: 5, Price: 2500}},
		Status: cloudcart.OrderPending, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	_ = o.Validate()
	o.Status = cloudcart.OrderPending
	if err := s.store.CreateOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := s.products.Reserve(ctx, o.ID, []cloudcart.ReservationItem{{SKU: "HOT-1", Qty: 5}}); err != nil {
		t.Fatal(err)
	}
	mustEventually(t, 5*time.Second, "abandoned order failed and released", func() bool {
		got, err := s.store.FindOrderByID(ctx, o.ID)
		return err == nil && got.Status == cloudcart.OrderFailed && s.stock(t, "HOT-1") == 50
	})
}

// TestUnrecordedReservationIsReleased: a process that reserved stock and
// died before recording its order leaves a reservation no order owns; the
// sweep releases it once it is older than the pending timeout, and the
// stock of a recorded order stays taken.
func TestUnrecordedReservationIsReleased(t *testing.T) {
	s := mustShop(t, "sqlite", func(o *orders.Options) {
		o.PendingTimeout, o.SweepEvery, o.ShipAfter = 200*time.Millisecond, 10*time.Millisecond, time.Hour
	})
	ctx := context.Background()
	if rec := s.do(t, "POST", "/orders", `{"customer":"c","items":[{"sku":"HOT-1","qty":2}]}`); rec.Code != 201 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if _, err := s.products.Reserve(ctx, "ord_orphan", []cloudcart.ReservationItem{{SKU: "HOT-1", Qty: 5}}); err != nil {
		t.Fatal(err)
	}
	if s.stock(t, "HOT-1") != 43 {
		t.Fatalf("stock %d, want 43 (2 ordered, 5 reserved by the orphan)", s.stock(t, "HOT-1"))
	}
	mustEventually(t, 5*time.Second, "orphan reservation released", func() bool {
		r, err := s.pstore.FindReservation(ctx, "ord_orphan")
		return err == nil && r.State == cloudcart.ReservationReleased
	})
	if got := s.stock(t, "HOT-1"); got != 48 {
		t.Fatalf("stock %d after the orphan's release, want 48: the confirmed order keeps its 2", got)
	}
	if s.count(t, cloudcart.OrderConfirmed) != 1 {
		t.Fatal("the recorded order lost its confirmation")
	}
}

// TestConfirmedOrdersCommitTheirReservations: the reservation of a
// confirmed order is committed after the 201 (in a batch), and one a
// crash left held (the order confirmed, the commit never sent) is
// committed by the sweep, not released.
func TestConfirmedOrdersCommitTheirReservations(t *testing.T) {
	s := mustShop(t, "sqlite", func(o *orders.Options) {
		o.PendingTimeout, o.SweepEvery, o.ShipAfter = 200*time.Millisecond, 10*time.Millisecond, time.Hour
	})
	ctx := context.Background()
	var placed cloudcart.Order
	rec := s.do(t, "POST", "/orders", `{"customer":"c","items":[{"sku":"HOT-1","qty":2}]}`)
	if rec.Code != 201 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &placed)
	committed := func(id string) func() bool {
		return func() bool {
			r, err := s.pstore.FindReservation(ctx, id)
			return err == nil && r.State == cloudcart.ReservationCommitted
		}
	}
	mustEventually(t, 5*time.Second, "placed order's reservation committed", committed(placed.ID))

	crashed := &cloudcart.Order{ID: "ord_crashed", Customer: "c", Items: []cloudcart.Item{{SKU: "HOT-1", Qty: 3, Price: 2500}}}
	_ = crashed.Validate()
	crashed.Status, crashed.CreatedAt, crashed.UpdatedAt = cloudcart.OrderPending, time.Now(), time.Now()
	if _, err := s.products.Reserve(ctx, crashed.ID, []cloudcart.ReservationItem{{SKU: "HOT-1", Qty: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := s.store.CreateOrder(ctx, crashed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.UpdateOrderStatus(ctx, crashed.ID, cloudcart.OrderConfirmed, "", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	mustEventually(t, 5*time.Second, "crashed order's reservation committed by the sweep", committed(crashed.ID))
	if got := s.stock(t, "HOT-1"); got != 45 {
		t.Fatalf("stock %d, want 45: both confirmed orders keep their stock", got)
	}
}

func TestSlow(t *testing.T) {
	f := mustFixture(t, "sqlite")
	start := time.Now()
	if rec := f.do(t, "GET", "/slow?ms=30", ""); rec.Code != 200 || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("%d after %s", rec.Code, time.Since(start))
	}
	if rec := f.do(t, "GET", "/slow?ms=60000", ""); rec.Code != 400 {
		t.Fatalf("unbounded slow: %d", rec.Code)
	}
}

func mustEventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
