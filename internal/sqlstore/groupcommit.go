package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
)

// Group commit (SQLite). SQLite has one write lock and, with
// synchronous=FULL, one fsync per COMMIT: concurrent write transactions
// queue behind each other's fsyncs. Instead, every DB.Tx on a SQLite
// database hands its function to one writer goroutine that owns one
// connection. The writer takes whatever queued while its previous commit
// ran (at most GroupCommit.MaxBatch), opens one transaction (BEGIN
// IMMEDIATE), runs each function in a SAVEPOINT of its own, and commits
// once:
//
//   - a function that returns an error (or panics) is rolled back to its
//     savepoint and told at once; the others in the batch are unaffected;
//   - a function that succeeds is released into the batch, and its Tx
//     returns only after the batch's COMMIT returned, that is after the
//     WAL was fsynced (synchronous=FULL): no caller is acknowledged before
//     its work is durable;
//   - a caller whose context ends while it is still queued is withdrawn
//     (Tx returns the context's error and its function never runs); once
//     its function runs, the caller waits for the outcome, so a Tx never
//     returns an error for work that then commits. Statements inside a
//     batch ignore cancellation (a cancelled statement would make SQLite
//     roll back the whole shared transaction);
//   - a statement error that makes SQLite abandon the whole transaction
//     (disk full, I/O error, busy; https://sqlite.org/lang_transaction.html)
//     poisons the batch: later statements of the batch are refused, the
//     transaction is rolled back, every function of the batch that had
//     succeeded gets that (classified, so disk full is still a 503) error,
//     and the functions not yet run go to the next batch;
//   - a failed COMMIT fails every function of the batch.
//
// A function must not call Tx itself (it would wait for the writer that
// runs it). Readers use the other pooled connections (WAL), unaffected.

// GroupCommit tunes group commit on SQLite. PostgreSQL commits each
// transaction on its own connection (its WAL writer already groups
// concurrent commits into one flush).
type GroupCommit struct {
	// MaxBatch bounds the transactions committed together; 0 means 64.
	// 1 turns group commit off (each Tx its own transaction on a pooled
	// connection).
	MaxBatch int
	// Wait is how long the writer lingers for more transactions when a
	// batch is not full, while the database is busy: while its previous
	// commit ended less than busyWaits × Wait ago. A transaction on an
	// idle database commits at once; under load, a sequential caller
	// pays at most Wait per transaction. A short linger trades a fraction
	// of a millisecond for far fewer commits (each a WAL write and an
	// fsync), and the CPU they free shortens every request's wait
	// (docs/benchmarks.md, "Fourth round"). 0 (the default) never waits:
	// a batch is whatever queued while the previous one ran.
	Wait time.Duration

	now func() time.Time // time.Now if nil (tests set it)
}

// DefaultMaxBatch is GroupCommit.MaxBatch's default.
const DefaultMaxBatch = 64

// busyWaits × GroupCommit.Wait is how recent the previous commit must be
// for the writer to linger.
const busyWaits = 10

// BatchBuckets are the bounds of <prefix>_db_commit_batch_size.
var BatchBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}

// errClosed answers a Tx on a closed database.
var errClosed = errors.New("sqlstore: database is closed")

// Request states: queued until the writer claims it or its caller
// withdraws it, whichever comes first.
const (
	reqQueued int32 = iota
	reqRunning
	reqWithdrawn
)

// txReq is one caller's transaction waiting for the writer.
type txReq struct {
	ctx   context.Context
	fn    func(Conn) error
	state atomic.Int32
	done  chan txResult // buffered 1: the writer never blocks on it
}

type txResult struct {
	err      error
	panicked bool
	panicVal any
}

// committer is the single writer of a SQLite database.
type committer struct {
	d        *DB
	maxBatch int
	wait     time.Duration

	mu     sync.Mutex
	queue  []*txReq
	closed bool
	wake   chan struct{} // buffered 1
	exited chan struct{}

	conn  *sql.Conn // the writer's connection; nil until first use or after it broke
	stmts *connStmts
	// lastCommit is when the previous batch ended, on now's clock (the
	// writer's own; now is time.Now but in tests).
	lastCommit time.Time
	now        func() time.Time
}

func newCommitter(d *DB, o GroupCommit) *committer {
	c := &committer{d: d, maxBatch: or(o.MaxBatch, DefaultMaxBatch), wait: o.Wait, now: o.now,
		wake: make(chan struct{}, 1), exited: make(chan struct{})}
	if c.now == nil {
		c.now = time.Now
	}
	go c.run()
	return c
}

