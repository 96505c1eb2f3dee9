// Package fleet assembles CloudCart's services. The all-in-one process
// (`cloudcart run`) and the single-service process (`cloudcart serve NAME`)
// both build their services here, with the same code, so what a user runs
// on a laptop is what a container runs.
package fleet

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/logstore"
	"github.com/cloudcart/cloudcart/internal/services"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/tracestore"
)

// Service is one deployable service: its row of the service table
// (internal/services) and its wiring here.
type Service struct {
	services.Service
	// build assembles the service into u, which arrives with its
	// telemetry; whatever it registers in u.Closers is released if it
	// fails.
	build func(ctx context.Context, env *Env, u *Unit) error
	// flags registers the service's own flags on fs, writing into c (see
	// RegisterFlags); each service's are in its file.
	flags func(fs *flag.FlagSet, c *Config)
}

// wiring is each service's build and flags, by serve name. A row of
// services.All without wiring here stops the program at start (Services
// below), so no test and no command runs until it is wired.
var wiring = map[string]Service{
	"users":      {build: buildUsers, flags: usersFlags},
	"products":   {build: buildProducts, flags: productsFlags},
	"orders":     {build: buildOrders, flags: ordersFlags},
	"chaos":      {build: buildChaos, flags: chaosFlags},
	"notifier":   {build: buildNotifier, flags: notifierFlags},
	"gateway":    {build: buildGateway, flags: gatewayFlags},
	"aggregator": {build: buildAggregator, flags: aggregatorFlags},
}

// Wire pairs every row of the service table t with its wiring, in t's
// order. It fails on a row that has none.
func Wire(t services.Table) ([]Service, error) {
	out := make([]Service, 0, len(t))
	for _, d := range t {
		w, ok := wiring[d.Name]
		if !ok {
			return nil, fmt.Errorf("service %q has no wiring in internal/fleet", d.Name)
		}
		w.Service = d
		out = append(out, w)
	}
	return out, nil
}

// Services lists every service of services.All in start order.
var Services = must(Wire(services.All))

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Planned is every port of the fleet's plan: the services and the embedded
// engine.
var Planned = services.All.Planned()

