// Package orders is the order service (port 8003): POST /orders through a
// bounded work queue served by workers, order queries, the /simulate load
// generator of reference 001, and the service's metrics and spans.
package orders

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Defaults for Options.
const (
	DefaultQueueSize = 256
	DefaultWorkers   = 4
)

// Options build a Service. Store and Metrics are required.
type Options struct {
	Store     cloudcart.OrderStore
	Metrics   *Metrics
	Meter     metric.Meter // for the queue-depth callback
	Tracer    trace.Tracer
	Logger    *slog.Logger
	Now       func() time.Time
	QueueSize int
	Workers   int
}

// Service processes orders.
type Service struct {
	store   cloudcart.OrderStore
	m       *Metrics
	tracer  trace.Tracer
	log     *slog.Logger
	now     func() time.Time
	queue   chan *job
	workers int

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
	done     chan error // buffered; receives the outcome
}

// New builds the service. Call Run to start its workers.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Metrics == nil {
		return nil, errors.New("orders: Store and Metrics are required")
	}
	s := &Service{
		store:   o.Store,
		m:       o.Metrics,
		tracer:  o.Tracer,
		log:     o.Logger,
		now:     o.Now,
		queue:   make(chan *job, cmp.Or(max(o.QueueSize, 0), DefaultQueueSize)),
		workers: o.Workers,
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
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() {
			for j := range s.queue {
				j.done <- s.process(j)
			}
		})
	}
	<-ctx.Done()
	s.mu.Lock()
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	wg.Wait()
	if s.reg != nil {
		return s.reg.Unregister()
	}
	return nil
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
	if err := o.Validate(); err != nil {
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

// process runs on a worker: pay, then record the order with its outcome.
func (s *Service) process(j *job) error {
	start := s.now()
	ctx, span := s.tracer.Start(j.ctx, "order.process", trace.WithAttributes(
		attribute.String("order.id", j.order.ID), attribute.Int("order.items", len(j.order.Items))))
	defer span.End()

	o := j.order
	o.Status = cloudcart.OrderConfirmed
	payErr := s.pay(ctx, j)
	if payErr != nil {
		o.Status, o.FailureReason = cloudcart.OrderFailed, cloudcart.ErrorMessage(payErr)
	}
	o.CreatedAt = j.accepted
	o.UpdatedAt = s.now()
	storeErr := s.store.CreateOrder(ctx, o)

	end := s.now()
	s.m.ProcessingDuration.Record(ctx, end.Sub(start).Seconds())
	s.m.Duration.Record(ctx, end.Sub(j.accepted).Seconds())
	switch {
	case storeErr != nil:
		s.m.Processed.Add(ctx, 1, s.m.failure)
		s.countError(ctx, "storage", j.endpoint)
		span.RecordError(storeErr)
		span.SetStatus(codes.Error, "store order")
		return counted{storeErr}
	case payErr != nil:
		s.m.Created.Add(ctx, 1)
		s.m.Processed.Add(ctx, 1, s.m.failure)
		s.countError(ctx, "payment_declined", j.endpoint)
		span.SetStatus(codes.Error, "payment declined")
		return counted{payErr}
	}
	s.m.Created.Add(ctx, 1)
	s.m.Processed.Add(ctx, 1, s.m.success)
	s.m.Value.Add(ctx, o.Total.Dollars())
	return nil
}

// pay is the payment step. Until the payment provider exists (issue 5) it
// declines exactly the orders marked to fail.
func (s *Service) pay(ctx context.Context, j *job) error {
	_, span := s.tracer.Start(ctx, "order.payment")
	defer span.End()
	if j.fail {
		span.SetStatus(codes.Error, "declined")
		return cloudcart.Errorf(cloudcart.EPAYMENT, "payment declined for order %s", j.order.ID)
	}
	return nil
}

// countError records order_errors_total. errorType and endpoint come from
// closed sets: error codes of this package and route templates.
func (s *Service) countError(ctx context.Context, errorType, endpoint string) {
	s.m.Errors.Add(ctx, 1, metric.WithAttributes(
		attribute.String("error_type", errorType), attribute.String("endpoint", endpoint)))
}

// GetOrder returns one order.
func (s *Service) GetOrder(ctx context.Context, id string) (*cloudcart.Order, error) {
	return s.store.FindOrderByID(ctx, id)
}

// ListOrders returns a page of orders and the total matching.
func (s *Service) ListOrders(ctx context.Context, f cloudcart.OrderFilter) ([]*cloudcart.Order, int, error) {
	return s.store.FindOrders(ctx, f)
}

// counted marks an error already recorded in order_errors_total, so the
// HTTP layer does not count it twice.
type counted struct{ error }

func (c counted) Unwrap() error { return c.error }
