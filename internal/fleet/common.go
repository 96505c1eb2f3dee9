package fleet

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/chaos"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
)

// What every service gets besides its telemetry: a connection to the event
// bus, and the chaos middleware fed by it.

// BusConfig chooses the event bus.
type BusConfig struct {
	// URL of an external NATS (nats://host:4222). Empty: NATS is embedded
	// in the process, with its JetStream store under <data-dir>/nats.
	URL string
	// Listen, with the embedded server, also serves NATS clients on this
	// address (e.g. 127.0.0.1:4222), so other processes (`cloudcart serve
	// ... --nats.url`, the nats CLI) can use the same bus. Empty: only the
	// services of this process, connected in-process.
	Listen string
}

// busFlags are the flags of the bus every service is on.
func busFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Bus.URL, "nats.url", "", "external NATS JetStream URL (nats://host:4222); NATS is embedded, its store under <data-dir>/nats, when empty")
	fs.StringVar(&c.Bus.Listen, "nats.listen", "", "with the embedded NATS: also listen for NATS clients here (e.g. 127.0.0.1:4222), so other processes can share the bus")
}

// platform is one service's share of the fleet's infrastructure.
type platform struct {
	server   *bus.Server // the fleet's embedded server; nil with BusConfig.URL
	conn     *bus.Conn
	chaos    *chaos.Middleware
	watching bool
}

// startBus starts the embedded NATS server unless an external one is
// configured. The all-in-one process keeps its store in <data-dir>/nats;
// a single-service process in <data-dir>/nats/<name>, so several of them
// can share a data directory (they then have a bus each: connect them with
// --nats.url to share one).
func startBus(cfg Config, names []string) (*bus.Server, error) {
	if cfg.Bus.URL != "" {
		return nil, nil
	}
	dir := filepath.Join(cfg.DataDir, "nats")
	if !cfg.AllInOne && len(names) == 1 {
		dir = filepath.Join(dir, names[0])
		if cfg.Bus.Listen == "" {
			cfg.Logger.Warn("embedded NATS without a listener: events and chaos settings stay inside this process; set --nats.url (or --nats.listen here) to connect services", "store", dir)
		}
	}
	srv, err := bus.StartServer(bus.ServerOptions{StoreDir: dir, Listen: cfg.Bus.Listen, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	if url := srv.ClientURL(); url != "" {
		cfg.Logger.Info("embedded NATS listening", "url", url)
	}
	return srv, nil
}

// connectPlatform connects the service to the bus and creates its chaos
// middleware. newTelemetry calls it, so every service has both.
func connectPlatform(env *Env, u *Unit) error {
	p := env.platform
	if p == nil {
		return fmt.Errorf("%s: built outside fleet.New", env.Service.Name)
	}
	conn, err := bus.Connect(bus.ConnectOptions{URL: env.Bus.URL, Server: p.server, Name: env.Service.ServiceName, Logger: env.Log})
	if err != nil {
		return err
	}
	p.conn = conn
	u.Closers = append(u.Closers, conn.Close)
	p.chaos, err = chaos.NewMiddleware(chaos.MiddlewareOptions{
		Target: env.Service.Name, Meter: u.Telemetry.Meter("cloudcart/chaos"), Logger: env.Log,
		// An outage fault takes the service's HTTP server off the network.
		// The settings arrive once the unit runs, after build has given it
		// its server.
		Outage: func(down bool) {
			if u.Server != nil {
				u.Server.SetOutage(down)
			}
		},
	})
	return err
}

// withChaos wraps a service's routes in its chaos middleware, which applies
// the faults chaos-service configured for this service, pushed over the
// bus as they change. Unit.serve applies it to every service's routes,
// inside the HTTP metrics middleware, except the chaos service's own: it
// never injects faults into the API that switches them off.
func withChaos(env *Env, u *Unit, next http.Handler) http.Handler {
	p := env.platform
	if !p.watching {
		p.watching = true
		u.Workers = append(u.Workers, func(ctx context.Context) error {
			return p.conn.WatchChaosSettings(ctx, p.chaos.Apply)
		})
	}
	return p.chaos.Wrap(next)
}

// startOutbox sets up a producing service's transactional outbox on db: the
// tables, a publisher with the service's <prefix>_events_published_total
// and <prefix>_event_publish_duration_seconds (series of types start at 0),
// and the relay as a worker. Write events with the returned Outbox inside
// the store's transactions.
func startOutbox(ctx context.Context, env *Env, u *Unit, db *sqlstore.DB, types ...cloudcart.EventType) (*sqlstore.Outbox, *bus.Publisher, error) {
	if err := sqlstore.MigrateEvents(ctx, db); err != nil {
		return nil, nil, err
	}
	pub, err := bus.NewPublisher(env.platform.conn, bus.PublisherOptions{
		Meter: u.Telemetry.Meter("cloudcart/bus"), Prefix: env.Service.Prefix, Types: types,
		Tracer: u.Telemetry.Tracer("cloudcart/bus"), Propagator: u.Telemetry.Propagator,
	})
	if err != nil {
		return nil, nil, err
	}
	relay, err := sqlstore.NewRelay(db, sqlstore.RelayOptions{Source: env.Service.ServiceName, Publisher: pub, Logger: env.Log})
	if err != nil {
		return nil, nil, err
	}
	u.Workers = append(u.Workers, relay.Run)
	return sqlstore.NewOutbox(env.Service.ServiceName, relay), pub, nil
}

// busCheck is the readiness check of a service that needs the bus.
func busCheck(env *Env) func(context.Context) error { return env.platform.conn.Ping }
