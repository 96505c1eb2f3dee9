package fleet

import (
	"context"
	"flag"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/products"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
)

// ProductsConfig configures the product service.
type ProductsConfig struct {
	SeedSize int // products generated into an empty catalog
}

// productsFlags are the product service's flags.
func productsFlags(fs *flag.FlagSet, c *Config) {
	fs.IntVar(&c.Products.SeedSize, "products.seed-size", 300, "products generated into an empty catalog")
}

// buildProducts assembles the product service.
func buildProducts(ctx context.Context, env *Env, u *Unit) error {
	meter, tracer := u.Telemetry.Meter("cloudcart/products"), u.Telemetry.Tracer("cloudcart/products")
	m, err := products.NewMetrics(meter)
	if err != nil {
		return err
	}
	dbm, err := sqlstore.NewMetrics(meter, sqlstore.MetricsOptions{Prefix: env.Service.Prefix})
	if err != nil {
		return err
	}
	db, err := u.openDB(ctx, env, sqlstore.Options{Tracer: tracer, Metrics: dbm, MaxOpenConns: 8})
	if err != nil {
		return err
	}
	store, err := sqlstore.NewProductStore(ctx, db)
	if err != nil {
		return err
	}
	if store.Events, _, err = startOutbox(ctx, env, u, db, env.Service.Prefix, cloudcart.EventInventoryLowStock); err != nil {
		return err
	}
	svc, err := products.New(ctx, products.Options{
		Store: store, Metrics: m, Meter: meter, Tracer: tracer, Logger: env.Log,
		PoolSize: func() int { return db.Stats().OpenConnections },
		SeedSize: env.Products.SeedSize, Seed: 2026,
	})
	if err != nil {
		return err
	}
	u.Closers = append(u.Closers, svc.Close)
	return u.serve(env, svc.Handler(), httpkit.Check{Name: "database", Check: db.Writable})
}
