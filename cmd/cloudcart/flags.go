package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/gateway"
	"github.com/cloudcart/cloudcart/internal/products"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/users"
)

// envName turns a flag name into its environment variable:
// "orders.port" → CLOUDCART_ORDERS_PORT.
func envName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "CLOUDCART_" + strings.ToUpper(r.Replace(flagName))
}

// commonFlags are the flags of both run and serve.
type commonFlags struct {
	fs          *flag.FlagSet
	dataDir     string
	bind        string
	postgresDSN string
	serviceTok  string
	serviceFile string
	logLevel    string
	logFormat   string
	ports       map[string]*int
	orders      fleet.OrdersConfig
	products    fleet.ProductsConfig
	users       fleet.UsersConfig
	gateway     fleet.GatewayConfig
	upstreams   map[string]*string
	trusted     string
	events      eventFlags
	histograms  telemetry.Histograms
	args        []string // positional arguments
}

func newCommonFlags(name, defaultBind string, stderr io.Writer) *commonFlags {
	c := &commonFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError), ports: map[string]*int{}}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.dataDir, "data-dir", "./data", "directory that holds all state (databases, TSDB, keys)")
	c.fs.StringVar(&c.bind, "bind", defaultBind, "interface to listen on (\"\" = all interfaces)")
	c.fs.StringVar(&c.postgresDSN, "postgres-dsn", "", "PostgreSQL URL (postgres://...); SQLite under --data-dir when empty")
	c.fs.StringVar(&c.serviceTok, "service-token", "", "the fleet's service credential (at least 32 characters), sent by services in X-CloudCart-Service-Token to service-only endpoints; default: read from --service-token-file. Prefer CLOUDCART_SERVICE_TOKEN: flags show in ps")
	c.fs.StringVar(&c.serviceFile, "service-token-file", "", "file holding the service credential, e.g. a mounted Docker or Kubernetes secret; generated (mode 0600) if it does not exist (default: <data-dir>/service.token)")
	c.fs.StringVar(&c.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	c.fs.StringVar(&c.logFormat, "log.format", "text", "log format: text or json")
	c.histograms = telemetry.HistogramsBoth
	c.fs.Var(&c.histograms, "telemetry.histograms", "histograms on /metrics: classic (_bucket series), native (exponential, <name>_native; needs a protobuf scrape) or both (docs/histograms.md)")
	o := &c.orders
	c.fs.IntVar(&o.Workers, "orders.workers", 4, "order processing workers")
	c.fs.IntVar(&o.QueueSize, "orders.queue-size", 256, "order work queue capacity; a full queue answers 503")
	c.fs.StringVar(&o.UsersURL, "orders.users-url", "", "user service URL: its JWK Set verifies callers' tokens, and GET /users on the order service proxies to it (reference 003) (default: the in-process one under run, http://localhost:<users.port> under serve)")
	c.fs.StringVar(&o.ProductsURL, "orders.products-url", "", "product service URL for inventory (in cloudcart run: the in-process one); none: client prices, no stock")
	c.fs.DurationVar(&o.PaymentLatency, "orders.payment-latency", 20*time.Millisecond, "simulated payment provider latency")
	c.fs.DurationVar(&o.PaymentJitter, "orders.payment-jitter", 30*time.Millisecond, "random extra payment latency, up to this much")
	c.fs.Float64Var(&o.PaymentFailureRate, "orders.payment-failure-rate", 0.005, "share of payments the simulated provider declines (0.5%: inside the orders SLO's 1% budget, so a healthy shop raises no burn alert)")
	c.fs.DurationVar(&o.ShipAfter, "orders.ship-after", 5*time.Second, "a confirmed order ships after this long")
	c.fs.DurationVar(&o.DeliverAfter, "orders.deliver-after", 10*time.Second, "a shipped order is delivered after this long")
	c.fs.DurationVar(&o.PendingTimeout, "orders.pending-timeout", 30*time.Second, "a pending order older than this was abandoned: fail it and release its stock")
	c.fs.BoolVar(&o.DemoEndpoints, "orders.demo-endpoints", name == "run", "let anonymous callers use the order service's POST /orders and POST /simulate (reference 001's demo; on under run, which binds loopback; keep it off on a reachable address)")
	c.fs.IntVar(&c.products.SeedSize, "products.seed-size", 300, "products generated into an empty catalog")
	c.fs.StringVar(&c.products.UsersURL, "products.users-url", "", "user service whose JWK Set verifies admin tokens (default: the in-process one under run, http://localhost:<users.port> under serve)")
	c.fs.DurationVar(&c.products.ReservationTTL, "products.reservation-ttl", products.DefaultReservationTTL, "stock reserved for an order that is not confirmed within this long is released by the product service")
	c.edgeFlags()
	c.events.register(c.fs)
	for _, p := range fleet.Planned {
		v := p.Port
		c.ports[p.Name] = &v
		c.fs.IntVar(&v, p.Name+".port", p.Port, fmt.Sprintf("port of the %s service", p.Name))
	}
	return c
}

