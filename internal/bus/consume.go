package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Consumer defaults.
const (
	// DefaultBatchSize bounds a HandleBatch call.
	DefaultBatchSize   = 32
	DefaultMaxAttempts = 5
	DefaultAckWait     = 30 * time.Second
	handleTimeout      = 20 * time.Second
)

// DefaultBackoff waits 1 s before the second attempt and doubles up to 1 min.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 6)
	return min(d, time.Minute)
}

// Failure reasons, the closed set of Result.Reason.
const (
	ReasonDeserialization = "deserialization" // the message is not a valid event envelope
	ReasonHandler         = "handler"         // the handler returned an error
)

// Outcome is what happened to one delivery.
type Outcome int

const (
	Processed    Outcome = iota // handled and acknowledged
	Retried                     // failed; redelivered after a backoff
	DeadLettered                // moved to the dead-letter subject and terminated
)

// Delivery is one delivery of an event to a handler.
type Delivery struct {
	Subject string
	Event   *cloudcart.Event
	Attempt int // 1 on the first delivery
	// Ctx carries the delivery's own span (its trace continues from the
	// producer's) in HandleBatch, whose ctx is the batch's.
	Ctx context.Context
}

// Result reports one delivery to ConsumerOptions.Observe.
type Result struct {
	Subject   string
	EventType cloudcart.EventType // "" when the message did not decode
	Attempt   int
	Duration  time.Duration
	Outcome   Outcome
	Reason    string // ReasonDeserialization or ReasonHandler when Err != nil
	Err       error
}

// PermanentError marks a handler error that a retry cannot fix: the
// message is dead-lettered at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }

// ConsumerOptions configure NewConsumer.
type ConsumerOptions struct {
	// Name prefixes the durable consumer names: one consumer per event
	// type, named <Name>-<type with '.' as '_'>.
	Name  string
	Types []cloudcart.EventType
	// Handle handles one delivery. nil means success; a PermanentError
	// dead-letters the message now; any other error is retried after
	// Backoff(attempt), and the message is dead-lettered once MaxAttempts
	// deliveries have failed. Delivery is at least once: Handle must be
	// idempotent (deduplicate by event id).
	Handle func(ctx context.Context, d *Delivery) error
	// HandleBatch, when set, is used instead of Handle: it handles the
	// messages of one subject that arrived together (up to BatchSize, in
	// order) and returns one error per delivery, each treated as Handle's.
	// A consumer that stores what it handles commits a batch in one
	// transaction instead of one per event.
	HandleBatch func(ctx context.Context, ds []*Delivery) []error
	BatchSize   int // DefaultBatchSize if 0
	// BatchWait is how long a batch waits for more messages after its
	// first, unless it fills up before: a consumer whose handler commits
	// once per batch then commits once for the events of BatchWait rather
	// than for each event when they arrive one at a time. It delays a
	// message's handling by at most BatchWait. 0: a batch is what is
	// queued when its first message is taken.
	BatchWait   time.Duration
	MaxAttempts int                             // DefaultMaxAttempts if 0
	Backoff     func(attempt int) time.Duration // DefaultBackoff if nil
	AckWait     time.Duration                   // DefaultAckWait if 0; a handler must finish within it
	// Observe, when set, is called once per delivery with its outcome.
	Observe func(Result)
	// OnRestart, when set, is called when a subject's consume loop
	// failed and restarts.
	OnRestart  func(subject string, err error)
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	Logger     *slog.Logger
}

// Consumer consumes events with durable JetStream pull consumers, one per
// event type, so each type (subject) has its own backlog and lag.
type Consumer struct {
	c    *Conn
	o    ConsumerOptions
	log  *slog.Logger
	subs []string

	mu      sync.Mutex
	running map[string]bool
}

