package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

// BenchmarkOutbox: the cost the outbox adds per event on SQLite
// (synchronous=FULL): writing it in a transaction of its own (a producer's
// transaction pays only the INSERT), and relaying committed rows to the
// embedded JetStream in batches (publish, ack, mark sent).
func BenchmarkOutbox(b *testing.B) {
	ctx := context.Background()
	b.Run("commit", func(b *testing.B) {
		db := mustEventsDB(b, "sqlite")
		b.ReportAllocs()
		for b.Loop() {
			e, _ := cloudcart.NewEvent(cloudcart.EventOrderCreated, "bench", cloudcart.OrderCreatedData{OrderID: "ord_1"}, time.Now())
			if err := db.Tx(ctx, func(c sqlstore.Conn) error { return sqlstore.AddEvent(ctx, c, e) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("relay", func(b *testing.B) {
		db := sqlstoretest.MustOpen(b, "sqlite", sqlstore.Options{})
		if err := sqlstore.MigrateEvents(ctx, db); err != nil {
			b.Fatal(err)
		}
		srv, err := bus.StartServer(bus.ServerOptions{StoreDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		c, err := bus.Connect(bus.ConnectOptions{Server: srv, Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		pub, err := bus.NewPublisher(c, bus.PublisherOptions{Meter: noop.NewMeterProvider().Meter(""), Prefix: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		r, err := sqlstore.NewRelay(db, sqlstore.RelayOptions{Source: "bench", Publisher: pub})
		if err != nil {
			b.Fatal(err)
		}
		const batch = 100
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			err := db.Tx(ctx, func(c sqlstore.Conn) error {
				for range batch {
					e, _ := cloudcart.NewEvent(cloudcart.EventOrderCreated, "bench", cloudcart.OrderCreatedData{OrderID: "ord_1"}, time.Now())
					if err := sqlstore.AddEvent(ctx, c, e); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if n, err := r.Flush(ctx); err != nil || n != batch {
				b.Fatalf("flush: %d, %v", n, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
	})
}
