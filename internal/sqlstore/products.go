package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

var productMigrations = []Migration{
	{Version: 1, SQL: `CREATE TABLE products (
		sku TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		description TEXT NOT NULL,
		category TEXT NOT NULL,
		price_cents BIGINT NOT NULL CHECK (price_cents > 0),
		stock INTEGER NOT NULL CHECK (stock >= 0),
		low_stock_threshold INTEGER NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL);
	CREATE INDEX products_category_idx ON products (category, sku);
	CREATE TABLE reservations (
		order_id TEXT PRIMARY KEY,
		state TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL);
	CREATE TABLE reservation_items (
		order_id TEXT NOT NULL REFERENCES reservations (order_id),
		sku TEXT NOT NULL,
		qty INTEGER NOT NULL CHECK (qty > 0),
		price_cents BIGINT NOT NULL,
		PRIMARY KEY (order_id, sku))`},
	// A held reservation expires (its stock is released by the product
	// service's sweeper) at expires_at, microseconds; 0 means never
	// (committed or released). Reservations held before this migration
	// get ten minutes from their last change, the default bound.
	{Version: 2, SQL: `ALTER TABLE reservations ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
	UPDATE reservations SET expires_at = updated_at + 600000000 WHERE state = 'reserved';
	CREATE INDEX reservations_expiry_idx ON reservations (state, expires_at)`},
	// HeldReservations: the order service looks for held reservations of
	// orders it never recorded (its process died between reserving and
	// recording), oldest first.
	{Version: 3, SQL: `CREATE INDEX reservations_state_created_idx ON reservations (state, created_at)`},
}

// ProductStore implements cloudcart.ProductStore.
type ProductStore struct {
	db  *DB
	now func() time.Time
	// Events, when set before the store is used, receives
	// inventory.low_stock in the transaction of each stock change that takes
	// a product from at or above its threshold to below it. Nil writes no
	// events.
	Events *Outbox
}

var _ cloudcart.ProductStore = (*ProductStore)(nil)

// NewProductStore migrates the catalog tables and returns the store.
func NewProductStore(ctx context.Context, db *DB) (*ProductStore, error) {
	if err := db.Migrate(ctx, "products", productMigrations); err != nil {
		return nil, err
	}
	return &ProductStore{db: db, now: time.Now}, nil
}

