package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

var orderMigrations = []Migration{
	{Version: 1, SQL: `CREATE TABLE orders (
		id TEXT PRIMARY KEY,
		customer TEXT NOT NULL,
		total_cents BIGINT NOT NULL CHECK (total_cents >= 0),
		status TEXT NOT NULL,
		failure_reason TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL);
	CREATE INDEX orders_created_idx ON orders (created_at, id);
	CREATE INDEX orders_status_idx ON orders (status);
	CREATE TABLE order_items (
		order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
		line INTEGER NOT NULL,
		sku TEXT NOT NULL,
		qty INTEGER NOT NULL CHECK (qty > 0),
		price_cents BIGINT NOT NULL CHECK (price_cents > 0),
		PRIMARY KEY (order_id, line))`},
	{Version: 2, SQL: `ALTER TABLE orders ADD COLUMN stock_released INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE orders ADD COLUMN failure_code TEXT NOT NULL DEFAULT '';
	CREATE INDEX orders_status_updated_idx ON orders (status, updated_at);
	CREATE TABLE order_idempotency (
		idem_key TEXT PRIMARY KEY,
		order_id TEXT NOT NULL REFERENCES orders (id),
		request_hash TEXT NOT NULL,
		created_at BIGINT NOT NULL)`},
	// Orders belong to the user whose token placed them (user_id; '' for
	// orders placed before, and for the anonymous demo orders of `cloudcart
	// run`), and an idempotency key is unique per user, not globally: the
	// keys recorded so far move over as the anonymous user's.
	{Version: 3, SQL: `ALTER TABLE orders ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
	CREATE INDEX orders_user_idx ON orders (user_id, created_at);
	CREATE TABLE order_idempotency_keys (
		user_id TEXT NOT NULL,
		idem_key TEXT NOT NULL,
		order_id TEXT NOT NULL REFERENCES orders (id),
		request_hash TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (user_id, idem_key));
	INSERT INTO order_idempotency_keys (user_id, idem_key, order_id, request_hash, created_at)
		SELECT '', idem_key, order_id, request_hash, created_at FROM order_idempotency;
	DROP TABLE order_idempotency`},
	// orders_status_updated_idx (status, updated_at) answers every query
	// by status that orders_status_idx did; the second index cost every
	// order's insert and each of its status changes one more B-tree
	// update, and its pages one more WAL frame per commit.
	{Version: 4, SQL: `DROP INDEX IF EXISTS orders_status_idx`},
}

// DefaultPageSize and MaxPageSize bound FindOrders.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// OrderStore implements cloudcart.OrderStore.
type OrderStore struct {
	db *DB
	// Events, when set before the store is used, receives the order's
	// events in the transaction of the change they describe:
	// order.created with the order row, payment.processed with the move to
	// confirmed (success) or to failed by a declined payment (failed),
	// order.completed with delivered and order.cancelled with cancelled.
	// Nil writes no events.
	Events *Outbox
}

var _ cloudcart.OrderStore = (*OrderStore)(nil)

// NewOrderStore migrates the order tables and returns the store.
func NewOrderStore(ctx context.Context, db *DB) (*OrderStore, error) {
	if err := db.Migrate(ctx, "orders", orderMigrations); err != nil {
		return nil, err
	}
	return &OrderStore{db: db}, nil
}

// CreateOrder stores the order and its items in one transaction.
func (s *OrderStore) CreateOrder(ctx context.Context, o *cloudcart.Order) error {
	idemClash := false
	err := s.db.Tx(ctx, func(c Conn) error {
		if _, err := c.Exec(ctx, `INSERT INTO orders (id, user_id, customer, total_cents, status, failure_code, failure_reason, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			o.ID, o.UserID, o.Customer, int64(o.Total), string(o.Status), o.FailureCode, o.FailureReason, o.CreatedAt.UnixMicro(), o.UpdatedAt.UnixMicro()); err != nil {
			return err
		}
		if o.IdempotencyKey != "" {
			if _, err := c.Exec(ctx, `INSERT INTO order_idempotency_keys (user_id, idem_key, order_id, request_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
				o.UserID, o.IdempotencyKey, o.ID, o.RequestHash, o.CreatedAt.UnixMicro()); err != nil {
				idemClash = isUniqueViolation(err)
				return err
			}
		}
		var b strings.Builder
		b.WriteString(`INSERT INTO order_items (order_id, line, sku, qty, price_cents) VALUES `)
		args := []any{o.ID}
		for i, it := range o.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&b, "($1, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4)
			args = append(args, i, it.SKU, it.Qty, int64(it.Price))
		}
		if _, err := c.Exec(ctx, b.String(), args...); err != nil {
			return err
		}
		return s.addEvent(ctx, c, cloudcart.EventOrderCreated, cloudcart.OrderCreatedData{
			OrderID: o.ID, Customer: o.Customer, Total: o.Total, Items: len(o.Items), Status: o.Status})
	})
	if err == nil {
		s.notify()
	}
	switch {
	case idemClash:
		return cloudcart.ErrIdempotencyKeyUsed
	case err != nil && isUniqueViolation(err):
		return cloudcart.Errorf(cloudcart.ECONFLICT, "order %s already exists", o.ID)
	case err != nil:
		return fmt.Errorf("create order: %w", err)
	}
	return nil
}

