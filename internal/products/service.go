// Package products is the product service (port 8002): the catalog with
// categories, prices and stock; listing, detail, search; admin changes;
// stock reservations for orders (reserve, commit, release, all idempotent
// by order id); low-stock detection; and the service's metrics.
package products

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Defaults for Options.
const (
	// DefaultReservationTTL is how long stock stays reserved for an order
	// that is not confirmed: far beyond an order's processing (the order
	// service fails an order pending for 30 s), short enough that stock
	// taken for an order that never comes back is on sale again soon.
	DefaultReservationTTL = 10 * time.Minute
	// expiryBatch bounds the reservations one sweep releases.
	expiryBatch = 100
)

// Options build a Service. Store, Metrics and Auth are required.
type Options struct {
	// Auth verifies callers: admin writes need an admin's token, the
	// reservation API the service credential.
	Auth    *authn.Authenticator
	Store   cloudcart.ProductStore
	Metrics *Metrics
	Meter   metric.Meter // for the store-derived gauges
	Tracer  trace.Tracer
	Logger  *slog.Logger
	Now     func() time.Time
	// PoolSize reports the database pool's open connections.
	PoolSize func() int
	// SeedSize products are created on first start (empty catalog).
	SeedSize int
	Seed     uint64
	// ReservationTTL is how long a reservation is held before Run's
	// sweeper releases it (DefaultReservationTTL if 0); the sweep runs on
	// start and every SweepEvery (a tenth of the TTL, between 1 s and 30 s,
	// if 0).
	ReservationTTL, SweepEvery time.Duration
}

// Service is the product service.
type Service struct {
	store  cloudcart.ProductStore
	m      *Metrics
	tracer trace.Tracer
	log    *slog.Logger
	now    func() time.Time
	top    *topViews
	reg    metric.Registration
	auth   *authn.Authenticator

	reservationTTL, sweepEvery time.Duration
}

// New builds the service, seeding the catalog if it is empty.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Store == nil || o.Metrics == nil || o.Auth == nil {
		return nil, errors.New("products: Store, Metrics and Auth are required")
	}
	s := &Service{store: o.Store, m: o.Metrics, tracer: o.Tracer, log: o.Logger, now: o.Now, auth: o.Auth,
		reservationTTL: o.ReservationTTL, sweepEvery: o.SweepEvery}
	if s.reservationTTL <= 0 {
		s.reservationTTL = DefaultReservationTTL
	}
	if s.sweepEvery <= 0 {
		s.sweepEvery = min(max(s.reservationTTL/10, time.Second), 30*time.Second)
	}
	if s.tracer == nil {
		s.tracer = noop.NewTracerProvider().Tracer("")
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.top = newTopViews(5, s.now)
	if o.SeedSize > 0 {
		n, err := s.store.CountProducts(ctx)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			// The seed is deterministic: a conflict means a replica
			// starting at the same moment seeded the same catalog first
			// (its transaction committed; ours rolled back whole).
			switch err := s.store.CreateProducts(ctx, SeedCatalog(o.SeedSize, o.Seed, s.now())...); {
			case cloudcart.ErrorCode(err) == cloudcart.ECONFLICT:
				s.log.InfoContext(ctx, "catalog seeded by another replica")
			case err != nil:
				return nil, err
			default:
				s.log.InfoContext(ctx, "seeded catalog", "products", o.SeedSize)
			}
		}
	}
	if o.Meter != nil {
		reg, err := o.Meter.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
			return s.observe(ctx, obs, o.PoolSize)
		}, s.m.countByCategory, s.m.avgPrice, s.m.lowStock, s.m.poolSize, s.m.topViewed)
		if err != nil {
			return nil, err
		}
		s.reg = reg
	}
	return s, nil
}

// Close unregisters the gauge callback.
func (s *Service) Close() error {
	if s.reg != nil {
		return s.reg.Unregister()
	}
	return nil
}

