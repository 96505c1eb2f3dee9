package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// PublishBuckets are the publish latency bounds in seconds: an in-process
// JetStream ack takes well under a millisecond, a remote one a few.
var PublishBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// PublisherOptions configure NewPublisher.
type PublisherOptions struct {
	Meter metric.Meter
	// Prefix names the metrics: "order" gives order_events_published_total
	// and order_event_publish_duration_seconds.
	Prefix string
	// Types are the event types the service publishes; their series start
	// at zero.
	Types      []cloudcart.EventType
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
}

// Publisher publishes events to JetStream and waits for the ack. It
// implements cloudcart.EventPublisher.
type Publisher struct {
	c         *Conn
	tracer    trace.Tracer
	prop      propagation.TextMapPropagator
	published metric.Int64Counter     // <prefix>_events_published_total{event_type,status}
	duration  metric.Float64Histogram // <prefix>_event_publish_duration_seconds{event_type}

	mu    sync.Mutex
	attrs map[cloudcart.EventType]*publishAttrs

	ok, failed atomic.Uint64
}

type publishAttrs struct {
	ok, failed metric.AddOption
	record     metric.RecordOption
}

var _ cloudcart.EventPublisher = (*Publisher)(nil)

// NewPublisher creates the publisher and its instruments.
func NewPublisher(c *Conn, o PublisherOptions) (*Publisher, error) {
	p := &Publisher{c: c, tracer: o.Tracer, prop: o.Propagator, attrs: map[cloudcart.EventType]*publishAttrs{}}
	if p.tracer == nil {
		p.tracer = noop.NewTracerProvider().Tracer("")
	}
	if p.prop == nil {
		p.prop = propagation.TraceContext{}
	}
	in := telemetry.NewInstruments(o.Meter)
	p.published = in.Counter(o.Prefix+".events.published", "{event}", "Events published to the bus, by type and outcome (success: JetStream stored it; failure: no ack).")
	p.duration = in.Histogram(o.Prefix+".event.publish.duration", "s", "Time from publishing an event to JetStream's ack.", PublishBuckets)
	if err := in.Err(); err != nil {
		return nil, err
	}
	for _, t := range o.Types {
		a := p.attrsFor(t)
		p.published.Add(context.Background(), 0, a.ok)
		p.published.Add(context.Background(), 0, a.failed)
	}
	return p, nil
}

func (p *Publisher) attrsFor(t cloudcart.EventType) *publishAttrs {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.attrs[t]; ok {
		return a
	}
	et := attribute.String("event_type", string(t))
	a := &publishAttrs{
		ok:     metric.WithAttributeSet(attribute.NewSet(et, attribute.String("status", "success"))),
		failed: metric.WithAttributeSet(attribute.NewSet(et, attribute.String("status", "failure"))),
		record: metric.WithAttributeSet(attribute.NewSet(et)),
	}
	p.attrs[t] = a
	return a
}

// Stats returns how many publishes succeeded and failed since start.
func (p *Publisher) Stats() (ok, failed uint64) { return p.ok.Load(), p.failed.Load() }

// Publish stores e on its subject and returns after JetStream's ack. The
// event id is the Nats-Msg-Id: publishing it again within DuplicateWindow
// is acknowledged without storing a second copy. The producer span
// continues ctx's trace, or the trace recorded in e when ctx has none (an
// outbox relay publishing later), and travels in the message headers.
func (p *Publisher) Publish(ctx context.Context, e *cloudcart.Event) (err error) {
	if !e.Type.Valid() {
		return cloudcart.Errorf(cloudcart.EINVALID, "unknown event type %q", e.Type)
	}
	start := time.Now()
	a := p.attrsFor(e.Type)
	subject := Subject(e.Type)
	parent := ctx
	if !trace.SpanContextFromContext(ctx).IsValid() && len(e.Trace) > 0 {
		parent = p.prop.Extract(ctx, propagation.MapCarrier(e.Trace))
	}
	ctx, span := p.tracer.Start(parent, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", e.ID),
		))
	defer func() {
		p.duration.Record(ctx, time.Since(start).Seconds(), a.record)
		if err != nil {
			p.failed.Add(1)
			p.published.Add(ctx, 1, a.failed)
			span.RecordError(err)
			span.SetStatus(codes.Error, "publish failed")
		} else {
			p.ok.Add(1)
			p.published.Add(ctx, 1, a.ok)
		}
		span.End()
	}()
	if err := p.c.Ready(ctx); err != nil {
		return err
	}
	if len(e.Trace) == 0 {
		e.Trace = map[string]string{}
		p.prop.Inject(parent, propagation.MapCarrier(e.Trace))
	}
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("bus: encode event %s: %w", e.ID, err)
	}
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, e.ID)
	msg.Header.Set(HeaderEventType, string(e.Type))
	p.prop.Inject(ctx, headerCarrier(msg.Header))
	if _, err := p.c.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(EventsStream)); err != nil {
		return fmt.Errorf("bus: publish %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// Message headers CloudCart sets besides Nats-Msg-Id and trace context.
const (
	HeaderEventType   = "Cloudcart-Event-Type"
	HeaderDLQReason   = "Cloudcart-Dlq-Reason"
	HeaderDLQError    = "Cloudcart-Dlq-Error"
	HeaderDLQAttempts = "Cloudcart-Dlq-Attempts"
	HeaderDLQSubject  = "Cloudcart-Dlq-Subject"
)
