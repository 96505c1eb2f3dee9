package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

// mustStoreOutbox gives db an outbox whose relay publishes to the returned
// publisher on Flush.
func mustStoreOutbox(tb testing.TB, db *sqlstore.DB) (*sqlstore.Outbox, func() []*cloudcart.Event) {
	tb.Helper()
	if err := sqlstore.MigrateEvents(context.Background(), db); err != nil {
		tb.Fatal(err)
	}
	p := &capturePublisher{}
	r := mustRelay(tb, db, "test-service", p)
	return sqlstore.NewOutbox("test-service", r), func() []*cloudcart.Event {
		tb.Helper()
		if _, err := r.Flush(context.Background()); err != nil {
			tb.Fatal(err)
		}
		out := p.events
		p.events = nil
		return out
	}
}

func eventTypes(es []*cloudcart.Event) []cloudcart.EventType {
	out := make([]cloudcart.EventType, len(es))
	for i, e := range es {
		out[i] = e.Type
	}
	return out
}

func sameTypes(got []*cloudcart.Event, want ...cloudcart.EventType) bool {
	g := eventTypes(got)
	if len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

// TestStoresWriteEvents: with an outbox, each store writes the events of
// its state changes in the same transaction; a change that fails writes
// none.
func TestStoresWriteEvents(t *testing.T) {
	ctx := context.Background()
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Run("orders", func(t *testing.T) {
				s, db := mustOrderStore(t, backend)
				var flush func() []*cloudcart.Event
				s.Events, flush = mustStoreOutbox(t, db)
				now := time.Now()
				o := newOrder("alice", now)
				o.Status = cloudcart.OrderPending
				if err := s.CreateOrder(ctx, o); err != nil {
					t.Fatal(err)
				}
				if err := s.CreateOrder(ctx, o); err == nil { // same id: rolled back, no event
					t.Fatal("second CreateOrder of the same id succeeded")
				}
				got := flush()
				if !sameTypes(got, cloudcart.EventOrderCreated) {
					t.Fatalf("after create: %v", eventTypes(got))
				}
				var d cloudcart.OrderCreatedData
				if err := json.Unmarshal(got[0].Data, &d); err != nil || d.OrderID != o.ID || d.Total != o.Total || d.Items != 2 {
					t.Fatalf("order.created data %+v, %v", d, err)
				}
				for _, to := range []cloudcart.OrderStatus{cloudcart.OrderConfirmed, cloudcart.OrderShipped, cloudcart.OrderDelivered} {
					if _, err := s.UpdateOrderStatus(ctx, o.ID, to, "", "", now); err != nil {
						t.Fatal(err)
					}
				}
				if got := flush(); !sameTypes(got, cloudcart.EventPaymentProcessed, cloudcart.EventOrderCompleted) {
					t.Fatalf("confirmed → delivered: %v", eventTypes(got))
				}

				declined, cancelled := newOrder("bob", now), newOrder("carol", now)
				declined.Status, cancelled.Status = cloudcart.OrderPending, cloudcart.OrderPending
				for _, o := range []*cloudcart.Order{declined, cancelled} {
					if err := s.CreateOrder(ctx, o); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := s.UpdateOrderStatus(ctx, declined.ID, cloudcart.OrderFailed, cloudcart.EPAYMENT, "declined", now); err != nil {
					t.Fatal(err)
				}
				if _, err := s.UpdateOrderStatus(ctx, cancelled.ID, cloudcart.OrderConfirmed, "", "", now); err != nil {
					t.Fatal(err)
				}
				if _, err := s.UpdateOrderStatus(ctx, cancelled.ID, cloudcart.OrderCancelled, "", "by the customer", now); err != nil {
					t.Fatal(err)
				}
				if _, err := s.UpdateOrderStatus(ctx, cancelled.ID, cloudcart.OrderConfirmed, "", "", now); err == nil {
					t.Fatal("cancelled → confirmed was allowed")
				}
				got = flush()
				if !sameTypes(got, cloudcart.EventOrderCreated, cloudcart.EventOrderCreated, cloudcart.EventPaymentProcessed,
					cloudcart.EventPaymentProcessed, cloudcart.EventOrderCancelled) {
					t.Fatalf("decline and cancel: %v", eventTypes(got))
				}
				var p cloudcart.PaymentProcessedData
				if err := json.Unmarshal(got[2].Data, &p); err != nil || p.Status != "failed" || p.OrderID != declined.ID {
					t.Fatalf("declined payment.processed %+v, %v", p, err)
				}
			})
			t.Run("products", func(t *testing.T) {
				db := sqlstoretest.MustOpen(t, backend, sqlstore.Options{})
				s, err := sqlstore.NewProductStore(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				var flush func() []*cloudcart.Event
				s.Events, flush = mustStoreOutbox(t, db)
				if err := s.CreateProducts(ctx, product("SKU-1", "books", 500, 12)); err != nil {
					t.Fatal(err)
				}
				for _, delta := range []int{-2, -1, -1, +5, -5} { // 10, 9 (crossing), 8, 13, 8 (crossing)
					if _, err := s.AdjustStock(ctx, "SKU-1", delta, cloudcart.StockPurchase); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := s.AdjustStock(ctx, "SKU-1", -100, cloudcart.StockPurchase); err == nil {
					t.Fatal("stock went negative")
				}
				got := flush()
				if !sameTypes(got, cloudcart.EventInventoryLowStock, cloudcart.EventInventoryLowStock) {
					t.Fatalf("low-stock events: %v", eventTypes(got))
				}
				var d cloudcart.InventoryLowStockData
				if err := json.Unmarshal(got[0].Data, &d); err != nil || d.SKU != "SKU-1" || d.Stock != 9 || d.Threshold != 10 {
					t.Fatalf("inventory.low_stock data %+v, %v", d, err)
				}
			})
			t.Run("users", func(t *testing.T) {
				s, db := mustUserStore(t, backend)
				var flush func() []*cloudcart.Event
				s.Events, flush = mustStoreOutbox(t, db)
				u := newUser("a@example.com", cloudcart.RoleUser, true, time.Now())
				if err := s.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
				dup := newUser("a@example.com", cloudcart.RoleUser, true, time.Now())
				if err := s.CreateUser(ctx, dup); cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
					t.Fatalf("duplicate email: %v", err)
				}
				got := flush()
				if !sameTypes(got, cloudcart.EventUserRegistered) {
					t.Fatalf("user events: %v", eventTypes(got))
				}
			})
		})
	}
}
