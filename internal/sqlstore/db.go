// Package sqlstore implements CloudCart's domain stores on SQL: SQLite (pure
// Go, WAL) as the embedded default and PostgreSQL (pgx) when a DSN is given.
// One SQL text serves both dialects ($N placeholders, BIGINT times and
// cents); where they differ, a migration carries both variants.
//
// The database is instrumented here, once: every statement gets a span and
// one observation of the service's <svc>_db_query_duration_seconds
// histogram labelled with its query type.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// Dialect is the SQL database in use.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options configure Open.
type Options struct {
	// DSN selects PostgreSQL when it is a postgres:// or postgresql:// URL.
	// Otherwise the store is SQLite at Path.
	DSN  string
	Path string

	Tracer trace.Tracer // spans per statement; none if nil
	// Metrics are the service's database instruments (NewMetrics); none
	// if nil.
	Metrics      *Metrics
	MaxOpenConns int
	// GroupCommit tunes the batching of concurrent transactions on
	// SQLite (groupcommit.go).
	GroupCommit GroupCommit
}

// QueryBuckets are the bounds, in seconds, of
// <prefix>_db_query_duration_seconds: one SQL statement is
// sub-millisecond on SQLite, a few ms on PostgreSQL; 2 s is the slow-query
// alert threshold.
var QueryBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}

// Metrics are a service's database instruments, built here once for every
// service that has them:
//
//	<prefix>_db_query_duration_seconds{query_type}  one observation per statement
//	<prefix>_db_commit_batch_size                   transactions per COMMIT
//	<prefix>_db_connection_errors_total             failed pings (with ConnectionErrors)
type Metrics struct {
	QueryDuration    metric.Float64Histogram
	CommitBatchSize  metric.Float64Histogram
	ConnectionErrors metric.Int64Counter // nil unless MetricsOptions.ConnectionErrors
}

// MetricsOptions name a service's database instruments.
type MetricsOptions struct {
	Prefix string // the service's metric prefix, e.g. "order"
	// ConnectionErrors adds <prefix>_db_connection_errors_total, starting
	// at 0.
	ConnectionErrors bool
}

// NewMetrics creates a service's database instruments on meter.
func NewMetrics(meter metric.Meter, o MetricsOptions) (*Metrics, error) {
	in := telemetry.NewInstruments(meter)
	m := &Metrics{QueryDuration: in.Histogram(o.Prefix+".db.query.duration", "s",
		"Latency of one SQL statement of the "+o.Prefix+" service, by query type.", QueryBuckets)}
	m.CommitBatchSize = in.Histogram(o.Prefix+".db.commit.batch.size", "{transaction}",
		"Transactions of the "+o.Prefix+" service made durable by one COMMIT: group commit batches concurrent transactions on SQLite; always 1 on PostgreSQL.", BatchBuckets)
	if o.ConnectionErrors {
		m.ConnectionErrors = in.Counter(o.Prefix+".db.connection.errors", "{error}", "Failures to reach the "+o.Prefix+" database.")
	}
	if err := in.Err(); err != nil {
		return nil, err
	}
	if m.ConnectionErrors != nil {
		m.ConnectionErrors.Add(context.Background(), 0)
	}
	return m, nil
}

// DB is an open, migrated database with its instrumentation.
type DB struct {
	db        *sql.DB
	dialect   Dialect
	tracer    trace.Tracer
	duration  metric.Float64Histogram
	batchSize metric.Float64Histogram
	connErrs  metric.Int64Counter
	opts      map[string][]metric.RecordOption // precomputed per query type
	// spans are each statement's span options (kind and attributes),
	// built once per SQL text; spanTexts counts the texts kept, at most
	// maxStmts (a text beyond them builds its own each time).
	spans     telemetry.Memo[string, []trace.SpanStartOption]
	spanTexts atomic.Int32

	stmts  *poolStmts // prepared statements on the pool; nil on PostgreSQL
	writer *committer // group commit; nil on PostgreSQL or when off

	// fault is the storage fault the last write met, until a write
	// succeeds again (Writable).
	fault atomic.Pointer[Fault]

	closeOnce sync.Once
}

