package sqlstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// itemsTable is the table the group-commit tests write.
var itemsTable = []sqlstore.Migration{{Version: 1, SQL: `CREATE TABLE items (id BIGINT PRIMARY KEY, note TEXT NOT NULL)`}}

// mustItemsDB opens a database with the items table.
func mustItemsDB(tb testing.TB, backend string, o sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	db := sqlstoretest.MustOpen(tb, backend, o)
	if err := db.Migrate(context.Background(), "items", itemsTable); err != nil {
		tb.Fatal(err)
	}
	return db
}

func insertItem(ctx context.Context, c sqlstore.Conn, id int64) error {
	_, err := c.Exec(ctx, `INSERT INTO items (id, note) VALUES ($1, $2)`, id, "item "+strconv.FormatInt(id, 10))
	return err
}

// items returns the ids stored.
func items(tb testing.TB, db *sqlstore.DB) map[int64]bool {
	tb.Helper()
	rows, err := db.Conn().Query(context.Background(), `SELECT id FROM items`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// holdWriter starts a transaction that keeps the group-commit writer busy
// until release is called, so the transactions started meanwhile queue
// up and form the next batch.
func holdWriter(tb testing.TB, db *sqlstore.DB) (release func()) {
	tb.Helper()
	running, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.Tx(context.Background(), func(c sqlstore.Conn) error {
			close(running)
			<-unblock
			return nil
		})
	}()
	<-running
	return func() {
		tb.Helper()
		close(unblock)
		if err := <-done; err != nil {
			tb.Errorf("holding transaction: %v", err)
		}
	}
}

// waitQueued waits until n transactions wait for the writer.
func waitQueued(tb testing.TB, db *sqlstore.DB, n int) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for sqlstore.QueuedTx(db) != n {
		if time.Now().After(deadline) {
			tb.Fatalf("%d transactions queued, want %d", sqlstore.QueuedTx(db), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// batchHistogram reads <prefix>_db_commit_batch_size: commits, the sum of
// their sizes, and the cumulative count per upper bound.
func batchHistogram(tb testing.TB, g prometheus.Gatherer) (count uint64, sum float64, buckets map[float64]uint64) {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	buckets = map[float64]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "test_db_commit_batch_size" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			count, sum = h.GetSampleCount(), h.GetSampleSum()
			for _, b := range h.GetBucket() {
				buckets[b.GetUpperBound()] = b.GetCumulativeCount()
			}
		}
	}
	return count, sum, buckets
}

// TestGroupCommitBatches: transactions that queue while a commit runs are
// committed together, at most MaxBatch at a time, and the batch size
// histogram counts each commit once with its size.
func TestGroupCommitBatches(t *testing.T) {
	ctx := context.Background()
	tel := telemetrytest.MustNew(t)
	m := sqlstoretest.MustMetrics(t, tel.Meter("test"), sqlstore.MetricsOptions{Prefix: "test"})
	db := mustItemsDB(t, "sqlite", sqlstore.Options{Metrics: m, GroupCommit: sqlstore.GroupCommit{MaxBatch: 4}})
	count0, sum0, b0 := batchHistogram(t, tel.Registry) // the migrations' commits

	release := holdWriter(t, db)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		wg.Go(func() {
			errs <- db.Tx(ctx, func(c sqlstore.Conn) error { return insertItem(ctx, c, int64(i)) })
		})
	}
	waitQueued(t, db, 10)
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(items(t, db)); got != 10 {
		t.Fatalf("%d items stored, want 10", got)
	}
	// Batches: the holding transaction alone, then 4, 4 and 2.
	count, sum, b := batchHistogram(t, tel.Registry)
	if count-count0 != 4 || sum-sum0 != 11 {
		t.Fatalf("batch histogram grew by %d commits of %v transactions, want 4 commits of 11", count-count0, sum-sum0)
	}
	for bound, want := range map[float64]uint64{1: 1, 2: 2, 4: 4, 8: 4, 64: 4} {
		if got := b[bound] - b0[bound]; got != want {
			t.Errorf("bucket le=%v grew by %d, want %d", bound, got, want)
		}
	}
}

// TestGroupCommitWait: with GroupCommit.Wait (an hour here, on a clock
// the test drives), a transaction on an idle database (no commit for ten
// Waits) commits at once; on a busy one the writer lingers until the
// batch is full: four transactions started one after another, each of
// which would otherwise have had a commit of its own, share one.
func TestGroupCommitWait(t *testing.T) {
	ctx := context.Background()
	// The writer's clock: while idle, eleven hours pass between any two
	// readings; while busy, it stands still (every commit just ended).
	var busy atomic.Bool
	var ticks atomic.Int64
	start := time.Now()
	gc := sqlstore.GroupCommit{MaxBatch: 4, Wait: time.Hour}
	sqlstore.WithWriterClock(&gc, func() time.Time {
		if busy.Load() {
			return start
		}
		return start.Add(time.Duration(ticks.Add(1)) * 11 * time.Hour)
	})
	tel := telemetrytest.MustNew(t)
	m := sqlstoretest.MustMetrics(t, tel.Meter("test"), sqlstore.MetricsOptions{Prefix: "test"})
	// Idle: the migrations' transactions, one after another, would each
	// wait an hour were they lingered on; so would this one, which would
	// then stay queued past its deadline (Tx withdraws it and fails).
	db := mustItemsDB(t, "sqlite", sqlstore.Options{Metrics: m, GroupCommit: gc})
	insert := func(ctx context.Context, id int64) error {
		return db.Tx(ctx, func(c sqlstore.Conn) error { return insertItem(ctx, c, id) })
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := insert(tctx, 100); err != nil {
		t.Fatalf("a lone transaction on an idle database: %v", err)
	}

	busy.Store(true)
	count0, sum0, _ := batchHistogram(t, tel.Registry)
	errs := make(chan error, 4)
	for i := range 4 {
		go func() { errs <- insert(ctx, int64(i)) }()
		time.Sleep(20 * time.Millisecond) // each its own commit, were it not for the wait
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if count, sum, _ := batchHistogram(t, tel.Registry); count-count0 != 1 || sum-sum0 != 4 {
		t.Errorf("%d commits of %v transactions, want the four in one", count-count0, sum-sum0)
	}
}

// TestGroupCommitIsolation: in one batch, a function that fails (here on
// a constraint, after writing) or panics is rolled back to its savepoint
// alone; its caller gets its own error or panic; the others commit.
func TestGroupCommitIsolation(t *testing.T) {
	ctx := context.Background()
	tel := telemetrytest.MustNew(t)
	m := sqlstoretest.MustMetrics(t, tel.Meter("test"), sqlstore.MetricsOptions{Prefix: "test"})
	db := mustItemsDB(t, "sqlite", sqlstore.Options{Metrics: m})
	if err := db.Tx(ctx, func(c sqlstore.Conn) error { return insertItem(ctx, c, 1) }); err != nil {
		t.Fatal(err)
	}
	count0, sum0, _ := batchHistogram(t, tel.Registry)

	release := holdWriter(t, db)
	errFailed := errors.New("validation failed after writing")
	results := map[string]chan any{}
	start := func(name string, fn func(sqlstore.Conn) error) {
		ch := make(chan any, 1)
		results[name] = ch
		go func() {
			defer func() {
				if v := recover(); v != nil {
					ch <- fmt.Sprint("panic: ", v)
				}
			}()
			ch <- db.Tx(ctx, fn)
		}()
		waitQueued(t, db, len(results))
	}
	start("ok 10", func(c sqlstore.Conn) error { return insertItem(ctx, c, 10) })
	start("duplicate", func(c sqlstore.Conn) error {
		if err := insertItem(ctx, c, 20); err != nil {
			return err
		}
		return insertItem(ctx, c, 1) // exists: UNIQUE constraint
	})
	start("error", func(c sqlstore.Conn) error {
		if err := insertItem(ctx, c, 30); err != nil {
			return err
		}
		return errFailed
	})
	start("panic", func(c sqlstore.Conn) error {
		if err := insertItem(ctx, c, 40); err != nil {
			return err
		}
		panic("boom")
	})
	start("ok 50", func(c sqlstore.Conn) error { return insertItem(ctx, c, 50) })
	release()

	for name, want := range map[string]func(any) bool{
		"ok 10":     func(v any) bool { return v == nil },
		"ok 50":     func(v any) bool { return v == nil },
		"duplicate": func(v any) bool { err, _ := v.(error); return err != nil && strings.Contains(err.Error(), "UNIQUE") },
		"error":     func(v any) bool { err, _ := v.(error); return errors.Is(err, errFailed) },
		"panic":     func(v any) bool { return v == "panic: boom" },
	} {
		if v := <-results[name]; !want(v) {
			t.Errorf("%s: Tx returned %v", name, v)
		}
	}
	got := items(t, db)
	for id, want := range map[int64]bool{1: true, 10: true, 20: false, 30: false, 40: false, 50: true} {
		if got[id] != want {
			t.Errorf("item %d stored: %v, want %v", id, got[id], want)
		}
	}
	// The holding transaction, then one commit of the two that succeeded.
	if count, sum, _ := batchHistogram(t, tel.Registry); count-count0 != 2 || sum-sum0 != 3 {
		t.Errorf("batch histogram grew by %d commits of %v transactions, want 2 commits of 3", count-count0, sum-sum0)
	}
	// The writer goes on after a panic.
	if err := db.Tx(ctx, func(c sqlstore.Conn) error { return insertItem(ctx, c, 60) }); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitCancel: a caller whose context ends while its
// transaction is queued is answered at once with the context's error, and
// its function never runs; a context that ends while the function runs
// does not interrupt it (the batch's transaction is shared), and the
// caller gets the real outcome.
func TestGroupCommitCancel(t *testing.T) {
	ctx := context.Background()
	db := mustItemsDB(t, "sqlite", sqlstore.Options{})

	t.Run("while queued", func(t *testing.T) {
		release := holdWriter(t, db)
		cctx, cancel := context.WithCancel(ctx)
		var ran atomic.Bool
		done := make(chan error, 1)
		go func() {
			done <- db.Tx(cctx, func(c sqlstore.Conn) error {
				ran.Store(true)
				return insertItem(ctx, c, 100)
			})
		}()
		waitQueued(t, db, 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Tx cancelled while queued returned %v", err)
		}
		release()
		// The next transaction is committed after the withdrawn one
		// would have run.
		if err := db.Tx(ctx, func(c sqlstore.Conn) error { return insertItem(ctx, c, 101) }); err != nil {
			t.Fatal(err)
		}
		if ran.Load() || items(t, db)[100] {
			t.Fatal("the withdrawn transaction ran")
		}
	})
	t.Run("before queueing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := db.Tx(cctx, func(c sqlstore.Conn) error { return insertItem(ctx, c, 200) }); !errors.Is(err, context.Canceled) {
			t.Fatalf("Tx on a cancelled context returned %v", err)
		}
	})
	t.Run("while running", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		err := db.Tx(cctx, func(c sqlstore.Conn) error {
			if err := insertItem(cctx, c, 300); err != nil {
				return err
			}
			cancel()
			return insertItem(cctx, c, 301)
		})
		if err != nil {
			t.Fatalf("Tx whose context ended while it ran: %v", err)
		}
		if got := items(t, db); !got[300] || !got[301] {
			t.Fatalf("items 300, 301 stored: %v, %v", got[300], got[301])
		}
	})
}

// TestTxPanics: on every backend (group commit on SQLite, a transaction
// of its own on PostgreSQL), a panicking function is re-raised in the
// caller and leaves nothing written; the database goes on working.
func TestTxPanics(t *testing.T) {
	ctx := context.Background()
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			db := mustItemsDB(t, backend, sqlstore.Options{})
			func() {
				defer func() {
					if v := recover(); v != "boom" {
						t.Fatalf("recovered %v, want boom", v)
					}
				}()
				_ = db.Tx(ctx, func(c sqlstore.Conn) error {
					if err := insertItem(ctx, c, 1); err != nil {
						return err
					}
					panic("boom")
				})
			}()
			if err := db.Tx(ctx, func(c sqlstore.Conn) error { return insertItem(ctx, c, 2) }); err != nil {
				t.Fatal(err)
			}
			if got := items(t, db); got[1] || !got[2] {
				t.Fatalf("stored %v, want item 2 only", got)
			}
		})
	}
}