// do queues fn and waits for its outcome.
func (c *committer) do(ctx context.Context, fn func(Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &txReq{ctx: ctx, fn: fn, done: make(chan txResult, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	c.signal()
	var res txResult
	select {
	case res = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqWithdrawn) {
			return ctx.Err() // never ran, never will
		}
		res = <-r.done // running: its outcome is the truth
	}
	if res.panicked {
		panic(res.panicVal)
	}
	return res.err
}

func (c *committer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// queued is how many transactions wait for the writer (tests).
func (c *committer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// take removes up to max requests from the queue.
func (c *committer) take(max int) (batch []*txReq, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(c.queue), max)
	batch = append(batch, c.queue[:n]...)
	clear(c.queue[:n])
	c.queue = c.queue[n:]
	return batch, c.closed
}

func (c *committer) run() {
	defer close(c.exited)
	var carry []*txReq // requests of a poisoned batch that did not run
	for {
		batch, closed := c.take(c.maxBatch - len(carry))
		batch = append(carry, batch...)
		carry = nil
		if len(batch) == 0 {
			if closed {
				c.closeConn()
				return
			}
			<-c.wake
			continue
		}
		if c.wait > 0 && len(batch) < c.maxBatch && !closed && c.now().Sub(c.lastCommit) < busyWaits*c.wait {
			t := time.NewTimer(c.wait)
		linger:
			for len(batch) < c.maxBatch {
				select {
				case <-c.wake:
					more, _ := c.take(c.maxBatch - len(batch))
					batch = append(batch, more...)
				case <-t.C:
					break linger
				}
			}
			t.Stop()
			more, _ := c.take(c.maxBatch - len(batch))
			batch = append(batch, more...)
		}
		carry = c.commit(batch)
		if c.wait > 0 {
			c.lastCommit = c.now()
		}
	}
}

// batchState is shared by the Conns of one batch.
type batchState struct {
	poison error // the error that made SQLite abandon the transaction
}

// commit runs one batch and returns the requests it could not run.
func (c *committer) commit(batch []*txReq) (notRun []*txReq) {
	d := c.d
	var (
		ok      []*txReq // released into the transaction, awaiting COMMIT
		begun   bool
		bs      batchState
		failAll = func(err error) {
			for _, r := range ok {
				r.done <- txResult{err: err}
			}
			ok = nil
		}
	)
	for i, r := range batch {
		if !r.state.CompareAndSwap(reqQueued, reqRunning) {
			continue // withdrawn by its caller
		}
		if err := r.ctx.Err(); err != nil {
			r.done <- txResult{err: err}
			continue
		}
		if !begun {
			if err := c.begin(r.ctx); err != nil {
				r.done <- txResult{err: err}
				for _, q := range batch[i+1:] {
					if q.state.CompareAndSwap(reqQueued, reqRunning) {
						q.done <- txResult{err: err}
					}
				}
				return nil
			}
			begun = true
		}
		// A lone transaction needs no savepoint: if it fails, the whole
		// transaction is rolled back.
		res := c.runOne(r, &bs, len(batch) > 1)
		if bs.poison != nil {
			// The transaction is gone: nothing of this batch commits.
			c.rollback()
			err := d.classify(fmt.Errorf("transaction abandoned: %w", bs.poison), true)
			if res.err == nil && !res.panicked {
				res.err = err
			}
			r.done <- res
			failAll(err)
			for _, q := range batch[i+1:] {
				if q.state.Load() == reqQueued {
					notRun = append(notRun, q)
				}
			}
			return notRun
		}
		if res.err != nil || res.panicked {
			r.done <- res
			continue
		}
		ok = append(ok, r)
	}
	if !begun {
		return nil
	}
	if len(ok) == 0 {
		c.rollback()
		return nil
	}
	// One observation of the COMMIT (it is one statement), in the first
	// caller's trace; every other caller's trace gets a span of its own
	// for the commit it waited for.
	_, done := d.observe(ok[0].ctx, "commit", "COMMIT")
	spans := make([]trace.Span, 0, len(ok)-1)
	for _, r := range ok[1:] {
		_, sp := d.tracer.Start(r.ctx, "db.commit", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", string(d.dialect)), attribute.String("db.query.text", "COMMIT"),
				attribute.Int("db.operation.batch.size", len(ok))))
		spans = append(spans, sp)
	}
	_, err := c.exec("COMMIT")
	done(err)
	for _, sp := range spans {
		if err != nil {
			sp.RecordError(err)
			sp.SetStatus(codes.Error, "query failed")
		}
		sp.End()
	}
	if err != nil {
		c.rollback()
		failAll(d.classify(fmt.Errorf("commit: %w", err), true))
		return nil
	}
	d.fault.Store(nil) // a write went through
	d.recordBatch(ok[0].ctx, len(ok))
	for _, r := range ok {
		r.done <- txResult{}
	}
	return nil
}

// begin opens the batch's transaction, (re)connecting first if needed.
func (c *committer) begin(ctx context.Context) error {
	d := c.d
	if c.conn == nil {
		conn, err := d.db.Conn(context.Background())
		if err != nil {
			return d.classify(fmt.Errorf("begin: %w", err), true)
		}
		c.conn, c.stmts = conn, newConnStmts(conn)
	}
	_, done := d.observe(ctx, "begin", "BEGIN IMMEDIATE")
	_, err := c.exec("BEGIN IMMEDIATE")
	done(err)
	if err != nil {
		if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
			c.closeConn()
		}
		return d.classify(fmt.Errorf("begin: %w", err), true)
	}
	return nil
}

// runOne runs one request's function in a savepoint.
func (c *committer) runOne(r *txReq, bs *batchState, savepoint bool) (res txResult) {
	if savepoint {
		if _, err := c.exec("SAVEPOINT tx"); err != nil {
			bs.poison = err
			return txResult{err: err}
		}
	}
	func() {
		defer func() {
			if v := recover(); v != nil {
				res = txResult{panicked: true, panicVal: v}
			}
		}()
		res.err = r.fn(Conn{d: c.d, q: c.conn, writer: c.stmts, batch: bs})
	}()
	if bs.poison != nil || !savepoint {
		return res
	}
	if res.err != nil || res.panicked {
		if _, err := c.exec("ROLLBACK TO tx"); err != nil {
			bs.poison = err
			return res
		}
	}
	if _, err := c.exec("RELEASE tx"); err != nil {
		bs.poison = err
	}
	return res
}

// exec runs one transaction-control statement (BEGIN, SAVEPOINT,
// RELEASE, ROLLBACK, COMMIT) on the writer's connection, prepared once.
func (c *committer) exec(q string) (sql.Result, error) {
	ctx := context.Background()
	if s := c.stmts.get(ctx, q); s != nil {
		return s.ExecContext(ctx)
	}
	return c.conn.ExecContext(ctx, q)
}

func (c *committer) rollback() {
	if c.conn != nil {
		_, _ = c.exec("ROLLBACK")
	}
}

func (c *committer) closeConn() {
	if c.conn != nil {
		c.stmts.close()
		_ = c.conn.Close()
		c.conn, c.stmts = nil, nil
	}
}

// close stops taking transactions, lets the writer finish those queued,
// and waits for it.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.signal()
	<-c.exited
}