// observe reads the gauges from the store at collection time, so they are
// right after a restart and never drift from the database. Each reading
// stands alone: a failed query loses its own gauge, not the others.
func (s *Service) observe(ctx context.Context, obs metric.Observer, poolSize func() int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if poolSize != nil {
		obs.ObserveInt64(s.m.poolSize, int64(poolSize()))
	}
	for _, v := range s.top.Top(10) {
		obs.ObserveInt64(s.m.topViewed, v.Views, metric.WithAttributes(attribute.String("product_id", v.SKU)))
	}
	stats, statsErr := s.store.CategoryStats(ctx)
	for _, st := range stats {
		opt := s.m.categoryOpt(st.Category)
		obs.ObserveInt64(s.m.countByCategory, int64(st.Count), opt)
		obs.ObserveFloat64(s.m.avgPrice, st.AvgPrice.Dollars(), opt)
	}
	low, lowErr := s.store.LowStockCount(ctx)
	if lowErr == nil {
		obs.ObserveInt64(s.m.lowStock, int64(low))
	}
	return errors.Join(statsErr, lowErr)
}

// List returns a page of the catalog.
func (s *Service) List(ctx context.Context, f cloudcart.ProductFilter) ([]*cloudcart.Product, int, error) {
	if f.Category != "" && !cloudcart.ValidCategory(f.Category) {
		return nil, 0, cloudcart.Errorf(cloudcart.EINVALID, "unknown category %q", truncate(f.Category))
	}
	start := time.Now()
	ps, total, err := s.store.FindProducts(ctx, f)
	cat := f.Category
	if cat == "" {
		cat = "all"
	}
	s.m.ListTime.Record(ctx, time.Since(start).Seconds(), s.m.categoryOpt(cat))
	return ps, total, err
}

// MaxSearchResults bounds one search.
const MaxSearchResults = 50

// Search finds products whose name or description contains q.
func (s *Service) Search(ctx context.Context, q string, limit int) ([]*cloudcart.Product, int, error) {
	if len(q) < 2 || len(q) > 100 {
		return nil, 0, cloudcart.Errorf(cloudcart.EINVALID, "q must be 2-100 characters")
	}
	start := time.Now()
	ps, total, err := s.store.FindProducts(ctx, cloudcart.ProductFilter{Query: q, Limit: min(limit, MaxSearchResults)})
	s.m.SearchTime.Record(ctx, time.Since(start).Seconds())
	return ps, total, err
}

// Get returns one product and counts the view.
func (s *Service) Get(ctx context.Context, sku string) (*cloudcart.Product, error) {
	p, err := s.store.FindProductBySKU(ctx, sku)
	if err != nil {
		return nil, err
	}
	s.m.Views.Add(ctx, 1, s.m.categoryOpt(p.Category))
	s.top.Add(p.SKU)
	return p, nil
}

// Create adds a product.
func (s *Service) Create(ctx context.Context, p *cloudcart.Product) error {
	if p.LowStockThreshold == 0 {
		p.LowStockThreshold = cloudcart.DefaultLowStockThreshold
	}
	if err := p.Validate(); err != nil {
		return err
	}
	p.CreatedAt, p.UpdatedAt = s.now(), s.now()
	return s.store.CreateProducts(ctx, p)
}

// Update changes a product's catalog fields.
func (s *Service) Update(ctx context.Context, p *cloudcart.Product) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p.UpdatedAt = s.now()
	return s.store.UpdateProduct(ctx, p)
}

// AdjustStock changes stock by delta for a reason.
func (s *Service) AdjustStock(ctx context.Context, sku string, delta int, reason cloudcart.StockReason) (*cloudcart.Product, error) {
	switch {
	case !reason.Valid():
		return nil, cloudcart.Errorf(cloudcart.EINVALID, "reason must be purchase, cancellation, return or restock")
	case delta == 0 || delta > 1_000_000 || delta < -1_000_000:
		return nil, cloudcart.Errorf(cloudcart.EINVALID, "delta must be non-zero and within ±1000000")
	}
	ch, err := s.store.AdjustStock(ctx, sku, delta, reason)
	if err != nil {
		return nil, err
	}
	s.record(ctx, ch)
	return s.store.FindProductBySKU(ctx, sku)
}

// Reserve takes stock for an order and prices it in one transaction: an
// item whose expected price (ReservationItem.Price, optional) is not the
// catalog's refuses the whole reservation.
func (s *Service) Reserve(ctx context.Context, orderID string, items []cloudcart.ReservationItem) (*cloudcart.Reservation, error) {
	if err := validateReservation(orderID, items); err != nil {
		return nil, err
	}
	r, changes, err := s.store.Reserve(ctx, orderID, items, s.now().Add(s.reservationTTL))
	for _, ch := range changes {
		s.record(ctx, ch)
	}
	return r, err
}

