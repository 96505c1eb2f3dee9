package sqlstore

import (
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Storage faults are failures of the database that are not the caller's
// fault and pass with time or an operator's action: a full disk, a
// read-only file system or database, a lock held too long, an I/O error,
// a database that is restarting. Classify turns them into EUNAVAILABLE
// domain errors (503 with Retry-After, a message naming the cause), so a
// client retries instead of reading "internal error".

// Fault causes, a closed set (they label metrics and appear in messages).
const (
	FaultDiskFull = "disk_full"
	FaultReadOnly = "read_only"
	FaultBusy     = "busy"
	FaultIO       = "io_error"
	FaultDown     = "database_unavailable"
)

// Fault is a classified storage fault.
type Fault struct {
	Cause string // one of the Fault* constants
	Err   error  // the driver's error
}

func (f *Fault) Error() string { return "storage fault " + f.Cause + ": " + f.Err.Error() }
func (f *Fault) Unwrap() error { return f.Err }

// RetryAfter is how long a client should wait: the time an operator or
// a lock needs, roughly.
func (f *Fault) RetryAfter() time.Duration {
	if f.Cause == FaultBusy {
		return time.Second
	}
	return 5 * time.Second
}

var faultMessages = map[string]string{
	FaultDiskFull: "storage is full (no space left on the database's disk)",
	FaultReadOnly: "storage is read-only (the database or its directory cannot be written)",
	FaultBusy:     "storage is busy (the database is locked by another writer)",
	FaultIO:       "storage failed with an I/O error",
	FaultDown:     "the database is not accepting connections",
}

// Classify returns err unchanged unless it is a storage fault, which it
// wraps in an EUNAVAILABLE *cloudcart.Error around a *Fault.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var f *Fault
	if errors.As(err, &f) {
		return err // classified already
	}
	cause := faultCause(err)
	if cause == "" {
		return err
	}
	return &cloudcart.Error{Code: cloudcart.EUNAVAILABLE,
		Message: faultMessages[cause] + "; retry later",
		Err:     &Fault{Cause: cause, Err: err}}
}

// FaultOf returns the storage fault in err's chain, or nil.
func FaultOf(err error) *Fault {
	var f *Fault
	if errors.As(err, &f) {
		return f
	}
	return nil
}

// SQLite result codes (https://sqlite.org/rescode.html); the extended
// codes carry the primary one in their low byte.
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
)

func faultCause(err error) string {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteFull:
			return FaultDiskFull
		case sqliteReadOnly, sqliteCantOpen:
			return FaultReadOnly
		case sqliteBusy, sqliteLocked:
			return FaultBusy
		case sqliteIOErr:
			// SQLITE_IOERR_WRITE and friends on a full disk report ENOSPC
			// in the message.
			if strings.Contains(strings.ToLower(se.Error()), "no space") {
				return FaultDiskFull
			}
			return FaultIO
		}
		return ""
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100": // disk_full
			return FaultDiskFull
		case pe.Code == "25006": // read_only_sql_transaction (a standby, or default_transaction_read_only)
			return FaultReadOnly
		case pe.Code == "55P03", pe.Code == "40001", pe.Code == "40P01": // lock_not_available, serialization_failure, deadlock_detected
			return FaultBusy
		case pe.Code == "58030": // io_error
			return FaultIO
		case strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "08"), // insufficient resources, connection exceptions
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin/crash shutdown, cannot_connect_now
			return FaultDown
		}
		return ""
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return FaultDown
	}
	return ""
}
