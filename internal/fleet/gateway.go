package fleet

import (
	"cmp"
	"context"
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
	for _, name := range []string{gateway.Users, gateway.Orders, gateway.Products, gateway.Chaos} {
		ups[name] = upstreamURL(env, name)
		env.Log.Debug("upstream", "service", name, "url", ups[name])
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
	return u.serve(env, gateway.HTTPMetricNames, g.Handler(), true)
}

// upstreamURL is where the gateway finds a service: the configured URL,
// else the in-process service, else (alone, under serve) the service's
// port on localhost. "" means not deployed.
func upstreamURL(env *Env, name string) string {
	if v := cmp.Or(env.Gateway.Upstreams[name], env.BuiltURL(name)); v != "" || env.AllInOne {
		return v
	}
	port, ok := env.Ports[name]
	if !ok || port == 0 {
		for _, p := range Planned {
			if p.Name == name {
				port = p.Port
			}
		}
	}
	return fmt.Sprintf("http://localhost:%d", port)
}
