package fleet

import (
	"context"
	"errors"
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
func buildChaos(ctx context.Context, env *Env) (u *Unit, err error) {
	u = &Unit{Service: env.Service, log: env.Log}
	defer func() {
		if err != nil {
			err = errors.Join(err, u.close())
		}
	}()
	if err := newTelemetry(ctx, env, u); err != nil {
		return u, err
	}
	meter, tracer := u.Telemetry.Meter("cloudcart/chaos"), u.Telemetry.Tracer("cloudcart/chaos")
	db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: env.PostgresDSN, Path: env.SQLitePath(env.Service), Tracer: tracer})
	if err != nil {
		return u, err
	}
	u.Closers = append(u.Closers, db.Close)
	store, err := sqlstore.NewChaosStore(ctx, db)
	if err != nil {
		return u, err
	}
	tokenFile := filepath.Join(env.DataDir, "chaos.token")
	token, created, err := chaos.LoadToken(env.Chaos.Token, tokenFile)
	if err != nil {
		return u, err
	}
	if created {
		env.Log.Warn("chaos admin token generated; it is shown only this once (also in the file)", "token", token, "file", tokenFile)
	}
	outbox, pub, err := startOutbox(ctx, env, u, db, "chaos", cloudcart.EventChaosInjected)
	if err != nil {
		return u, err
	}
	m, err := chaos.NewMetrics(meter)
	if err != nil {
		return u, err
	}
	svc, err := chaos.New(ctx, chaos.Options{
		Store: store, Publisher: env.platform.conn, Token: token, Targets: chaosTargets(),
		Source: env.Service.ServiceName, Metrics: m, Meter: meter, PublishStats: pub.Stats,
		Committed: outbox.Notify, Logger: env.Log,
	})
	if err != nil {
		return u, err
	}
	mw, err := httpkit.NewMiddleware(meter, tracer, u.Telemetry.Propagator,
		httpkit.ServiceMetricNames("chaos", "chaos.request.duration"))
	if err != nil {
		return u, err
	}
	u.Workers = append(u.Workers, svc.Run)
	u.Server = &httpkit.Server{
		Addr:    env.Addr(env.Service),
		Handler: mw.Wrap(svc.Handler()), // no chaos middleware: see withChaos
		Metrics: u.Telemetry.MetricsHandler(),
		Logger:  env.Log,
		Checks:  []httpkit.Check{{Name: "database", Check: db.Ping}, {Name: "bus", Check: busCheck(env)}},
	}
	return u, nil
}