// NewConsumer checks the options; Run starts consuming.
func NewConsumer(c *Conn, o ConsumerOptions) (*Consumer, error) {
	if (o.Handle == nil && o.HandleBatch == nil) || o.Name == "" || len(o.Types) == 0 {
		return nil, errors.New("bus: consumer needs Name, Types and Handle or HandleBatch")
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.Tracer == nil {
		o.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if o.Propagator == nil {
		o.Propagator = propagation.TraceContext{}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cons := &Consumer{c: c, o: o, log: log.With("component", "consumer"), running: map[string]bool{}}
	for _, t := range o.Types {
		if !t.Valid() {
			return nil, fmt.Errorf("bus: unknown event type %q", t)
		}
		cons.subs = append(cons.subs, Subject(t))
	}
	return cons, nil
}

// Subjects are the subjects consumed, one per event type.
func (c *Consumer) Subjects() []string { return c.subs }

// Running reports whether every subject's consume loop is active.
func (c *Consumer) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if !c.running[s] {
			return false
		}
	}
	return true
}

// DurableName is the consumer name for a subject.
func (c *Consumer) DurableName(subject string) string {
	return c.o.Name + "-" + strings.ReplaceAll(strings.TrimPrefix(subject, SubjectPrefix), ".", "_")
}

// Run consumes until ctx is done. A subject whose loop fails (NATS down,
// consumer deleted) restarts after a pause. On return every message that
// was being handled has been acknowledged or negatively acknowledged.
func (c *Consumer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range c.subs {
		wg.Go(func() {
			pause := time.Second
			for {
				err := c.consume(ctx, s)
				c.setRunning(s, false)
				if ctx.Err() != nil {
					return
				}
				c.log.WarnContext(ctx, "consumer stopped; restarting", "subject", s, "err", err, "in", pause)
				if c.o.OnRestart != nil {
					c.o.OnRestart(s, err)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(pause):
				}
				pause = min(2*pause, 30*time.Second)
			}
		})
	}
	wg.Wait()
	return nil
}

func (c *Consumer) setRunning(s string, v bool) {
	c.mu.Lock()
	c.running[s] = v
	c.mu.Unlock()
}

func (c *Consumer) durable(ctx context.Context, subject string) (jetstream.Consumer, error) {
	if err := c.c.Ready(ctx); err != nil {
		return nil, err
	}
	return c.c.js.CreateOrUpdateConsumer(ctx, EventsStream, jetstream.ConsumerConfig{
		Durable:       c.DurableName(subject),
		Description:   "CloudCart " + c.o.Name + " for " + subject,
		FilterSubject: subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.o.AckWait,
		MaxDeliver:    -1, // dead-lettering is ours, after MaxAttempts
		MaxAckPending: 256,
	})
}

// consume runs one subject's loop until ctx is done or the consumer fails.
func (c *Consumer) consume(ctx context.Context, subject string) error {
	cons, err := c.durable(ctx, subject)
	if err != nil {
		return err
	}
	// Handlers run on a context that outlives shutdown by handleTimeout,
	// so a message being handled when the service stops is finished and
	// acknowledged rather than left to time out.
	hctx := context.WithoutCancel(ctx)
	failed := make(chan error, 1)
	handle := func(m jetstream.Msg) { c.process(hctx, subject, m) }
	if c.o.HandleBatch != nil {
		// The callback queues; one goroutine takes what is queued as a
		// batch, in order. Closed after the consume context is: every
		// queued message is handled before consume returns.
		msgs := make(chan jetstream.Msg, c.o.BatchSize)
		done := make(chan struct{})
		go func() { defer close(done); c.batches(hctx, subject, msgs) }()
		defer func() { close(msgs); <-done }()
		handle = func(m jetstream.Msg) { msgs <- m }
	}
	cc, err := cons.Consume(handle,
		jetstream.PullMaxMessages(max(16, c.o.BatchSize)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				select {
				case failed <- err:
				default:
				}
			}
		}))
	if err != nil {
		return fmt.Errorf("bus: consume %s: %w", subject, err)
	}
	c.setRunning(subject, true)
	select {
	case <-ctx.Done():
		cc.Drain() // handle what is buffered, fetch nothing more
		<-cc.Closed()
		return nil
	case err := <-failed:
		cc.Stop()
		<-cc.Closed()
		return err
	}
}

