// Package notifier is the notification worker (port 8005): it consumes
// the fleet's events from the bus with durable JetStream consumers, turns
// them and Alertmanager's alerts (POST /alerts) into notifications, and
// delivers those to Slack, a generic webhook or the log.
//
// Once-only: handling an event records its id in the same transaction as
// the notification it creates, so a redelivery (after a crash, before the
// ack) finds the id and creates nothing. Notifications are delivered from
// the database with retries and backoff, so a Slack outage delays them
// without losing them; each success adds a notification.sent event to the
// outbox in the same transaction.
package notifier

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// ConsumerName is the worker's name in the deduplication table and the
// prefix of its durable JetStream consumers.
const ConsumerName = "notifier"

// Defaults for Options.
const (
	DefaultDeliveryAttempts = 8
	DefaultLagInterval      = time.Second
	NotificationRetention   = 7 * 24 * time.Hour
	// DefaultCoalesce is how long the worker lets events and due
	// deliveries gather before it handles them (Options.Coalesce).
	DefaultCoalesce = 10 * time.Millisecond
)

// DefaultDeliveryBackoff waits 2 s after the first failed send, doubling
// up to 5 min.
func DefaultDeliveryBackoff(attempt int) time.Duration {
	return min(2*time.Second<<min(max(attempt-1, 0), 8), 5*time.Minute)
}

// DefaultRecordBackoff is the wait before recording a delivery's outcome
// again after recording it failed (a full disk, a locked database): 1 s
// doubling up to 1 min, with equal jitter (half fixed, half random), so
// several workers do not retry in step.
func DefaultRecordBackoff(failures int) time.Duration {
	d := min(time.Second<<min(max(failures-1, 0), 6), time.Minute)
	return d/2 + rand.N(d/2+1)
}

// Options build a Service.
type Options struct {
	Store    cloudcart.NotificationStore
	Bus      *bus.Conn
	Channels []Channel // the log channel when empty
	Metrics  *Metrics
	Meter    metric.Meter // for the observed gauges
	Source   string       // service.name on notification.sent events
	// MaxAttempts is how many deliveries of a message fail before it is
	// dead-lettered; Backoff the wait before a redelivery.
	MaxAttempts int
	Backoff     func(attempt int) time.Duration
	// DeliveryAttempts is how many sends of a notification to one channel
	// fail before it is given up; DeliveryBackoff the wait between them.
	DeliveryAttempts int
	DeliveryBackoff  func(attempt int) time.Duration
	LagInterval      time.Duration
	// Coalesce is how long the worker lets work gather before it takes
	// it: a batch of events waits up to Coalesce after its first for more
	// (bus.ConsumerOptions.BatchWait), and the dispatcher, woken by new
	// notifications, waits Coalesce before it reads the due deliveries.
	// Under load each transaction and each read then serves many events
	// instead of one; a notification leaves at most twice Coalesce later.
	// DefaultCoalesce if 0; negative for none.
	Coalesce time.Duration
	// RecordBackoff is the wait after the store failed to record a
	// delivery's outcome (or to list the due ones), by the number of
	// failures in a row; DefaultRecordBackoff if nil.
	RecordBackoff func(failures int) time.Duration
	// Committed is called after a notification.sent event is committed,
	// e.g. to wake the outbox relay. May be nil.
	Committed func()
	// ConsumeDelay, when set, is a delay to wait before handling each
	// event: the chaos fault consume_latency (chaos.Middleware.ConsumeDelay)
	// makes a slow consumer with it. May be nil.
	ConsumeDelay func() time.Duration
	Tracer       trace.Tracer
	Propagator   propagation.TextMapPropagator
	Logger       *slog.Logger
	Now          func() time.Time
}

// Service is the notification worker.
type Service struct {
	o        Options
	m        *Metrics
	log      *slog.Logger
	channels map[string]Channel
	names    []string
	consumer *bus.Consumer
	wake     chan struct{}
	start    time.Time

	// held are outcomes the store failed to record, retried with
	// RecordBackoff; their notifications are not sent again meanwhile.
	// Only the dispatcher goroutine touches held and readFailures.
	held         map[deliveryKey]*heldOutcome
	readFailures int

	mu     sync.Mutex
	lag    map[string]time.Duration // by subject
	counts map[cloudcart.EventType]uint64
	total  uint64
}