// SQLite primary result codes after which SQLite may have rolled the
// whole transaction back (https://sqlite.org/lang_transaction.html,
// "Response To Errors Within A Transaction"), plus interrupt.
var abortCodes = map[int]bool{sqliteBusy: true, sqliteLocked: true, 7 /* NOMEM */ : true, sqliteReadOnly: true,
	9 /* INTERRUPT */ : true, sqliteIOErr: true, 11 /* CORRUPT */ : true, sqliteFull: true, sqliteCantOpen: true}

// abandons reports whether err may have ended the enclosing transaction.
func abandons(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && abortCodes[se.Code()&0xff]
}

// recordBatch observes one commit of n transactions.
func (d *DB) recordBatch(ctx context.Context, n int) {
	if d.batchSize != nil {
		d.batchSize.Record(ctx, float64(n))
	}
}

// checkBatch refuses a statement of a poisoned batch.
func (c Conn) checkBatch() error {
	if c.batch != nil && c.batch.poison != nil {
		return c.d.classify(fmt.Errorf("transaction abandoned: %w", c.batch.poison), false)
	}
	return nil
}

// noteBatch poisons the batch when err abandoned its transaction.
func (c Conn) noteBatch(err error) {
	if c.batch != nil && err != nil && abandons(err) {
		c.batch.poison = err
	}
}
