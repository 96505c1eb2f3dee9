// Package orders is the order service (port 8003): POST /orders through a
// bounded work queue served by workers, order queries, the /simulate load
// generator of reference 001, and the service's metrics and spans.
package orders

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Defaults for Options. A worker spends most of an order waiting (the
// product service, the payment provider, fsynced commits), so workers are
// many: 4 capped the fleet at about 100 orders a second with the default
// 20–50 ms payment latency, and in the order benchmark (no payment
// latency) left half the clients' orders queued behind the others' commits
// (docs/benchmarks.md, "Order throughput").
const (
	DefaultQueueSize = 256
	DefaultWorkers   = 32
)

// Options build a Service. Store, Metrics and Auth are required.
type Options struct {
	// ServiceName is the service's service.name (its row of the service
	// table), which GET /health reports.
	ServiceName string
	Store       cloudcart.OrderStore
	Metrics     *Metrics
	Meter       metric.Meter // for the queue-depth callback
	Tracer      trace.Tracer
	Logger      *slog.Logger
	Now         func() time.Time
	QueueSize   int
	Workers     int

	// Inventory is the product service; Standalone{} (client prices, no
	// stock) when nil.
	Inventory Inventory
	// Payments charges orders; a provider that approves at once when nil.
	Payments Payments
	// Users serves GET /users (reference 003's shape): UsersProxy.
	Users http.Handler
	// Auth verifies callers.
	Auth *authn.Authenticator
	// DemoEndpoints lets anonymous callers use POST /orders and POST
	// /simulate (reference 001's demo), their orders owned by nobody.
	// `cloudcart run` turns it on (it binds loopback); `cloudcart serve`
	// leaves it off unless --orders.demo-endpoints.
	DemoEndpoints bool
	// Lifecycle timings: a confirmed order ships after ShipAfter and is
	// delivered DeliverAfter later; a pending order older than
	// PendingTimeout was abandoned (its process died) and is failed with
	// its stock released. The sweep runs every SweepEvery.
	ShipAfter, DeliverAfter, PendingTimeout, SweepEvery time.Duration
}

// Lifecycle defaults.
const (
	DefaultShipAfter      = 5 * time.Second
	DefaultDeliverAfter   = 10 * time.Second
	DefaultPendingTimeout = 30 * time.Second
	DefaultSweepEvery     = time.Second
)

// Service processes orders.
type Service struct {
	name    string
	store   cloudcart.OrderStore
	m       *Metrics
	tracer  trace.Tracer
	log     *slog.Logger
	now     func() time.Time
	queue   chan *job
	workers int
	inv     Inventory
	pay     Payments
	users   http.Handler
	auth    *authn.Authenticator
	demo    bool

	shipAfter, deliverAfter, pendingTimeout, sweepEvery time.Duration

	// commits carries confirmed orders to runCommitter.
	commits chan string

	mu     sync.RWMutex // guards enqueue against close(queue)
	closed bool
	reg    metric.Registration
}

// job is one order travelling through the queue.
type job struct {
	ctx      context.Context // request context, detached from its cancellation
	order    *cloudcart.Order
	fail     bool   // forced failure (?fail=true, simulate error_rate)
	endpoint string // route that accepted it, for error labels
	accepted time.Time
	recorded bool       // stored in the database: counted in orders_processed_total
	done     chan error // buffered; receives the outcome
}

// New builds the service. Call Run to start its workers.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Metrics == nil || o.Auth == nil {
		return nil, errors.New("orders: Store, Metrics and Auth are required")
	}
	s := &Service{
		name:    o.ServiceName,
		store:   o.Store,
		m:       o.Metrics,
		tracer:  o.Tracer,
		log:     o.Logger,
		now:     o.Now,
		queue:   make(chan *job, cmp.Or(max(o.QueueSize, 0), DefaultQueueSize)),
		commits: make(chan string, commitQueue),
		workers: o.Workers,
		inv:     o.Inventory,
		pay:     o.Payments,
		users:   o.Users,
		auth:    o.Auth,
		demo:    o.DemoEndpoints,

		shipAfter:      cmp.Or(o.ShipAfter, DefaultShipAfter),
		deliverAfter:   cmp.Or(o.DeliverAfter, DefaultDeliverAfter),
		pendingTimeout: cmp.Or(o.PendingTimeout, DefaultPendingTimeout),
		sweepEvery:     cmp.Or(o.SweepEvery, DefaultSweepEvery),
	}
	if s.inv == nil {
		s.inv = Standalone{}
	}
	if s.pay == nil {
		s.pay = NewSimulatedPayments(0, 0, 0, 1)
	}
	if s.workers <= 0 {
		s.workers = DefaultWorkers
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
	if o.Meter != nil {
		reg, err := o.Meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
			obs.ObserveInt64(s.m.queueDepth, int64(len(s.queue)))
			return nil
		}, s.m.queueDepth)
		if err != nil {
			return nil, err
		}
		s.reg = reg
	}
	return s, nil
}