// applyEnv sets every flag of fs that has a CLOUDCART_* environment
// variable to its value: the defaults that command-line flags override.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	return err
}

// parse applies CLOUDCART_* environment variables as defaults, then args.
func (c *commonFlags) parse(args []string) error {
	if err := applyEnv(c.fs); err != nil {
		return err
	}
	// Flags may come before and after positional arguments
	// (`serve orders --bind 127.0.0.1`).
	var positional []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return err
		}
		if c.fs.NArg() == 0 {
			break
		}
		positional = append(positional, c.fs.Arg(0))
		args = c.fs.Args()[1:]
	}
	c.args = positional
	return nil
}

func (c *commonFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log.format must be text or json, got %q", c.logFormat)
}

func (c *commonFlags) config(log *slog.Logger) fleet.Config {
	ports := map[string]int{}
	for k, v := range c.ports {
		ports[k] = *v
	}
	return fleet.Config{
		DataDir: c.dataDir, Bind: c.bind, Ports: ports, PostgresDSN: c.postgresDSN,
		ServiceToken: c.serviceTok, ServiceTokenFile: c.serviceFile,
		Version: version(), Logger: log, Orders: c.orders, Products: c.products,
		Users: c.users, Gateway: c.gatewayConfig(),
		Bus: c.events.bus, Chaos: c.events.chaos, Notifier: c.events.notifier, Aggregator: c.events.aggregatorConfig(),
		Histograms: c.histograms,
	}
}

// printPlan prints where everything listens.
func printPlan(w io.Writer, f *fleet.Fleet, started time.Time) {
	fmt.Fprintf(w, "CloudCart %s started in %s\n", version(), time.Since(started).Round(time.Millisecond))
	for _, u := range f.Units() {
		fmt.Fprintf(w, "  %-12s %-22s %s\n", u.Service.Name, u.Service.ServiceName, u.Server.URL())
	}
}

// edgeFlags are the flags of the user service and the API gateway.
func (c *commonFlags) edgeFlags() {
	fs, u, g := c.fs, &c.users, &c.gateway
	fs.StringVar(&u.KeyFile, "users.key-file", "", "Ed25519 token signing key, PKCS#8 PEM (default: <data-dir>/users-signing-key.pem, generated with mode 0600 on first start)")
	fs.DurationVar(&u.TokenTTL, "users.token-ttl", fleet.DefaultTokenTTL, "lifetime of access tokens")
	fs.StringVar(&u.TokenIssuer, "users.token-issuer", fleet.DefaultTokenIssuer, "iss of access tokens; the gateway accepts only this issuer")
	fs.StringVar(&u.TokenAudience, "users.token-audience", fleet.DefaultTokenAudience, "aud of access tokens; the gateway accepts only this audience")
	fs.IntVar(&u.BcryptCost, "users.bcrypt-cost", users.DefaultBcryptCost, fmt.Sprintf("bcrypt work factor of new password hashes (at least %d)", users.MinBcryptCost))
	fs.StringVar(&u.AdminEmail, "users.admin-email", "", "create this admin account at start unless the email is taken (needs --users.admin-password)")
	fs.StringVar(&u.AdminPassword, "users.admin-password", "", "password of --users.admin-email (prefer CLOUDCART_USERS_ADMIN_PASSWORD: flags show in ps)")
	c.upstreams = map[string]*string{}
	for _, name := range []string{gateway.Users, gateway.Orders, gateway.Products, gateway.Chaos} {
		c.upstreams[name] = new(string)
		fs.StringVar(c.upstreams[name], "gateway."+name+"-url", "",
			fmt.Sprintf("base URL of the %s service behind the gateway (default: the in-process service under run, http://localhost:<%s.port> under serve)", name, name))
	}
	fs.DurationVar(&g.UpstreamTimeout, "gateway.upstream-timeout", gateway.DefaultUpstreamTimeout, "longest wait for an upstream; then 504")
	fs.Float64Var(&g.RateLimit, "gateway.rate-limit", gateway.DefaultRate, "requests per second per client (user id, else client IP); 0 disables rate limiting")
	fs.IntVar(&g.RateBurst, "gateway.rate-burst", gateway.DefaultBurst, "requests a client may send at once above its rate")
	fs.Float64Var(&g.AuthRateLimit, "gateway.auth-rate-limit", gateway.DefaultAuthRate, "login and registration requests per second per client IP, a stricter limit than --gateway.rate-limit (each costs a bcrypt run); 0 disables it")
	fs.IntVar(&g.AuthRateBurst, "gateway.auth-rate-burst", gateway.DefaultAuthBurst, "login and registration requests a client IP may send at once above its auth rate")
	fs.IntVar(&g.RateLimitClients, "gateway.rate-limit-clients", gateway.DefaultMaxClients, "most clients tracked by the rate limiter (least recently seen dropped first)")
	fs.StringVar(&c.trusted, "gateway.trusted-proxies", "", "comma-separated addresses or CIDRs of proxies whose X-Forwarded-For names the client")
	fs.DurationVar(&g.CacheTTL, "gateway.cache-ttl", gateway.DefaultCacheTTL, "how long public product reads are cached; 0 disables the cache")
	fs.Int64Var(&g.CacheBytes, "gateway.cache-bytes", gateway.DefaultCacheBytes, "most bytes the response cache holds")
}