// FindOrderByIdempotencyKey returns the order userID created with key.
func (s *OrderStore) FindOrderByIdempotencyKey(ctx context.Context, userID, key string) (*cloudcart.Order, error) {
	var id, hash string
	err := s.db.Conn().QueryRow(ctx, `SELECT order_id, request_hash FROM order_idempotency_keys WHERE user_id = $1 AND idem_key = $2`,
		[]any{userID, key}, &id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cloudcart.Errorf(cloudcart.ENOTFOUND, "no order for this idempotency key")
	}
	if err != nil {
		return nil, fmt.Errorf("find idempotency key: %w", err)
	}
	o, err := s.FindOrderByID(ctx, id)
	if err != nil {
		return nil, err
	}
	o.IdempotencyKey, o.RequestHash = key, hash
	return o, nil
}

// UpdateOrderStatus moves an order along its lifecycle atomically and
// returns the order as the move left it: the row read in the transaction
// with the change applied, and its items (read after the commit, outside
// the single writer's batch).
func (s *OrderStore) UpdateOrderStatus(ctx context.Context, id string, to cloudcart.OrderStatus, failCode, reason string, at time.Time) (*cloudcart.Order, error) {
	var o *cloudcart.Order
	err := s.db.Tx(ctx, func(c Conn) error {
		rows, err := c.Query(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, id)
		if err != nil {
			return err
		}
		found, err := scanOrders(rows)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return cloudcart.Errorf(cloudcart.ENOTFOUND, "order %q not found", id)
		}
		o = found[0]
		from := o.Status
		if !cloudcart.CanTransition(from, to) {
			return cloudcart.Errorf(cloudcart.ECONFLICT, "order %s is %s and cannot become %s", id, from, to)
		}
		// The status in the WHERE clause makes the change conditional even
		// where the SELECT took no lock (PostgreSQL, READ COMMITTED).
		res, err := c.Exec(ctx, `UPDATE orders SET status = $1, failure_code = $2, failure_reason = $3, updated_at = $4 WHERE id = $5 AND status = $6`,
			string(to), failCode, reason, at.UnixMicro(), id, string(from))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cloudcart.Errorf(cloudcart.ECONFLICT, "order %s changed concurrently", id)
		}
		o.Status, o.FailureCode, o.FailureReason, o.UpdatedAt = to, failCode, reason, time.UnixMicro(at.UnixMicro()).UTC()
		return s.transitionEvent(ctx, c, id, o.Customer, o.Total, to, failCode, reason)
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return o, s.attachItems(ctx, []*cloudcart.Order{o})
}

// transitionEvent writes the event, if any, that a move to `to` means.
// Only a failure whose code is EPAYMENT is a processed payment: an order
// failed by stock or an interruption never reached the provider.
func (s *OrderStore) transitionEvent(ctx context.Context, c Conn, id, customer string, total cloudcart.Money, to cloudcart.OrderStatus, failCode, reason string) error {
	switch {
	case to == cloudcart.OrderConfirmed:
		return s.addEvent(ctx, c, cloudcart.EventPaymentProcessed, cloudcart.PaymentProcessedData{
			OrderID: id, Amount: total, Status: "success"})
	case to == cloudcart.OrderFailed && failCode == cloudcart.EPAYMENT:
		return s.addEvent(ctx, c, cloudcart.EventPaymentProcessed, cloudcart.PaymentProcessedData{
			OrderID: id, Amount: total, Status: "failed", Reason: reason})
	case to == cloudcart.OrderDelivered:
		return s.addEvent(ctx, c, cloudcart.EventOrderCompleted, cloudcart.OrderCompletedData{
			OrderID: id, Customer: customer, Total: total})
	case to == cloudcart.OrderCancelled:
		return s.addEvent(ctx, c, cloudcart.EventOrderCancelled, cloudcart.OrderCancelledData{
			OrderID: id, Customer: customer, Reason: reason})
	}
	return nil
}

// addEvent writes an event through c when the store has an outbox.
func (s *OrderStore) addEvent(ctx context.Context, c Conn, t cloudcart.EventType, data any) error {
	if s.Events == nil {
		return nil
	}
	_, err := s.Events.Add(ctx, c, t, data)
	return err
}

