package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/bus/bustest"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// fakePublisher records publishes; it fails while failing is set.
type fakePublisher struct {
	mu      sync.Mutex
	got     []string // event ids, in publish order
	failing bool
}

func (p *fakePublisher) Publish(_ context.Context, e *cloudcart.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing {
		return errors.New("bus down")
	}
	p.got = append(p.got, e.ID)
	return nil
}

func (p *fakePublisher) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

func mustEventsDB(tb testing.TB, backend string) *sqlstore.DB {
	tb.Helper()
	db := sqlstoretest.MustOpen(tb, backend, sqlstore.Options{})
	if err := sqlstore.MigrateEvents(context.Background(), db); err != nil {
		tb.Fatal(err)
	}
	return db
}

func mustRelay(tb testing.TB, db *sqlstore.DB, source string, p cloudcart.EventPublisher) *sqlstore.Relay {
	tb.Helper()
	r, err := sqlstore.NewRelay(db, sqlstore.RelayOptions{Source: source, Publisher: p, BatchSize: 3})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func newEvent(tb testing.TB, source string, n int) *cloudcart.Event {
	tb.Helper()
	e, err := cloudcart.NewEvent(cloudcart.EventOrderCreated, source, cloudcart.OrderCreatedData{OrderID: fmt.Sprintf("ord_%d", n)}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// addInTx commits events with a stand-in state change, as a producer does.
func addInTx(tb testing.TB, db *sqlstore.DB, es ...*cloudcart.Event) {
	tb.Helper()
	err := db.Tx(context.Background(), func(c sqlstore.Conn) error {
		for _, e := range es {
			if err := sqlstore.AddEvent(context.Background(), c, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func TestOutbox(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			t.Run("committed events are published in order and marked sent", func(t *testing.T) {
				db := mustEventsDB(t, backend)
				var want []string
				for i := range 7 {
					e := newEvent(t, "order-service", i)
					addInTx(t, db, e)
					want = append(want, e.ID)
				}
				p := &fakePublisher{}
				r := mustRelay(t, db, "order-service", p)
				n, err := r.Flush(ctx)
				if err != nil || n != 7 {
					t.Fatalf("Flush = %d, %v; want 7 in batches of 3", n, err)
				}
				if got := p.ids(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("published %v, want %v in commit order", got, want)
				}
				if n, _ := r.Flush(ctx); n != 0 {
					t.Fatalf("second Flush published %d again", n)
				}
				if s, err := r.Stats(ctx); err != nil || s.Unsent != 0 || s.Sent != 7 {
					t.Fatalf("stats = %+v, %v", s, err)
				}
			})
			t.Run("rolled-back events are never published", func(t *testing.T) {
				db := mustEventsDB(t, backend)
				err := db.Tx(ctx, func(c sqlstore.Conn) error {
					if err := sqlstore.AddEvent(ctx, c, newEvent(t, "order-service", 1)); err != nil {
						return err
					}
					return errors.New("the state change failed")
				})
				if err == nil {
					t.Fatal("Tx returned nil")
				}
				p := &fakePublisher{}
				if n, err := mustRelay(t, db, "order-service", p).Flush(ctx); n != 0 || err != nil {
					t.Fatalf("Flush = %d, %v", n, err)
				}
			})
			t.Run("a failed publish stays unsent and keeps the order", func(t *testing.T) {
				db := mustEventsDB(t, backend)
				e1, e2 := newEvent(t, "order-service", 1), newEvent(t, "order-service", 2)
				addInTx(t, db, e1, e2)
				p := &fakePublisher{failing: true}
				r := mustRelay(t, db, "order-service", p)
				if n, err := r.Flush(ctx); err == nil || n != 0 {
					t.Fatalf("Flush with the bus down = %d, %v", n, err)
				}
				if s, _ := r.Stats(ctx); s.Unsent != 2 {
					t.Fatalf("unsent = %d, want 2", s.Unsent)
				}
				p.failing = false
				if n, err := r.Flush(ctx); err != nil || n != 2 {
					t.Fatalf("Flush after recovery = %d, %v", n, err)
				}
				if got := p.ids(); len(got) != 2 || got[0] != e1.ID || got[1] != e2.ID {
					t.Fatalf("published %v", got)
				}
			})
			t.Run("each relay publishes its own source", func(t *testing.T) {
				db := mustEventsDB(t, backend)
				addInTx(t, db, newEvent(t, "order-service", 1), newEvent(t, "user-service", 2))
				p := &fakePublisher{}
				if n, _ := mustRelay(t, db, "user-service", p).Flush(ctx); n != 1 {
					t.Fatalf("user relay published %d, want 1", n)
				}
			})
			t.Run("the producer's trace context is recorded", func(t *testing.T) {
				db := mustEventsDB(t, backend)
				tel := telemetrytest.MustNew(t)
				tctx, span := tel.Tracer("test").Start(ctx, "POST /orders")
				e := newEvent(t, "order-service", 1)
				err := db.Tx(tctx, func(c sqlstore.Conn) error { return sqlstore.AddEvent(tctx, c, e) })
				span.End()
				if err != nil {
					t.Fatal(err)
				}
				p := &capturePublisher{}
				if _, err := mustRelay(t, db, "order-service", p).Flush(ctx); err != nil {
					t.Fatal(err)
				}
				tp := p.events[0].Trace["traceparent"]
				if want := span.SpanContext().TraceID().String(); len(tp) < 36 || tp[3:35] != want {
					t.Fatalf("traceparent %q does not carry trace %s", tp, want)
				}
			})
			t.Run("a consumer handles an event once", func(t *testing.T) {
				db := mustEventsDB(t, backend)
				e := newEvent(t, "order-service", 1)
				for i, want := range []bool{true, false, false} {
					var first bool
					err := db.Tx(ctx, func(c sqlstore.Conn) (err error) {
						first, err = sqlstore.MarkProcessed(ctx, c, "notifier", e)
						return err
					})
					if err != nil || first != want {
						t.Fatalf("delivery %d: first = %v, %v; want %v", i+1, first, err, want)
					}
				}
				err := db.Tx(ctx, func(c sqlstore.Conn) error {
					first, err := sqlstore.MarkProcessed(ctx, c, "other-consumer", e)
					if !first {
						return errors.New("another consumer's record hid the event")
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if n, err := sqlstore.PruneProcessed(ctx, db, "notifier", time.Now().Add(time.Minute)); err != nil || n != 1 {
					t.Fatalf("prune = %d, %v", n, err)
				}
			})
		})
	}
}

type capturePublisher struct{ events []*cloudcart.Event }

func (p *capturePublisher) Publish(_ context.Context, e *cloudcart.Event) error {
	p.events = append(p.events, e)
	return nil
}

// Crash test: the producer process dies (SIGKILL) at the two dangerous
// points, and a new relay on the same database delivers every committed
// event to the bus exactly once.
//
//   - "after-commit": events are committed and the process dies before
//     any publish: nothing is lost.
//   - "after-publish": the relay publishes and the process dies before it
//     marks the rows sent: the new relay publishes them again and the bus
//     stores each once (Nats-Msg-Id).
const crashEnv = "CLOUDCART_OUTBOX_CRASH"

func TestOutboxSurvivesCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		crashChild(t)
		return
	}
	url := bustest.MustServer(t, "embedded")
	for _, backend := range sqlstoretest.Backends(t) {
		for _, point := range []string{"after-commit", "after-publish"} {
			t.Run(backend+"/"+point, func(t *testing.T) {
				dsn, path := sqlstoretest.MustConfig(t, backend)
				subject := "crash-" + backend + "-" + point
				const events = 50
				cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxSurvivesCrash$", "-test.v")
				cmd.Env = append(os.Environ(), crashEnv+"="+point, "CRASH_DSN="+dsn, "CRASH_PATH="+path,
					"CRASH_URL="+url, "CRASH_SOURCE="+subject, "CRASH_EVENTS="+strconv.Itoa(events))
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
				}

				// The restarted process.
				db, err := sqlstore.Open(context.Background(), sqlstore.Options{DSN: dsn, Path: path})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if err := sqlstore.MigrateEvents(context.Background(), db); err != nil {
					t.Fatal(err)
				}
				c := bustest.MustConnect(t, url, "restarted")
				pub, err := bus.NewPublisher(c, bus.PublisherOptions{Meter: telemetrytest.MustNew(t).Meter("t"), Prefix: "order"})
				if err != nil {
					t.Fatal(err)
				}
				r := mustRelay(t, db, subject, pub)
				before, _ := r.Stats(context.Background())
				if _, err := r.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				after, _ := r.Stats(context.Background())
				if after.Unsent != 0 || after.Sent != events {
					t.Fatalf("after restart: %+v (before: %+v), want all %d sent", after, before, events)
				}
				if point == "after-publish" && before.Unsent == 0 {
					t.Fatalf("the child marked rows sent before dying; the test crashed at the wrong point")
				}
				ids := map[string]int{}
				s, err := c.JetStream().Stream(context.Background(), bus.EventsStream)
				if err != nil {
					t.Fatal(err)
				}
				info, err := s.Info(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
					m, err := s.GetMsg(context.Background(), seq)
					if err != nil {
						continue
					}
					if m.Header.Get("Nats-Msg-Id") != "" && stringsHasSource(m.Data, subject) {
						ids[m.Header.Get("Nats-Msg-Id")]++
					}
				}
				if len(ids) != events {
					t.Fatalf("the bus holds %d distinct events of %s, want %d", len(ids), subject, events)
				}
				for id, n := range ids {
					if n != 1 {
						t.Fatalf("event %s stored %d times", id, n)
					}
				}
			})
		}
	}
}

func stringsHasSource(data []byte, source string) bool {
	return strings.Contains(string(data), `"source":"`+source+`"`)
}

// crashChild is the producer process of TestOutboxSurvivesCrash.
func crashChild(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: os.Getenv("CRASH_DSN"), Path: os.Getenv("CRASH_PATH")})
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.MigrateEvents(ctx, db); err != nil {
		t.Fatal(err)
	}
	source := os.Getenv("CRASH_SOURCE")
	n, _ := strconv.Atoi(os.Getenv("CRASH_EVENTS"))
	for i := range n {
		addInTx(t, db, newEvent(t, source, i))
	}
	if os.Getenv(crashEnv) == "after-commit" {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	c, err := bus.Connect(bus.ConnectOptions{URL: os.Getenv("CRASH_URL"), Name: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := bus.NewPublisher(c, bus.PublisherOptions{Meter: telemetrytest.MustNew(t).Meter("t"), Prefix: "order"})
	if err != nil {
		t.Fatal(err)
	}
	// Dies right after the ack of the last event of the first batch, before
	// the relay marks the batch sent.
	published := 0
	killer := publisherFunc(func(ctx context.Context, e *cloudcart.Event) error {
		if err := pub.Publish(ctx, e); err != nil {
			return err
		}
		if published++; published == 3 {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return nil
	})
	_, _ = mustRelay(t, db, source, killer).Flush(ctx)
	t.Fatal("not killed")
}

type publisherFunc func(context.Context, *cloudcart.Event) error

func (f publisherFunc) Publish(ctx context.Context, e *cloudcart.Event) error { return f(ctx, e) }

// TestRelayLinger: after a Notify the relay waits Linger before it reads
// the outbox, so events that several transactions commit meanwhile go
// out in one round: one read and one "sent" update for all of them.
func TestRelayLinger(t *testing.T) {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(ctx) }()
	db := sqlstoretest.MustOpen(t, "sqlite", sqlstore.Options{Tracer: tp.Tracer("test")})
	if err := sqlstore.MigrateEvents(ctx, db); err != nil {
		t.Fatal(err)
	}
	p := &fakePublisher{}
	r, err := sqlstore.NewRelay(db, sqlstore.RelayOptions{Source: "order-service", Publisher: p,
		Interval: time.Hour, Linger: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() { cancel(); <-done }()
	waitPublished := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); len(p.ids()) < n || sentUpdates(rec) == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("published %d of %d events in a minute", len(p.ids()), n)
			}
		}
	}
	// A first event, so that Run's first round (which does not linger) is
	// over before the five below.
	addInTx(t, db, newEvent(t, "order-service", 0))
	r.Notify()
	waitPublished(1)
	before := sentUpdates(rec)
	for i := range 5 {
		addInTx(t, db, newEvent(t, "order-service", i+1))
		r.Notify() // as a producer does after its commit
	}
	waitPublished(6)
	for deadline := time.Now().Add(time.Minute); sentUpdates(rec) == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the five events were never marked sent")
		}
	}
	if n := sentUpdates(rec) - before; n != 1 {
		t.Errorf("%d rounds marked the five events sent; want 1, as they were committed within the linger", n)
	}
}

// sentUpdates counts the relay's "mark sent" statements among the spans.
func sentUpdates(rec *tracetest.SpanRecorder) int {
	n := 0
	for _, s := range rec.Ended() {
		for _, a := range s.Attributes() {
			if a.Key == "db.query.text" && strings.HasPrefix(a.Value.AsString(), "UPDATE event_outbox SET sent_at") {
				n++
			}
		}
	}
	return n
}