// delivery is one message being handled.
type delivery struct {
	m       jetstream.Msg
	start   time.Time
	res     Result
	d       *Delivery
	span    trace.Span
	subject string
	cancel  context.CancelFunc
}

// prepare decodes m and starts its span; nil when m was dead-lettered
// (not an event).
func (c *Consumer) prepare(ctx context.Context, subject string, m jetstream.Msg) *delivery {
	dv := &delivery{m: m, start: time.Now(), subject: subject}
	ctx, dv.cancel = context.WithTimeout(ctx, min(handleTimeout, c.o.AckWait))
	attempt := 1
	if md, err := m.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	dv.res = Result{Subject: subject, Attempt: attempt}
	var ev cloudcart.Event
	err := json.Unmarshal(m.Data(), &ev)
	if err == nil {
		err = ev.Validate()
	}
	if err != nil {
		dv.res.Reason, dv.res.Err = ReasonDeserialization, err
		dv.res.Outcome = c.deadLetter(ctx, subject, m, attempt, dv.res.Reason, err)
		c.observe(dv)
		return nil
	}
	dv.res.EventType = ev.Type

	// The trace continues from the publisher's span (headers), or from the
	// producer's operation recorded in the envelope.
	pctx := c.o.Propagator.Extract(ctx, headerCarrier(m.Headers()))
	if !trace.SpanContextFromContext(pctx).IsValid() && len(ev.Trace) > 0 {
		pctx = c.o.Propagator.Extract(ctx, propagation.MapCarrier(ev.Trace))
	}
	pctx, dv.span = c.o.Tracer.Start(pctx, "process "+subject, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", ev.ID),
			attribute.Int("messaging.delivery.attempt", attempt),
		))
	dv.d = &Delivery{Subject: subject, Event: &ev, Attempt: attempt, Ctx: pctx}
	return dv
}

// observe reports a finished delivery and releases its context.
func (c *Consumer) observe(dv *delivery) {
	dv.cancel()
	dv.res.Duration = time.Since(dv.start)
	if c.o.Observe != nil {
		c.o.Observe(dv.res)
	}
}

// finish acknowledges a handled delivery, or retries or dead-letters a
// failed one, and ends its span.
func (c *Consumer) finish(dv *delivery, err error) {
	defer c.observe(dv)
	defer dv.span.End()
	if err == nil {
		dv.res.Outcome = Processed
		if aerr := dv.m.Ack(); aerr != nil {
			// The message comes back after AckWait; the handler's
			// deduplication makes the second delivery a no-op.
			c.log.WarnContext(dv.d.Ctx, "ack failed", "subject", dv.subject, "event_id", dv.d.Event.ID, "err", aerr)
		}
		return
	}
	dv.span.RecordError(err)
	dv.span.SetStatus(codes.Error, "handler failed")
	dv.res.Reason, dv.res.Err = ReasonHandler, err
	var perm *PermanentError
	if errors.As(err, &perm) || dv.d.Attempt >= c.o.MaxAttempts {
		dv.res.Outcome = c.deadLetter(dv.d.Ctx, dv.subject, dv.m, dv.d.Attempt, dv.res.Reason, err)
		return
	}
	dv.res.Outcome = Retried
	if nerr := dv.m.NakWithDelay(c.o.Backoff(dv.d.Attempt)); nerr != nil {
		c.log.WarnContext(dv.d.Ctx, "nak failed; redelivered after the ack wait", "subject", dv.subject, "err", nerr)
	}
}

func (c *Consumer) process(ctx context.Context, subject string, m jetstream.Msg) {
	dv := c.prepare(ctx, subject, m)
	if dv == nil {
		return
	}
	c.finish(dv, c.o.Handle(dv.d.Ctx, dv.d))
}

