package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/bus/bustest"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// forEachMode runs the test against the embedded server and, when
// installed, Debian's nats-server: the same client code either way.
func forEachMode(t *testing.T, fn func(t *testing.T, url string)) {
	for _, mode := range bustest.Modes(t) {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			fn(t, bustest.MustServer(t, mode))
		})
	}
}

func mustEvent(tb testing.TB, typ cloudcart.EventType, data any) *cloudcart.Event {
	tb.Helper()
	e, err := cloudcart.NewEvent(typ, "test-service", data, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func mustPublisher(tb testing.TB, c *bus.Conn, o bus.PublisherOptions) *bus.Publisher {
	tb.Helper()
	if o.Meter == nil {
		o.Meter = telemetrytest.MustNew(tb).Meter("test")
	}
	if o.Prefix == "" {
		o.Prefix = "test"
	}
	p, err := bus.NewPublisher(c, o)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// runConsumer runs a consumer until the test ends.
func runConsumer(tb testing.TB, c *bus.Conn, o bus.ConsumerOptions) *bus.Consumer {
	tb.Helper()
	if o.Name == "" {
		o.Name = "test"
	}
	cons, err := bus.NewConsumer(c, o)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = cons.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return cons
}

func eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recorder collects handled deliveries.
type recorder struct {
	mu  sync.Mutex
	got []*bus.Delivery
}

func (r *recorder) handle(_ context.Context, d *bus.Delivery) error {
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
	return nil
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func streamMsgs(tb testing.TB, c *bus.Conn, stream string) uint64 {
	tb.Helper()
	s, err := c.JetStream().Stream(context.Background(), stream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Msgs
}

// TestPublishConsume: an event published once is handled once, with its
// envelope intact, and the consumer's span continues the producer's trace.
func TestPublishConsume(t *testing.T) {
	forEachMode(t, func(t *testing.T, url string) {
		c := bustest.MustConnect(t, url, "test")
		spans := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
		tracer := tp.Tracer("test")
		tel := telemetrytest.MustNew(t)
		pub := mustPublisher(t, c, bus.PublisherOptions{Meter: tel.Meter("test"), Prefix: "order",
			Types: []cloudcart.EventType{cloudcart.EventOrderCreated}, Tracer: tracer})
		rec := &recorder{}
		runConsumer(t, c, bus.ConsumerOptions{Types: []cloudcart.EventType{cloudcart.EventOrderCreated}, Handle: rec.handle, Tracer: tracer})

		ctx, root := tracer.Start(context.Background(), "POST /orders")
		e := mustEvent(t, cloudcart.EventOrderCreated, cloudcart.OrderCreatedData{OrderID: "ord_1", Customer: "alice", Total: 1250, Items: 2})
		if err := pub.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
		root.End()
		eventually(t, 10*time.Second, "delivery", func() bool { return rec.len() == 1 })
		d := rec.got[0]
		if d.Event.ID != e.ID || d.Event.Type != cloudcart.EventOrderCreated || d.Attempt != 1 || d.Subject != "cloudcart.events.order.created" {
			t.Fatalf("delivery = %+v, event %+v", d, d.Event)
		}
		var data cloudcart.OrderCreatedData
		if err := d.Event.DecodeData(&data); err != nil || data.OrderID != "ord_1" || data.Total != 1250 {
			t.Fatalf("data = %+v, %v", data, err)
		}
		eventually(t, 5*time.Second, "consumer span", func() bool {
			for _, s := range spans.Ended() {
				if s.SpanKind() == trace.SpanKindConsumer {
					return true
				}
			}
			return false
		})
		for _, s := range spans.Ended() {
			if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
				t.Errorf("span %q is in trace %s, want the producer's %s", s.Name(), s.SpanContext().TraceID(), root.SpanContext().TraceID())
			}
		}
		reg := tel.Registry
		if v := telemetrytest.Value(t, reg, "order_events_published_total", map[string]string{"event_type": "order.created", "status": "success"}); v != 1 {
			t.Errorf("order_events_published_total{success} = %v, want 1", v)
		}
		if v := telemetrytest.Value(t, reg, "order_event_publish_duration_seconds", nil); v != 1 {
			t.Errorf("order_event_publish_duration_seconds count = %v, want 1", v)
		}
	})
}

// TestPublishDeduplicates: publishing the same event id twice (a relay
// that crashed after the publish, before marking it sent) stores it once.
func TestPublishDeduplicates(t *testing.T) {
	forEachMode(t, func(t *testing.T, url string) {
		c := bustest.MustConnect(t, url, "test")
		pub := mustPublisher(t, c, bus.PublisherOptions{})
		e := mustEvent(t, cloudcart.EventUserRegistered, cloudcart.UserRegisteredData{UserID: "usr_1"})
		for range 3 {
			if err := pub.Publish(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
		if n := streamMsgs(t, c, bus.EventsStream); n != 1 {
			t.Fatalf("stream holds %d messages, want 1", n)
		}
		if ok, failed := pub.Stats(); ok != 3 || failed != 0 {
			t.Fatalf("stats = %d ok, %d failed; every publish was acknowledged", ok, failed)
		}
	})
}

// TestRetryThenSucceed: a failed handling is retried after the backoff
// (at-least-once), and a handler that then succeeds is not called again.
func TestRetryThenSucceed(t *testing.T) {
	forEachMode(t, func(t *testing.T, url string) {
		c := bustest.MustConnect(t, url, "test")
		pub := mustPublisher(t, c, bus.PublisherOptions{})
		var calls atomic.Int32
		var results sync.Map
		runConsumer(t, c, bus.ConsumerOptions{
			Types:   []cloudcart.EventType{cloudcart.EventPaymentProcessed},
			Backoff: func(int) time.Duration { return 50 * time.Millisecond },
			Handle: func(_ context.Context, d *bus.Delivery) error {
				if calls.Add(1) < 3 {
					return errors.New("storage unavailable")
				}
				return nil
			},
			Observe: func(r bus.Result) { results.Store(r.Attempt, r.Outcome) },
		})
		if err := pub.Publish(context.Background(), mustEvent(t, cloudcart.EventPaymentProcessed, cloudcart.PaymentProcessedData{OrderID: "o", Status: "success"})); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "third attempt", func() bool { return calls.Load() == 3 })
		time.Sleep(300 * time.Millisecond)
		if n := calls.Load(); n != 3 {
			t.Fatalf("handler called %d times after succeeding on the third, want 3", n)
		}
		for attempt, want := range map[int]bus.Outcome{1: bus.Retried, 2: bus.Retried, 3: bus.Processed} {
			if got, _ := results.Load(attempt); got != want {
				t.Errorf("attempt %d outcome = %v, want %v", attempt, got, want)
			}
		}
	})
}

// TestPoisonMessageDeadLettered: a message whose handling fails every
// time goes to the dead-letter subject after MaxAttempts deliveries, with
// the reason; a message that is not an event goes there at once.
func TestPoisonMessageDeadLettered(t *testing.T) {
	forEachMode(t, func(t *testing.T, url string) {
		c := bustest.MustConnect(t, url, "test")
		pub := mustPublisher(t, c, bus.PublisherOptions{})
		var mu sync.Mutex
		var results []bus.Result
		var calls atomic.Int32
		runConsumer(t, c, bus.ConsumerOptions{
			Types:       []cloudcart.EventType{cloudcart.EventOrderCreated},
			MaxAttempts: 3,
			Backoff:     func(int) time.Duration { return 20 * time.Millisecond },
			Handle: func(context.Context, *bus.Delivery) error {
				calls.Add(1)
				return errors.New("cannot handle this one")
			},
			Observe: func(r bus.Result) { mu.Lock(); results = append(results, r); mu.Unlock() },
		})
		poison := mustEvent(t, cloudcart.EventOrderCreated, cloudcart.OrderCreatedData{OrderID: "ord_poison"})
		if err := pub.Publish(context.Background(), poison); err != nil {
			t.Fatal(err)
		}
		if _, err := c.JetStream().Publish(context.Background(), bus.Subject(cloudcart.EventOrderCreated), []byte("{not json")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "two dead letters", func() bool { return streamMsgs(t, c, bus.DeadLetterStream) == 2 })
		time.Sleep(200 * time.Millisecond)
		if n := calls.Load(); n != 3 {
			t.Errorf("handler called %d times, want MaxAttempts = 3", n)
		}
		dead := map[string]bus.Result{}
		mu.Lock()
		for _, r := range results {
			if r.Outcome == bus.DeadLettered {
				dead[r.Reason] = r
			}
		}
		mu.Unlock()
		if r := dead[bus.ReasonHandler]; r.Attempt != 3 || r.EventType != cloudcart.EventOrderCreated {
			t.Errorf("handler dead letter = %+v, want attempt 3 of order.created", r)
		}
		if r := dead[bus.ReasonDeserialization]; r.Attempt != 1 {
			t.Errorf("deserialization dead letter = %+v, want at the first attempt", r)
		}
		s, err := c.JetStream().Stream(context.Background(), bus.DeadLetterStream)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.GetLastMsgForSubject(context.Background(), "cloudcart.dlq.order.created")
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(bus.HeaderDLQReason) == "" || m.Header.Get(bus.HeaderDLQSubject) != "cloudcart.events.order.created" {
			t.Errorf("dead letter headers = %v", m.Header)
		}
	})
}

// TestRedeliveryAfterCrash: a message a consumer took but never
// acknowledged (its process died) is delivered again after the ack wait.
func TestRedeliveryAfterCrash(t *testing.T) {
	forEachMode(t, func(t *testing.T, url string) {
		c := bustest.MustConnect(t, url, "test")
		pub := mustPublisher(t, c, bus.PublisherOptions{})
		e := mustEvent(t, cloudcart.EventOrderCompleted, cloudcart.OrderCompletedData{OrderID: "ord_2"})
		if err := pub.Publish(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		const ackWait = time.Second
		// The "crashed" worker: the same durable consumer fetches the
		// message and dies without acknowledging it.
		opts := bus.ConsumerOptions{Name: "crashy", Types: []cloudcart.EventType{cloudcart.EventOrderCompleted}, AckWait: ackWait,
			Handle: func(context.Context, *bus.Delivery) error { return nil }}
		probe, err := bus.NewConsumer(c, opts)
		if err != nil {
			t.Fatal(err)
		}
		cons, err := c.JetStream().CreateOrUpdateConsumer(context.Background(), bus.EventsStream, jetstream.ConsumerConfig{
			Durable: probe.DurableName(bus.Subject(cloudcart.EventOrderCompleted)), FilterSubject: bus.Subject(cloudcart.EventOrderCompleted),
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait, MaxDeliver: -1, MaxAckPending: 256,
		})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for range batch.Messages() { // taken, never acked
		}
		rec := &recorder{}
		opts.Handle = rec.handle
		runConsumer(t, c, opts)
		eventually(t, 10*time.Second, "redelivery", func() bool { return rec.len() == 1 })
		if d := rec.got[0]; d.Event.ID != e.ID || d.Attempt != 2 {
			t.Fatalf("redelivered %s as attempt %d, want %s as attempt 2", d.Event.ID, d.Attempt, e.ID)
		}
	})
}

// TestConsumerLag: the lag is the age of the oldest message not yet
// acknowledged, read from the broker, and 0 once caught up.
func TestConsumerLag(t *testing.T) {
	forEachMode(t, func(t *testing.T, url string) {
		c := bustest.MustConnect(t, url, "test")
		pub := mustPublisher(t, c, bus.PublisherOptions{})
		block := make(chan struct{})
		var handled atomic.Int32
		cons := runConsumer(t, c, bus.ConsumerOptions{
			Types: []cloudcart.EventType{cloudcart.EventInventoryLowStock, cloudcart.EventUserRegistered},
			Handle: func(ctx context.Context, d *bus.Delivery) error {
				if d.Event.Type == cloudcart.EventInventoryLowStock {
					select {
					case <-block:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				handled.Add(1)
				return nil
			},
		})
		eventually(t, 10*time.Second, "consumers running", cons.Running)
		if err := pub.Publish(context.Background(), mustEvent(t, cloudcart.EventInventoryLowStock, cloudcart.InventoryLowStockData{ProductID: "p"})); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1200 * time.Millisecond)
		lag, err := cons.Lag(context.Background(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		low, users := bus.Subject(cloudcart.EventInventoryLowStock), bus.Subject(cloudcart.EventUserRegistered)
		if lag[low] < time.Second || lag[low] > 10*time.Second {
			t.Errorf("lag of %s = %s while its only message waits since 1.2s", low, lag[low])
		}
		if lag[users] != 0 {
			t.Errorf("lag of %s = %s with nothing published", users, lag[users])
		}
		close(block)
		eventually(t, 10*time.Second, "handled", func() bool { return handled.Load() == 1 })
		eventually(t, 10*time.Second, "lag back to 0", func() bool {
			lag, err := cons.Lag(context.Background(), time.Now())
			return err == nil && lag[low] == 0
		})
	})
}

// TestChaosSettingsWatch: every watcher gets the current settings, then
// each change, pushed.
func TestChaosSettingsWatch(t *testing.T) {
	forEachMode(t, func(t *testing.T, url string) {
		writer := bustest.MustConnect(t, url, "chaos-service")
		reader := bustest.MustConnect(t, url, "order-service")
		s := cloudcart.ChaosSettings{Enabled: true, Version: 1, Targets: map[string]cloudcart.ChaosFaults{
			"orders": {Error: &cloudcart.ErrorFault{Rate: 0.5, Status: 503}}}}
		if err := writer.PutChaosSettings(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		var got atomic.Pointer[cloudcart.ChaosSettings]
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			_ = reader.WatchChaosSettings(ctx, func(s cloudcart.ChaosSettings) { got.Store(&s) })
			close(done)
		}()
		t.Cleanup(func() { cancel(); <-done })
		eventually(t, 10*time.Second, "initial settings", func() bool { return got.Load() != nil && got.Load().Version == 1 })
		if f := got.Load().Targets["orders"].Error; f == nil || f.Rate != 0.5 || f.Status != 503 {
			t.Fatalf("settings = %+v", got.Load())
		}
		s.Enabled, s.Version = false, 2
		if err := writer.PutChaosSettings(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "update pushed", func() bool { return got.Load().Version == 2 && !got.Load().Enabled })
	})
}

// TestConnectBeforeServer: a service starts while an external NATS is
// unreachable; the connection keeps retrying and readiness says so.
func TestConnectBeforeServer(t *testing.T) {
	c, err := bus.Connect(bus.ConnectOptions{URL: "nats://127.0.0.1:1", Name: "early"})
	if err != nil {
		t.Fatalf("connect must not fail while the server is down: %v", err)
	}
	defer c.Close()
	if err := c.Ping(context.Background()); err == nil {
		t.Fatal("ping succeeded with no server")
	}
}

// TestInProcess: the default of `cloudcart run`, an embedded server with no
// listener, reached by in-process connections only.
func TestInProcess(t *testing.T) {
	srv, err := bus.StartServer(bus.ServerOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if url := srv.ClientURL(); url != "" {
		t.Fatalf("ClientURL = %q without a listener", url)
	}
	c, err := bus.Connect(bus.ConnectOptions{Server: srv, Name: "in-process"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	runConsumer(t, c, bus.ConsumerOptions{Types: []cloudcart.EventType{cloudcart.EventUserRegistered}, Handle: rec.handle})
	if err := mustPublisher(t, c, bus.PublisherOptions{}).Publish(context.Background(), mustEvent(t, cloudcart.EventUserRegistered, cloudcart.UserRegisteredData{UserID: "u"})); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "delivery", func() bool { return rec.len() == 1 })
}

// TestHandleBatch: a consumer with HandleBatch gets what arrived together
// as one call, in publication order, each delivery with its own context; a delivery the batch fails is retried alone, one failing for
// good is dead-lettered, and the others are acknowledged once.
func TestHandleBatch(t *testing.T) {
	forEachMode(t, func(t *testing.T, url string) {
		c := bustest.MustConnect(t, url, "test")
		pub := mustPublisher(t, c, bus.PublisherOptions{})
		const n = 40
		for i := range n {
			if err := pub.Publish(context.Background(), mustEvent(t, cloudcart.EventOrderCreated, cloudcart.OrderCreatedData{OrderID: fmt.Sprintf("ord_%02d", i)})); err != nil {
				t.Fatal(err)
			}
		}
		var (
			mu       sync.Mutex
			handled  = map[string]int{}
			order    []string
			largest  int
			outcomes = map[bus.Outcome]int{}
		)
		runConsumer(t, c, bus.ConsumerOptions{
			Types:       []cloudcart.EventType{cloudcart.EventOrderCreated},
			MaxAttempts: 2,
			Backoff:     func(int) time.Duration { return 20 * time.Millisecond },
			HandleBatch: func(_ context.Context, ds []*bus.Delivery) []error {
				mu.Lock()
				defer mu.Unlock()
				largest = max(largest, len(ds))
				errs := make([]error, len(ds))
				for i, d := range ds {
					var data cloudcart.OrderCreatedData
					_ = d.Event.DecodeData(&data)
					if d.Ctx == nil {
						t.Error("delivery without its context")
					}
					switch {
					case data.OrderID == "ord_13":
						errs[i] = errors.New("always fails")
					case data.OrderID == "ord_07" && d.Attempt == 1:
						errs[i] = errors.New("fails once")
					case d.Attempt == 1:
						order = append(order, data.OrderID)
					}
					if errs[i] == nil {
						handled[data.OrderID]++
					}
				}
				return errs
			},
			Observe: func(r bus.Result) { mu.Lock(); outcomes[r.Outcome]++; mu.Unlock() },
		})
		eventually(t, 10*time.Second, "every event handled or dead-lettered", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(handled) == n-1 && outcomes[bus.DeadLettered] == 1
		})
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		for id, k := range handled {
			if k != 1 {
				t.Errorf("%s handled %d times", id, k)
			}
		}
		if largest < 2 {
			t.Errorf("largest batch %d: 40 waiting events never came as one batch", largest)
		}
		if !slices.IsSorted(order) {
			t.Errorf("first deliveries out of order: %v", order)
		}
		if outcomes[bus.Processed] != n-1 || outcomes[bus.Retried] != 2 {
			t.Errorf("outcomes %v: want %d processed, 2 retried (ord_07 once, ord_13 once), 1 dead-lettered", outcomes, n-1)
		}
	})
}

// TestHandleBatchWait: with BatchWait a batch waits after its first
// message for more, so events published one at a time are handled
// together (without it, each would be a batch of its own); a batch that
// does not fill up is handled when the wait ends.
func TestHandleBatchWait(t *testing.T) {
	forEachMode(t, func(t *testing.T, url string) {
		c := bustest.MustConnect(t, url, "test")
		pub := mustPublisher(t, c, bus.PublisherOptions{})
		var (
			mu      sync.Mutex
			batches = map[cloudcart.EventType][]int{} // batch sizes
		)
		handle := func(_ context.Context, ds []*bus.Delivery) []error {
			mu.Lock()
			defer mu.Unlock()
			batches[ds[0].Event.Type] = append(batches[ds[0].Event.Type], len(ds))
			return make([]error, len(ds))
		}
		sizes := func(t cloudcart.EventType) []int { mu.Lock(); defer mu.Unlock(); return slices.Clone(batches[t]) }
		publish := func(typ cloudcart.EventType) {
			t.Helper()
			if err := pub.Publish(context.Background(), mustEvent(t, typ, cloudcart.OrderCreatedData{OrderID: "ord_1"})); err != nil {
				t.Fatal(err)
			}
		}
		runConsumer(t, c, bus.ConsumerOptions{Name: "long", Types: []cloudcart.EventType{cloudcart.EventOrderCreated},
			BatchSize: 5, BatchWait: time.Hour, HandleBatch: handle})
		for range 5 {
			publish(cloudcart.EventOrderCreated)
			time.Sleep(20 * time.Millisecond) // each alone, were it not for the wait
		}
		eventually(t, 10*time.Second, "the five handled", func() bool { return len(sizes(cloudcart.EventOrderCreated)) > 0 })
		if got := sizes(cloudcart.EventOrderCreated); !slices.Equal(got, []int{5}) {
			t.Errorf("batch sizes %v: want the five events in one batch", got)
		}

		runConsumer(t, c, bus.ConsumerOptions{Name: "short", Types: []cloudcart.EventType{cloudcart.EventOrderCancelled},
			BatchWait: 100 * time.Millisecond, HandleBatch: handle})
		publish(cloudcart.EventOrderCancelled)
		eventually(t, 10*time.Second, "a lone event handled once the wait ended", func() bool {
			return slices.Equal(sizes(cloudcart.EventOrderCancelled), []int{1})
		})
	})
}