// Open connects to the database. It does not migrate; each domain store
// applies its own migrations when it is created.
func Open(ctx context.Context, o Options) (*DB, error) {
	d := &DB{tracer: o.Tracer}
	if o.Metrics != nil {
		d.duration, d.batchSize, d.connErrs = o.Metrics.QueryDuration, o.Metrics.CommitBatchSize, o.Metrics.ConnectionErrors
	}
	if d.tracer == nil {
		d.tracer = noop.NewTracerProvider().Tracer("")
	}
	var err error
	switch {
	case strings.HasPrefix(o.DSN, "postgres://"), strings.HasPrefix(o.DSN, "postgresql://"):
		d.dialect = Postgres
		d.db, err = sql.Open("pgx", o.DSN)
		if err == nil {
			d.db.SetMaxOpenConns(or(o.MaxOpenConns, 10))
			d.db.SetMaxIdleConns(or(o.MaxOpenConns, 10))
		}
	case o.DSN != "":
		return nil, cloudcart.Errorf(cloudcart.EINVALID, "database DSN must be a postgres:// URL (leave it empty for SQLite)")
	default:
		d.dialect = SQLite
		if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
			return nil, fmt.Errorf("sqlite dir: %w", err)
		}
		// The database holds emails and password hashes: 0600, which
		// SQLite also gives the -wal and -shm files it creates beside it.
		if err := privateFile(o.Path); err != nil {
			return nil, fmt.Errorf("sqlite file: %w", Classify(err))
		}
		// WAL lets readers run beside the writer; synchronous(FULL) makes a
		// commit durable before it is acknowledged; _txlock=immediate takes
		// the write lock at BEGIN so concurrent writers queue on
		// busy_timeout instead of failing mid-transaction.
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		d.db, err = sql.Open("sqlite", "file:"+o.Path+"?"+q.Encode())
		if err == nil {
			// Idle connections stay open: each keeps its prepared
			// statements (and its pragmas). The group-commit writer
			// keeps one connection; readers need at least another.
			n := or(o.MaxOpenConns, 4)
			if o.GroupCommit.MaxBatch != 1 {
				n = max(n, 2)
			}
			d.db.SetMaxOpenConns(n)
			d.db.SetMaxIdleConns(n)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d.dialect, err)
	}
	d.opts = map[string][]metric.RecordOption{}
	for _, qt := range queryTypes {
		d.opts[qt] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("query_type", qt)))}
	}
	if err := d.Ping(ctx); err != nil {
		d.db.Close()
		return nil, err
	}
	if d.dialect == SQLite {
		d.stmts = newPoolStmts(d.db)
		if o.GroupCommit.MaxBatch != 1 {
			d.writer = newCommitter(d, o.GroupCommit)
		}
	}
	return d, nil
}

// Dialect reports which database this is.
func (d *DB) Dialect() Dialect { return d.dialect }

// Ping checks the database is reachable; it is the service's readiness check.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		if d.connErrs != nil {
			d.connErrs.Add(ctx, 1)
		}
		return fmt.Errorf("ping %s: %w", d.dialect, err)
	}
	return nil
}

// Close lets the transactions already queued for group commit finish,
// then closes the database. A Tx after Close fails.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		if d.writer != nil {
			d.writer.close()
		}
		if d.stmts != nil {
			d.stmts.close()
		}
	})
	return d.db.Close()
}

// queryTypes is the closed set of query_type label values.
var queryTypes = []string{"select", "insert", "update", "delete", "begin", "commit", "ddl", "other"}

func queryType(q string) string {
	q = strings.TrimSpace(q)
	verb, _, _ := strings.Cut(q, " ")
	switch v := strings.ToLower(verb); v {
	case "select", "insert", "update", "delete":
		return v
	case "with":
		return "select"
	case "create", "alter", "drop":
		return "ddl"
	}
	return "other"
}

