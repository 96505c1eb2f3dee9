package orders

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// sweepBatch bounds the work of one lifecycle tick.
const sweepBatch = 100

// runLifecycle advances orders over time until ctx is done: confirmed →
// shipped → delivered (orders_completed_total), abandoned pending orders →
// failed with stock released, and stock releases that failed earlier are
// retried. A pending order counts as abandoned only after PendingTimeout,
// so replicas sharing one database never fail each other's orders in
// flight.
func (s *Service) runLifecycle(ctx context.Context) {
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) sweep(ctx context.Context) {
	now := s.now()
	s.settleHeld(ctx)
	s.advance(ctx, cloudcart.OrderConfirmed, cloudcart.OrderShipped, now.Add(-s.shipAfter))
	if n := s.advance(ctx, cloudcart.OrderShipped, cloudcart.OrderDelivered, now.Add(-s.deliverAfter)); n > 0 {
		s.m.Completed.Add(ctx, int64(n))
	}
	abandoned, _, err := s.store.FindOrders(ctx, cloudcart.OrderFilter{Status: cloudcart.OrderPending,
		UpdatedBefore: now.Add(-s.pendingTimeout), Limit: sweepBatch})
	if err != nil {
		s.log.WarnContext(ctx, "sweep pending orders", "err", err)
	}
	for _, o := range abandoned {
		s.release(ctx, o.ID)
		if _, err := s.store.UpdateOrderStatus(ctx, o.ID, cloudcart.OrderFailed, cloudcart.EUNAVAILABLE,
			"processing was interrupted; stock released", s.now()); err == nil {
			s.log.InfoContext(ctx, "failed abandoned order", "order", o.ID)
		}
	}
	held, _, err := s.store.FindOrders(ctx, cloudcart.OrderFilter{StockHeld: true, Limit: sweepBatch})
	if err != nil {
		s.log.WarnContext(ctx, "sweep stock releases", "err", err)
	}
	for _, o := range held {
		s.release(ctx, o.ID)
	}
}

// settleHeld settles reservations still held after PendingTimeout. One
// whose order was never recorded is released: the process that reserved
// it died before recording the order (the order id is known only to it
// and the product service). One whose order is confirmed (or further) is
// committed: its process died before the batched commit after the
// confirmation. Others belong to orders this sweep fails or releases. It
// runs before abandoned pending orders are failed, so once no order is
// pending no orphan holds stock either. A pending order counts as
// abandoned after the same timeout, and an order that slow commits its
// reservation itself before confirming (steps), so an order in flight on
// this or another replica is never confirmed without its stock.
func (s *Service) settleHeld(ctx context.Context) {
	ids, err := s.inv.Held(ctx, s.pendingTimeout, sweepBatch)
	if err != nil {
		s.log.WarnContext(ctx, "sweep held reservations", "err", err)
		return
	}
	var commit []string
	for _, id := range ids {
		o, err := s.store.FindOrderByID(ctx, id)
		switch {
		case err == nil && stockKept(o.Status):
			commit = append(commit, id)
		case cloudcart.ErrorCode(err) == cloudcart.ENOTFOUND:
			if err := s.inv.Release(ctx, id, cloudcart.StockCancellation); err != nil {
				s.log.WarnContext(ctx, "release stock of an unrecorded order", "order", id, "err", err)
				continue
			}
			s.log.InfoContext(ctx, "released stock of an unrecorded order", "order", id)
		}
	}
	if len(commit) > 0 {
		s.commitReservations(ctx, commit)
	}
}

// advance moves up to sweepBatch orders that reached `from` before cutoff.
// The moves run concurrently, at most advanceParallel at a time: each is
// a transaction of its own, and concurrent transactions share their
// commits (group commit on SQLite, the pool's connections on PostgreSQL),
// where one after another each paid a commit (an fsync) of its own —
// twice per order in a steady state (shipped, then delivered).
func (s *Service) advance(ctx context.Context, from, to cloudcart.OrderStatus, cutoff time.Time) int {
	due, _, err := s.store.FindOrders(ctx, cloudcart.OrderFilter{Status: from, UpdatedBefore: cutoff, Limit: sweepBatch})
	if err != nil {
		s.log.WarnContext(ctx, "find orders to advance", "from", from, "err", err)
		return 0
	}
	var (
		n atomic.Int64
		g errgroup.Group
	)
	g.SetLimit(advanceParallel)
	for _, o := range due {
		g.Go(func() error {
			sctx, span := s.tracer.Start(ctx, "order."+string(to), trace.WithAttributes(attribute.String("order.id", o.ID)))
			defer span.End()
			if _, err := s.store.UpdateOrderStatus(sctx, o.ID, to, "", "", s.now()); err == nil {
				n.Add(1)
			}
			return nil
		})
	}
	_ = g.Wait() // the moves return no error: one that fails waits for the next sweep
	return int(n.Load())
}

// advanceParallel bounds the concurrent moves of one advance.
const advanceParallel = 16

// Cancel cancels a confirmed order the caller may see (GetOrder) and
// returns its stock.
func (s *Service) Cancel(ctx context.Context, c authn.Caller, id string) (*cloudcart.Order, error) {
	if _, err := s.GetOrder(ctx, c, id); err != nil {
		return nil, err
	}
	o, err := s.store.UpdateOrderStatus(ctx, id, cloudcart.OrderCancelled, "", "cancelled by the customer", s.now())
	if err != nil {
		return nil, err
	}
	s.m.Cancelled.Add(ctx, 1)
	s.release(ctx, id)
	return o, nil
}