// New builds the worker. Run starts consuming and delivering.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Bus == nil || o.Metrics == nil {
		return nil, errors.New("notifier: Store, Bus and Metrics are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tracer == nil {
		o.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if o.Propagator == nil {
		o.Propagator = propagation.TraceContext{}
	}
	if len(o.Channels) == 0 {
		o.Channels = []Channel{&LogChannel{Logger: o.Logger}}
	}
	o.DeliveryAttempts = cmp.Or(o.DeliveryAttempts, DefaultDeliveryAttempts)
	if o.DeliveryBackoff == nil {
		o.DeliveryBackoff = DefaultDeliveryBackoff
	}
	o.LagInterval = cmp.Or(o.LagInterval, DefaultLagInterval)
	o.Coalesce = max(cmp.Or(o.Coalesce, DefaultCoalesce), 0)
	if o.RecordBackoff == nil {
		o.RecordBackoff = DefaultRecordBackoff
	}
	s := &Service{o: o, m: o.Metrics, log: o.Logger, channels: map[string]Channel{}, wake: make(chan struct{}, 1),
		held:  map[deliveryKey]*heldOutcome{},
		start: o.Now(), lag: map[string]time.Duration{}, counts: map[cloudcart.EventType]uint64{}}
	for _, c := range o.Channels {
		if _, dup := s.channels[c.Name()]; dup {
			return nil, errors.New("notifier: two channels named " + c.Name())
		}
		s.channels[c.Name()] = c
		s.names = append(s.names, c.Name())
	}
	var err error
	s.consumer, err = bus.NewConsumer(o.Bus, bus.ConsumerOptions{
		Name: ConsumerName, Types: cloudcart.EventTypes, HandleBatch: s.handleBatch,
		BatchWait: o.Coalesce, MaxAttempts: o.MaxAttempts, Backoff: o.Backoff, Observe: s.observe,
		OnRestart: func(string, error) { s.m.restarts.Add(context.Background(), 1) },
		Tracer:    o.Tracer, Propagator: o.Propagator, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	s.m.init(s.names)
	if o.Meter != nil {
		if err := s.registerGauges(o.Meter); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Service) registerGauges(meter metric.Meter) error {
	m := s.m
	_, err := meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		running := int64(0)
		if s.consumer.Running() {
			running = 1
		}
		obs.ObserveInt64(m.running, running)
		obs.ObserveFloat64(m.uptime, s.o.Now().Sub(s.start).Seconds())
		s.mu.Lock()
		defer s.mu.Unlock()
		for subject, d := range s.lag {
			obs.ObserveFloat64(m.lag, d.Seconds(), metric.WithAttributeSet(m.set("topic", subject)))
		}
		for t, n := range s.counts {
			obs.ObserveFloat64(m.distribution, float64(n)/float64(s.total), metric.WithAttributeSet(m.set("event_type", string(t))))
		}
		return nil
	}, m.running, m.uptime, m.lag, m.distribution)
	return err
}

// Channels are the configured channel names.
func (s *Service) Channels() []string { return s.names }

// Run consumes events, delivers notifications and tracks the consumer lag
// until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.consumer.Run(ctx) })
	wg.Go(func() { s.dispatch(ctx) })
	wg.Go(func() { s.trackLag(ctx) })
	wg.Wait()
	return nil
}

// handle turns one event into at most one notification, once.
func (s *Service) handle(ctx context.Context, d *bus.Delivery) error {
	if err := s.consumeDelay(ctx); err != nil {
		return err
	}
	n, err := s.notification(ctx, d)
	if err != nil {
		return err // a payload of the wrong shape: retried, then dead-lettered
	}
	return s.record(ctx, d, n)
}