// batches handles the messages queued on msgs, what is queued at a time
// as one batch, until msgs is closed.
func (c *Consumer) batches(ctx context.Context, subject string, msgs <-chan jetstream.Msg) {
	batch := make([]*delivery, 0, c.o.BatchSize)
	ds := make([]*Delivery, 0, c.o.BatchSize)
	var wait *time.Timer
	for m := range msgs {
		batch, ds = batch[:0], ds[:0]
		var waited <-chan time.Time // nil: take only what is queued
		if c.o.BatchWait > 0 {
			if wait == nil {
				wait = time.NewTimer(c.o.BatchWait)
			} else {
				wait.Reset(c.o.BatchWait)
			}
			waited = wait.C
		}
		for {
			if dv := c.prepare(ctx, subject, m); dv != nil {
				batch, ds = append(batch, dv), append(ds, dv.d)
			}
			if len(batch) == c.o.BatchSize {
				break
			}
			var ok bool
			if waited == nil {
				select {
				case m, ok = <-msgs:
				default:
				}
			} else {
				select {
				case m, ok = <-msgs:
				case <-waited:
					waited = nil
					select { // what came at the same time
					case m, ok = <-msgs:
					default:
					}
				}
			}
			if !ok {
				break
			}
		}
		if len(batch) == 0 {
			continue
		}
		bctx, cancel := context.WithTimeout(ctx, min(handleTimeout, c.o.AckWait))
		errs := c.o.HandleBatch(bctx, ds)
		cancel()
		for i, dv := range batch {
			var err error
			if i < len(errs) {
				err = errs[i]
			} else {
				err = errors.New("bus: HandleBatch returned fewer results than deliveries")
			}
			c.finish(dv, err)
		}
	}
}

// deadLetter copies m to the dead-letter subject with why it failed, then
// terminates it. When the copy cannot be stored the message is retried.
func (c *Consumer) deadLetter(ctx context.Context, subject string, m jetstream.Msg, attempt int, reason string, cause error) Outcome {
	dl := &nats.Msg{Subject: DeadLetterSubject(subject), Data: m.Data(), Header: nats.Header{}}
	for k, v := range m.Headers() {
		dl.Header[k] = v
	}
	dl.Header.Del(jetstream.MsgIDHeader) // a later poison copy of the same event must be kept too
	dl.Header.Set(HeaderDLQReason, reason)
	dl.Header.Set(HeaderDLQError, truncate(cause.Error(), 512))
	dl.Header.Set(HeaderDLQAttempts, strconv.Itoa(attempt))
	dl.Header.Set(HeaderDLQSubject, subject)
	if _, err := c.c.js.PublishMsg(ctx, dl, jetstream.WithExpectStream(DeadLetterStream)); err != nil {
		c.log.ErrorContext(ctx, "dead-letter publish failed; retrying the message", "subject", subject, "err", err)
		_ = m.NakWithDelay(c.o.Backoff(attempt))
		return Retried
	}
	c.log.WarnContext(ctx, "message dead-lettered", "subject", subject, "reason", reason, "attempts", attempt, "err", cause)
	if err := m.Term(); err != nil {
		c.log.WarnContext(ctx, "term failed", "subject", subject, "err", err)
	}
	return DeadLettered
}

// Lag returns, per subject, the age of the oldest message the consumer has
// not acknowledged yet (delivered and pending, or not delivered at all); 0
// when it is caught up. It reads the consumer's state from the server: the
// ack floor, then the first message after it on the subject.
func (c *Consumer) Lag(ctx context.Context, now time.Time) (map[string]time.Duration, error) {
	if err := c.c.Ready(ctx); err != nil {
		return nil, err
	}
	stream, err := c.c.js.Stream(ctx, EventsStream)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	var errs []error
	for _, s := range c.subs {
		cons, err := stream.Consumer(ctx, c.DurableName(s))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue // not created yet: no lag to report
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			out[s] = 0
			continue
		}
		msg, err := stream.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(s))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			out[s] = 0
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[s] = max(now.Sub(msg.Time), 0)
	}
	return out, errors.Join(errs...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
