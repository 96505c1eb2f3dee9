package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

func mustOrderStore(tb testing.TB, backend string) (*sqlstore.OrderStore, *sqlstore.DB) {
	tb.Helper()
	db := sqlstoretest.MustOpen(tb, backend, sqlstore.Options{})
	s, err := sqlstore.NewOrderStore(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	return s, db
}

func newOrder(customer string, at time.Time) *cloudcart.Order {
	o := &cloudcart.Order{
		ID:       cloudcart.NewID("ord", at),
		Customer: customer,
		Items:    []cloudcart.Item{{SKU: "A-1", Qty: 2, Price: 1250}, {SKU: "B-2", Qty: 1, Price: 99}},
		Status:   cloudcart.OrderConfirmed, CreatedAt: at, UpdatedAt: at,
	}
	if err := o.Validate(); err != nil {
		panic(err)
	}
	return o
}

func TestOrderStore(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			t.Run("create and find", func(t *testing.T) {
				s, _ := mustOrderStore(t, backend)
				at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
				o := newOrder("alice", at)
				if err := s.CreateOrder(ctx, o); err != nil {
					t.Fatal(err)
				}
				got, err := s.FindOrderByID(ctx, o.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Customer != "alice" || got.Total != 2599 || len(got.Items) != 2 || got.Items[1].SKU != "B-2" ||
					!got.CreatedAt.Equal(at) || got.Status != cloudcart.OrderConfirmed {
					t.Fatalf("round trip changed the order: %+v", got)
				}
			})
			t.Run("not found", func(t *testing.T) {
				s, _ := mustOrderStore(t, backend)
				_, err := s.FindOrderByID(ctx, "ord_missing")
				if cloudcart.ErrorCode(err) != cloudcart.ENOTFOUND {
					t.Fatalf("err = %v, want not_found", err)
				}
			})
			t.Run("duplicate id is a conflict and writes nothing", func(t *testing.T) {
				s, _ := mustOrderStore(t, backend)
				o := newOrder("alice", time.Now())
				if err := s.CreateOrder(ctx, o); err != nil {
					t.Fatal(err)
				}
				dup := newOrder("bob", time.Now())
				dup.ID = o.ID
				if err := s.CreateOrder(ctx, dup); cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
					t.Fatalf("err = %v, want conflict", err)
				}
				got, _ := s.FindOrderByID(ctx, o.ID)
				if got.Customer != "alice" || len(got.Items) != 2 {
					t.Fatalf("duplicate insert changed the order: %+v", got)
				}
			})
			t.Run("a failing item rolls back the order", func(t *testing.T) {
				s, _ := mustOrderStore(t, backend)
				o := newOrder("alice", time.Now())
				o.Items[1].Qty = -1 // violates the CHECK constraint; Validate is bypassed on purpose
				if err := s.CreateOrder(ctx, o); err == nil {
					t.Fatal("insert with a negative quantity succeeded")
				}
				if _, n, _ := s.FindOrders(ctx, cloudcart.OrderFilter{}); n != 0 {
					t.Fatalf("%d orders stored after a failed insert, want 0", n)
				}
			})
			t.Run("list pages newest first with filters", func(t *testing.T) {
				s, _ := mustOrderStore(t, backend)
				base := time.Now().Add(-time.Hour)
				for i := range 7 {
					o := newOrder(fmt.Sprintf("c%d", i%2), base.Add(time.Duration(i)*time.Second))
					if i == 6 {
						o.Status, o.FailureReason = cloudcart.OrderFailed, "declined"
					}
					if err := s.CreateOrder(ctx, o); err != nil {
						t.Fatal(err)
					}
				}
				page, total, err := s.FindOrders(ctx, cloudcart.OrderFilter{Limit: 3, Offset: 1})
				if err != nil {
					t.Fatal(err)
				}
				if total != 7 || len(page) != 3 || !page[0].CreatedAt.After(page[1].CreatedAt) || len(page[2].Items) != 2 {
					t.Fatalf("total=%d page=%d first=%v", total, len(page), page)
				}
				_, failed, _ := s.FindOrders(ctx, cloudcart.OrderFilter{Status: cloudcart.OrderFailed})
				_, c0, _ := s.FindOrders(ctx, cloudcart.OrderFilter{Customer: "c0"})
				if failed != 1 || c0 != 4 {
					t.Fatalf("failed=%d c0=%d, want 1 and 4", failed, c0)
				}
			})
			t.Run("concurrent writers all commit", func(t *testing.T) {
				s, _ := mustOrderStore(t, backend)
				var wg sync.WaitGroup
				errs := make(chan error, 40)
				for range 40 {
					wg.Go(func() { errs <- s.CreateOrder(ctx, newOrder("x", time.Now())) })
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				if _, n, _ := s.FindOrders(ctx, cloudcart.OrderFilter{}); n != 40 {
					t.Fatalf("%d orders, want 40", n)
				}
			})
			t.Run("migrations are idempotent", func(t *testing.T) {
				_, db := mustOrderStore(t, backend)
				if _, err := sqlstore.NewOrderStore(ctx, db); err != nil {
					t.Fatalf("second migration run: %v", err)
				}
			})
		})
	}
}