// record stores d's event as handled, with its notification n, in a
// transaction of its own.
func (s *Service) record(ctx context.Context, d *bus.Delivery, n *cloudcart.Notification) error {
	first, err := s.o.Store.HandleEvent(ctx, ConsumerName, d.Event, n, s.names)
	if err != nil {
		return err
	}
	s.handled(ctx, d, n, first)
	return nil
}

// batchHandler is a store that handles many events in one transaction
// (sqlstore.NotificationStore: HandleEvents).
type batchHandler interface {
	HandleEvents(ctx context.Context, consumer string, hs []cloudcart.HandledEvent, channels []string) ([]bool, error)
}

// handleBatch is handle for the events of one subject that arrived
// together: one transaction for the batch when the store can, and each
// event on its own if that transaction fails, so that one event the store
// refuses is retried and dead-lettered alone.
func (s *Service) handleBatch(ctx context.Context, ds []*bus.Delivery) []error {
	errs := make([]error, len(ds))
	store, ok := s.o.Store.(batchHandler)
	if !ok || len(ds) == 1 {
		for i, d := range ds {
			errs[i] = s.handle(d.Ctx, d)
		}
		return errs
	}
	var (
		hs  []cloudcart.HandledEvent
		idx []int // hs[j] is ds[idx[j]]
	)
	for i, d := range ds {
		if errs[i] = s.consumeDelay(d.Ctx); errs[i] != nil {
			continue
		}
		n, err := s.notification(d.Ctx, d)
		if errs[i] = err; err != nil {
			continue
		}
		hs, idx = append(hs, cloudcart.HandledEvent{Event: d.Event, Notification: n}), append(idx, i)
	}
	if len(hs) == 0 {
		return errs
	}
	first, err := store.HandleEvents(ctx, ConsumerName, hs, s.names)
	if err != nil {
		// Each event alone, with the notification already built (its
		// consume delay already waited).
		for j, i := range idx {
			errs[i] = s.record(ds[i].Ctx, ds[i], hs[j].Notification)
		}
		return errs
	}
	for j, i := range idx {
		s.handled(ds[i].Ctx, ds[i], hs[j].Notification, first[j])
	}
	return errs
}

// consumeDelay waits the chaos service's consume latency, if any.
func (s *Service) consumeDelay(ctx context.Context) error {
	if s.o.ConsumeDelay == nil {
		return nil
	}
	delay := s.o.ConsumeDelay()
	if delay <= 0 {
		return nil
	}
	trace.SpanFromContext(ctx).AddEvent("chaos.consume_latency", trace.WithAttributes(attribute.Int64("chaos.delay_ms", delay.Milliseconds())))
	return sleep(ctx, delay) // an error: retried
}

// sleep waits d, or until ctx is done and then returns its error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// notification renders the notification d's event makes (nil: none),
// carrying the delivery's trace context.
func (s *Service) notification(ctx context.Context, d *bus.Delivery) (*cloudcart.Notification, error) {
	n, err := cloudcart.NotificationForEvent(d.Event)
	if err != nil || n == nil {
		return nil, err
	}
	n.CreatedAt = s.o.Now().UTC()
	n.Trace = map[string]string{}
	s.o.Propagator.Inject(ctx, propagation.MapCarrier(n.Trace))
	return n, nil
}

// handled counts a recorded event: a duplicate, or a first handling that
// may have made a notification to deliver.
func (s *Service) handled(ctx context.Context, d *bus.Delivery, n *cloudcart.Notification, first bool) {
	if !first {
		s.m.add(s.m.duplicates, "topic", d.Subject)
		trace.SpanFromContext(ctx).AddEvent("duplicate: handled before", trace.WithAttributes(attribute.String("event.id", d.Event.ID)))
		return
	}
	s.count(d.Event)
	if n != nil {
		s.Wake()
	}
}

