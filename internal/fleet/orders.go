package fleet

import (
	"cmp"
	"context"
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

// buildOrders assembles the order service: telemetry, instrumented store,
// work queue and workers, HTTP server.
func buildOrders(ctx context.Context, env *Env, u *Unit) error {
	meter, tracer := u.Telemetry.Meter("cloudcart/orders"), u.Telemetry.Tracer("cloudcart/orders")
	m, err := orders.NewMetrics(meter)
	if err != nil {
		return err
	}
	db, err := u.openDB(ctx, env, sqlstore.Options{
		Tracer:           tracer,
		QueryDuration:    m.DBQueryDuration,
		ConnectionErrors: m.DBConnectionErrors,
	})
	if err != nil {
		return err
	}
	store, err := sqlstore.NewOrderStore(ctx, db)
	if err != nil {
		return err
	}
	if store.Events, _, err = startOutbox(ctx, env, u, db, "order", cloudcart.EventOrderCreated, cloudcart.EventPaymentProcessed, cloudcart.EventOrderCompleted, cloudcart.EventOrderCancelled); err != nil {
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
		Auth: auth, DemoEndpoints: c.DemoEndpoints,
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
	return u.serve(env, httpkit.ServiceMetricNames("order", "order.http.request.duration"), svc.Handler(), true, httpkit.Check{Name: "database", Check: db.Writable})
}