// notify wakes the relay after a commit that may have written an event.
func (s *OrderStore) notify() {
	if s.Events != nil {
		s.Events.Notify()
	}
}

// MarkStockReleased records that a failed or cancelled order's stock is
// back.
func (s *OrderStore) MarkStockReleased(ctx context.Context, id string) error {
	_, err := s.db.Conn().Exec(ctx, `UPDATE orders SET stock_released = 1 WHERE id = $1`, id)
	return err
}

const orderColumns = `id, user_id, customer, total_cents, status, failure_code, failure_reason, created_at, updated_at`

// FindOrderByID returns the order or an ENOTFOUND error.
func (s *OrderStore) FindOrderByID(ctx context.Context, id string) (*cloudcart.Order, error) {
	c := s.db.Conn()
	rows, err := c.Query(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("find order: %w", err)
	}
	orders, err := scanOrders(rows)
	if err != nil {
		return nil, err
	}
	if len(orders) == 0 {
		return nil, cloudcart.Errorf(cloudcart.ENOTFOUND, "order %q not found", id)
	}
	return orders[0], s.attachItems(ctx, orders)
}

// FindOrders returns a page of matching orders, newest first, and the total.
func (s *OrderStore) FindOrders(ctx context.Context, f cloudcart.OrderFilter) ([]*cloudcart.Order, int, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.Status != "" {
		args = append(args, string(f.Status))
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	if f.UserID != "" {
		args = append(args, f.UserID)
		where = append(where, fmt.Sprintf("user_id = $%d", len(args)))
	}
	if f.Customer != "" {
		args = append(args, f.Customer)
		where = append(where, fmt.Sprintf("customer = $%d", len(args)))
	}
	if !f.UpdatedBefore.IsZero() {
		args = append(args, f.UpdatedBefore.UnixMicro())
		where = append(where, fmt.Sprintf("updated_at < $%d", len(args)))
	}
	if f.StockHeld {
		where = append(where, "status IN ('failed', 'cancelled') AND stock_released = 0")
	}
	cond := strings.Join(where, " AND ")
	c := s.db.Conn()
	var total int
	if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM orders WHERE `+cond, args, &total); err != nil {
		return nil, 0, fmt.Errorf("count orders: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	args = append(args, limit, max(f.Offset, 0))
	rows, err := c.Query(ctx, fmt.Sprintf(`SELECT %s FROM orders WHERE %s ORDER BY created_at DESC, id DESC LIMIT $%d OFFSET $%d`,
		orderColumns, cond, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find orders: %w", err)
	}
	orders, err := scanOrders(rows)
	if err != nil {
		return nil, 0, err
	}
	return orders, total, s.attachItems(ctx, orders)
}

func scanOrders(rows *sql.Rows) ([]*cloudcart.Order, error) {
	defer rows.Close()
	var out []*cloudcart.Order
	for rows.Next() {
		var (
			o              cloudcart.Order
			total, cr, upd int64
			status         string
		)
		if err := rows.Scan(&o.ID, &o.UserID, &o.Customer, &total, &status, &o.FailureCode, &o.FailureReason, &cr, &upd); err != nil {
			return nil, fmt.Errorf("scan order: %w", err)
		}
		o.Total, o.Status = cloudcart.Money(total), cloudcart.OrderStatus(status)
		o.CreatedAt, o.UpdatedAt = time.UnixMicro(cr).UTC(), time.UnixMicro(upd).UTC()
		out = append(out, &o)
	}
	return out, rows.Err()
}

// attachItems loads the items of all orders with one query.
func (s *OrderStore) attachItems(ctx context.Context, orders []*cloudcart.Order) error {
	if len(orders) == 0 {
		return nil
	}
	byID := make(map[string]*cloudcart.Order, len(orders))
	ph, args := make([]string, len(orders)), make([]any, len(orders))
	for i, o := range orders {
		byID[o.ID] = o
		ph[i], args[i] = fmt.Sprintf("$%d", i+1), o.ID
	}
	rows, err := s.db.Conn().Query(ctx, `SELECT order_id, sku, qty, price_cents FROM order_items
		WHERE order_id IN (`+strings.Join(ph, ", ")+`) ORDER BY order_id, line`, args...)
	if err != nil {
		return fmt.Errorf("find order items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id    string
			it    cloudcart.Item
			price int64
		)
		if err := rows.Scan(&id, &it.SKU, &it.Qty, &price); err != nil {
			return fmt.Errorf("scan order item: %w", err)
		}
		it.Price = cloudcart.Money(price)
		byID[id].Items = append(byID[id].Items, it)
	}
	return rows.Err()
}

// isUniqueViolation recognises a primary-key or unique clash in either
// dialect without importing driver error types into the domain.
func isUniqueViolation(err error) bool {
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) && coded.SQLState() == "23505" {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}
