// Package gateway is the API gateway (port 8080), the fleet's single public
// entry: it routes /api/auth, /api/users, /api/products (and
// /api/categories), /api/orders and /api/chaos to the services, validates bearer tokens against the user
// service's JWK Set, limits each client's request rate, caches public
// product reads, and records reference 002 §2.1's metrics.
//
// Per request, in order: route match; token check (protected routes);
// rate limit (keyed by user id, or client IP when anonymous); 401/403;
// cache; body limit; proxy with a timeout. Rate limiting precedes the 401
// so a flood of bad tokens is limited like any other.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// Upstream names, also the service label of the upstream metrics: the
// `cloudcart serve` names of the services behind the gateway.
const (
	Users    = "users"
	Orders   = "orders"
	Products = "products"
	Chaos    = "chaos"
)

// Defaults for Options.
const (
	DefaultUpstreamTimeout = 10 * time.Second
	dialTimeout            = 2 * time.Second
)

// Options build a Gateway. Metrics, Issuer and Audience are required.
type Options struct {
	// Upstreams maps an upstream name (Users, Orders, Products, Chaos) to
	// its base URL. A missing or empty URL means the service is not
	// deployed: its routes answer 503.
	Upstreams map[string]string
	Metrics   *Metrics
	// Tokens must carry this iss and aud and be signed by a key of the
	// user service's JWK Set, fetched from the users upstream's
	// /.well-known/jwks.json unless Keys is set.
	Issuer, Audience string
	Keys             token.KeySource
	KeyRefresh       time.Duration // least time between key set refreshes; token.DefaultMinRefresh if 0
	Tracer           trace.Tracer
	// Propagator injects trace context into upstream requests.
	Propagator propagation.TextMapPropagator
	Logger     *slog.Logger

	UpstreamTimeout time.Duration // per upstream call; DefaultUpstreamTimeout if 0
	MaxBodyBytes    int64         // request body limit; httpkit.DefaultMaxBodyBytes if 0
	RateLimit       RateLimit
	// AuthRateLimit is the stricter limit of login and registration, per
	// client IP, applied before RateLimit.
	AuthRateLimit  RateLimit
	TrustedProxies []netip.Prefix
	Cache          Cache
	// Transport is the base transport to upstreams; a tuned
	// http.Transport if nil. Tests substitute their own.
	Transport http.RoundTripper
	Now       func() time.Time
}

// Gateway is the API gateway's handler.
type Gateway struct {
	m         *Metrics
	verifier  *token.Verifier
	log       *slog.Logger
	limiter   *Limiter
	authLimit *Limiter
	cache     *responseCache
	trusted   []netip.Prefix
	timeout   time.Duration
	maxBody   int64
	upstreams map[string]*upstream
	mux       *http.ServeMux
	payload   map[string]payloadOptions // by mux pattern; "" is unmatched
	jwksRoute *route                    // also labels the gateway's own key set fetches
	now       func() time.Time
}

// access is what a route requires of its caller.
type access int

const (
	public        access = iota // no token; rate-limited by IP
	authenticated               // a valid token
	admin                       // a valid token with the admin role
	// delegated routes are checked by the service itself with its own
	// credentials: the gateway forwards Authorization untouched and limits
	// by IP. The chaos admin API has its own bearer token.
	delegated
)

// route is one entry of the gateway's route table.
type route struct {
	pattern     string // mux pattern
	label       string // route template, the route/endpoint label
	up          *upstream
	access      access
	strip       string // path prefix removed before proxying
	cacheable   bool   // public GET answered from the response cache
	invalidates bool   // a successful call empties the response cache
	auth        bool   // login or registration: Options.AuthRateLimit applies
	latency     metric.RecordOption
}