// HeldReservations returns the order ids of reservations held for at
// least minAge, oldest first.
func (s *Service) HeldReservations(ctx context.Context, minAge time.Duration, limit int) ([]string, error) {
	return s.store.HeldReservations(ctx, s.now().Add(-minAge), limit)
}

// Run releases expired reservations until ctx is done: once at once (so
// reservations that expired while the service was down are released on
// start) and then every SweepEvery.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		s.ExpireReservations(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ExpireReservations releases every held reservation past its expiry and
// counts each in product_reservations_expired_total. It returns how many
// it released.
func (s *Service) ExpireReservations(ctx context.Context) int {
	n := 0
	for {
		ids, changes, err := s.store.ExpireReservations(ctx, s.now(), expiryBatch)
		for _, ch := range changes {
			s.record(ctx, ch)
		}
		if len(ids) > 0 {
			s.m.ReservationsExpired.Add(ctx, int64(len(ids)))
			s.log.InfoContext(ctx, "released expired reservations", "count", len(ids), "first_order", ids[0])
		}
		n += len(ids)
		if err != nil {
			s.log.WarnContext(ctx, "expire reservations", "err", err)
			return n
		}
		if len(ids) < expiryBatch || ctx.Err() != nil {
			return n
		}
	}
}

// Commit makes a reservation final.
func (s *Service) Commit(ctx context.Context, orderID string) error {
	return s.store.Commit(ctx, orderID)
}

// MaxCommitBatch bounds the order ids of one CommitReservations.
const MaxCommitBatch = 500

// CommitReservations makes many reservations final in one transaction and
// returns each one's outcome (nil, ENOTFOUND or ECONFLICT).
func (s *Service) CommitReservations(ctx context.Context, orderIDs []string) (map[string]error, error) {
	if len(orderIDs) == 0 || len(orderIDs) > MaxCommitBatch {
		return nil, cloudcart.Errorf(cloudcart.EINVALID, "order_ids must contain 1-%d order ids", MaxCommitBatch)
	}
	for i, id := range orderIDs {
		if id == "" || len(id) > 64 {
			return nil, cloudcart.Errorf(cloudcart.EINVALID, "order_ids[%d] must be 1-64 characters", i)
		}
	}
	return s.store.CommitReservations(ctx, orderIDs)
}

// Release gives an order's stock back.
func (s *Service) Release(ctx context.Context, orderID string, reason cloudcart.StockReason) error {
	if reason != cloudcart.StockCancellation && reason != cloudcart.StockReturn {
		return cloudcart.Errorf(cloudcart.EINVALID, "reason must be cancellation or return")
	}
	changes, err := s.store.Release(ctx, orderID, reason)
	for _, ch := range changes {
		s.record(ctx, ch)
	}
	return err
}

// Reservation returns one order's reservation.
func (s *Service) Reservation(ctx context.Context, orderID string) (*cloudcart.Reservation, error) {
	return s.store.FindReservation(ctx, orderID)
}

// record counts a stock change and raises inventory alerts on crossings.
func (s *Service) record(ctx context.Context, ch cloudcart.StockChange) {
	s.m.stockUpdated(ctx, ch.Reason)
	if ch.CrossedBelow(ch.Threshold) {
		s.m.inventoryAlert(ctx, severityWarning)
		s.log.WarnContext(ctx, "low stock", "sku", ch.SKU, "stock", ch.After, "threshold", ch.Threshold)
	}
	if ch.CrossedBelow(cloudcart.CriticalStock) {
		s.m.inventoryAlert(ctx, severityCritical)
	}
}

func validateReservation(orderID string, items []cloudcart.ReservationItem) error {
	switch {
	case orderID == "" || len(orderID) > 64:
		return cloudcart.Errorf(cloudcart.EINVALID, "order_id must be 1-64 characters")
	case len(items) == 0 || len(items) > cloudcart.MaxOrderItems:
		return cloudcart.Errorf(cloudcart.EINVALID, "items must contain 1-%d items", cloudcart.MaxOrderItems)
	}
	for i, it := range items {
		if it.SKU == "" || it.Qty <= 0 || it.Qty > cloudcart.MaxItemQuantity {
			return cloudcart.Errorf(cloudcart.EINVALID, "items[%d] needs a sku and a qty between 1 and %d", i, cloudcart.MaxItemQuantity)
		}
		if it.Price < 0 {
			return cloudcart.Errorf(cloudcart.EINVALID, "items[%d].price must not be negative", i)
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
