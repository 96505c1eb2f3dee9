package cloudcart

import (
	"context"
	"regexp"
	"slices"
	"time"
)

// OrderStatus is where an order is in its lifecycle.
type OrderStatus string

const (
	OrderPending   OrderStatus = "pending"   // accepted, not yet processed
	OrderConfirmed OrderStatus = "confirmed" // processed and paid
	OrderShipped   OrderStatus = "shipped"
	OrderDelivered OrderStatus = "delivered"
	OrderCancelled OrderStatus = "cancelled"
	OrderFailed    OrderStatus = "failed" // processing failed; FailureReason says why
)

// Valid reports whether s is a known status.
func (s OrderStatus) Valid() bool {
	switch s {
	case OrderPending, OrderConfirmed, OrderShipped, OrderDelivered, OrderCancelled, OrderFailed:
		return true
	}
	return false
}

// Limits on order input. They keep one request's work and storage bounded.
const (
	MaxOrderItems   = 100
	MaxItemQuantity = 1000
	maxCustomerLen  = 128
)

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// Order is a customer's order.
type Order struct {
	ID string `json:"id"`
	// UserID is the owner: the subject of the verified token that placed
	// the order, never a value from the request body. Empty for anonymous
	// demo orders (`cloudcart run`'s loopback POST /orders and /simulate)
	// and orders placed by a service.
	UserID string `json:"user_id,omitempty"`
	// Customer is a display name chosen by the client; it proves nothing.
	Customer      string      `json:"customer"`
	Items         []Item      `json:"items"`
	Total         Money       `json:"total"`
	Status        OrderStatus `json:"status"`
	FailureCode   string      `json:"failure_code,omitempty"` // an error code, e.g. payment_failed
	FailureReason string      `json:"failure_reason,omitempty"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`

	// IdempotencyKey and RequestHash, when set, are stored with the order
	// so a retried request finds it instead of creating another.
	IdempotencyKey string `json:"-"`
	RequestHash    string `json:"-"`
}

// Item is one line of an order.
type Item struct {
	SKU   string `json:"sku"`
	Qty   int    `json:"qty"`
	Price Money  `json:"price"` // unit price
}

// Validate checks the caller-supplied fields of an order and computes the
// total. It returns an EINVALID error naming the first problem found.
func (o *Order) Validate() error { return o.validate(true) }

// ValidateRequest checks an order whose prices may still be unknown: a
// zero price means "the catalog price", filled in by the inventory check.
func (o *Order) ValidateRequest() error { return o.validate(false) }

func (o *Order) validate(pricesRequired bool) error {
	switch {
	case o.Customer == "":
		return Errorf(EINVALID, "customer is required")
	case len(o.Customer) > maxCustomerLen:
		return Errorf(EINVALID, "customer must be at most %d bytes", maxCustomerLen)
	case len(o.Items) == 0:
		return Errorf(EINVALID, "items must contain at least one item")
	case len(o.Items) > MaxOrderItems:
		return Errorf(EINVALID, "items must contain at most %d items", MaxOrderItems)
	}
	var total Money
	for i, it := range o.Items {
		switch {
		case !skuPattern.MatchString(it.SKU):
			return Errorf(EINVALID, "items[%d].sku must be 1-64 letters, digits, '-' or '_'", i)
		case it.Qty <= 0:
			return Errorf(EINVALID, "items[%d].qty must be positive, got %d", i, it.Qty)
		case it.Qty > MaxItemQuantity:
			return Errorf(EINVALID, "items[%d].qty must be at most %d, got %d", i, MaxItemQuantity, it.Qty)
		case it.Price < 0 || (pricesRequired && it.Price == 0):
			return Errorf(EINVALID, "items[%d].price must be positive", i)
		}
		total += it.Price * Money(it.Qty)
		if total > MaxMoney {
			return Errorf(EINVALID, "order total exceeds the maximum of %s", MaxMoney)
		}
	}
	o.Total = total
	return nil
}

// OrderVisible is who may see, cancel or replay an order: its owner, and a
// privileged caller (an admin, or a service). An order without an owner
// (anonymous demo orders) is visible only to the privileged.
func OrderVisible(o *Order, userID string, privileged bool) bool {
	return privileged || (userID != "" && o.UserID == userID)
}

// OrderFilter selects orders in FindOrders. Zero values mean "any".
type OrderFilter struct {
	Status        OrderStatus
	UserID        string // the owner; "" means any owner
	Customer      string
	UpdatedBefore time.Time // only orders last changed before this
	// StockHeld selects failed and cancelled orders whose stock has not
	// been confirmed released: the recovery sweep's work list.
	StockHeld bool
	Offset    int
	Limit     int // 0 means the store's default page size
}

// Transitions is the order lifecycle: which statuses may follow which.
var Transitions = map[OrderStatus][]OrderStatus{
	OrderPending:   {OrderConfirmed, OrderFailed},
	OrderConfirmed: {OrderShipped, OrderCancelled},
	OrderShipped:   {OrderDelivered},
}

// CanTransition reports whether an order may go from one status to another.
func CanTransition(from, to OrderStatus) bool { return slices.Contains(Transitions[from], to) }

// OrderStore persists orders. Implementations must make CreateOrder atomic:
// either the order and all its items are stored, or nothing is.
type OrderStore interface {
	CreateOrder(ctx context.Context, o *Order) error
	FindOrderByID(ctx context.Context, id string) (*Order, error)
	// FindOrders returns one page of orders, newest first, and the total
	// number of orders matching the filter.
	FindOrders(ctx context.Context, f OrderFilter) ([]*Order, int, error)
	// FindOrderByIdempotencyKey returns the order userID created with
	// key, or ENOTFOUND. Keys are unique per user: another user's key is
	// not found.
	FindOrderByIdempotencyKey(ctx context.Context, userID, key string) (*Order, error)
	// UpdateOrderStatus moves an order from its current status to `to`,
	// atomically: ECONFLICT if the current status cannot go there.
	// failCode and reason explain a move to failed or cancelled.
	UpdateOrderStatus(ctx context.Context, id string, to OrderStatus, failCode, reason string, at time.Time) (*Order, error)
	// MarkStockReleased records that a failed or cancelled order's stock
	// is back in the catalog.
	MarkStockReleased(ctx context.Context, id string) error
}

// ErrIdempotencyKeyUsed is OrderStore.CreateOrder's answer when another
// order of the same user holds the idempotency key; nothing was written.
var ErrIdempotencyKeyUsed = Errorf(ECONFLICT, "idempotency key already used")