// New builds the gateway and its route table.
func New(o Options) (*Gateway, error) {
	if o.Metrics == nil {
		return nil, errors.New("gateway: Metrics are required")
	}
	g := &Gateway{
		m: o.Metrics, log: o.Logger, trusted: o.TrustedProxies,
		timeout: o.UpstreamTimeout, maxBody: o.MaxBodyBytes, now: o.Now,
		upstreams: map[string]*upstream{}, payload: map[string]payloadOptions{},
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.timeout <= 0 {
		g.timeout = DefaultUpstreamTimeout
	}
	if g.maxBody <= 0 {
		g.maxBody = httpkit.DefaultMaxBodyBytes
	}
	if o.Tracer == nil {
		o.Tracer = noop.NewTracerProvider().Tracer("")
	}
	g.limiter = NewLimiter(o.RateLimit, g.now)
	g.authLimit = NewLimiter(o.AuthRateLimit, g.now)
	g.cache = newResponseCache(o.Cache, g.now)
	base := o.Transport
	if base == nil {
		base = newBaseTransport(g.timeout)
	}
	for _, name := range []string{Users, Orders, Products, Chaos} {
		up, err := g.newUpstream(name, o.Upstreams[name], base, o.Tracer, o.Propagator)
		if err != nil {
			return nil, err
		}
		g.upstreams[name] = up
	}
	g.routes()
	keys := o.Keys
	if keys == nil {
		users := g.upstreams[Users]
		jwks := &token.RemoteKeys{
			Client:     &http.Client{Transport: users.transport, Timeout: token.DefaultFetchTimeout},
			MinRefresh: o.KeyRefresh,
			Now:        g.now,
			Prepare: func(ctx context.Context) context.Context {
				return context.WithValue(ctx, callKey{}, &proxyCall{route: g.jwksRoute})
			},
		}
		if users.target != nil {
			jwks.URL = users.target.String() + "/.well-known/jwks.json"
		}
		keys = jwks
	}
	var err error
	g.verifier, err = token.NewVerifier(keys, token.VerifierOptions{Issuer: o.Issuer, Audience: o.Audience, Now: o.Now})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// routes builds the route table. Public: login, registration, the JWK Set
// and product browsing (products, categories). Users and orders need a
// token, product writes an admin's. The chaos admin API checks its own
// token. The product service's reservation API is for the order service
// only and is not routed.
func (g *Gateway) routes() {
	g.mux = http.NewServeMux()
	users, orders, products, chaos := g.upstreams[Users], g.upstreams[Orders], g.upstreams[Products], g.upstreams[Chaos]
	g.jwksRoute = &route{pattern: "GET /.well-known/jwks.json", up: users, access: public}
	for _, rt := range []*route{
		{pattern: "POST /api/auth/register", up: users, access: public, strip: "/api", auth: true},
		{pattern: "POST /api/auth/login", up: users, access: public, strip: "/api", auth: true},
		g.jwksRoute,
		{pattern: "/api/users", up: users, access: authenticated, strip: "/api"},
		{pattern: "/api/users/{path...}", up: users, access: authenticated, strip: "/api"},
		{pattern: "/api/orders", up: orders, access: authenticated, strip: "/api"},
		{pattern: "/api/orders/{path...}", up: orders, access: authenticated, strip: "/api"},
		{pattern: "GET /api/products", up: products, access: public, strip: "/api", cacheable: true},
		{pattern: "GET /api/products/{path...}", up: products, access: public, strip: "/api", cacheable: true},
		{pattern: "GET /api/categories", up: products, access: public, strip: "/api", cacheable: true},
		{pattern: "/api/products", up: products, access: admin, strip: "/api", invalidates: true},
		{pattern: "/api/products/{path...}", up: products, access: admin, strip: "/api", invalidates: true},
		{pattern: "/api/chaos", up: chaos, access: delegated, strip: "/api"},
		{pattern: "/api/chaos/{path...}", up: chaos, access: delegated, strip: "/api"},
	} {
		rt.label = httpkit.RouteLabel(rt.pattern)
		rt.latency = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("service", rt.up.name), attribute.String("endpoint", rt.label)))
		g.payload[rt.pattern] = newPayloadOptions(rt.label)
		g.mux.Handle(rt.pattern, g.serve(rt))
	}
	g.payload[""] = newPayloadOptions(httpkit.UnmatchedRoute)
}

// Handler is the gateway's routes, recording request and response sizes.
// Wrap it with the httpkit middleware (names from the service table). It
// is an httpkit.RouteFinder, so middleware between the two (chaos) can
// label what it answers by route.
func (g *Gateway) Handler() http.Handler { return httpkit.WithRoutes(g.measurePayload(g.mux), g.mux) }

