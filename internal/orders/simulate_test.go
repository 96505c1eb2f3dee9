package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/orders"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

// TestSimulateCountsWhatItStores: /simulate across a stock-out. Every
// order orders_processed_total counts is in the database with that
// outcome (a failed one with its reason); orders refused at the inventory
// check are counted in order_errors_total{error_type="out_of_stock"} and
// the response's "rejected", nowhere else.
func TestSimulateCountsWhatItStores(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			// Confirmed orders must stay confirmed until they are counted:
			// on a busy machine /simulate can outlast the default 5 s
			// before the first ones ship.
			s := mustShop(t, backend, func(o *orders.Options) { o.ShipAfter = time.Hour })
			// 250 products of 4 units each: /simulate samples 50 of them,
			// so 300 orders of 1-3 lines of 1-2 units run out of stock.
			now := time.Now()
			var ps []*cloudcart.Product
			for i := range 250 {
				ps = append(ps, &cloudcart.Product{SKU: fmt.Sprintf("FEW-%03d", i), Name: "Few", Category: "toys",
					Price: 1000, Stock: 4, LowStockThreshold: 1, CreatedAt: now, UpdatedAt: now})
			}
			if err := s.pstore.CreateProducts(context.Background(), ps...); err != nil {
				t.Fatal(err)
			}
			rec := s.do(t, "POST", "/simulate?count=300&error_rate=0.1", "")
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var res orders.SimulateResult
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			succeeded := s.value(t, "orders_processed_total", map[string]string{"status": "success"})
			failed := s.value(t, "orders_processed_total", map[string]string{"status": "failure"})
			outOfStock := s.value(t, "order_errors_total", map[string]string{"error_type": "out_of_stock", "endpoint": "/simulate"})
			stored, _, err := s.store.FindOrders(context.Background(), cloudcart.OrderFilter{Status: cloudcart.OrderFailed, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("response %+v; processed success=%v failure=%v; out_of_stock errors %v; %d failed orders stored",
				res, succeeded, failed, outOfStock, len(stored))
			if res.Succeeded+res.Failed+res.Rejected != 300 {
				t.Fatalf("response %+v does not add up to 300", res)
			}
			if res.Rejected == 0 {
				t.Fatal("no order was refused at the inventory check: the stock-out did not happen")
			}
			if int(failed) != len(stored) || res.Failed != len(stored) {
				t.Fatalf("orders_processed_total{status=failure} = %v, response failed = %d, failed orders stored = %d; want all equal",
					failed, res.Failed, len(stored))
			}
			if c := s.count(t, cloudcart.OrderConfirmed); int(succeeded) != c || res.Succeeded != c {
				t.Fatalf("orders_processed_total{status=success} = %v, response %d, confirmed orders stored = %d", succeeded, res.Succeeded, c)
			}
			for _, o := range stored {
				if o.FailureCode == "" || o.FailureReason == "" {
					t.Fatalf("failed order %s stored without its reason: %+v", o.ID, o)
				}
			}
			// Refused orders are errors, each counted once under a
			// documented error_type.
			if outOfStock < float64(res.Rejected) {
				t.Fatalf("order_errors_total{error_type=out_of_stock} = %v, but %d orders were rejected", outOfStock, res.Rejected)
			}
		})
	}
}

// TestOrderValueIsExact: orders_value_total is the sum of the orders'
// totals to the cent, with no float drift: three orders of $0.10 make
// 0.3, not 0.30000000000000004.
func TestOrderValueIsExact(t *testing.T) {
	f := mustFixture(t, "sqlite")
	for range 3 {
		if rec := f.do(t, "POST", "/orders", `{"customer":"a","items":[{"sku":"S","qty":1,"price":0.10}]}`); rec.Code != 201 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	if v := f.value(t, "orders_value_total", nil); v != 0.3 {
		t.Fatalf("orders_value_total = %v, want exactly 0.3", v)
	}
}
