package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

// TestDiskFullIsUnavailable fills a real (tmpfs) file system under a
// SQLite database: the failing write is an EUNAVAILABLE error naming the
// full disk, the database reports itself not writable, and once space is
// freed it is writable again without being reopened.
func TestDiskFullIsUnavailable(t *testing.T) {
	dir := sqlstoretest.MustTmpfs(t, "4m")
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "db.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, "test", []sqlstore.Migration{{Version: 1, SQL: `CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BYTEA)`}}); err != nil {
		t.Fatal(err)
	}
	insert := func(i int) error {
		return db.Tx(ctx, func(c sqlstore.Conn) error {
			_, err := c.Exec(ctx, `INSERT INTO blobs (id, b) VALUES ($1, $2)`, i, make([]byte, 16<<10))
			return err
		})
	}
	if err := insert(0); err != nil {
		t.Fatal(err)
	}
	free := sqlstoretest.Fill(t, dir)
	var werr error
	for i := 1; i < 1000 && werr == nil; i++ {
		werr = insert(i) // the WAL may still hold a few pages
	}
	if werr == nil {
		t.Fatal("writes kept succeeding on a full disk")
	}
	if code, f := cloudcart.ErrorCode(werr), sqlstore.FaultOf(werr); code != cloudcart.EUNAVAILABLE || f == nil || f.Cause != sqlstore.FaultDiskFull {
		t.Fatalf("disk full: %v (code %s, fault %v)", werr, code, f)
	}
	if msg := cloudcart.ErrorMessage(werr); !strings.Contains(msg, "storage is full") {
		t.Fatalf("message %q does not name the cause", msg)
	}
	if err := db.Writable(ctx); err == nil || !strings.Contains(err.Error(), sqlstore.FaultDiskFull) {
		t.Fatalf("Writable on a full disk: %v", err)
	}
	free()
	if err := db.Writable(ctx); err != nil {
		t.Fatalf("Writable after freeing space: %v", err)
	}
	if err := insert(5000); err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
}

// TestClassify: the driver errors that are storage faults, and some that
// are not.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err   error
		cause string
	}{
		{&pgconn.PgError{Code: "53100", Message: "could not extend file: No space left on device"}, sqlstore.FaultDiskFull},
		{&pgconn.PgError{Code: "25006", Message: "cannot execute INSERT in a read-only transaction"}, sqlstore.FaultReadOnly},
		{&pgconn.PgError{Code: "55P03"}, sqlstore.FaultBusy},
		{&pgconn.PgError{Code: "40001"}, sqlstore.FaultBusy},
		{&pgconn.PgError{Code: "57P03"}, sqlstore.FaultDown},
		{&pgconn.PgError{Code: "53300"}, sqlstore.FaultDown},
		{fmt.Errorf("commit: %w", &pgconn.PgError{Code: "53100"}), sqlstore.FaultDiskFull},
		{&pgconn.PgError{Code: "23505"}, ""}, // unique violation: the caller's
		{&pgconn.PgError{Code: "22P02"}, ""},
		{errors.New("boom"), ""},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			got := sqlstore.Classify(tc.err)
			f := sqlstore.FaultOf(got)
			if tc.cause == "" {
				if f != nil || got != tc.err {
					t.Fatalf("classified as %v", got)
				}
				return
			}
			if f == nil || f.Cause != tc.cause || cloudcart.ErrorCode(got) != cloudcart.EUNAVAILABLE || !errors.Is(got, tc.err) {
				t.Fatalf("got %v, want cause %s", got, tc.cause)
			}
		})
	}
}