// CreateProducts inserts products in one transaction.
func (s *ProductStore) CreateProducts(ctx context.Context, ps ...*cloudcart.Product) error {
	err := s.db.Tx(ctx, func(c Conn) error {
		for _, p := range ps {
			if _, err := c.Exec(ctx, `INSERT INTO products (sku, name, description, category, price_cents, stock, low_stock_threshold, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, p.SKU, p.Name, p.Description, p.Category, int64(p.Price), p.Stock,
				p.LowStockThreshold, p.CreatedAt.UnixMicro(), p.UpdatedAt.UnixMicro()); err != nil {
				if isUniqueViolation(err) {
					return cloudcart.Errorf(cloudcart.ECONFLICT, "product %s already exists", p.SKU)
				}
				return err
			}
		}
		return nil
	})
	if err != nil && cloudcart.ErrorCode(err) == cloudcart.EINTERNAL {
		return fmt.Errorf("create products: %w", err)
	}
	return err
}

// UpdateProduct changes a product's catalog fields (not its stock).
func (s *ProductStore) UpdateProduct(ctx context.Context, p *cloudcart.Product) error {
	res, err := s.db.Conn().Exec(ctx, `UPDATE products SET name = $1, description = $2, category = $3, price_cents = $4,
		low_stock_threshold = $5, updated_at = $6 WHERE sku = $7`,
		p.Name, p.Description, p.Category, int64(p.Price), p.LowStockThreshold, p.UpdatedAt.UnixMicro(), p.SKU)
	if err != nil {
		return fmt.Errorf("update product: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return cloudcart.Errorf(cloudcart.ENOTFOUND, "product %q not found", p.SKU)
	}
	return nil
}

const productColumns = `sku, name, description, category, price_cents, stock, low_stock_threshold, created_at, updated_at`

// FindProductBySKU returns one product or ENOTFOUND.
func (s *ProductStore) FindProductBySKU(ctx context.Context, sku string) (*cloudcart.Product, error) {
	ps, _, err := s.find(ctx, cloudcart.ProductFilter{SKUs: []string{sku}, Limit: 1}, false)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, cloudcart.Errorf(cloudcart.ENOTFOUND, "product %q not found", sku)
	}
	return ps[0], nil
}

// FindProducts returns a page of products ordered by SKU and the total.
func (s *ProductStore) FindProducts(ctx context.Context, f cloudcart.ProductFilter) ([]*cloudcart.Product, int, error) {
	return s.find(ctx, f, true)
}

func (s *ProductStore) find(ctx context.Context, f cloudcart.ProductFilter, count bool) ([]*cloudcart.Product, int, error) {
	where, args := []string{"1 = 1"}, []any{}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Category != "" {
		where = append(where, "category = "+arg(f.Category))
	}
	if f.Query != "" {
		p := arg("%" + escapeLike(strings.ToLower(f.Query)) + "%")
		where = append(where, fmt.Sprintf(`(LOWER(name) LIKE %s ESCAPE '\' OR LOWER(description) LIKE %s ESCAPE '\')`, p, p))
	}
	if len(f.SKUs) > 0 {
		ph := make([]string, len(f.SKUs))
		for i, sku := range f.SKUs {
			ph[i] = arg(sku)
		}
		where = append(where, "sku IN ("+strings.Join(ph, ", ")+")")
	}
	cond := strings.Join(where, " AND ")
	c := s.db.Conn()
	total := 0
	if count {
		if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM products WHERE `+cond, args, &total); err != nil {
			return nil, 0, fmt.Errorf("count products: %w", err)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	q := fmt.Sprintf(`SELECT %s FROM products WHERE %s ORDER BY sku LIMIT %s OFFSET %s`,
		productColumns, cond, arg(min(limit, MaxPageSize)), arg(max(f.Offset, 0)))
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find products: %w", err)
	}
	defer rows.Close()
	var out []*cloudcart.Product
	for rows.Next() {
		var (
			p      cloudcart.Product
			price  int64
			cr, up int64
		)
		if err := rows.Scan(&p.SKU, &p.Name, &p.Description, &p.Category, &price, &p.Stock, &p.LowStockThreshold, &cr, &up); err != nil {
			return nil, 0, fmt.Errorf("scan product: %w", err)
		}
		p.Price, p.CreatedAt, p.UpdatedAt = cloudcart.Money(price), time.UnixMicro(cr).UTC(), time.UnixMicro(up).UTC()
		out = append(out, &p)
	}
	return out, total, rows.Err()
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// CountProducts is the catalog size.
func (s *ProductStore) CountProducts(ctx context.Context) (int, error) {
	var n int
	err := s.db.Conn().QueryRow(ctx, `SELECT COUNT(*) FROM products`, nil, &n)
	return n, err
}

// CategoryStats returns count and average price per category.
func (s *ProductStore) CategoryStats(ctx context.Context) ([]cloudcart.CategoryStats, error) {
	rows, err := s.db.Conn().Query(ctx, `SELECT category, COUNT(*), SUM(price_cents) FROM products GROUP BY category ORDER BY category`)
	if err != nil {
		return nil, fmt.Errorf("category stats: %w", err)
	}
	defer rows.Close()
	var out []cloudcart.CategoryStats
	for rows.Next() {
		var (
			st  cloudcart.CategoryStats
			sum int64
		)
		if err := rows.Scan(&st.Category, &st.Count, &sum); err != nil {
			return nil, err
		}
		st.AvgPrice = cloudcart.Money(sum / int64(max(st.Count, 1)))
		out = append(out, st)
	}
	return out, rows.Err()
}

// LowStockCount is the number of products below their threshold.
func (s *ProductStore) LowStockCount(ctx context.Context) (int, error) {
	var n int
	err := s.db.Conn().QueryRow(ctx, `SELECT COUNT(*) FROM products WHERE stock < low_stock_threshold`, nil, &n)
	return n, err
}

// move changes one product's stock by delta with a conditional update, so
// stock cannot go negative even under concurrent orders.
func (s *ProductStore) move(ctx context.Context, c Conn, sku string, delta int, reason cloudcart.StockReason) (cloudcart.StockChange, error) {
	ch := cloudcart.StockChange{SKU: sku, Reason: reason}
	err := c.QueryRow(ctx, `UPDATE products SET stock = stock + $1, updated_at = $2 WHERE sku = $3 AND stock + $1 >= 0
		RETURNING stock, category, low_stock_threshold`, []any{delta, s.now().UnixMicro(), sku}, &ch.After, &ch.Category, &ch.Threshold)
	if errors.Is(err, sql.ErrNoRows) {
		var stock int
		if err := c.QueryRow(ctx, `SELECT stock FROM products WHERE sku = $1`, []any{sku}, &stock); errors.Is(err, sql.ErrNoRows) {
			return ch, cloudcart.Errorf(cloudcart.ENOTFOUND, "product %q not found", sku)
		}
		return ch, cloudcart.Errorf(cloudcart.ECONFLICT, "insufficient stock for %s: %d left, %d requested", sku, stock, -delta)
	}
	if err != nil {
		return ch, fmt.Errorf("move stock: %w", err)
	}
	ch.Before = ch.After - delta
	if s.Events != nil && ch.CrossedBelow(ch.Threshold) {
		if _, err := s.Events.Add(ctx, c, cloudcart.EventInventoryLowStock, cloudcart.InventoryLowStockData{
			ProductID: sku, SKU: sku, Stock: ch.After, Threshold: ch.Threshold}); err != nil {
			return ch, err
		}
	}
	return ch, nil
}

// notify wakes the relay after a stock transaction committed.
func (s *ProductStore) notify() {
	if s.Events != nil {
		s.Events.Notify()
	}
}

// AdjustStock changes one product's stock.
func (s *ProductStore) AdjustStock(ctx context.Context, sku string, delta int, reason cloudcart.StockReason) (cloudcart.StockChange, error) {
	var ch cloudcart.StockChange
	err := s.db.Tx(ctx, func(c Conn) error {
		var err error
		ch, err = s.move(ctx, c, sku, delta, reason)
		return err
	})
	if err == nil {
		s.notify()
	}
	return ch, err
}

// reservationState reads a reservation's state; "" if there is none.
func reservationState(ctx context.Context, c Conn, orderID string) (cloudcart.ReservationState, error) {
	st, _, err := reservationRow(ctx, c, orderID)
	return st, err
}

// reservationRow reads a reservation's state and expiry (zero: none).
func reservationRow(ctx context.Context, c Conn, orderID string) (cloudcart.ReservationState, time.Time, error) {
	var (
		st  string
		exp int64
	)
	err := c.QueryRow(ctx, `SELECT state, expires_at FROM reservations WHERE order_id = $1`, []any{orderID}, &st, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	var at time.Time
	if exp > 0 {
		at = time.UnixMicro(exp).UTC()
	}
	return cloudcart.ReservationState(st), at, err
}

// Reserve takes stock for all items or none, held until expiresAt, and
// prices them: the reservation records each item's catalog price, and an
// item whose expected Price differs refuses the whole reservation. A new
// reservation is returned from the transaction that made it, with no
// second read.
func (s *ProductStore) Reserve(ctx context.Context, orderID string, items []cloudcart.ReservationItem, expiresAt time.Time) (*cloudcart.Reservation, []cloudcart.StockChange, error) {
	merged := mergeItems(items)
	var (
		changes []cloudcart.StockChange
		prices  map[string]cloudcart.Money
	)
	existing := false
	err := s.db.Tx(ctx, func(c Conn) error {
		changes, prices = nil, make(map[string]cloudcart.Money, len(merged))
		st, err := reservationState(ctx, c, orderID)
		switch {
		case err != nil:
			return err
		case st == cloudcart.ReservationReleased:
			return cloudcart.Errorf(cloudcart.ECONFLICT, "reservation for order %s was released", orderID)
		case st != "":
			existing = true
			return nil
		}
		now := s.now().UnixMicro()
		if _, err := c.Exec(ctx, `INSERT INTO reservations (order_id, state, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $3, $4)`,
			orderID, string(cloudcart.ReservationHeld), now, expiresAt.UnixMicro()); err != nil {
			return err
		}
		for _, it := range merged { // in SKU order: concurrent reservations lock rows in one order
			ch, err := s.move(ctx, c, it.SKU, -it.Qty, cloudcart.StockPurchase)
			if err != nil {
				return err
			}
			changes = append(changes, ch)
			var price int64
			if err := c.QueryRow(ctx, `INSERT INTO reservation_items (order_id, sku, qty, price_cents)
				SELECT $1, sku, $2, price_cents FROM products WHERE sku = $3 RETURNING price_cents`,
				[]any{orderID, it.Qty, it.SKU}, &price); err != nil {
				return err
			}
			if it.Price != 0 && it.Price != cloudcart.Money(price) {
				return cloudcart.Errorf(cloudcart.ECONFLICT, "price of %s is %s, not %s", it.SKU, cloudcart.Money(price), it.Price)
			}
			prices[it.SKU] = cloudcart.Money(price)
		}
		return nil
	})
	if err != nil && isUniqueViolation(err) {
		existing, err = true, nil // a concurrent Reserve of the same order won
	}
	if err != nil {
		return nil, nil, err
	}
	if existing {
		r, err := s.FindReservation(ctx, orderID)
		return r, nil, err
	}
	s.notify()
	r := &cloudcart.Reservation{OrderID: orderID, State: cloudcart.ReservationHeld, ExpiresAt: time.UnixMicro(expiresAt.UnixMicro()).UTC(),
		Items: make([]cloudcart.ReservationItem, len(merged)), Prices: prices}
	for i, it := range merged {
		r.Items[i] = cloudcart.ReservationItem{SKU: it.SKU, Qty: it.Qty}
	}
	return r, changes, nil
}

// HeldReservations returns the order ids of up to limit held reservations
// made at or before `before`, oldest first.
func (s *ProductStore) HeldReservations(ctx context.Context, before time.Time, limit int) ([]string, error) {
	ids, err := s.orderIDs(ctx, `SELECT order_id FROM reservations WHERE state = $1 AND created_at <= $2
		ORDER BY created_at LIMIT $3`, string(cloudcart.ReservationHeld), before.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("find held reservations: %w", err)
	}
	return ids, nil
}

// orderIDs runs a query of one order_id column and returns its rows.
func (s *ProductStore) orderIDs(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.Conn().Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func mergeItems(items []cloudcart.ReservationItem) []cloudcart.ReservationItem {
	out := make([]cloudcart.ReservationItem, 0, len(items))
	at := make(map[string]int, len(items))
	for _, it := range items {
		if i, ok := at[it.SKU]; ok {
			out[i].Qty += it.Qty
			if out[i].Price == 0 {
				out[i].Price = it.Price
			}
			continue
		}
		at[it.SKU] = len(out)
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b cloudcart.ReservationItem) int { return strings.Compare(a.SKU, b.SKU) })
	return out
}

// Commit marks a held reservation final: it no longer expires. The update
// is conditional on the reservation still being held, so a commit racing
// the expiry sweep cannot mark released stock committed.
func (s *ProductStore) Commit(ctx context.Context, orderID string) error {
	return s.db.Tx(ctx, func(c Conn) error { return s.commit(ctx, c, orderID) })
}

// CommitReservations commits many reservations in one transaction (one
// fsync) and returns, per order id, what Commit would have returned for it
// (nil, ENOTFOUND or ECONFLICT); an error of the database fails them all.
func (s *ProductStore) CommitReservations(ctx context.Context, orderIDs []string) (map[string]error, error) {
	var out map[string]error
	err := s.db.Tx(ctx, func(c Conn) error {
		out = make(map[string]error, len(orderIDs))
		for _, id := range orderIDs {
			err := s.commit(ctx, c, id)
			if code := cloudcart.ErrorCode(err); err != nil && code != cloudcart.ENOTFOUND && code != cloudcart.ECONFLICT {
				return err // a storage fault, not an answer about this id: nothing of the batch commits
			}
			out[id] = err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *ProductStore) commit(ctx context.Context, c Conn, orderID string) error {
	st, err := reservationState(ctx, c, orderID)
	switch {
	case err != nil:
		return err
	case st == "":
		return cloudcart.Errorf(cloudcart.ENOTFOUND, "no reservation for order %s", orderID)
	case st == cloudcart.ReservationReleased:
		return cloudcart.Errorf(cloudcart.ECONFLICT, "reservation for order %s was released", orderID)
	case st == cloudcart.ReservationCommitted:
		return nil
	}
	res, err := c.Exec(ctx, `UPDATE reservations SET state = $1, updated_at = $2, expires_at = 0 WHERE order_id = $3 AND state = $4`,
		string(cloudcart.ReservationCommitted), s.now().UnixMicro(), orderID, string(cloudcart.ReservationHeld))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return cloudcart.Errorf(cloudcart.ECONFLICT, "reservation for order %s was released", orderID)
	}
	return nil
}

// ExpireReservations releases up to limit held reservations whose expiry
// is at or before now, each in its own transaction, and returns the order
// ids it released and the stock changes. The release is conditional on
// the reservation still being held and expired, so replicas sweeping the
// same database, or a commit arriving at the same moment, never release
// stock twice or release committed stock.
func (s *ProductStore) ExpireReservations(ctx context.Context, now time.Time, limit int) ([]string, []cloudcart.StockChange, error) {
	due, err := s.orderIDs(ctx, `SELECT order_id FROM reservations WHERE state = $1 AND expires_at > 0 AND expires_at <= $2
		ORDER BY expires_at LIMIT $3`, string(cloudcart.ReservationHeld), now.UnixMicro(), limit)
	if err != nil {
		return nil, nil, fmt.Errorf("find expired reservations: %w", err)
	}
	var (
		expired []string
		all     []cloudcart.StockChange
		errs    []error
	)
	for _, id := range due {
		var changes []cloudcart.StockChange
		released := false
		err := s.db.Tx(ctx, func(c Conn) error {
			changes, released = nil, false
			res, err := c.Exec(ctx, `UPDATE reservations SET state = $1, updated_at = $2, expires_at = 0
				WHERE order_id = $3 AND state = $4 AND expires_at > 0 AND expires_at <= $5`,
				string(cloudcart.ReservationReleased), s.now().UnixMicro(), id, string(cloudcart.ReservationHeld), now.UnixMicro())
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // committed, released or expired by someone else meanwhile
			}
			if changes, err = s.giveBack(ctx, c, id, cloudcart.StockCancellation); err != nil {
				return err
			}
			released = true
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("expire reservation %s: %w", id, err))
			continue
		}
		if released {
			expired = append(expired, id)
			all = append(all, changes...)
		}
	}
	if len(expired) > 0 {
		s.notify()
	}
	return expired, all, errors.Join(errs...)
}

// Release gives the stock back and marks the reservation released. If a
// concurrent Reserve of the same order wins the race to create the row,
// Release tries again and releases what it reserved.
func (s *ProductStore) Release(ctx context.Context, orderID string, reason cloudcart.StockReason) ([]cloudcart.StockChange, error) {
	for range 3 {
		changes, err := s.release(ctx, orderID, reason)
		if err == nil || !isUniqueViolation(err) {
			return changes, err
		}
	}
	return nil, fmt.Errorf("release %s: lost the race three times", orderID)
}

func (s *ProductStore) release(ctx context.Context, orderID string, reason cloudcart.StockReason) ([]cloudcart.StockChange, error) {
	var changes []cloudcart.StockChange
	err := s.db.Tx(ctx, func(c Conn) error {
		changes = nil
		now := s.now().UnixMicro()
		st, err := reservationState(ctx, c, orderID)
		switch {
		case err != nil:
			return err
		case st == cloudcart.ReservationReleased:
			return nil
		case st == "": // tombstone: a late Reserve for this order must not take stock
			_, err := c.Exec(ctx, `INSERT INTO reservations (order_id, state, created_at, updated_at) VALUES ($1, $2, $3, $3)`,
				orderID, string(cloudcart.ReservationReleased), now)
			return err
		}
		if changes, err = s.giveBack(ctx, c, orderID, reason); err != nil {
			return err
		}
		_, err = c.Exec(ctx, `UPDATE reservations SET state = $1, updated_at = $2, expires_at = 0 WHERE order_id = $3`,
			string(cloudcart.ReservationReleased), now, orderID)
		return err
	})
	if err == nil {
		s.notify()
	}
	return changes, err
}

// giveBack returns the stock of an order's reservation items, in SKU
// order, and says what moved; the caller marks the reservation released in
// the same transaction.
func (s *ProductStore) giveBack(ctx context.Context, c Conn, orderID string, reason cloudcart.StockReason) ([]cloudcart.StockChange, error) {
	items, err := reservationItems(ctx, c, orderID)
	if err != nil {
		return nil, err
	}
	var changes []cloudcart.StockChange
	for _, it := range items {
		ch, err := s.move(ctx, c, it.SKU, it.Qty, reason)
		if err != nil {
			return nil, err
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

type reservedItem struct {
	cloudcart.ReservationItem
	price cloudcart.Money
}

func reservationItems(ctx context.Context, c Conn, orderID string) ([]reservedItem, error) {
	rows, err := c.Query(ctx, `SELECT sku, qty, price_cents FROM reservation_items WHERE order_id = $1 ORDER BY sku`, orderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []reservedItem
	for rows.Next() {
		var (
			it    reservedItem
			price int64
		)
		if err := rows.Scan(&it.SKU, &it.Qty, &price); err != nil {
			return nil, err
		}
		it.price = cloudcart.Money(price)
		out = append(out, it)
	}
	return out, rows.Err()
}

// FindReservation returns a reservation with its items and prices.
func (s *ProductStore) FindReservation(ctx context.Context, orderID string) (*cloudcart.Reservation, error) {
	c := s.db.Conn()
	st, exp, err := reservationRow(ctx, c, orderID)
	if err != nil {
		return nil, err
	}
	if st == "" {
		return nil, cloudcart.Errorf(cloudcart.ENOTFOUND, "no reservation for order %s", orderID)
	}
	items, err := reservationItems(ctx, c, orderID)
	if err != nil {
		return nil, err
	}
	r := &cloudcart.Reservation{OrderID: orderID, State: st, ExpiresAt: exp, Prices: map[string]cloudcart.Money{}}
	for _, it := range items {
		r.Items = append(r.Items, it.ReservationItem)
		r.Prices[it.SKU] = it.price
	}
	return r, nil
}

// Stats exposes the connection pool's statistics
// (product_db_connection_pool_size).
func (d *DB) Stats() sql.DBStats { return d.db.Stats() }