// querier is what *sql.DB, *sql.Tx and *sql.Conn share.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// Conn runs instrumented statements on the database or inside a transaction.
type Conn struct {
	d *DB
	q querier
	// tx is set inside a direct transaction (prepared statements come
	// from the pool's via Tx.StmtContext).
	tx *sql.Tx
	// writer and batch are set inside a group-commit batch.
	writer *connStmts
	batch  *batchState
}

// observe starts the span and returns the function that ends it.
func (d *DB) observe(ctx context.Context, qt, stmt string) (context.Context, func(error)) {
	start := time.Now()
	ctx, span := d.tracer.Start(ctx, "db."+qt, d.spanOptions(stmt)...)
	return ctx, func(err error) {
		if d.duration != nil {
			d.duration.Record(ctx, time.Since(start).Seconds(), d.opts[qt]...)
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			span.RecordError(err)
			span.SetStatus(codes.Error, "query failed")
		}
		span.End()
	}
}

// spanOptions returns a statement span's kind and attributes, built once
// per SQL text: a span per statement is most of what tracing costs the
// store, and the options were its allocations.
func (d *DB) spanOptions(stmt string) []trace.SpanStartOption {
	if o, ok := d.spans.Lookup(stmt); ok {
		return o
	}
	build := func() []trace.SpanStartOption {
		return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", string(d.dialect)), attribute.String("db.query.text", stmt))}
	}
	if d.spanTexts.Load() >= maxStmts {
		return build()
	}
	d.spanTexts.Add(1)
	return d.spans.LoadOrBuild(stmt, build)
}

// stmt returns q prepared for this Conn, or nil to run it unprepared.
func (c Conn) stmt(ctx context.Context, qt, q string) *sql.Stmt {
	switch {
	case !preparable(qt):
		return nil
	case c.writer != nil:
		return c.writer.get(ctx, q)
	case c.d.stmts == nil:
		return nil // PostgreSQL: pgx prepares per connection itself
	}
	s := c.d.stmts.get(ctx, q)
	if s != nil && c.tx != nil {
		return c.tx.StmtContext(ctx, s)
	}
	return s
}

// begin prepares one statement's run: the context the driver sees (inside
// a batch it ignores cancellation: an interrupted statement would end the
// shared transaction) and the prepared statement, if any.
func (c Conn) begin(ctx context.Context, qt, q string) (context.Context, *sql.Stmt, error) {
	if c.batch != nil {
		if err := c.checkBatch(); err != nil {
			return ctx, nil, err
		}
		ctx = context.WithoutCancel(ctx)
	}
	return ctx, c.stmt(ctx, qt, q), nil
}

// Exec runs a statement that returns no rows.
func (c Conn) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	qt := queryType(q)
	if c.writer == nil && c.tx == nil && c.d.writer != nil && preparable(qt) && qt != "select" {
		// A write outside a transaction goes through group commit too:
		// it would otherwise wait for SQLite's write lock in the busy
		// handler's sleeps.
		var res sql.Result
		err := c.d.Tx(ctx, func(tc Conn) (err error) {
			res, err = tc.Exec(ctx, q, args...)
			return err
		})
		return res, err
	}
	ctx, s, err := c.begin(ctx, qt, q)
	if err != nil {
		return nil, err
	}
	ctx, done := c.d.observe(ctx, qt, q)
	var res sql.Result
	if s != nil {
		res, err = s.ExecContext(ctx, args...)
	} else {
		res, err = c.q.ExecContext(ctx, q, args...)
	}
	done(err)
	c.noteBatch(err)
	return res, c.d.classify(err, qt != "select")
}

// Query runs a statement that returns rows. The observation covers the
// query, not the scanning of rows.
func (c Conn) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	qt := queryType(q)
	ctx, s, err := c.begin(ctx, qt, q)
	if err != nil {
		return nil, err
	}
	ctx, done := c.d.observe(ctx, qt, q)
	var rows *sql.Rows
	if s != nil {
		rows, err = s.QueryContext(ctx, args...)
	} else {
		rows, err = c.q.QueryContext(ctx, q, args...)
	}
	done(err)
	c.noteBatch(err)
	return rows, c.d.classify(err, qt != "select")
}

