package bus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

func mustEmbedded(b *testing.B) *bus.Conn {
	b.Helper()
	srv, err := bus.StartServer(bus.ServerOptions{StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	c, err := bus.Connect(bus.ConnectOptions{Server: srv, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if err := c.Ready(context.Background()); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkPublish: one event published to the embedded JetStream (file
// store, in-process connection) and acknowledged, as the outbox relay does.
func BenchmarkPublish(b *testing.B) {
	c := mustEmbedded(b)
	pub, err := bus.NewPublisher(c, bus.PublisherOptions{Meter: noop.NewMeterProvider().Meter(""), Prefix: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e, _ := cloudcart.NewEvent(cloudcart.EventOrderCreated, "bench", cloudcart.OrderCreatedData{OrderID: "ord_1", Total: 1250, Items: 2}, time.Now())
		if err := pub.Publish(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishConsume: events published and handled by a durable
// consumer (ack per message), per event.
func BenchmarkPublishConsume(b *testing.B) {
	c := mustEmbedded(b)
	pub, err := bus.NewPublisher(c, bus.PublisherOptions{Meter: noop.NewMeterProvider().Meter(""), Prefix: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	cons, err := bus.NewConsumer(c, bus.ConsumerOptions{Name: "bench", Types: []cloudcart.EventType{cloudcart.EventOrderCreated},
		Handle: func(context.Context, *bus.Delivery) error { handled.Add(1); return nil }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = cons.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	n := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		e, _ := cloudcart.NewEvent(cloudcart.EventOrderCreated, "bench", cloudcart.OrderCreatedData{OrderID: "ord_1"}, time.Now())
		if err := pub.Publish(context.Background(), e); err != nil {
			b.Fatal(err)
		}
		n++
	}
	for handled.Load() < n {
		time.Sleep(time.Millisecond)
	}
}