// Routes lists the route templates of the route table, sorted: with
// "unmatched", the closed set of route label values.
func (g *Gateway) Routes() []string {
	var out []string
	for p := range g.payload {
		if p != "" && !slices.Contains(out, httpkit.RouteLabel(p)) {
			out = append(out, httpkit.RouteLabel(p))
		}
	}
	slices.Sort(out)
	return out
}

// TrackedClients is the number of clients in the rate limiter's table,
// never more than RateLimit.MaxClients.
func (g *Gateway) TrackedClients() int { return g.limiter.Len() }

// serve is one route's pipeline.
func (g *Gateway) serve(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var (
			id      token.Identity
			authErr error
		)
		if rt.access == authenticated || rt.access == admin {
			raw, err := token.FromHeader(r.Header.Get("Authorization"))
			if err == nil {
				id, err = g.verifier.Verify(ctx, raw)
			}
			authErr = err
		}
		ipKey := clientKey(clientIP(r, g.trusted))
		key, class := ipKey, classAnonymous
		if authErr == nil && id.UserID != "" {
			key, class = "user:"+id.UserID, classAuthenticated
		}
		ok, wait := true, time.Duration(0)
		if rt.auth {
			ok, wait = g.authLimit.Allow(ipKey)
			class = classAuth
		}
		if ok {
			ok, wait = g.limiter.Allow(key)
		}
		if !ok {
			g.m.RateLimitExceeded.Add(ctx, 1, g.m.class[class])
			trace.SpanFromContext(ctx).SetAttributes(attribute.String("cloudcart.rate_limit.client", key))
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			writeError(w, http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("too many requests from this client; retry in %ds", max(secs, 1)))
			return
		}
		if authErr != nil {
			g.m.jwtFailed(ctx, token.ReasonOf(authErr))
			err := token.AsDomainError(authErr) // 401, or 503 when the keys cannot be fetched
			if cloudcart.ErrorCode(err) == cloudcart.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="cloudcart"`)
			}
			httpkit.Error(w, r, g.log, err)
			return
		}
		// The services check their parameters; a query string that does
		// not parse is refused here, because the proxy would drop the
		// pairs it cannot parse and forward the rest.
		if err := httpkit.CheckQueryEncoding(r); err != nil {
			httpkit.Error(w, r, g.log, err)
			return
		}
		if rt.access == admin && id.Role != cloudcart.RoleAdmin {
			httpkit.Error(w, r, g.log, cloudcart.Errorf(cloudcart.EFORBIDDEN, "%s needs the admin role", rt.label))
			return
		}
		call := &proxyCall{route: rt, identity: id}
		if rt.cacheable && g.cache != nil && r.Method == http.MethodGet {
			if key := r.URL.RequestURI(); len(key) <= maxCacheKeyBytes {
				if e, ok := g.cache.get(key); ok {
					g.m.CacheHits.Add(ctx, 1)
					g.serveCached(w, e)
					return
				}
				call.cacheKey = key
			}
			g.m.CacheMisses.Add(ctx, 1)
		}
		if r.ContentLength > g.maxBody {
			writeError(w, http.StatusRequestEntityTooLarge, cloudcart.ETOOLARGE,
				fmt.Sprintf("body must be at most %d bytes", g.maxBody))
			return
		}
		g.proxy(w, r, call)
	})
}

// serveCached writes a cached response.
func (g *Gateway) serveCached(w http.ResponseWriter, e *cached) {
	h := w.Header()
	for k, vs := range e.header {
		h[k] = slices.Clone(vs) // the entry is shared; the response's headers are not
	}
	h.Set("X-Cache", "HIT")
	h.Set("Age", strconv.Itoa(int(g.now().Sub(e.stored).Seconds())))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(e.body)
}

// writeError writes the JSON error format for statuses without a domain
// error code (429, 502, 504, ...).
func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpkit.WriteJSON(w, status, httpkit.ErrorResponse{Error: httpkit.ErrorBody{Code: code, Message: msg}})
}

type callKey struct{}

// proxyCall is what the proxy's hooks need to know about one request.
type proxyCall struct {
	route    *route
	identity token.Identity
	cacheKey string // non-empty: store a cacheable answer under it
}

func callFrom(ctx context.Context) *proxyCall {
	c, _ := ctx.Value(callKey{}).(*proxyCall)
	return c
}
