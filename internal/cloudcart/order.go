package cloudcart

import (
	"context"
	"regexp"
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
	ID            string      `json:"id"`
	Customer      string      `json:"customer"`
	Items         []Item      `json:"items"`
	Total         Money       `json:"total"`
	Status        OrderStatus `json:"status"`
	FailureReason string      `json:"failure_reason,omitempty"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

// Item is one line of an order.
type Item struct {
	SKU   string `json:"sku"`
	Qty   int    `json:"qty"`
	Price Money  `json:"price"` // unit price
}

// Validate checks the caller-supplied fields of an order and computes the
// total. It returns an EINVALID error naming the first problem found.
func (o *Order) Validate() error {
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
		case it.Price <= 0:
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

// OrderFilter selects orders in FindOrders. Zero values mean "any".
type OrderFilter struct {
	Status   OrderStatus
	Customer string
	Offset   int
	Limit    int // 0 means the store's default page size
}

// OrderStore persists orders. Implementations must make CreateOrder atomic:
// either the order and all its items are stored, or nothing is.
type OrderStore interface {
	CreateOrder(ctx context.Context, o *Order) error
	FindOrderByID(ctx context.Context, id string) (*Order, error)
	// FindOrders returns one page of orders, newest first, and the total
	// number of orders matching the filter.
	FindOrders(ctx context.Context, f OrderFilter) ([]*Order, int, error)
}
