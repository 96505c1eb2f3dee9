package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// The transactional outbox and the consumers' deduplication table.
//
// A producer writes its state change and the event describing it in one
// transaction (AddEvent with the transaction's Conn); a Relay publishes
// committed events in order and marks each sent only after the bus has
// acknowledged it. A crash between commit and publish loses nothing: the
// row stays unsent and the next relay publishes it. A crash between
// publish and marking sent publishes the event again; the bus drops the
// copy (same Nats-Msg-Id within its window) and consumers drop it by event
// id (MarkProcessed) beyond.
var eventMigrations = []Migration{
	{Version: 1,
		SQLite:   fmt.Sprintf(eventSchemaV1, "seq INTEGER PRIMARY KEY AUTOINCREMENT"),
		Postgres: fmt.Sprintf(eventSchemaV1, "seq BIGSERIAL PRIMARY KEY")},
}

// eventSchemaV1 is the outbox and dedup schema; the dialects differ only in
// how the sequence column is declared (%s).
const eventSchemaV1 = `CREATE TABLE event_outbox (
		%s,
		id TEXT NOT NULL UNIQUE,
		source TEXT NOT NULL,
		type TEXT NOT NULL,
		envelope TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		sent_at BIGINT);
	CREATE INDEX event_outbox_unsent_idx ON event_outbox (source, seq) WHERE sent_at IS NULL;
	CREATE INDEX event_outbox_sent_idx ON event_outbox (source, sent_at) WHERE sent_at IS NOT NULL;
	CREATE TABLE processed_events (
		consumer TEXT NOT NULL,
		event_id TEXT NOT NULL,
		event_type TEXT NOT NULL,
		processed_at BIGINT NOT NULL,
		PRIMARY KEY (consumer, event_id));
	CREATE INDEX processed_events_at_idx ON processed_events (consumer, processed_at)`

// MigrateEvents creates the outbox and deduplication tables. Every store
// that calls AddEvent or MarkProcessed migrates them when it is created;
// it is idempotent.
func MigrateEvents(ctx context.Context, db *DB) error {
	return db.Migrate(ctx, "events", eventMigrations)
}