// TestGroupCommitAutocommitWrites: a write outside any transaction goes
// through the writer too and reports its rows affected.
func TestGroupCommitAutocommitWrites(t *testing.T) {
	ctx := context.Background()
	db := mustItemsDB(t, "sqlite", sqlstore.Options{})
	for i := range 3 {
		if _, err := db.Conn().Exec(ctx, `INSERT INTO items (id, note) VALUES ($1, 'x')`, i); err != nil {
			t.Fatal(err)
		}
	}
	res, err := db.Conn().Exec(ctx, `UPDATE items SET note = 'y' WHERE id < 2`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Fatalf("rows affected %d, want 2", n)
	}
}

// crashChildEnv names the database a TestGroupCommitCrash child writes.
const crashChildEnv = "CLOUDCART_GROUPCOMMIT_CRASH_DB"

// TestGroupCommitCrash: a child process writes from 16 goroutines at once
// through group commit, printing each transaction's id the moment Tx
// returns nil, and is SIGKILLed mid-burst. After reopening, every
// acknowledged transaction is there, whole (its two rows): no caller was
// acknowledged before its batch's COMMIT. Transactions in flight at the
// kill may or may not be there, but never half.
//
// A SIGKILL loses what the process had not handed to the kernel; it
// cannot lose what the kernel had not yet fsynced (the page cache
// survives the process). That is synchronous=FULL's part, which this test
// relies on rather than proves.
func TestGroupCommitCrash(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		groupCommitChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupCommitCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int64]bool{}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			t.Fatalf("child wrote %q", sc.Text())
		}
		acked[n] = true
		if len(acked) == 3000 && !killed {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before the kill after %d acknowledgements: %v", len(acked), err)
	}
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := items(t, db)
	var missing, inFlight, torn []int64
	for id := range acked {
		if !stored[id] || !stored[-id] {
			missing = append(missing, id)
		}
	}
	for id := range stored {
		if id > 0 && !acked[id] {
			inFlight = append(inFlight, id)
		}
		if stored[id] != stored[-id] {
			torn = append(torn, id)
		}
	}
	t.Logf("%d acknowledged, %d stored transactions, %d of them not acknowledged when the child died", len(acked), len(stored)/2, len(inFlight))
	if len(missing) > 0 {
		t.Fatalf("%d acknowledged transactions lost after SIGKILL, e.g. %v", len(missing), missing[:min(len(missing), 10)])
	}
	if len(torn) > 0 {
		t.Fatalf("%d transactions half stored, e.g. %v", len(torn), torn[:min(len(torn), 10)])
	}
}

