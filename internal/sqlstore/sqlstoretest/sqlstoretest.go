// Package sqlstoretest gives tests an empty database on every backend
// CloudCart supports, so one suite runs against SQLite and PostgreSQL.
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/sqlstore"
)

// PostgresEnv names the variable holding the PostgreSQL test server's DSN,
// e.g. postgres://cloudcart:cloudcart@127.0.0.1:5432/cloudcart_test?sslmode=disable.
const PostgresEnv = "CLOUDCART_TEST_POSTGRES_DSN"

// Backends returns the backends to test: "sqlite" always, "postgres" when
// PostgresEnv is set. Under CI=true PostgreSQL is mandatory: a missing DSN
// fails the test instead of silently testing less.
func Backends(tb testing.TB) []string {
	tb.Helper()
	if os.Getenv(PostgresEnv) != "" {
		return []string{"sqlite", "postgres"}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is not set; under CI the PostgreSQL run is mandatory (.ci/run starts Debian's postgresql)", PostgresEnv)
	}
	tb.Logf("%s not set: testing SQLite only", PostgresEnv)
	return []string{"sqlite"}
}

// MustConfig returns an empty database of the backend as Options fields: a
// fresh SQLite path, or a PostgreSQL DSN whose search_path is a new schema
// that is dropped when the test ends.
func MustConfig(tb testing.TB, backend string) (dsn, sqlitePath string) {
	tb.Helper()
	if backend == "sqlite" {
		return "", filepath.Join(tb.TempDir(), "test.db")
	}
	base := os.Getenv(PostgresEnv)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema, ""
}

// MustOpen opens an empty database of the backend, closed at cleanup.
func MustOpen(tb testing.TB, backend string, o sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	o.DSN, o.Path = MustConfig(tb, backend)
	db, err := sqlstore.Open(context.Background(), o)
	if err != nil {
		tb.Fatalf("open %s: %v", backend, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustMetrics builds a service's database instruments on meter, as the
// fleet does (sqlstore.NewMetrics).
func MustMetrics(tb testing.TB, meter metric.Meter, o sqlstore.MetricsOptions) *sqlstore.Metrics {
	tb.Helper()
	m, err := sqlstore.NewMetrics(meter, o)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