// QueueDepth is the number of orders waiting for a worker.
func (s *Service) QueueDepth() int { return len(s.queue) }

// Run runs the workers until ctx is done. It then refuses new orders,
// finishes every order already queued, and returns. Orders may be queued
// before Run starts; they wait for the workers.
func (s *Service) Run(ctx context.Context) error {
	var wg, committer sync.WaitGroup
	committer.Go(s.runCommitter)
	for range s.workers {
		wg.Go(func() {
			for j := range s.queue {
				j.done <- s.process(j)
			}
		})
	}
	wg.Go(func() { s.runLifecycle(ctx) })
	<-ctx.Done()
	s.mu.Lock()
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	wg.Wait()
	close(s.commits) // the workers are done: commit what they confirmed
	committer.Wait()
	if s.reg != nil {
		return s.reg.Unregister()
	}
	return nil
}

// Commit batching: up to commitBatch confirmed orders' reservations per
// call to the product service, commitQueue waiting.
const (
	commitBatch = 100
	commitQueue = 1024
)

// runCommitter commits the reservations of confirmed orders until the
// channel is closed, in batches of what arrived while the previous call
// was in flight. A failed call leaves the reservations held, for the
// lifecycle sweep to commit.
func (s *Service) runCommitter() {
	batch := make([]string, 0, commitBatch)
	for id := range s.commits {
		batch = append(batch[:0], id)
	more:
		for len(batch) < commitBatch {
			select {
			case id, ok := <-s.commits:
				if !ok {
					break more
				}
				batch = append(batch, id)
			default:
				break more
			}
		}
		s.commitReservations(context.Background(), batch)
	}
}

// commitReservations commits a batch and logs what could not be.
func (s *Service) commitReservations(ctx context.Context, ids []string) {
	ctx, span := s.tracer.Start(ctx, "order.commit_reservations", trace.WithAttributes(attribute.Int("orders", len(ids))))
	defer span.End()
	res, err := s.inv.Commit(ctx, ids)
	if err != nil {
		span.RecordError(err)
		s.log.WarnContext(ctx, "commit reservations; the sweep will retry", "orders", len(ids), "first_order", ids[0], "err", err)
		return
	}
	for _, id := range ids {
		if err := res[id]; err != nil {
			// Released meanwhile: fine for an order cancelled or failed
			// since; a confirmed order whose stock went back is logged.
			if o, ferr := s.store.FindOrderByID(ctx, id); ferr == nil && stockKept(o.Status) {
				s.log.ErrorContext(ctx, "the reservation of a confirmed order was released", "order", id, "status", o.Status, "err", err)
			}
		}
	}
}

// stockKept: an order in this status keeps its stock for good.
func stockKept(st cloudcart.OrderStatus) bool {
	return st == cloudcart.OrderConfirmed || st == cloudcart.OrderShipped || st == cloudcart.OrderDelivered
}

var errQueueFull = cloudcart.Errorf(cloudcart.EUNAVAILABLE, "order queue is full; retry shortly")

// enqueue hands j to the workers. With wait false a full queue is an
// EUNAVAILABLE error at once; with wait true it waits for room or ctx.
func (s *Service) enqueue(ctx context.Context, j *job, wait bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return cloudcart.Errorf(cloudcart.EUNAVAILABLE, "order service is not running")
	}
	if !wait {
		select {
		case s.queue <- j:
			return nil
		default:
			return errQueueFull
		}
	}
	select {
	case s.queue <- j:
		return nil
	case <-ctx.Done():
		return cloudcart.Errorf(cloudcart.EUNAVAILABLE, "gave up waiting for queue room: %v", ctx.Err())
	}
}

