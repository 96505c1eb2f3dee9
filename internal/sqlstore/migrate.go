package sqlstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// Migration is one versioned schema change of one component: statements
// separated by ";" at the end of a line. SQL is used for both dialects
// unless the dialect-specific field is set.
type Migration struct {
	Version  int
	SQL      string
	SQLite   string
	Postgres string
}

func (m Migration) text(d Dialect) string {
	switch {
	case d == SQLite && m.SQLite != "":
		return m.SQLite
	case d == Postgres && m.Postgres != "":
		return m.Postgres
	}
	return m.SQL
}

// Migrate applies the component's migrations that have not been applied,
// in order, each in its own transaction with its schema_migrations row.
// Processes migrating the same PostgreSQL database at once (a fleet whose
// services start together, replicas of one service) serialise on one
// advisory lock held for each transaction, the creation of the
// schema_migrations table included: PostgreSQL's CREATE TABLE IF NOT
// EXISTS is not safe against a concurrent twin. SQLite serialises on its
// write lock.
func (d *DB) Migrate(ctx context.Context, component string, ms []Migration) error {
	err := d.migrationTx(ctx, func(c Conn) error {
		_, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL,
		version INTEGER NOT NULL,
		applied_at BIGINT NOT NULL,
		PRIMARY KEY (component, version))`)
		if err != nil {
			return err
		}
		// DB.Writable's probe row lives here.
		_, err = c.Exec(ctx, `CREATE TABLE IF NOT EXISTS storage_probe (id INTEGER PRIMARY KEY, filler BYTEA NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	for _, m := range ms {
		err := d.migrationTx(ctx, func(c Conn) error {
			var n int
			if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE component = $1 AND version = $2`,
				[]any{component, m.Version}, &n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			// One statement per Exec: the PostgreSQL extended protocol
			// takes no more.
			for _, stmt := range strings.Split(m.text(d.dialect), ";\n") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := c.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("%s migration %d: %w", component, m.Version, err)
				}
			}
			_, err := c.Exec(ctx, `INSERT INTO schema_migrations (component, version, applied_at) VALUES ($1, $2, $3)`,
				component, m.Version, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// migrationLock is the advisory lock key every migration transaction on
// PostgreSQL holds. One key for all components: components share tables
// and types in one schema, and migrations are rare enough to run one at a
// time.
var migrationLock = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("cloudcart-migrate"))
	return int64(h.Sum64())
}()

func (d *DB) migrationTx(ctx context.Context, fn func(Conn) error) error {
	return d.Tx(ctx, func(c Conn) error {
		if d.dialect == Postgres {
			if _, err := c.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
				return err
			}
		}
		return fn(c)
	})
}
