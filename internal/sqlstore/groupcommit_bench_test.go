package sqlstore_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// BenchmarkParallelTx: 16 goroutines (8 per core on two cores) each
// commit small write transactions (two inserts, as an order and its
// outbox event) as fast as they can. On SQLite with synchronous=FULL,
// "group-commit" batches whatever queued during the previous commit;
// "one-by-one" (GroupCommit.MaxBatch 1) gives each transaction its own
// BEGIN IMMEDIATE and fsync, as before group commit. PostgreSQL runs when
// CLOUDCART_TEST_POSTGRES_DSN is set. Reports transactions per second
// and the mean batch size (db_commit_batch_size's sum over its count).
func BenchmarkParallelTx(b *testing.B) {
	cases := []struct {
		name, backend string
		maxBatch      int
	}{
		{"sqlite/group-commit", "sqlite", 0},
		{"sqlite/one-by-one", "sqlite", 1},
	}
	for _, backend := range sqlstoretest.Backends(b) {
		if backend == "postgres" {
			cases = append(cases, struct {
				name, backend string
				maxBatch      int
			}{"postgres", "postgres", 0})
		}
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			tel := telemetrytest.MustNew(b)
			m := sqlstoretest.MustMetrics(b, tel.Meter("test"), sqlstore.MetricsOptions{Prefix: "test"})
			db := mustItemsDB(b, tc.backend, sqlstore.Options{Metrics: m, GroupCommit: sqlstore.GroupCommit{MaxBatch: tc.maxBatch}})
			count0, sum0, _ := batchHistogram(b, tel.Registry)
			var next atomic.Int64
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := next.Add(1)
					err := db.Tx(ctx, func(c sqlstore.Conn) error {
						if err := insertItem(ctx, c, id); err != nil {
							return err
						}
						return insertItem(ctx, c, -id)
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
			if count, sum, _ := batchHistogram(b, tel.Registry); count > count0 {
				b.ReportMetric((sum-sum0)/float64(count-count0), "tx/commit")
			}
		})
	}
}