// count records a first handling in the per-kind counters of 002 §7.1.
func (s *Service) count(e *cloudcart.Event) {
	ctx := context.Background()
	switch e.Type {
	case cloudcart.EventOrderCreated, cloudcart.EventOrderCancelled, cloudcart.EventOrderCompleted:
		s.m.orderEvents.Add(ctx, 1)
	case cloudcart.EventPaymentProcessed:
		s.m.paymentEvents.Add(ctx, 1)
	case cloudcart.EventNotificationSent:
		s.m.notifEvents.Add(ctx, 1)
	case cloudcart.EventChaosInjected:
		var d cloudcart.ChaosInjectedData
		if e.DecodeData(&d) == nil {
			action := d.Action
			if action != "enable" && action != "disable" {
				action = "configure"
			}
			s.m.add(s.m.chaosEvents, "chaos_type", action)
		}
	}
	s.mu.Lock()
	s.counts[e.Type]++
	s.total++
	s.mu.Unlock()
}

// observe records every delivery's outcome.
func (s *Service) observe(r bus.Result) {
	ctx := context.Background()
	m := s.m
	m.add(m.consumed, "topic", r.Subject)
	et := cmp.Or(string(r.EventType), "unknown")
	m.duration.Record(ctx, r.Duration.Seconds(), metric.WithAttributeSet(m.set("topic", r.Subject, "event_type", et)))
	if r.Err != nil {
		m.add(m.failed, "topic", r.Subject, "error_type", r.Reason)
		m.add(m.procErrors, "error_type", r.Reason)
		if r.Reason == bus.ReasonDeserialization {
			m.deserErrors.Add(ctx, 1)
		} else {
			m.handlerErrors.Add(ctx, 1)
		}
	}
	switch r.Outcome {
	case bus.Processed:
		m.add(m.processed, "topic", r.Subject, "event_type", et)
	case bus.DeadLettered:
		m.add(m.deadLettered, "topic", r.Subject)
	}
}

