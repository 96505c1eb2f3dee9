package fleet

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/cloudcart/cloudcart/internal/gateway"
)

// GatewayConfig configures the API gateway.
type GatewayConfig struct {
	// Upstreams maps a service's serve name (users, orders, products,
	// chaos) to its base URL. Unset: under `cloudcart run` the in-process
	// service if it exists (else its routes answer 503), under `cloudcart
	// serve gateway` http://localhost:<its port>.
	Upstreams       map[string]string
	UpstreamTimeout time.Duration
	// RateLimit is requests per second per client (gateway.DefaultRate if
	// 0, none if negative) with bursts of RateBurst, over at most
	// RateLimitClients tracked clients.
	RateLimit        float64
	RateBurst        int
	RateLimitClients int
	// AuthRateLimit and AuthRateBurst are the stricter per-IP limit of
	// login and registration (gateway.DefaultAuthRate/Burst if 0, none if
	// AuthRateLimit is negative).
	AuthRateLimit  float64
	AuthRateBurst  int
	TrustedProxies []string // addresses or CIDRs whose X-Forwarded-For is believed
	CacheTTL       time.Duration
	CacheBytes     int64
	// KeyRefresh is the least time between refetches of the user service's
	// JWK Set on an unknown kid.
	KeyRefresh time.Duration
}

// gatewayFlags are the gateway's flags, and those of its upstreams it
// reads: their ports (under serve) and the tokens it accepts.
func gatewayFlags(fs *flag.FlagSet, c *Config) {
	g := &c.Gateway
	g.Upstreams = map[string]string{}
	for _, name := range gatewayUpstreams {
		fs.Func("gateway."+name+"-url",
			fmt.Sprintf("base URL of the %s service behind the gateway (default: the in-process service under run, http://localhost:<%s.port> under serve)", name, name),
			func(v string) error {
				if v == "" {
					delete(g.Upstreams, name)
				} else {
					g.Upstreams[name] = v
				}
				return nil
			})
		portFlag(fs, c, name)
	}
	tokenFlags(fs, c)
	fs.DurationVar(&g.UpstreamTimeout, "gateway.upstream-timeout", gateway.DefaultUpstreamTimeout, "longest wait for an upstream; then 504")
	g.RateLimit = gateway.DefaultRate
	fs.Var(offFloat{&g.RateLimit}, "gateway.rate-limit", "requests per second per client (user id, else client IP); 0 disables rate limiting")
	fs.IntVar(&g.RateBurst, "gateway.rate-burst", gateway.DefaultBurst, "requests a client may send at once above its rate")
	g.AuthRateLimit = gateway.DefaultAuthRate
	fs.Var(offFloat{&g.AuthRateLimit}, "gateway.auth-rate-limit", "login and registration requests per second per client IP, a stricter limit than --gateway.rate-limit (each costs a bcrypt run); 0 disables it")
	fs.IntVar(&g.AuthRateBurst, "gateway.auth-rate-burst", gateway.DefaultAuthBurst, "login and registration requests a client IP may send at once above its auth rate")
	fs.IntVar(&g.RateLimitClients, "gateway.rate-limit-clients", gateway.DefaultMaxClients, "most clients tracked by the rate limiter (least recently seen dropped first)")
	listFlag(fs, &g.TrustedProxies, "gateway.trusted-proxies", "comma-separated addresses or CIDRs of proxies whose X-Forwarded-For names the client")
	g.CacheTTL = gateway.DefaultCacheTTL
	fs.Var(offDuration{&g.CacheTTL}, "gateway.cache-ttl", "how long public product reads are cached, a `duration`; 0 disables the cache")
	fs.Int64Var(&g.CacheBytes, "gateway.cache-bytes", gateway.DefaultCacheBytes, "most bytes the response cache holds")
}

// gatewayUpstreams are the services the gateway routes to.
var gatewayUpstreams = []string{gateway.Users, gateway.Orders, gateway.Products, gateway.Chaos}

// buildGateway assembles the gateway in front of the services built
// before it.
func buildGateway(ctx context.Context, env *Env, u *Unit) error {
	meter, tracer := u.Telemetry.Meter("cloudcart/gateway"), u.Telemetry.Tracer("cloudcart/gateway")
	m, err := gateway.NewMetrics(meter)
	if err != nil {
		return err
	}
	trusted, err := gateway.ParseTrustedProxies(env.Gateway.TrustedProxies)
	if err != nil {
		return err
	}
	c := env.Gateway
	rate := c.RateLimit
	if rate == 0 {
		rate = gateway.DefaultRate
	}
	burst := c.RateBurst
	if burst == 0 {
		burst = gateway.DefaultBurst
	}
	ups := map[string]string{}
	for _, name := range gatewayUpstreams {
		ups[name] = upstreamURL(env, name)
		env.Log.DebugContext(ctx, "upstream", "service", name, "url", ups[name])
	}
	g, err := gateway.New(gateway.Options{
		Upstreams:       ups,
		Metrics:         m,
		Issuer:          env.Users.issuer(),
		Audience:        env.Users.audience(),
		KeyRefresh:      c.KeyRefresh,
		Tracer:          tracer,
		Propagator:      u.Telemetry.Propagator,
		Logger:          env.Log,
		UpstreamTimeout: c.UpstreamTimeout,
		RateLimit:       gateway.RateLimit{Rate: rate, Burst: burst, MaxClients: c.RateLimitClients},
		AuthRateLimit: gateway.RateLimit{Rate: cmp.Or(c.AuthRateLimit, gateway.DefaultAuthRate),
			Burst: cmp.Or(c.AuthRateBurst, gateway.DefaultAuthBurst), MaxClients: c.RateLimitClients},
		TrustedProxies: trusted,
		Cache:          gateway.Cache{TTL: c.CacheTTL, MaxBytes: c.CacheBytes},
	})
	if err != nil {
		return err
	}
	return u.serve(env, g.Handler())
}

// upstreamURL is where the gateway finds a service: the configured URL,
// else the in-process service, else (alone, under serve) the service's
// port on localhost. "" means not deployed.
func upstreamURL(env *Env, name string) string {
	if v := env.Gateway.Upstreams[name]; v != "" {
		return v
	}
	if env.AllInOne { // every deployed service is built in this process
		return env.BuiltURL(name)
	}
	return env.peerURL(name)
}
