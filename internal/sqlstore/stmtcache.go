package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared statements. modernc.org/sqlite parses the SQL text on every
// ExecContext/QueryContext of a connection (sqlite3_prepare_v2, then
// finalize); a prepared *sql.Stmt keeps the parsed statement and only
// binds, steps and resets it. So on SQLite every select, insert, update
// and delete runs from a statement parsed once per connection:
//
//   - outside a transaction, from poolStmts: one *sql.Stmt per SQL text,
//     which database/sql prepares lazily on each pooled connection it runs
//     on (the pool keeps its idle connections, so they stay prepared);
//   - inside a group-commit batch, from connStmts, prepared on the
//     writer's own connection;
//   - inside a direct transaction (group commit off), from poolStmts via
//     Tx.StmtContext, which reuses the statement already prepared on the
//     transaction's connection.
//
// PostgreSQL needs none of this: pgx's default query mode
// (QueryExecModeCacheStatement) already prepares each SQL text once per
// connection and executes it by name afterwards.
//
// Texts built at run time (IN lists of varying length) are bounded by the
// callers' batch sizes; maxStmts bounds the caches anyway, and a text
// beyond it simply runs unprepared.
const maxStmts = 512

// preparable reports whether a statement of this query type is cached:
// DML only, never DDL or transaction control.
func preparable(qt string) bool {
	switch qt {
	case "select", "insert", "update", "delete":
		return true
	}
	return false
}

// poolStmts caches statements prepared on the pool.
type poolStmts struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newPoolStmts(db *sql.DB) *poolStmts { return &poolStmts{db: db, m: map[string]*sql.Stmt{}} }

// get returns the statement for q, preparing it on first use; nil if it
// cannot be prepared (the caller runs q unprepared and meets the error
// there) or the cache is full.
func (p *poolStmts) get(ctx context.Context, q string) *sql.Stmt {
	p.mu.RLock()
	s, ok := p.m[q]
	p.mu.RUnlock()
	if ok {
		return s
	}
	// Prepare without the lock: preparing takes a pooled connection, and
	// holding the write lock meanwhile would stall every cached statement
	// (a waiting Lock blocks new RLocks) behind one connection wait.
	s, err := p.db.PrepareContext(context.WithoutCancel(ctx), q)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.m[q]; ok || len(p.m) >= maxStmts {
		_ = s.Close() // another caller won, or the cache is full
		return prev
	}
	p.m[q] = s
	return s
}

func (p *poolStmts) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for q, s := range p.m {
		_ = s.Close()
		delete(p.m, q)
	}
}

// connStmts caches statements prepared on the group-commit writer's
// connection; only the writer goroutine uses it.
type connStmts struct {
	conn *sql.Conn
	m    map[string]*sql.Stmt
}

func newConnStmts(conn *sql.Conn) *connStmts {
	return &connStmts{conn: conn, m: map[string]*sql.Stmt{}}
}

func (w *connStmts) get(ctx context.Context, q string) *sql.Stmt {
	if s, ok := w.m[q]; ok {
		return s
	}
	if len(w.m) >= maxStmts {
		return nil
	}
	s, err := w.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	w.m[q] = s
	return s
}

func (w *connStmts) close() {
	for _, s := range w.m {
		_ = s.Close()
	}
	clear(w.m)
}