// trackLag reads the consumer lag from the broker every LagInterval; the
// gauge reports the last reading.
func (s *Service) trackLag(ctx context.Context) {
	t := time.NewTicker(s.o.LagInterval)
	defer t.Stop()
	for {
		lag, err := s.consumer.Lag(ctx, s.o.Now())
		if err != nil && ctx.Err() == nil {
			s.log.DebugContext(ctx, "reading consumer lag failed", "err", err)
		}
		s.mu.Lock()
		for k, v := range lag {
			s.lag[k] = v
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Wake makes the dispatcher look for due deliveries now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dispatch delivers due notifications until ctx is done. While the store
// fails (a full disk, say) it backs off: RecordBackoff after each failed
// read of the due deliveries, and per held outcome.
func (s *Service) dispatch(ctx context.Context) {
	pruned := time.Time{}
	for {
		n, wait := s.deliverDue(ctx)
		if time.Since(pruned) > time.Hour {
			pruned = time.Now()
			s.prune(ctx)
		}
		if n > 0 && ctx.Err() == nil {
			continue // more may be due
		}
		wake := s.wake
		if s.readFailures > 0 {
			wake = nil // new work does not cut a backoff short
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-wake:
			t.Stop()
			if s.o.Coalesce > 0 {
				// The notifications handled meanwhile are read and
				// recorded with those that woke the dispatcher.
				_ = sleep(ctx, s.o.Coalesce)
			}
		}
	}
}

const deliveryBatch = 50

// deliveryKey names one delivery: a notification to a channel.
type deliveryKey struct{ id, channel string }

// heldOutcome is a delivery whose outcome the store failed to record.
type heldOutcome struct {
	record   func(context.Context) error // records it again
	failures int
	retryAt  time.Time
}

// hold keeps a delivery's outcome that the store failed to record, so it
// is recorded later rather than the notification sent again.
func (s *Service) hold(ctx context.Context, d cloudcart.DueDelivery, err error, record func(context.Context) error) {
	k := deliveryKey{d.Notification.ID, d.Channel}
	h := s.held[k]
	if h == nil {
		h = &heldOutcome{record: record}
		s.held[k] = h
	}
	h.failures++
	wait := s.o.RecordBackoff(h.failures)
	h.retryAt = time.Now().Add(wait)
	s.m.recordFailures.Add(context.Background(), 1)
	s.log.ErrorContext(ctx, "recording a delivery failed; holding it, not sending it again", "id", d.Notification.ID,
		"channel", d.Channel, "failures", h.failures, "retry_in", wait, "err", err)
}

// deliverDue records the held outcomes that are due, then sends the due
// deliveries that are not held. It returns how many it sent and how long
// to wait before the next round.
func (s *Service) deliverDue(ctx context.Context) (int, time.Duration) {
	wait := time.Second
	now := time.Now()
	for k, h := range s.held {
		if now.Before(h.retryAt) {
			wait = min(wait, h.retryAt.Sub(now))
			continue
		}
		if err := h.record(ctx); err != nil {
			if ctx.Err() != nil {
				return 0, wait
			}
			h.failures++
			d := s.o.RecordBackoff(h.failures)
			h.retryAt = now.Add(d)
			wait = min(wait, d)
			s.m.recordFailures.Add(ctx, 1)
			s.log.WarnContext(ctx, "recording a held delivery failed again", "id", k.id, "channel", k.channel, "failures", h.failures, "retry_in", d, "err", err)
			continue
		}
		s.log.InfoContext(ctx, "held delivery recorded", "id", k.id, "channel", k.channel, "failures", h.failures)
		delete(s.held, k)
	}
	due, err := s.o.Store.DueDeliveries(ctx, s.o.Now(), deliveryBatch)
	if err != nil {
		if ctx.Err() == nil {
			s.readFailures++
			wait = s.o.RecordBackoff(s.readFailures)
			s.m.recordFailures.Add(ctx, 1)
			s.log.WarnContext(ctx, "reading due deliveries failed", "failures", s.readFailures, "retry_in", wait, "err", err)
		}
		return 0, wait
	}
	s.readFailures = 0
	sent := 0
	batch, batching := s.o.Store.(batchRecorder)
	var succeeded []sentDelivery
	for _, d := range due {
		if ctx.Err() != nil {
			break
		}
		if _, held := s.held[deliveryKey{d.Notification.ID, d.Channel}]; held {
			continue
		}
		if ok := s.deliver(ctx, d, batching); ok != nil {
			succeeded = append(succeeded, *ok)
		}
		sent++
	}
	if len(succeeded) > 0 {
		s.recordSent(context.WithoutCancel(ctx), batch, succeeded)
	}
	if len(due) < deliveryBatch || sent == 0 {
		return 0, wait
	}
	return sent, wait
}

// batchRecorder is a store that records many successful deliveries in one
// transaction (sqlstore.NotificationStore: HandleEvents).
type batchRecorder interface {
	DeliveriesSucceeded(ctx context.Context, ds []cloudcart.SentDelivery) error
}

// sentDelivery is a successful send whose outcome is still to record.
type sentDelivery struct {
	d      cloudcart.DueDelivery
	rec    cloudcart.SentDelivery
	record func(context.Context) error // records it alone
}

// recordSent records the successful sends of one round in one
// transaction; if that fails, each is held and recorded on its own later.
func (s *Service) recordSent(ctx context.Context, batch batchRecorder, ds []sentDelivery) {
	recs := make([]cloudcart.SentDelivery, len(ds))
	for i, d := range ds {
		recs[i] = d.rec
	}
	if err := batch.DeliveriesSucceeded(ctx, recs); err != nil {
		for _, d := range ds {
			s.hold(ctx, d.d, err, d.record)
		}
		return
	}
	if s.o.Committed != nil {
		s.o.Committed()
	}
}

// deliver sends one notification to one channel and records the outcome.
// The send continues the trace of the event or alert it came from. With
// deferSuccess a success is returned, to be recorded with the round's
// others (recordSent), instead of recorded here.
func (s *Service) deliver(ctx context.Context, d cloudcart.DueDelivery, deferSuccess bool) *sentDelivery {
	n := d.Notification
	sctx := context.WithoutCancel(ctx) // a send in progress finishes at shutdown
	if len(n.Trace) > 0 {
		sctx = s.o.Propagator.Extract(sctx, propagation.MapCarrier(n.Trace))
	}
	sctx, span := s.o.Tracer.Start(sctx, "notify "+d.Channel, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("notification.id", n.ID), attribute.String("notification.kind", n.Kind),
			attribute.String("notification.channel", d.Channel)))
	defer span.End()
	sctx, cancel := context.WithTimeout(sctx, 15*time.Second)
	defer cancel()

	attempt := d.Attempts + 1
	var err error
	if ch, ok := s.channels[d.Channel]; ok {
		start := time.Now()
		err = ch.Send(sctx, n)
		if _, slack := ch.(*SlackChannel); slack {
			s.m.slackLatency.Record(sctx, time.Since(start).Seconds())
		}
	} else {
		err = &SendError{Reason: ReasonNotConfigured, Err: errors.New("channel " + d.Channel + " is no longer configured")}
	}
	now := s.o.Now()
	if err == nil {
		s.m.add(s.m.sent, "channel", d.Channel, "status", "success")
		sent, eerr := cloudcart.NewEvent(cloudcart.EventNotificationSent, s.o.Source, cloudcart.NotificationSentData{
			NotificationID: n.ID, Channel: d.Channel, Kind: n.Kind, SourceID: n.SourceID,
		}, now)
		if eerr != nil {
			s.log.ErrorContext(sctx, "building the notification.sent event failed", "id", n.ID, "channel", d.Channel, "err", eerr)
			return nil
		}
		record := func(ctx context.Context) error {
			if err := s.o.Store.DeliverySucceeded(ctx, n.ID, d.Channel, now, sent); err != nil {
				return err
			}
			if s.o.Committed != nil {
				s.o.Committed()
			}
			return nil
		}
		if deferSuccess {
			return &sentDelivery{d: d, record: record,
				rec: cloudcart.SentDelivery{NotificationID: n.ID, Channel: d.Channel, At: now, Sent: sent}}
		}
		if err := record(sctx); err != nil {
			s.hold(sctx, d, err, record)
		}
		return nil
	}
	reason, retryable := reasonOf(err)
	span.RecordError(err)
	span.SetStatus(codes.Error, reason)
	s.m.add(s.m.sent, "channel", d.Channel, "status", "failed")
	s.m.add(s.m.sendFailed, "channel", d.Channel, "reason", reason)
	final := !retryable || attempt >= s.o.DeliveryAttempts
	next := now.Add(s.o.DeliveryBackoff(attempt))
	msg := reason + ": " + err.Error()
	record := func(ctx context.Context) error {
		return s.o.Store.DeliveryFailed(ctx, n.ID, d.Channel, attempt, next, final, msg)
	}
	if ferr := record(sctx); ferr != nil {
		s.hold(sctx, d, ferr, record)
	}
	lvl := slog.LevelWarn
	if final {
		lvl = slog.LevelError
	}
	s.log.Log(sctx, lvl, "notification send failed", "id", n.ID, "channel", d.Channel, "reason", reason,
		"attempt", attempt, "final", final, "err", err)
	return nil
}

// prune forgets old notifications, and handled-event records once the bus
// can no longer redeliver their events (it keeps them bus.EventsMaxAge).
func (s *Service) prune(ctx context.Context) {
	type pruner interface {
		PruneNotifications(ctx context.Context, before time.Time) (int64, error)
		PruneHandled(ctx context.Context, consumer string, before time.Time) (int64, error)
	}
	p, ok := s.o.Store.(pruner)
	if !ok {
		return
	}
	now := s.o.Now()
	_, err1 := p.PruneNotifications(ctx, now.Add(-NotificationRetention))
	_, err2 := p.PruneHandled(ctx, ConsumerName, now.Add(-bus.EventsMaxAge-24*time.Hour))
	if err := errors.Join(err1, err2); err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "pruning notifications failed", "err", err)
	}
}

// Handler returns the worker's routes:
//
//	GET  /notifications?limit=N&kind=K&before=ID  notifications, newest first, with their deliveries
//	POST /alerts                 Alertmanager webhook receiver (payload version 4)
func (s *Service) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /notifications", s.respond(s.listNotifications, "limit", "kind", "before"))
	mux.HandleFunc("POST /alerts", s.respond(s.receiveAlerts))
	return mux
}
