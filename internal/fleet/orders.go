package fleet

import (
	"context"
	"errors"

	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/orders"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
)

// buildOrders assembles the order service: telemetry, instrumented store,
// work queue and workers, HTTP server.
func buildOrders(ctx context.Context, env *Env) (u *Unit, err error) {
	u = &Unit{Service: env.Service, log: env.Log}
	defer func() {
		if err != nil {
			err = errors.Join(err, u.close())
		}
	}()
	if err := newTelemetry(ctx, env, u); err != nil {
		return u, err
	}
	meter, tracer := u.Telemetry.Meter("cloudcart/orders"), u.Telemetry.Tracer("cloudcart/orders")
	m, err := orders.NewMetrics(meter)
	if err != nil {
		return u, err
	}
	db, err := sqlstore.Open(ctx, sqlstore.Options{
		DSN:              env.PostgresDSN,
		Path:             env.SQLitePath(env.Service),
		Tracer:           tracer,
		QueryDuration:    m.DBQueryDuration,
		ConnectionErrors: m.DBConnectionErrors,
	})
	if err != nil {
		return u, err
	}
	u.Closers = append(u.Closers, db.Close)
	store, err := sqlstore.NewOrderStore(ctx, db)
	if err != nil {
		return u, err
	}
	svc, err := orders.New(orders.Options{
		Store: store, Metrics: m, Meter: meter, Tracer: tracer, Logger: env.Log,
		Workers: env.OrderWorkers, QueueSize: env.OrderQueueSize,
	})
	if err != nil {
		return u, err
	}
	mw, err := httpkit.NewMiddleware(meter, tracer, u.Telemetry.Propagator,
		httpkit.ServiceMetricNames("order", "order.http.request.duration"))
	if err != nil {
		return u, err
	}
	u.Workers = append(u.Workers, svc.Run)
	u.Server = &httpkit.Server{
		Addr:    env.Addr(env.Service),
		Handler: mw.Wrap(svc.Handler()),
		Metrics: u.Telemetry.MetricsHandler(),
		Logger:  env.Log,
		Checks:  []httpkit.Check{{Name: "database", Check: db.Ping}},
	}
	return u, nil
}
