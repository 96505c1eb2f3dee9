package fleet

import (
	"cmp"
	"context"
	"flag"
	"net/http"
	"time"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/orders"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
)

// OrdersConfig configures the order service.
type OrdersConfig struct {
	Workers, QueueSize int
	// ProductsURL is the product service; in `cloudcart run` the
	// in-process one. Without one the service runs standalone (reference
	// 001): client prices, no stock.
	ProductsURL                             string
	UsersURL                                string // GET /users proxies here (reference 003); in run the in-process one
	PaymentLatency, PaymentJitter           time.Duration
	PaymentFailureRate                      float64
	ShipAfter, DeliverAfter, PendingTimeout time.Duration
	// DemoEndpoints opens POST /orders and POST /simulate to anonymous
	// callers (reference 001's demo). `cloudcart run` sets it: it binds
	// loopback. Never set it on a service other machines can reach.
	DemoEndpoints bool
}

// ordersFlags are the order service's flags.
func ordersFlags(fs *flag.FlagSet, c *Config) {
	o := &c.Orders
	fs.IntVar(&o.Workers, "orders.workers", orders.DefaultWorkers, "order processing workers (each waits for the product service, the payment and the commits; few cap the orders a second)")
	fs.IntVar(&o.QueueSize, "orders.queue-size", orders.DefaultQueueSize, "order work queue capacity; a full queue answers 503")
	fs.StringVar(&o.UsersURL, "orders.users-url", "", "user service URL: its JWK Set verifies callers' tokens, and GET /users on the order service proxies to it (reference 003) (default: the in-process one under run, http://localhost:<users.port> under serve)")
	fs.StringVar(&o.ProductsURL, "orders.products-url", "", "product service URL for inventory (in cloudcart run: the in-process one); none: client prices, no stock")
	fs.DurationVar(&o.PaymentLatency, "orders.payment-latency", 20*time.Millisecond, "simulated payment provider latency")
	fs.DurationVar(&o.PaymentJitter, "orders.payment-jitter", 30*time.Millisecond, "random extra payment latency, up to this much")
	fs.Float64Var(&o.PaymentFailureRate, "orders.payment-failure-rate", 0.005, "share of payments the simulated provider declines (0.5%: inside the orders SLO's 1% budget, so a healthy shop raises no burn alert)")
	fs.DurationVar(&o.ShipAfter, "orders.ship-after", 5*time.Second, "a confirmed order ships after this long")
	fs.DurationVar(&o.DeliverAfter, "orders.deliver-after", 10*time.Second, "a shipped order is delivered after this long")
	fs.DurationVar(&o.PendingTimeout, "orders.pending-timeout", 30*time.Second, "a pending order older than this was abandoned: fail it and release its stock")
	fs.BoolVar(&o.DemoEndpoints, "orders.demo-endpoints", c.AllInOne, "let anonymous callers use the order service's POST /orders and POST /simulate (reference 001's demo; on under run, which binds loopback; keep it off on a reachable address)")
	authFlags(fs, c)
	portFlag(fs, c, "users") // the user service's JWK Set, under serve
}

// buildOrders assembles the order service: telemetry, instrumented store,
// work queue and workers, HTTP server.
func buildOrders(ctx context.Context, env *Env, u *Unit) error {
	meter, tracer := u.Telemetry.Meter("cloudcart/orders"), u.Telemetry.Tracer("cloudcart/orders")
	m, err := orders.NewMetrics(meter)
	if err != nil {
		return err
	}
	dbm, err := sqlstore.NewMetrics(meter, sqlstore.MetricsOptions{Prefix: env.Service.Prefix, ConnectionErrors: true})
	if err != nil {
		return err
	}
	db, err := u.openDB(ctx, env, sqlstore.Options{Tracer: tracer, Metrics: dbm})
	if err != nil {
		return err
	}
	store, err := sqlstore.NewOrderStore(ctx, db)
	if err != nil {
		return err
	}
	if store.Events, _, err = startOutbox(ctx, env, u, db, cloudcart.EventOrderCreated, cloudcart.EventPaymentProcessed, cloudcart.EventOrderCompleted, cloudcart.EventOrderCancelled); err != nil {
		return err
	}
	c := env.Orders
	secret, err := env.serviceToken()
	if err != nil {
		return err
	}
	var inv orders.Inventory
	if url := cmp.Or(c.ProductsURL, env.BuiltURL("products")); url != "" {
		// The reservation API is for services only: every call carries the
		// service credential.
		client := &http.Client{Transport: &httpkit.Transport{Tracer: tracer, Propagator: u.Telemetry.Propagator,
			Base: &authn.ServiceTransport{Token: secret,
				Base: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}}}
		inv = orders.NewProductClient(url, client)
	}
	users := cmp.Or(c.UsersURL, env.BuiltURL("users"))
	auth, err := newAuthenticator(env, u, usersURL(env, users))
	if err != nil {
		return err
	}
	svc, err := orders.New(orders.Options{
		ServiceName: env.Service.ServiceName, Auth: auth, DemoEndpoints: c.DemoEndpoints,
		Store: store, Metrics: m, Meter: meter, Tracer: tracer, Logger: env.Log,
		Workers: c.Workers, QueueSize: c.QueueSize, Inventory: inv,
		Payments: orders.NewSimulatedPayments(c.PaymentLatency, c.PaymentJitter, c.PaymentFailureRate, uint64(time.Now().UnixNano())).
			WithChaos(env.platform.chaos.PaymentFailureRate),
		Users: orders.UsersProxy(users,
			&httpkit.Transport{Tracer: tracer, Propagator: u.Telemetry.Propagator}),
		ShipAfter: c.ShipAfter, DeliverAfter: c.DeliverAfter, PendingTimeout: c.PendingTimeout,
	})
	if err != nil {
		return err
	}
	u.Workers = append(u.Workers, svc.Run)
	return u.serve(env, svc.Handler(), httpkit.Check{Name: "database", Check: db.Writable})
}