// PlaceOrder validates o, queues it and waits for the outcome. The order
// is processed even if ctx ends while it waits: once accepted it is the
// service's to finish, and its outcome is visible through GetOrder.
func (s *Service) PlaceOrder(ctx context.Context, o *cloudcart.Order, fail bool, endpoint string) error {
	validate := o.ValidateRequest // the catalog fills in missing prices
	if _, standalone := s.inv.(Standalone); standalone {
		validate = o.Validate // no catalog: the client's prices are the prices
	}
	if err := validate(); err != nil {
		return err
	}
	j := s.newJob(ctx, o, fail, endpoint)
	if err := s.enqueue(ctx, j, false); err != nil {
		return err
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) newJob(ctx context.Context, o *cloudcart.Order, fail bool, endpoint string) *job {
	now := s.now()
	o.ID = cloudcart.NewID("ord", now)
	o.Status = cloudcart.OrderPending
	return &job{
		ctx:      context.WithoutCancel(ctx),
		order:    o,
		fail:     fail,
		endpoint: endpoint,
		accepted: now,
		done:     make(chan error, 1),
	}
}

// process runs on a worker and records the outcome's metrics.
func (s *Service) process(j *job) error {
	start := s.now()
	ctx, span := s.tracer.Start(j.ctx, "order.process", trace.WithAttributes(
		attribute.String("order.id", j.order.ID), attribute.Int("order.items", len(j.order.Items))))
	defer span.End()
	err := s.steps(ctx, j)
	end := s.now()
	s.m.ProcessingDuration.Record(ctx, end.Sub(start).Seconds())
	s.m.Duration.Record(ctx, end.Sub(j.accepted).Seconds())
	if err != nil {
		// Only a recorded order is processed: one refused at the inventory
		// check (unknown SKU, out of stock, product service unreachable) or
		// by the store was never an order, and is counted in
		// order_errors_total alone. So orders_processed_total{status=
		// "failure"} equals the failed orders in the database.
		if j.recorded {
			s.m.Processed.Add(ctx, 1, s.m.failure)
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, cloudcart.ErrorCode(err))
		return httpkit.Counted(err) // each step counted its own error
	}
	s.m.Processed.Add(ctx, 1, s.m.success)
	s.m.AddValue(j.order.Total)
	return nil
}

// steps: price, check and reserve stock (one call) → record pending → pay
// → confirmed, the reservation committed after (batched). An order refused at the
// reservation (unknown SKU, out of stock, stale price, product service
// unreachable) was never an order and is not recorded. A failure after the
// stock is reserved releases it, and one after the order is recorded also
// marks it failed, so no stock stays reserved by a failed order. A process
// that dies between reserving and recording leaves a reservation without
// an order, which the lifecycle sweep releases (settleHeld); so does a
// reservation whose answer was lost (EUNAVAILABLE after the product
// service committed it).
func (s *Service) steps(ctx context.Context, j *job) error {
	o := j.order
	items := make([]cloudcart.ReservationItem, len(o.Items))
	for i, it := range o.Items {
		items[i] = cloudcart.ReservationItem(it) // sku, qty and the price the client expects, if any
	}
	checkStart := time.Now()
	rctx, span := s.tracer.Start(ctx, "order.reserve_stock")
	prices, err := s.inv.Reserve(rctx, o.ID, items)
	span.End()
	s.m.InventoryCheck.Record(ctx, time.Since(checkStart).Seconds())
	if err != nil {
		s.countError(ctx, stepErrorType(err), j.endpoint)
		return err
	}
	if err := applyPrices(o, prices); err != nil {
		s.countError(ctx, stepErrorType(err), j.endpoint)
		s.releaseUnrecorded(ctx, o.ID)
		return err
	}

	o.Status, o.CreatedAt, o.UpdatedAt = cloudcart.OrderPending, j.accepted, s.now()
	if err := s.store.CreateOrder(ctx, o); err != nil {
		if !errors.Is(err, cloudcart.ErrIdempotencyKeyUsed) {
			s.countError(ctx, "storage", j.endpoint)
		}
		s.releaseUnrecorded(ctx, o.ID)
		return err
	}
	s.m.Created.Add(ctx, 1)
	j.recorded = true

	pctx, span := s.tracer.Start(ctx, "order.payment")
	if j.fail {
		err = cloudcart.Errorf(cloudcart.EPAYMENT, "payment declined for order %s", o.ID)
	} else {
		err = s.pay.Charge(pctx, o.ID, o.Total)
	}
	span.End()
	switch cloudcart.ErrorCode(err) {
	case "":
		s.m.paid(ctx, paymentSuccess)
	case cloudcart.EPAYMENT:
		s.m.paid(ctx, paymentFailed)
		return s.fail(ctx, j, err, "payment_declined")
	default:
		s.m.paid(ctx, paymentError)
		return s.fail(ctx, j, err, "upstream")
	}

	// The order is paid. Committing the reservation stops the product
	// service from expiring it; it happens after the confirmation, in
	// batches (runCommitter), so it costs the order neither a round trip
	// nor a transaction of its own. The reservation is held meanwhile: it
	// expires only after the product service's TTL (minutes), and the
	// lifecycle sweep commits any that a crash left behind (settleHeld)
	// once they are PendingTimeout old. An order slower than half that
	// commits before confirming, as the sweep might have taken its
	// reservation for an orphan: a reservation already released fails it.
	async := time.Since(checkStart) <= s.pendingTimeout/2
	if !async {
		res, err := s.inv.Commit(ctx, []string{o.ID})
		if err == nil {
			err = res[o.ID]
		}
		if cloudcart.ErrorCode(err) == cloudcart.ECONFLICT {
			return s.fail(ctx, j, cloudcart.Errorf(cloudcart.EUNAVAILABLE, "the stock reservation of order %s expired before payment completed; retry", o.ID), "upstream")
		} else if err != nil {
			s.log.WarnContext(ctx, "commit reservation; the sweep will retry", "order", o.ID, "err", err)
		}
	}
	done, err := s.store.UpdateOrderStatus(ctx, o.ID, cloudcart.OrderConfirmed, "", "", s.now())
	if err != nil {
		s.countError(ctx, "storage", j.endpoint)
		return err
	}
	*o = *done
	if async {
		select {
		case s.commits <- o.ID:
		default: // the committer is behind (product service slow): the sweep commits it
		}
	}
	return nil
}

// applyPrices fills catalog prices into the order (a client price must
// match the catalog) and validates the result.
func applyPrices(o *cloudcart.Order, prices map[string]cloudcart.Money) error {
	for i, it := range o.Items {
		p, ok := prices[it.SKU]
		if !ok {
			continue // standalone: the client's price stands
		}
		if it.Price != 0 && it.Price != p {
			return cloudcart.Errorf(cloudcart.ECONFLICT, "price of %s is %s, not %s", it.SKU, p, it.Price)
		}
		o.Items[i].Price = p
	}
	return o.Validate()
}

// stepErrorType names a processing step's failure for order_errors_total.
func stepErrorType(err error) string {
	switch cloudcart.ErrorCode(err) {
	case cloudcart.ECONFLICT:
		return "out_of_stock"
	case cloudcart.EUNAVAILABLE:
		return "upstream"
	}
	return httpkit.ErrorType(err)
}

// fail marks a recorded order failed and releases its stock.
func (s *Service) fail(ctx context.Context, j *job, cause error, errorType string) error {
	s.countError(ctx, errorType, j.endpoint)
	s.release(ctx, j.order.ID)
	failed, err := s.store.UpdateOrderStatus(ctx, j.order.ID, cloudcart.OrderFailed,
		cloudcart.ErrorCode(cause), cloudcart.ErrorMessage(cause), s.now())
	if err != nil {
		s.log.ErrorContext(ctx, "mark order failed", "order", j.order.ID, "err", err)
	} else {
		*j.order = *failed
	}
	return cause
}

// releaseUnrecorded gives back the stock of an order that was not
// recorded; a failure leaves the reservation to the sweep's orphan pass.
func (s *Service) releaseUnrecorded(ctx context.Context, id string) {
	if err := s.inv.Release(ctx, id, cloudcart.StockCancellation); err != nil {
		s.log.WarnContext(ctx, "release stock of an unrecorded order; the sweep will retry", "order", id, "err", err)
	}
}

// release gives an order's stock back and records it; a failure leaves the
// order for the lifecycle sweep to retry.
func (s *Service) release(ctx context.Context, id string) {
	if err := s.inv.Release(ctx, id, cloudcart.StockCancellation); err != nil {
		s.log.WarnContext(ctx, "release stock; the sweep will retry", "order", id, "err", err)
		return
	}
	if err := s.store.MarkStockReleased(ctx, id); err != nil {
		s.log.WarnContext(ctx, "mark stock released", "order", id, "err", err)
	}
}

// countError records order_errors_total. errorType and endpoint come from
// closed sets: error codes of this package and route templates.
func (s *Service) countError(ctx context.Context, errorType, endpoint string) {
	s.m.errors.Add(ctx, errorType, endpoint)
}

// GetOrder returns one order the caller may see: a user sees their own,
// an admin or a service any. Another user's order is ENOTFOUND, exactly as
// a missing one, so its existence is not revealed.
func (s *Service) GetOrder(ctx context.Context, c authn.Caller, id string) (*cloudcart.Order, error) {
	o, err := s.store.FindOrderByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !cloudcart.OrderVisible(o, c.UserID, c.Admin() || c.Service) {
		return nil, cloudcart.Errorf(cloudcart.ENOTFOUND, "order %q not found", id)
	}
	return o, nil
}

// ListOrders returns a page of orders and the total matching: only the
// caller's own unless it is an admin or a service.
func (s *Service) ListOrders(ctx context.Context, c authn.Caller, f cloudcart.OrderFilter) ([]*cloudcart.Order, int, error) {
	if !c.Admin() && !c.Service {
		if c.UserID == "" {
			return nil, 0, authn.ErrNeedUser
		}
		if f.UserID != "" && f.UserID != c.UserID {
			return nil, 0, cloudcart.Errorf(cloudcart.EFORBIDDEN, "only admins may list other users' orders (user_id)")
		}
		f.UserID = c.UserID
	}
	return s.store.FindOrders(ctx, f)
}
