package cloudcart

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Categories is the closed set of product categories. A category is a
// metric label (product_list_time_seconds{category}), so new ones are a code
// change, not user input.
var Categories = []string{
	"books", "electronics", "garden", "grocery", "home",
	"kitchen", "outdoors", "sports", "toys", "clothing",
}

// ValidCategory reports whether c is one of Categories.
func ValidCategory(c string) bool { return slices.Contains(Categories, c) }

// DefaultLowStockThreshold is the stock level below which a product is
// "low stock"; CriticalStock is the level of reference 002's critical alert.
const (
	DefaultLowStockThreshold = 10
	CriticalStock            = 5
)

// Product is a catalog entry with its stock. Its id is its SKU.
type Product struct {
	SKU               string    `json:"sku"`
	Name              string    `json:"name"`
	Description       string    `json:"description"`
	Category          string    `json:"category"`
	Price             Money     `json:"price"`
	Stock             int       `json:"stock"`
	LowStockThreshold int       `json:"low_stock_threshold"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// Validate checks a product's fields.
func (p *Product) Validate() error {
	switch {
	case !skuPattern.MatchString(p.SKU):
		return Errorf(EINVALID, "sku must be 1-64 letters, digits, '-' or '_'")
	case strings.TrimSpace(p.Name) == "" || len(p.Name) > 200:
		return Errorf(EINVALID, "name must be 1-200 bytes")
	case len(p.Description) > 4000:
		return Errorf(EINVALID, "description must be at most 4000 bytes")
	case !ValidCategory(p.Category):
		return Errorf(EINVALID, "category %q is not one of %s", truncate(p.Category, 32), strings.Join(Categories, ", "))
	case p.Price <= 0:
		return Errorf(EINVALID, "price must be positive")
	case p.Stock < 0:
		return Errorf(EINVALID, "stock must not be negative")
	case p.LowStockThreshold < 0 || p.LowStockThreshold > 1_000_000:
		return Errorf(EINVALID, "low_stock_threshold must be between 0 and 1000000")
	}
	return nil
}

// StockReason says why stock changed (product_stock_updates_total{reason}).
type StockReason string

const (
	StockPurchase     StockReason = "purchase"     // reserved by an order
	StockCancellation StockReason = "cancellation" // returned by a failed or cancelled order
	StockReturn       StockReason = "return"       // a delivered order sent back
	StockRestock      StockReason = "restock"      // added by an admin
)

// Valid reports whether r is a known reason.
func (r StockReason) Valid() bool {
	switch r {
	case StockPurchase, StockCancellation, StockReturn, StockRestock:
		return true
	}
	return false
}

// StockChange is one product's stock movement, reported by the store so the
// service can count it and detect low-stock crossings.
type StockChange struct {
	SKU       string
	Category  string
	Before    int
	After     int
	Threshold int
	Reason    StockReason
}

// CrossedBelow reports whether the change took stock from at or above level
// to below it.
func (c StockChange) CrossedBelow(level int) bool { return c.Before >= level && c.After < level }

// ReservationItem is one line of a stock reservation.
type ReservationItem struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
	// Price, when set on a request, is the unit price the caller expects:
	// a reservation refuses (ECONFLICT) an item whose catalog price
	// differs, so pricing, the stock check and the reservation are one
	// atomic step.
	Price Money `json:"price,omitzero"`
}

// ReservationState is where a reservation is.
type ReservationState string

const (
	ReservationHeld      ReservationState = "reserved"  // stock taken, order not final
	ReservationCommitted ReservationState = "committed" // the order was confirmed
	ReservationReleased  ReservationState = "released"  // stock given back
)

// Reservation holds stock for one order, keyed by the order id so that
// every step is idempotent: reserving twice, releasing twice, or releasing
// before a late reserve arrives all leave stock right.
type Reservation struct {
	OrderID string           `json:"order_id"`
	State   ReservationState `json:"state"`
	// ExpiresAt is when a held reservation is released unless committed;
	// zero once committed or released.
	ExpiresAt time.Time         `json:"expires_at,omitzero"`
	Items     []ReservationItem `json:"items"`
	Prices    map[string]Money  `json:"prices"` // unit price per SKU at reservation time
}

// ProductFilter selects products.
type ProductFilter struct {
	Category string
	Query    string // case-insensitive substring of name or description
	SKUs     []string
	Offset   int
	Limit    int
}

// CategoryStats are the per-category gauges.
type CategoryStats struct {
	Category string
	Count    int
	AvgPrice Money
}

// ProductStore persists the catalog and stock. Stock never goes negative:
// implementations change it with a conditional update inside a transaction.
type ProductStore interface {
	// CreateProducts stores new products in one transaction (ECONFLICT if
	// a SKU exists).
	CreateProducts(ctx context.Context, ps ...*Product) error
	UpdateProduct(ctx context.Context, p *Product) error
	FindProductBySKU(ctx context.Context, sku string) (*Product, error)
	FindProducts(ctx context.Context, f ProductFilter) ([]*Product, int, error)
	CountProducts(ctx context.Context) (int, error)
	CategoryStats(ctx context.Context) ([]CategoryStats, error)
	LowStockCount(ctx context.Context) (int, error)

	// AdjustStock adds delta (negative to remove) for reason; ECONFLICT if
	// it would go below zero.
	AdjustStock(ctx context.Context, sku string, delta int, reason StockReason) (StockChange, error)
	// Reserve takes stock for every item or for none (ECONFLICT naming the
	// first short item or the first item whose expected Price is not the
	// catalog's; ENOTFOUND for an unknown SKU), held until expiresAt, and
	// returns it with the catalog prices. Reserving an order id again
	// returns the existing reservation; a released one is ECONFLICT.
	Reserve(ctx context.Context, orderID string, items []ReservationItem, expiresAt time.Time) (*Reservation, []StockChange, error)
	// Commit marks a held reservation final: it no longer expires.
	// Idempotent; ECONFLICT if it was released (e.g. it expired).
	Commit(ctx context.Context, orderID string) error
	// CommitReservations commits many reservations in one transaction and
	// returns, per order id, what Commit would have returned for it.
	CommitReservations(ctx context.Context, orderIDs []string) (map[string]error, error)
	// ExpireReservations releases (reason cancellation) up to limit held
	// reservations that expired at or before now, and returns their order
	// ids and the stock changes.
	ExpireReservations(ctx context.Context, now time.Time, limit int) ([]string, []StockChange, error)
	// Release gives held or committed stock back with the reason and marks
	// the reservation released; releasing an unknown order id records a
	// released tombstone so a late Reserve cannot take stock. Idempotent.
	Release(ctx context.Context, orderID string, reason StockReason) ([]StockChange, error)
	FindReservation(ctx context.Context, orderID string) (*Reservation, error)
	// HeldReservations returns the order ids of up to limit reservations
	// still held (neither committed nor released) that were made at or
	// before `before`, oldest first.
	HeldReservations(ctx context.Context, before time.Time, limit int) ([]string, error)
}