// Lookup finds a service by its serve name.
func Lookup(name string) (Service, bool) {
	for _, s := range Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Config is what every service needs from the command line.
type Config struct {
	DataDir string
	Bind    string // listen host; "" means all interfaces
	// MaxConns bounds each HTTP server's open connections
	// (httpkit.Server.MaxConns: 0 the default, negative no bound).
	MaxConns int
	// CommitWait is how long a busy SQLite database's writer lingers for
	// more transactions to commit with (sqlstore.GroupCommit.Wait):
	// DefaultCommitWait if 0, none if negative.
	CommitWait time.Duration
	Ports      map[string]int // by serve name; missing means the default, 0 means any free port
	// Services is the service table the fleet is built from;
	// services.All when nil.
	Services    services.Table
	PostgresDSN string // PostgreSQL instead of SQLite when set
	Version     string
	Logger      *slog.Logger
	AllInOne    bool // OTEL_SERVICE_NAME is ignored in the all-in-one process
	// ServiceToken is the service credential (package authn) that opens
	// service-only endpoints. Empty: the one in ServiceTokenFile, generated
	// (mode 0600) on first start if the file does not exist. Processes of
	// one fleet must share it. Only the services that send or check it
	// (products, orders) read it.
	ServiceToken     string
	ServiceTokenFile string // <data-dir>/service.token if empty

	Orders   OrdersConfig
	Products ProductsConfig

	Users   UsersConfig
	Gateway GatewayConfig

	Bus        BusConfig
	Chaos      ChaosConfig
	Notifier   NotifierConfig
	Aggregator AggregatorConfig

	// Prometheus, when set, adds the embedded engine scraping the fleet.
	Prometheus *PrometheusConfig
	// Traces, with Prometheus, adds the trace store every service exports
	// to and the OTLP receiver (traces.go).
	Traces *TracesConfig

	// Histograms: classic, native or both (empty) on every service's
	// /metrics (--telemetry.histograms, docs/histograms.md).
	Histograms telemetry.Histograms

	// Telemetry hooks for tests, e.g. an in-memory span recorder.
	TelemetryOptions func(*telemetry.Options)

	engine *engineFlags // the engine's flags, when registered (engineflags.go)
}

// Env is what a service's build function gets.
type Env struct {
	Config
	Service Service
	Log     *slog.Logger
	// Built are the services built before this one, already listening:
	// the gateway proxies to them.
	Built []*Unit

	platform *platform         // the bus connection and chaos middleware (common.go)
	traces   *tracestore.Store // where spans go in-process (traces.go); nil: nowhere
	logs     *logstore.Store   // the log lines written inside spans (traces.go); nil: not kept
	secret   *lazySecret       // the service credential, read once when a service needs it (auth.go)
}

// BuiltURL is the base URL of an already built service of this process,
// "" when the process does not run it.
func (e *Env) BuiltURL(name string) string {
	for _, b := range e.Built {
		if b.Service.Name == name {
			return b.Server.URL()
		}
	}
	return ""
}

// peerURL is where this process reaches the service name: the service
// itself when this process built it, else (under serve, each service a
// process of its own) localhost on the service's configured port, or on
// its default port when it listens on any free port (0), the best guess.
func (e *Env) peerURL(name string) string {
	if v := e.BuiltURL(name); v != "" {
		return v
	}
	port := e.Port(name)
	if port == 0 {
		s, _ := e.table().Lookup(name)
		port = s.Port
	}
	return fmt.Sprintf("http://localhost:%d", port)
}

// table is the service table of the fleet.
func (c *Config) table() services.Table {
	if c.Services == nil {
		return services.All
	}
	return c.Services
}

// Port is the configured port of a service of the plan by serve name: its
// flag's value, else the table's default.
func (c *Config) Port(name string) int {
	if port, ok := c.Ports[name]; ok {
		return port
	}
	s, _ := c.table().Planned().Lookup(name)
	return s.Port
}

// Addr returns the listen address of a service.
func (c *Config) Addr(s services.Service) string {
	port, ok := c.Ports[s.Name]
	if !ok {
		port = s.Port
	}
	return net.JoinHostPort(c.Bind, strconv.Itoa(port))
}

// SQLitePath is where a service keeps its SQLite database.
func (c *Config) SQLitePath(s services.Service) string {
	return filepath.Join(c.DataDir, s.Name+".db")
}

// Fleet is a set of built, listening services.
type Fleet struct {
	units  []*Unit
	log    *slog.Logger
	bus    *bus.Server       // embedded NATS, stopped after every service
	traces *tracestore.Store // nil without Config.Traces
}

// New builds the named services (all when names is empty) and binds their
// listeners, so a port clash fails here, before anything runs.
func New(ctx context.Context, cfg Config, names ...string) (*Fleet, error) {
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	// Under run, the lines written inside a span are also kept by trace id.
	logs := newLogStore(cfg, names)
	if logs != nil {
		cfg.Logger = slog.New(logs.Handler(cfg.Logger.Handler()))
	}
	// Log lines written inside a span carry its ids; warnings and errors
	// also become events of the span.
	cfg.Logger = slog.New(telemetry.NewLogHandler(cfg.Logger.Handler()))
	if len(names) == 1 && names[0] == EngineRole {
		return newEngineAlone(cfg) // traces.go
	}
	table, err := Wire(cfg.table())
	if err != nil {
		return nil, err
	}
	var chosen []Service
	if len(names) == 0 {
		chosen = table
	}
	for _, n := range names {
		i := slices.IndexFunc(table, func(s Service) bool { return s.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("unknown service %q", n)
		}
		chosen = append(chosen, table[i])
	}
	f := &Fleet{log: cfg.Logger, traces: newTraceStore(cfg)}
	if err := prepareDataDir(cfg.DataDir, cfg.Logger); err != nil {
		return nil, err
	}
	secret := &lazySecret{}
	if f.bus, err = startBus(cfg, names); err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	for _, s := range chosen {
		env := &Env{Config: cfg, Service: s, Log: cfg.Logger.With("component", s.ServiceName), Built: f.units,
			platform: &platform{server: f.bus}, traces: f.traces, secret: secret}
		u := &Unit{Service: s, log: env.Log}
		err := newTelemetry(ctx, env, u)
		if err == nil {
			err = s.build(ctx, env, u)
		}
		if err == nil {
			err = u.Server.Listen()
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", s.Name, err), u.close(), f.close())
		}
		f.units = append(f.units, u)
	}
	cfg.Prometheus = alertWebhook(cfg.Prometheus, f.units)
	if cfg.Prometheus != nil {
		s := Service{Service: services.Prometheus}
		u, err := buildPrometheus(&Env{Config: cfg, Service: s, Log: cfg.Logger.With("component", PrometheusJob), traces: f.traces, logs: logs, secret: secret}, f.units)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prometheus: %w", err), f.close())
		}
		f.units = append(f.units, u)
	}
	return f, nil
}

// URL returns the base URL of a running service by serve name.
func (f *Fleet) URL(name string) string {
	for _, u := range f.units {
		if u.Service.Name == name {
			return u.Server.URL()
		}
	}
	return ""
}

// Traces returns the trace store, nil when the fleet has none.
func (f *Fleet) Traces() *tracestore.Store { return f.traces }

// Units returns the services in start order.
func (f *Fleet) Units() []*Unit { return f.units }

// BusURL is where other processes reach the embedded NATS server, "" when
// it does not listen (see BusConfig.Listen) or the bus is external.
func (f *Fleet) BusURL() string {
	if f.bus == nil {
		return ""
	}
	return f.bus.ClientURL()
}

// Run runs every service until ctx is done or one of them fails, then
// shuts all of them down and returns the joined errors.
func (f *Fleet) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, u := range f.units {
		wg.Go(func() {
			if err := u.Run(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", u.Service.Name, err))
				mu.Unlock()
				cancel() // one service failing stops the fleet
			}
		})
	}
	wg.Wait()
	return errors.Join(append(errs, f.closeBus())...)
}