// QueryRow runs a statement that returns at most one row and scans it.
func (c Conn) QueryRow(ctx context.Context, q string, args []any, dest ...any) error {
	qt := queryType(q)
	ctx, s, err := c.begin(ctx, qt, q)
	if err != nil {
		return err
	}
	ctx, done := c.d.observe(ctx, qt, q)
	if s != nil {
		err = s.QueryRowContext(ctx, args...).Scan(dest...)
	} else {
		err = c.q.QueryRowContext(ctx, q, args...).Scan(dest...)
	}
	done(err)
	c.noteBatch(err)
	return c.d.classify(err, qt != "select")
}

// queryRowQuiet runs a select outside the instrumentation (idleCheck),
// prepared like any other.
func (d *DB) queryRowQuiet(ctx context.Context, q string, args ...any) *sql.Row {
	if s := d.Conn().stmt(ctx, "select", q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return d.db.QueryRowContext(ctx, q, args...)
}

// Conn returns a Conn outside any transaction.
func (d *DB) Conn() Conn { return Conn{d: d, q: d.db} }

// Tx runs fn in a transaction and commits it if fn returns nil; otherwise
// (an error or a panic, which Tx re-raises) it rolls back, so a failed
// operation leaves nothing half-written. When Tx returns nil the
// transaction is durable.
//
// On SQLite, concurrent calls are group-committed (groupcommit.go): fn
// runs on the writer goroutine inside a savepoint of a shared
// transaction, so it must use only the Conn it is given, and must not
// call Tx. A ctx that ends while fn is still queued withdraws it.
func (d *DB) Tx(ctx context.Context, fn func(Conn) error) error {
	if d.writer != nil {
		return d.writer.do(ctx, fn)
	}
	return d.directTx(ctx, fn)
}

// directTx runs fn in a transaction of its own on a pooled connection.
func (d *DB) directTx(ctx context.Context, fn func(Conn) error) (err error) {
	bctx, done := d.observe(ctx, "begin", "BEGIN")
	tx, err := d.db.BeginTx(bctx, nil)
	done(err)
	if err != nil {
		return d.classify(fmt.Errorf("begin: %w", err), true)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback() // also when fn panics
		}
	}()
	if err := fn(Conn{d: d, q: tx, tx: tx}); err != nil {
		return err
	}
	_, done = d.observe(ctx, "commit", "COMMIT")
	err = tx.Commit()
	done(err)
	committed = true // committed or, on error, rolled back by Commit
	if err != nil {
		return d.classify(fmt.Errorf("commit: %w", err), true)
	}
	d.fault.Store(nil) // a write went through
	d.recordBatch(ctx, 1)
	return nil
}

// classify turns a storage fault into its EUNAVAILABLE error and, for a
// write, remembers it for Writable.
func (d *DB) classify(err error, write bool) error {
	err = Classify(err)
	if f := FaultOf(err); f != nil && write {
		d.fault.Store(f)
	}
	return err
}

// Writable is the readiness check of a service that writes: the database
// answers, and no write has met a storage fault since the last one that
// succeeded. After a fault it tries a small real write (a row of 8 KiB,
// committed, then deleted), so readiness returns without traffic once
// space is freed or the file system is writable again.
func (d *DB) Writable(ctx context.Context) error {
	if err := d.Ping(ctx); err != nil {
		return d.classify(err, false)
	}
	f := d.fault.Load()
	if f == nil {
		return nil
	}
	err := d.Tx(ctx, func(c Conn) error {
		if _, err := c.Exec(ctx, `INSERT INTO storage_probe (id, filler) VALUES (1, $1)`, make([]byte, 8<<10)); err != nil {
			return err
		}
		_, err := c.Exec(ctx, `DELETE FROM storage_probe WHERE id = 1`)
		return err
	})
	if err == nil {
		return nil // Tx cleared the fault
	}
	if g := FaultOf(err); g != nil {
		f = g
	}
	return fmt.Errorf("%s: %s", f.Cause, faultMessages[f.Cause])
}

// privateFile creates path empty with mode 0600, or narrows an existing
// file (and its -wal and -shm files) to 0600.
func privateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