// eventPropagator records the producer's trace context in the envelope.
var eventPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// AddEvent writes e to the outbox through c, which must be the Conn of the
// caller's DB.Tx: the event is committed, or rolled back, with the state
// change it describes. When e carries no trace context, ctx's is recorded,
// so the trace continues from the producer's operation to the consumer.
func AddEvent(ctx context.Context, c Conn, e *cloudcart.Event) error {
	if !e.Type.Valid() || e.ID == "" || e.Source == "" {
		return fmt.Errorf("outbox: event %q of type %q from %q is incomplete", e.ID, e.Type, e.Source)
	}
	if len(e.Trace) == 0 {
		carrier := propagation.MapCarrier{}
		eventPropagator.Inject(ctx, carrier)
		if len(carrier) > 0 {
			e.Trace = carrier
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("outbox: encode %s: %w", e.ID, err)
	}
	_, err = c.Exec(ctx, `INSERT INTO event_outbox (id, source, type, envelope, created_at) VALUES ($1, $2, $3, $4, $5)`,
		e.ID, e.Source, string(e.Type), string(b), time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("outbox: add %s: %w", e.ID, err)
	}
	return nil
}

// Outbox is one producing service's side of the outbox: it makes events
// with the service as their source and writes them in the caller's
// transaction; its Relay publishes them.
type Outbox struct {
	source string
	relay  *Relay
}

// NewOutbox returns the outbox of source (a service.name), whose events
// relay publishes. relay may be nil (events then wait for any relay of
// source, e.g. after a restart).
func NewOutbox(source string, relay *Relay) *Outbox { return &Outbox{source: source, relay: relay} }

// Add makes an event of type t with data as payload and writes it through
// c, the Conn of the caller's DB.Tx, so it commits or rolls back with the
// state change:
//
//	err := db.Tx(ctx, func(c sqlstore.Conn) error {
//		if _, err := c.Exec(ctx, `INSERT INTO orders ...`, ...); err != nil {
//			return err
//		}
//		_, err := outbox.Add(ctx, c, cloudcart.EventOrderCreated, cloudcart.OrderCreatedData{...})
//		return err
//	})
//	outbox.Notify() // publish now rather than at the relay's next poll
func (o *Outbox) Add(ctx context.Context, c Conn, t cloudcart.EventType, data any) (*cloudcart.Event, error) {
	e, err := cloudcart.NewEvent(t, o.source, data, time.Now())
	if err != nil {
		return nil, err
	}
	return e, AddEvent(ctx, c, e)
}

// Notify wakes the relay after a commit.
func (o *Outbox) Notify() {
	if o.relay != nil {
		o.relay.Notify()
	}
}

// Source is the service whose events this outbox writes.
func (o *Outbox) Source() string { return o.source }

// MarkProcessed records through c (the Conn of the consumer's DB.Tx) that
// consumer handled e. first is false when it had been recorded before: the
// event is a redelivery and its effects are already committed.
func MarkProcessed(ctx context.Context, c Conn, consumer string, e *cloudcart.Event) (first bool, err error) {
	res, err := c.Exec(ctx, `INSERT INTO processed_events (consumer, event_id, event_type, processed_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (consumer, event_id) DO NOTHING`,
		consumer, e.ID, string(e.Type), time.Now().UnixMicro())
	if err != nil {
		return false, fmt.Errorf("mark processed %s: %w", e.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// PruneProcessed forgets what consumer handled before the cutoff. Keep
// records longer than the bus keeps messages, or a late redelivery would
// be handled twice.
func PruneProcessed(ctx context.Context, db *DB, consumer string, before time.Time) (int64, error) {
	res, err := db.Conn().Exec(ctx, `DELETE FROM processed_events WHERE consumer = $1 AND processed_at < $2`, consumer, before.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Relay defaults.
const (
	DefaultRelayInterval  = 100 * time.Millisecond
	DefaultRelayLinger    = 10 * time.Millisecond
	DefaultRelayBatch     = 100
	DefaultOutboxRetained = 24 * time.Hour
)

// RelayOptions configure NewRelay.
type RelayOptions struct {
	// Source is the service whose events the relay publishes (the
	// event's Source, its service.name): services sharing one PostgreSQL
	// database each relay their own rows.
	Source    string
	Publisher cloudcart.EventPublisher
	Interval  time.Duration // poll interval; DefaultRelayInterval if 0
	// Linger is how long a Notify waits before the relay reads the
	// outbox, so that the events other transactions commit meanwhile go
	// in the same round: one read, one "sent" update and one commit for
	// many events instead of each. It delays an event's publication by at
	// most Linger, never a producer. DefaultRelayLinger if 0; negative
	// for none.
	Linger    time.Duration
	BatchSize int // rows per round; DefaultRelayBatch if 0
	// Retain keeps sent rows this long before deleting them;
	// DefaultOutboxRetained if 0.
	Retain time.Duration
	Logger *slog.Logger
}

// Relay publishes a source's committed outbox rows, oldest first.
type Relay struct {
	db     *DB
	o      RelayOptions
	log    *slog.Logger
	wake   chan struct{}
	mu     sync.Mutex // one Flush at a time
	pruned time.Time
}

// NewRelay returns a relay for db's outbox. Run it as a worker.
func NewRelay(db *DB, o RelayOptions) (*Relay, error) {
	if o.Source == "" || o.Publisher == nil {
		return nil, errors.New("relay: Source and Publisher are required")
	}
	if o.Interval <= 0 {
		o.Interval = DefaultRelayInterval
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultRelayBatch
	}
	if o.Linger == 0 {
		o.Linger = DefaultRelayLinger
	}
	if o.Retain <= 0 {
		o.Retain = DefaultOutboxRetained
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{db: db, o: o, log: log.With("component", "outbox relay"), wake: make(chan struct{}, 1)}, nil
}

// Notify wakes the relay now instead of at its next poll, e.g. right
// after a commit that added events.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx is done, then makes a last attempt to publish
// what is committed, so a graceful stop leaves nothing behind that the
// bus could take.
func (r *Relay) Run(ctx context.Context) error {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	failing := false
	for {
		_, err := r.Flush(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			r.log.WarnContext(ctx, "publishing outbox events failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			r.log.InfoContext(ctx, "publishing outbox events recovered")
			failing = false
		}
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, err := r.Flush(fctx); err != nil {
				r.log.WarnContext(fctx, "events left in the outbox at shutdown; published at next start", "err", err)
			}
			return nil
		case <-t.C:
		case <-r.wake:
			if r.o.Linger > 0 {
				linger := time.NewTimer(r.o.Linger)
				select {
				case <-ctx.Done(): // the next round ends with the last flush
				case <-linger.C:
				}
				linger.Stop()
			}
		}
	}
}

type outboxRow struct {
	seq int64
	e   cloudcart.Event
}

// Flush publishes every unsent row of the source, in order, and returns
// how many it published. It stops at the first failure, so events are
// never published out of order; the failed row is retried next time.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	for {
		rows, err := r.unsent(ctx)
		if err != nil || len(rows) == 0 {
			r.prune(ctx)
			return total, err
		}
		var sent []int64
		var perr error
		for _, row := range rows {
			if perr = r.o.Publisher.Publish(ctx, &row.e); perr != nil {
				_, _ = r.db.Conn().Exec(ctx, `UPDATE event_outbox SET attempts = attempts + 1, last_error = $1 WHERE seq = $2`,
					clipError(perr.Error(), 500), row.seq)
				break
			}
			sent = append(sent, row.seq)
		}
		if err := r.markSent(ctx, sent); err != nil {
			return total, err
		}
		total += len(sent)
		if perr != nil {
			return total, perr
		}
		if len(rows) < r.o.BatchSize {
			r.prune(ctx)
			return total, nil
		}
	}
}

// idleCheck runs a background poller's "is there any work?" query outside
// the instrumentation: ten empty polls a second would drown the traces and
// the query histogram in noise. The work itself is instrumented.
func (d *DB) idleCheck(ctx context.Context, q string, args ...any) (bool, error) {
	var one int
	err := d.queryRowQuiet(ctx, q, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (r *Relay) unsent(ctx context.Context) ([]outboxRow, error) {
	if pending, err := r.db.idleCheck(ctx, `SELECT 1 FROM event_outbox WHERE source = $1 AND sent_at IS NULL LIMIT 1`, r.o.Source); err != nil || !pending {
		return nil, err
	}
	rs, err := r.db.Conn().Query(ctx, `SELECT seq, envelope FROM event_outbox
		WHERE source = $1 AND sent_at IS NULL ORDER BY seq LIMIT $2`, r.o.Source, r.o.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("outbox: read: %w", err)
	}
	defer rs.Close()
	var out []outboxRow
	for rs.Next() {
		var (
			row outboxRow
			env string
		)
		if err := rs.Scan(&row.seq, &env); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(env), &row.e); err != nil {
			return nil, fmt.Errorf("outbox: row %d does not decode: %w", row.seq, err)
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

// markSent marks rows sent in one statement, after their acks.
func (r *Relay) markSent(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	var b strings.Builder
	args := []any{time.Now().UnixMicro()}
	b.WriteString(`UPDATE event_outbox SET sent_at = $1 WHERE seq IN (`)
	for i, s := range seqs {
		if i > 0 {
			b.WriteString(", ")
		}
		args = append(args, s)
		fmt.Fprintf(&b, "$%d", len(args))
	}
	b.WriteString(")")
	// Not the request's context: the events are published, and forgetting
	// that because the caller gave up would only republish them.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := r.db.Conn().Exec(mctx, b.String(), args...); err != nil {
		return fmt.Errorf("outbox: mark sent: %w", err)
	}
	return nil
}

// prune deletes rows sent more than Retain ago, at most once a minute.
func (r *Relay) prune(ctx context.Context) {
	if time.Since(r.pruned) < time.Minute || ctx.Err() != nil {
		return
	}
	r.pruned = time.Now()
	if _, err := r.db.Conn().Exec(ctx, `DELETE FROM event_outbox WHERE source = $1 AND sent_at IS NOT NULL AND sent_at < $2`,
		r.o.Source, time.Now().Add(-r.o.Retain).UnixMicro()); err != nil {
		r.log.WarnContext(ctx, "pruning the outbox failed", "err", err)
	}
}

// OutboxStats counts a source's outbox rows.
type OutboxStats struct {
	Unsent, Sent int
}

// Stats counts the source's unsent and retained sent rows.
func (r *Relay) Stats(ctx context.Context) (OutboxStats, error) {
	var s OutboxStats
	err := r.db.Conn().QueryRow(ctx, `SELECT
		COALESCE(SUM(CASE WHEN sent_at IS NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END), 0)
		FROM event_outbox WHERE source = $1`, []any{r.o.Source}, &s.Unsent, &s.Sent)
	return s, err
}

func clipError(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