// closeBus stops the embedded NATS server, once every service is closed.
func (f *Fleet) closeBus() error {
	if f.bus == nil {
		return nil
	}
	b := f.bus
	f.bus = nil
	return b.Close()
}

func (f *Fleet) close() error {
	var errs []error
	for _, u := range f.units {
		errs = append(errs, u.close())
	}
	return errors.Join(append(errs, f.closeBus())...)
}

// Unit is one built service: its telemetry, server, background workers and
// resources to release.
type Unit struct {
	Service   Service
	Telemetry *telemetry.Telemetry
	Server    *httpkit.Server
	// Workers run beside the server and are stopped only after the server
	// has drained, because handlers in flight may wait on them.
	Workers []func(context.Context) error
	Closers []func() error
	log     *slog.Logger
	otlpURL string // the engine's OTLP receiver (traces.go)
}

// Run serves until ctx is done: readiness goes false, the server drains,
// then workers stop, then resources close.
func (u *Unit) Run(ctx context.Context) error {
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, w := range u.Workers {
		wg.Go(func() {
			if err := w(wctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	errs = append(errs, u.Server.Serve(ctx))
	stopWorkers()
	wg.Wait()
	errs = append(errs, u.close())
	if u.log != nil {
		u.log.InfoContext(ctx, "stopped")
	}
	return errors.Join(errs...)
}

func (u *Unit) close() error {
	var errs []error
	for i := len(u.Closers) - 1; i >= 0; i-- {
		errs = append(errs, u.Closers[i]())
	}
	u.Closers = nil
	return errors.Join(errs...)
}

// newTelemetry builds a service's telemetry and registers its shutdown,
// then connects the service to the bus and creates its chaos middleware
// (common.go): every build function calls it first.
func newTelemetry(ctx context.Context, env *Env, u *Unit) error {
	o := telemetry.Options{
		ServiceName:         env.Service.ServiceName,
		ServiceVersion:      env.Version,
		HonorEnvServiceName: !env.AllInOne,
		Histograms:          env.Histograms,
	}
	if env.traces != nil {
		o.SpanExporters = append(o.SpanExporters, env.traces.Exporter())
	}
	if env.TelemetryOptions != nil {
		env.TelemetryOptions(&o)
	}
	tel, err := telemetry.New(ctx, o)
	if err != nil {
		return err
	}
	u.Telemetry = tel
	u.Closers = append(u.Closers, func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpkit.DefaultShutdownTimeout)
		defer cancel()
		return tel.Shutdown(sctx)
	})
	return connectPlatform(env, u) // every service is on the bus and runs the chaos middleware
}

// DefaultCommitWait is Config.CommitWait's default. Measured side by side
// (docs/benchmarks.md, "Fourth round"), half a millisecond cut the order
// database's commits to a third and raised orders/s by 10–45%.
const DefaultCommitWait = 500 * time.Microsecond

// openDB opens the service's database (PostgreSQL when configured, else its
// own SQLite file under the data dir), instrumented as o says, and closes it
// with the unit.
func (u *Unit) openDB(ctx context.Context, env *Env, o sqlstore.Options) (*sqlstore.DB, error) {
	o.DSN, o.Path = env.PostgresDSN, env.SQLitePath(env.Service.Service)
	if o.GroupCommit.Wait == 0 {
		o.GroupCommit.Wait = max(cmp.Or(env.CommitWait, DefaultCommitWait), 0)
	}
	db, err := sqlstore.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	u.Closers = append(u.Closers, db.Close)
	return db, nil
}

// serve gives the unit its HTTP server: routes wrapped in the chaos
// middleware (unless the service table says the service takes no faults:
// the chaos service must never fault the API that switches faults off)
// and, outside it, the HTTP metrics and span middleware named by the
// table, so injected errors and delays are measured like real ones.
func (u *Unit) serve(env *Env, routes http.Handler, checks ...httpkit.Check) error {
	names := env.Service.HTTP
	mw, err := httpkit.NewMiddleware(u.Telemetry.Meter("cloudcart/http"), u.Telemetry.Tracer("cloudcart/http"),
		u.Telemetry.Propagator, names)
	if err != nil {
		return err
	}
	if env.Service.Chaos {
		routes = withChaos(env, u, routes)
	}
	u.Server = &httpkit.Server{
		Addr:     env.Addr(env.Service.Service),
		Handler:  mw.Wrap(routes),
		Metrics:  u.Telemetry.MetricsHandler(),
		Logger:   env.Log,
		Checks:   checks,
		MaxConns: env.MaxConns,
	}
	return nil
}
