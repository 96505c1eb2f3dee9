package fleet

import (
	"context"
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

// chaosTargets are the services chaos can target: every service of the
// plan but the chaos service itself.
func chaosTargets() []string {
	var out []string
	for _, p := range Planned {
		if p.Name != cloudcart.ChaosServiceTarget && p.Name != "prometheus" {
			out = append(out, p.Name)
		}
	}
	return out
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
		env.Log.Warn("chaos admin token generated; it is shown only this once (also in the file)", "token", token, "file", tokenFile)
	}
	outbox, pub, err := startOutbox(ctx, env, u, db, "chaos", cloudcart.EventChaosInjected)
	if err != nil {
		return err
	}
	m, err := chaos.NewMetrics(meter)
	if err != nil {
		return err
	}
	svc, err := chaos.New(ctx, chaos.Options{
		Store: store, Publisher: env.platform.conn, Token: token, Targets: chaosTargets(),
		Source: env.Service.ServiceName, Metrics: m, Meter: meter, PublishStats: pub.Stats,
		Committed: outbox.Notify, Logger: env.Log,
	})
	if err != nil {
		return err
	}
	u.Workers = append(u.Workers, svc.Run)
	return u.serve(env, httpkit.ServiceMetricNames("chaos", "chaos.request.duration"), svc.Handler(), false, httpkit.Check{Name: "database", Check: db.Writable}, httpkit.Check{Name: "bus", Check: busCheck(env)})
}
