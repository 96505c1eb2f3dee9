package fleet

import (
	"context"
	"flag"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/products"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
)

// ProductsConfig configures the product service.
type ProductsConfig struct {
	SeedSize int // products generated into an empty catalog
	// UsersURL is the user service whose JWK Set verifies admin tokens; in
	// `cloudcart run` the in-process one, under serve http://localhost:<users.port>.
	UsersURL string
	// ReservationTTL is how long stock stays reserved for an order that is
	// not confirmed (products.DefaultReservationTTL if 0).
	ReservationTTL time.Duration
}

// productsFlags are the product service's flags.
func productsFlags(fs *flag.FlagSet, c *Config) {
	p := &c.Products
	fs.IntVar(&p.SeedSize, "products.seed-size", 300, "products generated into an empty catalog")
	fs.StringVar(&p.UsersURL, "products.users-url", "", "user service whose JWK Set verifies admin tokens (default: the in-process one under run, http://localhost:<users.port> under serve)")
	fs.DurationVar(&p.ReservationTTL, "products.reservation-ttl", products.DefaultReservationTTL, "stock reserved for an order that is not confirmed within this long is released by the product service")
	authFlags(fs, c)
	portFlag(fs, c, "users") // the user service's JWK Set, under serve
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
	if store.Events, _, err = startOutbox(ctx, env, u, db, cloudcart.EventInventoryLowStock); err != nil {
		return err
	}
	auth, err := newAuthenticator(env, u, usersURL(env, env.Products.UsersURL))
	if err != nil {
		return err
	}
	svc, err := products.New(ctx, products.Options{
		Auth: auth, ReservationTTL: env.Products.ReservationTTL,
		Store: store, Metrics: m, Meter: meter, Tracer: tracer, Logger: env.Log,
		PoolSize: func() int { return db.Stats().OpenConnections },
		SeedSize: env.Products.SeedSize, Seed: 2026,
	})
	if err != nil {
		return err
	}
	u.Closers = append(u.Closers, svc.Close)
	u.Workers = append(u.Workers, svc.Run) // releases expired reservations
	return u.serve(env, svc.Handler(), httpkit.Check{Name: "database", Check: db.Writable})
}