// gatewayConfig turns the gateway flags into the fleet's config, where 0
// means "default" and a negative value "off".
func (c *commonFlags) gatewayConfig() fleet.GatewayConfig {
	g := c.gateway
	g.Upstreams = map[string]string{}
	for name, v := range c.upstreams {
		if *v != "" {
			g.Upstreams[name] = *v
		}
	}
	if c.trusted != "" {
		g.TrustedProxies = strings.Split(c.trusted, ",")
	}
	if g.RateLimit <= 0 {
		g.RateLimit = -1
	}
	if g.AuthRateLimit <= 0 {
		g.AuthRateLimit = -1
	}
	if g.CacheTTL <= 0 {
		g.CacheTTL = -1
	}
	return g
}

// eventFlags are the flags of the event bus, the chaos service, the
// notification worker and the metrics aggregator.
type eventFlags struct {
	bus        fleet.BusConfig
	chaos      fleet.ChaosConfig
	notifier   fleet.NotifierConfig
	aggregator fleet.AggregatorConfig
	targets    string
}

func (e *eventFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.bus.URL, "nats.url", "", "external NATS JetStream URL (nats://host:4222); NATS is embedded, its store under <data-dir>/nats, when empty")
	fs.StringVar(&e.bus.Listen, "nats.listen", "", "with the embedded NATS: also listen for NATS clients here (e.g. 127.0.0.1:4222), so other processes can share the bus")
	fs.StringVar(&e.chaos.Token, "chaos.token", "", "bearer token of the chaos admin API (at least 16 characters; default: <data-dir>/chaos.token, generated and logged on first start)")
	fs.StringVar(&e.notifier.SlackWebhookURL, "notifier.slack-webhook-url", "", "Slack incoming webhook the notification worker posts to")
	fs.StringVar(&e.notifier.WebhookURL, "notifier.webhook-url", "", "generic webhook the notification worker posts notifications to as JSON")
	fs.IntVar(&e.notifier.MaxAttempts, "notifier.max-attempts", 5, "failed deliveries of an event before it goes to the dead-letter subject")
	fs.StringVar(&e.targets, "aggregator.targets", "", "comma-separated NAME=URL services the aggregator scrapes (default: the in-process services under run, every service on 127.0.0.1 at its port under serve)")
	fs.DurationVar(&e.aggregator.Interval, "aggregator.interval", 5*time.Second, "how often the aggregator scrapes")
	fs.DurationVar(&e.aggregator.Window, "aggregator.window", 5*time.Minute, "window of the aggregator's rates and latencies")
}

func (e *eventFlags) aggregatorConfig() fleet.AggregatorConfig {
	a := e.aggregator
	if e.targets != "" {
		a.Targets = strings.Split(e.targets, ",")
	}
	return a
}
