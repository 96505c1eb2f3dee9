package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

func mustProductStore(tb testing.TB, backend string, ps ...*cloudcart.Product) *sqlstore.ProductStore {
	tb.Helper()
	db := sqlstoretest.MustOpen(tb, backend, sqlstore.Options{MaxOpenConns: 16})
	s, err := sqlstore.NewProductStore(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	if len(ps) > 0 {
		if err := s.CreateProducts(context.Background(), ps...); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func product(sku, category string, price cloudcart.Money, stock int) *cloudcart.Product {
	now := time.Now()
	return &cloudcart.Product{SKU: sku, Name: "Thing " + sku, Description: "A fine " + category + " item", Category: category,
		Price: price, Stock: stock, LowStockThreshold: 10, CreatedAt: now, UpdatedAt: now}
}

func stockOf(tb testing.TB, s *sqlstore.ProductStore, sku string) int {
	tb.Helper()
	p, err := s.FindProductBySKU(context.Background(), sku)
	if err != nil {
		tb.Fatal(err)
	}
	return p.Stock
}

func TestProductStore(t *testing.T) {
	ctx := context.Background()
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Run("concurrent reservations never oversell", func(t *testing.T) {
				s := mustProductStore(t, backend, product("HOT-1", "toys", 999, 50))
				var ok, short atomic.Int64
				var wg sync.WaitGroup
				for i := range 200 {
					wg.Go(func() {
						_, _, err := s.Reserve(ctx, fmt.Sprintf("ord_%03d", i), []cloudcart.ReservationItem{{SKU: "HOT-1", Qty: 1}}, time.Now().Add(time.Hour))
						switch cloudcart.ErrorCode(err) {
						case "":
							ok.Add(1)
						case cloudcart.ECONFLICT:
							short.Add(1)
						default:
							t.Errorf("reserve: %v", err)
						}
					})
				}
				wg.Wait()
				if ok.Load() != 50 || short.Load() != 150 || stockOf(t, s, "HOT-1") != 0 {
					t.Fatalf("reserved %d, refused %d, stock %d; want 50, 150, 0", ok.Load(), short.Load(), stockOf(t, s, "HOT-1"))
				}
			})
			t.Run("all or nothing", func(t *testing.T) {
				s := mustProductStore(t, backend, product("A", "books", 100, 5), product("B", "books", 200, 1))
				_, _, err := s.Reserve(ctx, "ord_1", []cloudcart.ReservationItem{{SKU: "A", Qty: 2}, {SKU: "B", Qty: 2}}, time.Now().Add(time.Hour))
				if cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
					t.Fatalf("err = %v, want conflict", err)
				}
				if stockOf(t, s, "A") != 5 || stockOf(t, s, "B") != 1 {
					t.Fatal("a failed reservation changed stock")
				}
				if _, err := s.FindReservation(ctx, "ord_1"); cloudcart.ErrorCode(err) != cloudcart.ENOTFOUND {
					t.Fatalf("failed reservation left a row: %v", err)
				}
				_, _, err = s.Reserve(ctx, "ord_2", []cloudcart.ReservationItem{{SKU: "NOPE", Qty: 1}}, time.Now().Add(time.Hour))
				if cloudcart.ErrorCode(err) != cloudcart.ENOTFOUND {
					t.Fatalf("unknown sku: %v", err)
				}
			})
			t.Run("reserve commit release are idempotent", func(t *testing.T) {
				s := mustProductStore(t, backend, product("A", "books", 150, 10))
				items := []cloudcart.ReservationItem{{SKU: "A", Qty: 2}, {SKU: "A", Qty: 1}}
				r, ch, err := s.Reserve(ctx, "ord_1", items, time.Now().Add(time.Hour))
				if err != nil || len(ch) != 1 || ch[0].Before != 10 || ch[0].After != 7 || r.Prices["A"] != 150 {
					t.Fatalf("reserve: %+v %+v %v", r, ch, err)
				}
				if _, ch, err := s.Reserve(ctx, "ord_1", items, time.Now().Add(time.Hour)); err != nil || len(ch) != 0 || stockOf(t, s, "A") != 7 {
					t.Fatalf("second reserve changed stock: %v %v", ch, err)
				}
				if err := s.Commit(ctx, "ord_1"); err != nil {
					t.Fatal(err)
				}
				if err := s.Commit(ctx, "ord_1"); err != nil {
					t.Fatal(err)
				}
				if ch, err := s.Release(ctx, "ord_1", cloudcart.StockCancellation); err != nil || len(ch) != 1 || stockOf(t, s, "A") != 10 {
					t.Fatalf("release: %v %v stock %d", ch, err, stockOf(t, s, "A"))
				}
				if _, err := s.Release(ctx, "ord_1", cloudcart.StockCancellation); err != nil || stockOf(t, s, "A") != 10 {
					t.Fatal("second release changed stock")
				}
			})
			t.Run("release before reserve leaves a tombstone", func(t *testing.T) {
				s := mustProductStore(t, backend, product("A", "books", 150, 10))
				if _, err := s.Release(ctx, "ord_late", cloudcart.StockCancellation); err != nil {
					t.Fatal(err)
				}
				_, _, err := s.Reserve(ctx, "ord_late", []cloudcart.ReservationItem{{SKU: "A", Qty: 1}}, time.Now().Add(time.Hour))
				if cloudcart.ErrorCode(err) != cloudcart.ECONFLICT || stockOf(t, s, "A") != 10 {
					t.Fatalf("late reserve: %v, stock %d", err, stockOf(t, s, "A"))
				}
			})
			t.Run("adjust never goes negative", func(t *testing.T) {
				s := mustProductStore(t, backend, product("A", "books", 150, 3))
				if _, err := s.AdjustStock(ctx, "A", -4, cloudcart.StockPurchase); cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
					t.Fatalf("err = %v", err)
				}
				ch, err := s.AdjustStock(ctx, "A", 20, cloudcart.StockRestock)
				if err != nil || ch.Before != 3 || ch.After != 23 {
					t.Fatalf("%+v %v", ch, err)
				}
			})
			t.Run("search, filters, stats", func(t *testing.T) {
				s := mustProductStore(t, backend, product("B-1", "books", 100, 50), product("B-2", "books", 300, 2),
					product("T-1", "toys", 500, 0))
				ps, total, err := s.FindProducts(ctx, cloudcart.ProductFilter{Category: "books"})
				if err != nil || total != 2 || len(ps) != 2 {
					t.Fatalf("%d %d %v", total, len(ps), err)
				}
				_, n, _ := s.FindProducts(ctx, cloudcart.ProductFilter{Query: "TOYS"})
				_, none, _ := s.FindProducts(ctx, cloudcart.ProductFilter{Query: "%"})
				if n != 1 || none != 0 {
					t.Fatalf("search toys = %d, search %% = %d; want 1 and 0 (LIKE wildcards escaped)", n, none)
				}
				st, _ := s.CategoryStats(ctx)
				low, _ := s.LowStockCount(ctx)
				if len(st) != 2 || st[0].Category != "books" || st[0].Count != 2 || st[0].AvgPrice != 200 || low != 2 {
					t.Fatalf("stats %+v low %d", st, low)
				}
			})
		})
	}
}
