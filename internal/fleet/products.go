package fleet

import (
	"context"
	"errors"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/products"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
)

// ProductsConfig configures the product service.
type ProductsConfig struct {
	SeedSize int // products generated into an empty catalog
}

// buildProducts assembles the product service.
func buildProducts(ctx context.Context, env *Env) (u *Unit, err error) {
	u = &Unit{Service: env.Service, log: env.Log}
	defer func() {
		if err != nil {
			err = errors.Join(err, u.close())
		}
	}()
	if err := newTelemetry(ctx, env, u); err != nil {
		return u, err
	}
	meter, tracer := u.Telemetry.Meter("cloudcart/products"), u.Telemetry.Tracer("cloudcart/products")
	m, err := products.NewMetrics(meter)
	if err != nil {
		return u, err
	}
	db, err := sqlstore.Open(ctx, sqlstore.Options{
		DSN: env.PostgresDSN, Path: env.SQLitePath(env.Service), Tracer: tracer,
		QueryDuration: m.DBQueryDuration, MaxOpenConns: 8,
	})
	if err != nil {
		return u, err
	}
	u.Closers = append(u.Closers, db.Close)
	store, err := sqlstore.NewProductStore(ctx, db)
	if err != nil {
		return u, err
	}
	if store.Events, _, err = startOutbox(ctx, env, u, db, "product", cloudcart.EventInventoryLowStock); err != nil {
		return u, err
	}
	svc, err := products.New(ctx, products.Options{
		Store: store, Metrics: m, Meter: meter, Tracer: tracer, Logger: env.Log,
		PoolSize: func() int { return db.Stats().OpenConnections },
		SeedSize: env.Products.SeedSize, Seed: 2026,
	})
	if err != nil {
		return u, err
	}
	u.Closers = append(u.Closers, svc.Close)
	mw, err := httpkit.NewMiddleware(meter, tracer, u.Telemetry.Propagator,
		httpkit.ServiceMetricNames("product", "product.request.duration"))
	if err != nil {
		return u, err
	}
	u.Server = &httpkit.Server{
		Addr:    env.Addr(env.Service),
		Handler: mw.Wrap(withChaos(env, u, svc.Handler())),
		Metrics: u.Telemetry.MetricsHandler(),
		Logger:  env.Log,
		Checks:  []httpkit.Check{{Name: "database", Check: db.Ping}},
	}
	return u, nil
}