// groupCommitChild writes until it is killed: each transaction stores rows id
// and -id, and is acknowledged on stdout (one unbuffered write per line)
// once Tx returned nil.
func groupCommitChild(path string) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err == nil {
		err = db.Migrate(ctx, "items", itemsTable)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				id := next.Add(1)
				err := db.Tx(ctx, func(c sqlstore.Conn) error {
					if err := insertItem(ctx, c, id); err != nil {
						return err
					}
					return insertItem(ctx, c, -id)
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				_, _ = os.Stdout.WriteString("ack " + strconv.FormatInt(id, 10) + "\n")
			}
		})
	}
	wg.Wait()
}

// TestGroupCommitDiskFull: concurrent writers on a full disk. Every
// transaction either commits (and is there after space is freed) or
// fails as an EUNAVAILABLE disk_full fault, whichever member of a batch
// met the fault; the writer goes on once space is freed.
func TestGroupCommitDiskFull(t *testing.T) {
	dir := sqlstoretest.MustTmpfs(t, "4m")
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "db.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, "items", []sqlstore.Migration{{Version: 1, SQL: `CREATE TABLE items (id BIGINT PRIMARY KEY, note BYTEA NOT NULL)`}}); err != nil {
		t.Fatal(err)
	}
	free := sqlstoretest.Fill(t, dir)
	var (
		next   atomic.Int64
		mu     sync.Mutex
		ok     []int64
		faults int
		wg     sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				id := next.Add(1)
				err := db.Tx(ctx, func(c sqlstore.Conn) error {
					_, err := c.Exec(ctx, `INSERT INTO items (id, note) VALUES ($1, $2)`, id, make([]byte, 16<<10))
					return err
				})
				mu.Lock()
				switch f := sqlstore.FaultOf(err); {
				case err == nil:
					ok = append(ok, id)
				case f != nil && f.Cause == sqlstore.FaultDiskFull:
					faults++
				default:
					t.Errorf("transaction %d: %v, want success or a disk_full fault", id, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if faults == 0 {
		t.Fatalf("all %d transactions committed on a full disk", len(ok))
	}
	free()
	if err := db.Writable(ctx); err != nil {
		t.Fatalf("Writable after freeing space: %v", err)
	}
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			id := next.Add(1)
			errs <- db.Tx(ctx, func(c sqlstore.Conn) error {
				_, err := c.Exec(ctx, `INSERT INTO items (id, note) VALUES ($1, $2)`, id, make([]byte, 16<<10))
				return err
			})
			mu.Lock()
			ok = append(ok, id)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("write after freeing space: %v", err)
		}
	}
	got := items(t, db)
	for _, id := range ok {
		if !got[id] {
			t.Errorf("transaction %d was acknowledged but is not stored", id)
		}
	}
	if len(got) != len(ok) {
		t.Errorf("%d rows stored, %d transactions acknowledged", len(got), len(ok))
	}
	t.Logf("%d committed (the last 8 after space was freed), %d refused as disk full", len(ok), faults)
}

// TestGroupCommitTraces: every caller's trace shows its own statements
// and the commit it waited for, though one COMMIT served the batch.
func TestGroupCommitTraces(t *testing.T) {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(ctx) }()
	db := mustItemsDB(t, "sqlite", sqlstore.Options{Tracer: tp.Tracer("test")})
	release := holdWriter(t, db)
	var wg sync.WaitGroup
	roots := make([]trace.SpanContext, 3)
	for i := range roots {
		tctx, span := tp.Tracer("test").Start(ctx, "caller")
		roots[i] = span.SpanContext()
		wg.Go(func() {
			defer span.End()
			if err := db.Tx(tctx, func(c sqlstore.Conn) error { return insertItem(tctx, c, int64(i)) }); err != nil {
				t.Error(err)
			}
		})
		waitQueued(t, db, i+1)
	}
	release()
	wg.Wait()
	for i, root := range roots {
		names := map[string]int{}
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() == root.TraceID() {
				names[s.Name()]++
			}
		}
		if names["db.insert"] != 1 || names["db.commit"] != 1 {
			t.Errorf("caller %d's trace has spans %v, want one db.insert and one db.commit", i, names)
		}
	}
}
