package sqlstore

import "time"

// The migration lists, so tests can build a database as an older release
// left it and upgrade it.
var (
	OrderMigrations   = orderMigrations
	ProductMigrations = productMigrations
)

// QueuedTx is how many transactions wait for the group-commit writer.
func QueuedTx(d *DB) int {
	if d.writer == nil {
		return 0
	}
	return d.writer.queued()
}

// WithWriterClock makes o's group-commit writer read the time from now,
// which must be safe for concurrent use.
func WithWriterClock(o *GroupCommit, now func() time.Time) { o.now = now }
