package fleet

import (
	"context"
	"flag"
	"path/filepath"

	"github.com/cloudcart/cloudcart/internal/chaos"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
)

// ChaosConfig configures the chaos service.
type ChaosConfig struct {
	// Token is the admin API's bearer token. Empty: the one stored in
	// <data-dir>/chaos.token, generated (mode 0600) and logged once on
	// first start.
	Token string
}

// chaosFlags are the chaos service's flags.
func chaosFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Chaos.Token, "chaos.token", "", "bearer token of the chaos admin API (at least 16 characters; default: <data-dir>/chaos.token, generated and logged on first start)")
}

// buildChaos assembles the chaos service: telemetry, settings store with
// its outbox, admin token, HTTP server. Its settings reach the other
// services over the bus.
func buildChaos(ctx context.Context, env *Env, u *Unit) error {
	meter, tracer := u.Telemetry.Meter("cloudcart/chaos"), u.Telemetry.Tracer("cloudcart/chaos")
	db, err := u.openDB(ctx, env, sqlstore.Options{Tracer: tracer})
	if err != nil {
		return err
	}
	store, err := sqlstore.NewChaosStore(ctx, db)
	if err != nil {
		return err
	}
	tokenFile := filepath.Join(env.DataDir, "chaos.token")
	token, created, err := chaos.LoadToken(env.Chaos.Token, tokenFile)
	if err != nil {
		return err
	}
	if created {
		env.Log.WarnContext(ctx, "chaos admin token generated; it is shown only this once (also in the file)", "token", token, "file", tokenFile)
	}
	outbox, pub, err := startOutbox(ctx, env, u, db, cloudcart.EventChaosInjected)
	if err != nil {
		return err
	}
	m, err := chaos.NewMetrics(meter)
	if err != nil {
		return err
	}
	svc, err := chaos.New(ctx, chaos.Options{
		Store: store, Publisher: env.platform.conn, Token: token, Targets: env.table().ChaosTargets(),
		Source: env.Service.ServiceName, Metrics: m, Meter: meter, PublishStats: pub.Stats,
		Committed: outbox.Notify, Logger: env.Log,
	})
	if err != nil {
		return err
	}
	u.Workers = append(u.Workers, svc.Run)
	return u.serve(env, svc.Handler(), httpkit.Check{Name: "database", Check: db.Writable}, httpkit.Check{Name: "bus", Check: busCheck(env)})
}
