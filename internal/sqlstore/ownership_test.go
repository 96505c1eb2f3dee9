package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

func ownedOrder(id, userID, key string) *cloudcart.Order {
	now := time.Now()
	return &cloudcart.Order{ID: id, UserID: userID, Customer: "shown name", Status: cloudcart.OrderPending,
		Items: []cloudcart.Item{{SKU: "A", Qty: 1, Price: 100}}, Total: 100, CreatedAt: now, UpdatedAt: now,
		IdempotencyKey: key, RequestHash: "h-" + id}
}

// TestOrderOwnership: orders keep their owner, listing filters by it, and
// an idempotency key is unique per user: the same key is two orders for
// two users, and one user's key is not found for another.
func TestOrderOwnership(t *testing.T) {
	ctx := context.Background()
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			s, _ := mustOrderStore(t, backend)
			for _, o := range []*cloudcart.Order{ownedOrder("ord_a", "usr_alice", "k"), ownedOrder("ord_b", "usr_bob", "k"), ownedOrder("ord_c", "", "k")} {
				if err := s.CreateOrder(ctx, o); err != nil {
					t.Fatalf("%s: %v", o.ID, err)
				}
			}
			if err := s.CreateOrder(ctx, ownedOrder("ord_a2", "usr_alice", "k")); err != cloudcart.ErrIdempotencyKeyUsed {
				t.Fatalf("alice's key again: %v", err)
			}
			for user, want := range map[string]string{"usr_alice": "ord_a", "usr_bob": "ord_b", "": "ord_c"} {
				o, err := s.FindOrderByIdempotencyKey(ctx, user, "k")
				if err != nil || o.ID != want || o.UserID != user {
					t.Fatalf("key k of %q: %+v %v", user, o, err)
				}
			}
			if _, err := s.FindOrderByIdempotencyKey(ctx, "usr_mallory", "k"); cloudcart.ErrorCode(err) != cloudcart.ENOTFOUND {
				t.Fatalf("another user's key: %v", err)
			}
			got, total, err := s.FindOrders(ctx, cloudcart.OrderFilter{UserID: "usr_bob"})
			if err != nil || total != 1 || got[0].ID != "ord_b" || got[0].UserID != "usr_bob" {
				t.Fatalf("bob's orders: %d %+v %v", total, got, err)
			}
		})
	}
}

// TestUpgradeKeepsOrdersAndReservations builds the databases as the
// previous release left them (an order with an idempotency key, a held
// reservation), then opens them with this release: the order becomes the
// anonymous user's with its key, and the reservation gets an expiry ten
// minutes after its last change, so nothing is lost and nothing is held
// for ever.
func TestUpgradeKeepsOrdersAndReservations(t *testing.T) {
	ctx := context.Background()
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			db := sqlstoretest.MustOpen(t, backend, sqlstore.Options{})
			if err := db.Migrate(ctx, "orders", sqlstore.OrderMigrations[:2]); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx, "products", sqlstore.ProductMigrations[:1]); err != nil {
				t.Fatal(err)
			}
			c := db.Conn()
			held := time.Now().Add(-time.Minute).UnixMicro()
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO orders (id, customer, total_cents, status, created_at, updated_at) VALUES ('ord_old', 'alice', 100, 'confirmed', 1, 1)`, nil},
				{`INSERT INTO order_items (order_id, line, sku, qty, price_cents) VALUES ('ord_old', 0, 'A', 1, 100)`, nil},
				{`INSERT INTO order_idempotency (idem_key, order_id, request_hash, created_at) VALUES ('k-old', 'ord_old', 'h', 1)`, nil},
				{`INSERT INTO products (sku, name, description, category, price_cents, stock, low_stock_threshold, created_at, updated_at)
					VALUES ('A', 'A', '', 'books', 100, 5, 1, 1, 1)`, nil},
				{`INSERT INTO reservations (order_id, state, created_at, updated_at) VALUES ('ord_held', 'reserved', $1, $1)`, []any{held}},
				{`INSERT INTO reservation_items (order_id, sku, qty, price_cents) VALUES ('ord_held', 'A', 2, 100)`, nil},
			} {
				if _, err := c.Exec(ctx, q.sql, q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}
			orders, err := sqlstore.NewOrderStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			o, err := orders.FindOrderByIdempotencyKey(ctx, "", "k-old")
			if err != nil || o.ID != "ord_old" || o.UserID != "" || o.Customer != "alice" || len(o.Items) != 1 {
				t.Fatalf("old order after upgrade: %+v %v", o, err)
			}
			ps, err := sqlstore.NewProductStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ps.FindReservation(ctx, "ord_held")
			if want := time.UnixMicro(held).Add(10 * time.Minute).UTC(); err != nil || r.State != cloudcart.ReservationHeld || !r.ExpiresAt.Equal(want) {
				t.Fatalf("old reservation after upgrade: %+v %v, want expiry %s", r, err, want)
			}
			ids, _, err := ps.ExpireReservations(ctx, r.ExpiresAt.Add(time.Second), 10)
			if err != nil || len(ids) != 1 || stockOf(t, ps, "A") != 7 {
				t.Fatalf("expire the old reservation: %v %v, stock %d", ids, err, stockOf(t, ps, "A"))
			}
		})
	}
}

// TestReservationExpiry: a held reservation is released at its expiry and
// not before, once, with its stock back; a committed one never expires;
// and a commit after the expiry is a conflict, not committed stock that
// was given back.
func TestReservationExpiry(t *testing.T) {
	ctx := context.Background()
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			s := mustProductStore(t, backend, product("A", "books", 150, 10))
			now := time.Now()
			items := []cloudcart.ReservationItem{{SKU: "A", Qty: 3}}
			if _, _, err := s.Reserve(ctx, "ord_lost", items, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Reserve(ctx, "ord_paid", items, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(ctx, "ord_paid"); err != nil {
				t.Fatal(err)
			}
			if ids, _, err := s.ExpireReservations(ctx, now.Add(59*time.Second), 10); err != nil || len(ids) != 0 || stockOf(t, s, "A") != 4 {
				t.Fatalf("before expiry: %v %v stock %d", ids, err, stockOf(t, s, "A"))
			}
			ids, changes, err := s.ExpireReservations(ctx, now.Add(time.Minute), 10)
			if err != nil || len(ids) != 1 || ids[0] != "ord_lost" || len(changes) != 1 || changes[0].Reason != cloudcart.StockCancellation || stockOf(t, s, "A") != 7 {
				t.Fatalf("at expiry: %v %+v %v stock %d", ids, changes, err, stockOf(t, s, "A"))
			}
			if ids, _, err := s.ExpireReservations(ctx, now.Add(time.Hour), 10); err != nil || len(ids) != 0 || stockOf(t, s, "A") != 7 {
				t.Fatalf("second sweep: %v %v stock %d", ids, err, stockOf(t, s, "A"))
			}
			if err := s.Commit(ctx, "ord_lost"); cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
				t.Fatalf("commit after expiry: %v", err)
			}
			if r, _ := s.FindReservation(ctx, "ord_lost"); r.State != cloudcart.ReservationReleased || !r.ExpiresAt.IsZero() {
				t.Fatalf("expired reservation: %+v", r)
			}
		})
	}
}
