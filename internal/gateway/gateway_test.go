package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/gateway"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/services"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

const (
	testIssuer   = "test-issuer"
	testAudience = "test-audience"
)

// stub is an upstream service: it echoes what reached it as JSON, except
// for the paths a test gives behaviour to.
type stub struct {
	srv  *httptest.Server
	hits atomic.Int64
	mux  *http.ServeMux
}

// echo is what a stub saw of a request.
type echo struct {
	Method, Path, Query   string
	UserID, UserRole, XFF string
	Authorization         string
	TraceParent           string
	BodyBytes             int
}

func mustStub(tb testing.TB) *stub {
	tb.Helper()
	s := &stub{mux: http.NewServeMux()}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		httpkit.WriteJSON(w, http.StatusOK, echo{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			UserID: r.Header.Get(httpkit.HeaderUserID), UserRole: r.Header.Get(httpkit.HeaderUserRole),
			XFF: r.Header.Get("X-Forwarded-For"), Authorization: r.Header.Get("Authorization"),
			TraceParent: r.Header.Get("Traceparent"), BodyBytes: len(b),
		})
	})
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mux.ServeHTTP(w, r)
	}))
	tb.Cleanup(s.srv.Close)
	return s
}

// fixture is a gateway on 127.0.0.1:0 in front of stub upstreams, with a
// user-service stub publishing the signer's key.
type fixture struct {
	url                     string
	tel                     *telemetry.Telemetry
	gw                      *gateway.Gateway
	key                     ed25519.PrivateKey // the user service's signing key
	signer                  *token.Signer
	keys                    atomic.Pointer[token.KeySet]
	jwksHits                atomic.Int64
	users, orders, products *stub
	client                  *http.Client
}

// mustSigner signs with a fresh key the gateway has never seen.
func mustSigner(tb testing.TB, o token.SignerOptions) *token.Signer {
	tb.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	return mustSignerWithKey(tb, key, o)
}

func mustFixture(tb testing.TB, opts ...func(*gateway.Options)) *fixture {
	tb.Helper()
	f := &fixture{users: mustStub(tb), orders: mustStub(tb), products: mustStub(tb)}
	_, f.key, _ = ed25519.GenerateKey(rand.Reader)
	f.signer = mustSignerWithKey(tb, f.key, token.SignerOptions{})
	ks := f.signer.KeySet()
	f.keys.Store(&ks)
	f.users.mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		f.jwksHits.Add(1)
		httpkit.WriteJSON(w, http.StatusOK, f.keys.Load())
	})
	f.tel = telemetrytest.MustNew(tb)
	m, err := gateway.NewMetrics(f.tel.Meter("test"))
	if err != nil {
		tb.Fatal(err)
	}
	o := gateway.Options{
		Upstreams: map[string]string{
			gateway.Users: f.users.srv.URL, gateway.Orders: f.orders.srv.URL, gateway.Products: f.products.srv.URL,
			// chaos: not deployed
		},
		Metrics: m, Issuer: testIssuer, Audience: testAudience,
		Tracer: f.tel.Tracer("test"), Propagator: f.tel.Propagator,
		RateLimit:      gateway.RateLimit{Rate: 1e6, Burst: 1e6},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}
	for _, fn := range opts {
		fn(&o)
	}
	f.gw, err = gateway.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	mw, err := httpkit.NewMiddleware(f.tel.Meter("test"), f.tel.Tracer("test"), f.tel.Propagator, services.All.MustLookup("gateway").HTTP)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &httpkit.Server{Addr: "127.0.0.1:0", Handler: mw.Wrap(f.gw.Handler()), Metrics: f.tel.MetricsHandler()}
	if err := srv.Listen(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	f.url = srv.URL()
	f.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	tb.Cleanup(f.client.CloseIdleConnections)
	return f
}

// do sends a request with optional headers (name, value pairs) and returns
// the status, headers and body.
func (f *fixture) do(tb testing.TB, method, path, body string, headers ...string) (int, http.Header, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (f *fixture) value(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	return telemetrytest.Value(tb, f.tel.Registry, name, labels)
}

func (f *fixture) mustToken(tb testing.TB, userID string, role cloudcart.Role) string {
	tb.Helper()
	tok, _, err := f.signer.Issue(userID, role)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func mustEcho(tb testing.TB, status int, body []byte) echo {
	tb.Helper()
	if status != http.StatusOK {
		tb.Fatalf("status %d: %s", status, body)
	}
	var e echo
	if err := json.Unmarshal(body, &e); err != nil {
		tb.Fatalf("not an echo: %s", body)
	}
	return e
}

func mustErrorBody(tb testing.TB, body []byte) httpkit.ErrorBody {
	tb.Helper()
	var e httpkit.ErrorResponse
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		tb.Fatalf("not a JSON error: %q", body)
	}
	return e.Error
}

func TestRoutingAndIdentity(t *testing.T) {
	f := mustFixture(t)
	tok := f.mustToken(t, "usr_alice", cloudcart.RoleUser)
	spoof := []string{httpkit.HeaderUserID, "usr_admin", httpkit.HeaderUserRole, "admin"}

	t.Run("public route: prefix stripped, no token needed, client identity headers dropped", func(t *testing.T) {
		st, _, b := f.do(t, "POST", "/api/auth/login?x=1", `{"email":"a@b.c"}`, spoof...)
		e := mustEcho(t, st, b)
		if e.Path != "/auth/login" || e.Query != "x=1" || e.UserID != "" || e.UserRole != "" || e.BodyBytes != 17 {
			t.Fatalf("upstream saw %+v", e)
		}
	})
	t.Run("protected route: identity headers are the token's, never the client's", func(t *testing.T) {
		st, _, b := f.do(t, "GET", "/api/users/me", "", append(bearer(tok), spoof...)...)
		e := mustEcho(t, st, b)
		if e.Path != "/users/me" || e.UserID != "usr_alice" || e.UserRole != "user" || e.Authorization != "Bearer "+tok {
			t.Fatalf("upstream saw %+v", e)
		}
	})
	t.Run("orders route reaches the order service with trace context", func(t *testing.T) {
		st, _, b := f.do(t, "POST", "/api/orders", `{}`, bearer(tok)...)
		e := mustEcho(t, st, b)
		if e.Path != "/orders" || e.TraceParent == "" {
			t.Fatalf("upstream saw %+v", e)
		}
	})
	t.Run("X-Forwarded-For from a trusted proxy is extended, not replaced", func(t *testing.T) {
		st, _, b := f.do(t, "GET", "/api/users/me", "", append(bearer(tok), "X-Forwarded-For", "203.0.113.7")...)
		if e := mustEcho(t, st, b); e.XFF != "203.0.113.7, 127.0.0.1" {
			t.Fatalf("X-Forwarded-For = %q", e.XFF)
		}
	})
	t.Run("chaos checks its own token: the gateway forwards it untouched", func(t *testing.T) {
		st, _, b := f.do(t, "POST", "/api/chaos/enable", `{}`, "Authorization", "Bearer chaos-admin-token")
		if st != http.StatusServiceUnavailable || !strings.Contains(mustErrorBody(t, b).Message, "chaos service is not deployed") {
			t.Fatalf("chaos while not deployed: %d %s", st, b)
		}
		if f.value(t, "upstream_service_errors_total", map[string]string{"service": "chaos", "status_code": "no_upstream"}) != 1 {
			t.Fatal("undeployed upstream not counted")
		}
		deployed := mustFixture(t, func(o *gateway.Options) { o.Upstreams[gateway.Chaos] = o.Upstreams[gateway.Orders] }) // an echoing stub
		st, _, b = deployed.do(t, "POST", "/api/chaos/enable", `{}`, "Authorization", "Bearer chaos-admin-token")
		if e := mustEcho(t, st, b); e.Path != "/chaos/enable" || e.Authorization != "Bearer chaos-admin-token" || e.UserID != "" {
			t.Fatalf("chaos upstream saw %+v", e)
		}
	})
	t.Run("product writes need an admin", func(t *testing.T) {
		st, _, b := f.do(t, "PUT", "/api/products/SKU-1", `{}`, bearer(tok)...)
		if st != http.StatusForbidden || mustErrorBody(t, b).Code != cloudcart.EFORBIDDEN {
			t.Fatalf("user writing a product: %d %s", st, b)
		}
	})
	t.Run("unknown paths are a JSON 404 labelled unmatched", func(t *testing.T) {
		st, _, b := f.do(t, "GET", "/api/nothing/here", "")
		if st != http.StatusNotFound || mustErrorBody(t, b).Code != cloudcart.ENOTFOUND {
			t.Fatalf("%d %s", st, b)
		}
		if f.value(t, "http_requests_total", map[string]string{"route": "unmatched", "status": "404"}) != 1 {
			t.Fatal("unmatched request not counted under route=unmatched")
		}
	})
	t.Run("upstream metrics by service and route template", func(t *testing.T) {
		if v := f.value(t, "upstream_service_latency_seconds", map[string]string{"service": "users", "endpoint": "/api/users/{path...}"}); v != 2 {
			t.Fatalf("users latency observations = %v, want 2", v)
		}
		if v := f.value(t, "request_payload_bytes", map[string]string{"route": "/api/auth/login"}); v != 1 {
			t.Fatalf("request_payload_bytes observations = %v", v)
		}
	})
}

// TestJWTNegativeMatrix: every bad token is a 401 naming its reason,
// counted once under that reason, and never reaches the upstream.
func TestJWTNegativeMatrix(t *testing.T) {
	f := mustFixture(t, func(o *gateway.Options) { o.KeyRefresh = time.Hour })
	claims := func(exp bool) token.Claims {
		now := time.Now()
		c := token.Claims{Role: cloudcart.RoleUser, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: testIssuer, Subject: "usr_mallory", Audience: jwt.ClaimStrings{testAudience}, IssuedAt: jwt.NewNumericDate(now),
		}}
		if exp {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour))
		}
		return c
	}
	sign := func(m jwt.SigningMethod, c token.Claims, kid string, key any) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	testKey := f.key
	kid := f.signer.KeyID()
	valid := f.mustToken(t, "usr_mallory", cloudcart.RoleUser)
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"role":"user"`, `"role":"admin"`, 1))) + "." + parts[2]
	if tampered == valid {
		t.Fatal("tampering changed nothing")
	}
	past := func() time.Time { return time.Now().Add(-2 * time.Hour) }

	cases := []struct {
		name   string
		header string // Authorization value; "" sends none
		reason token.Reason
	}{
		{"no token", "", token.Missing},
		{"not a bearer token", "Basic YWxpY2U6cHc=", token.Malformed},
		{"alg none", "Bearer " + sign(jwt.SigningMethodNone, claims(true), kid, jwt.UnsafeAllowNoneSignatureType), token.BadAlgorithm},
		{"HS256 signed with the public key", "Bearer " + sign(jwt.SigningMethodHS256, claims(true), kid, []byte(f.signer.PublicKey())), token.BadAlgorithm},
		{"expired", "Bearer " + mustIssue(t, mustSignerWithKey(t, testKey, token.SignerOptions{Now: past}), "usr_mallory"), token.Expired},
		{"missing exp", "Bearer " + sign(jwt.SigningMethodEdDSA, claims(false), kid, testKey), token.MissingClaim},
		{"wrong audience", "Bearer " + mustIssue(t, mustSignerWithKey(t, testKey, token.SignerOptions{Audience: "someone-else"}), "usr_mallory"), token.WrongAudience},
		{"wrong issuer", "Bearer " + mustIssue(t, mustSignerWithKey(t, testKey, token.SignerOptions{Issuer: "evil-issuer"}), "usr_mallory"), token.WrongIssuer},
		{"tampered payload", "Bearer " + tampered, token.BadSignature},
		{"unknown kid", "Bearer " + mustIssue(t, mustSigner(t, token.SignerOptions{}), "usr_mallory"), token.UnknownKid},
		{"garbage", "Bearer not-a-jwt-at-all", token.Malformed},
		{"64 KB of dots", "Bearer " + strings.Repeat(".", 64<<10), token.Oversized},
	}
	ordersBefore := f.orders.hits.Load()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.value(t, "jwt_validation_failures_total", map[string]string{"reason": string(tc.reason)})
			var hdr []string
			if tc.header != "" {
				hdr = []string{"Authorization", tc.header}
			}
			st, h, b := f.do(t, "GET", "/api/orders", "", hdr...)
			if st != http.StatusUnauthorized || mustErrorBody(t, b).Code != cloudcart.EUNAUTHORIZED || h.Get("WWW-Authenticate") == "" {
				t.Fatalf("status %d, WWW-Authenticate %q: %s", st, h.Get("WWW-Authenticate"), b)
			}
			if d := f.value(t, "jwt_validation_failures_total", map[string]string{"reason": string(tc.reason)}) - before; d != 1 {
				t.Fatalf("reason %q counted %v times, want 1 (body %s)", tc.reason, d, b)
			}
		})
	}
	if n := f.orders.hits.Load() - ordersBefore; n != 0 {
		t.Fatalf("%d rejected requests reached the order service", n)
	}
	if st, _, b := f.do(t, "GET", "/api/orders", "", bearer(valid)...); st != http.StatusOK {
		t.Fatalf("the valid token was refused after the matrix: %d %s", st, b)
	}
}

func mustSignerWithKey(tb testing.TB, key ed25519.PrivateKey, o token.SignerOptions) *token.Signer {
	tb.Helper()
	if o.Issuer == "" {
		o.Issuer = testIssuer
	}
	if o.Audience == "" {
		o.Audience = testAudience
	}
	if o.TTL == 0 {
		o.TTL = time.Hour
	}
	s, err := token.NewSigner(key, o)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustIssue(tb testing.TB, s *token.Signer, sub string) string {
	tb.Helper()
	tok, _, err := s.Issue(sub, cloudcart.RoleUser)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestKeyRotation: a token signed by a key published after the gateway
// cached the set is accepted after one refresh; tokens with made-up kids
// do not turn into a fetch each. The gateway's clock moves only when the
// test moves it, so "within one refresh interval" holds however long the
// 50 requests take on a busy machine.
func TestKeyRotation(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	f := mustFixture(t, func(o *gateway.Options) {
		o.KeyRefresh = 200 * time.Millisecond
		o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	if st, _, b := f.do(t, "GET", "/api/users/me", "", bearer(f.mustToken(t, "usr_a", cloudcart.RoleUser))...); st != http.StatusOK {
		t.Fatalf("%d %s", st, b)
	}
	if n := f.jwksHits.Load(); n != 1 {
		t.Fatalf("key set fetched %d times for the first token, want 1", n)
	}
	for range 50 { // made-up kids within one refresh interval
		f.do(t, "GET", "/api/users/me", "", bearer(mustIssue(t, mustSigner(t, token.SignerOptions{}), "usr_x"))...)
	}
	if n := f.jwksHits.Load(); n > 2 {
		t.Fatalf("50 unknown kids caused %d key set fetches, want at most 1 more", n-1)
	}
	now.Add(int64(250 * time.Millisecond)) // the refresh interval passes
	rotated := mustSigner(t, token.SignerOptions{})
	ks := token.KeySet{Keys: append(f.keys.Load().Keys, rotated.KeySet().Keys...)}
	f.keys.Store(&ks)
	if st, _, b := f.do(t, "GET", "/api/users/me", "", bearer(mustIssue(t, rotated, "usr_b"))...); st != http.StatusOK {
		t.Fatalf("token of a newly published key: %d %s", st, b)
	}
}

func TestKeysUnavailableIs503(t *testing.T) {
	f := mustFixture(t)
	f.users.srv.Close()
	st, _, b := f.do(t, "GET", "/api/orders", "", bearer(f.mustToken(t, "usr_a", cloudcart.RoleUser))...)
	if st != http.StatusServiceUnavailable || f.value(t, "jwt_validation_failures_total", map[string]string{"reason": "keys_unavailable"}) != 1 {
		t.Fatalf("%d %s", st, b)
	}
}

func TestUpstreamFailures(t *testing.T) {
	f := mustFixture(t, func(o *gateway.Options) {
		o.UpstreamTimeout = 300 * time.Millisecond
		o.MaxBodyBytes = 1024
	})
	tok := bearer(f.mustToken(t, "usr_a", cloudcart.RoleUser))
	f.orders.mux.HandleFunc("/orders/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	f.orders.mux.HandleFunc("/orders/broken", func(w http.ResponseWriter, r *http.Request) {
		httpkit.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "boom"})
	})

	t.Run("a slow upstream is a 504 within the timeout", func(t *testing.T) {
		start := time.Now()
		st, _, b := f.do(t, "GET", "/api/orders/slow", "", tok...)
		if st != http.StatusGatewayTimeout || mustErrorBody(t, b).Code != "upstream_timeout" {
			t.Fatalf("%d %s", st, b)
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("504 took %s; the timeout is 300 ms", time.Since(start))
		}
		if f.value(t, "upstream_service_errors_total", map[string]string{"service": "orders", "status_code": "timeout"}) != 1 {
			t.Fatal("timeout not counted")
		}
	})
	t.Run("an upstream 5xx passes through and is counted", func(t *testing.T) {
		st, _, _ := f.do(t, "GET", "/api/orders/broken", "", tok...)
		if st != http.StatusInternalServerError || f.value(t, "upstream_service_errors_total", map[string]string{"service": "orders", "status_code": "500"}) != 1 {
			t.Fatalf("status %d", st)
		}
	})
	t.Run("a body over the limit is a 413 before proxying", func(t *testing.T) {
		hits := f.orders.hits.Load()
		st, _, b := f.do(t, "POST", "/api/orders", strings.Repeat("x", 2048), tok...)
		if st != http.StatusRequestEntityTooLarge || mustErrorBody(t, b).Code != cloudcart.ETOOLARGE {
			t.Fatalf("%d %s", st, b)
		}
		// Chunked: no Content-Length, so the gateway reads up to the limit.
		req, _ := http.NewRequest("POST", f.url+"/api/orders", io.MultiReader(strings.NewReader(strings.Repeat("y", 2048))))
		req.Header.Set("Authorization", tok[1])
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || f.orders.hits.Load() != hits {
			t.Fatalf("chunked oversized body: %d, upstream hits %d", resp.StatusCode, f.orders.hits.Load()-hits)
		}
	})
	t.Run("an unreachable upstream is a 502", func(t *testing.T) {
		f.orders.srv.Close()
		st, _, b := f.do(t, "GET", "/api/orders", "", tok...)
		if st != http.StatusBadGateway || mustErrorBody(t, b).Code != "bad_gateway" {
			t.Fatalf("%d %s", st, b)
		}
		if f.value(t, "upstream_service_errors_total", map[string]string{"service": "orders", "status_code": "connection_error"}) != 1 {
			t.Fatal("connection error not counted")
		}
	})
}

func TestResponseCache(t *testing.T) {
	now := time.Now()
	var clock atomic.Int64
	f := mustFixture(t, func(o *gateway.Options) {
		o.Cache = gateway.Cache{TTL: 5 * time.Second, MaxBytes: 4096, MaxEntryBytes: 1024}
		o.Now = func() time.Time { return now.Add(time.Duration(clock.Load())) }
	})
	var n atomic.Int64
	f.products.mux.HandleFunc("GET /products/", func(w http.ResponseWriter, r *http.Request) {
		httpkit.WriteJSON(w, http.StatusOK, map[string]any{"n": n.Add(1), "auth": r.Header.Get("Authorization")})
	})
	f.products.mux.HandleFunc("GET /products/private", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private")
		httpkit.WriteJSON(w, http.StatusOK, map[string]any{"n": n.Add(1)})
	})
	f.products.mux.HandleFunc("GET /products/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("b", 2000)))
	})
	get := func(path string, headers ...string) (string, string) {
		t.Helper()
		st, h, b := f.do(t, "GET", path, "", headers...)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, st, b)
		}
		return string(b), h.Get("X-Cache")
	}
	hits := func() float64 { return f.value(t, "cache_hits_total", nil) }
	misses := func() float64 { return f.value(t, "cache_misses_total", nil) }

	first, x := get("/api/products/p1?view=full", bearer("whatever")...)
	if x != "MISS" || !strings.Contains(first, `"auth":""`) {
		t.Fatalf("first read: X-Cache %q body %s", x, first)
	}
	again, x := get("/api/products/p1?view=full")
	if x != "HIT" || again != first || hits() != 1 || misses() != 1 {
		t.Fatalf("second read: X-Cache %q, same body %v, hits %v misses %v", x, again == first, hits(), misses())
	}
	if _, x := get("/api/products/p1?view=short"); x != "MISS" {
		t.Fatal("a different query shared the cached answer")
	}
	clock.Add(int64(6 * time.Second))
	if b, x := get("/api/products/p1?view=full"); x != "MISS" || b == first {
		t.Fatal("entry served after its TTL")
	}
	if _, x := get("/api/products/private"); x != "MISS" {
		t.Fatal("private answer")
	}
	if _, x := get("/api/products/private"); x != "MISS" {
		t.Fatal("a Cache-Control: private answer was cached")
	}
	for range 2 {
		if b, x := get("/api/products/big"); x != "MISS" || len(b) != 2000 {
			t.Fatalf("an answer over the entry limit was cached or cut: X-Cache %q, %d bytes", x, len(b))
		}
	}
	t.Run("a product write empties the cache", func(t *testing.T) {
		get("/api/products/p2")
		if _, x := get("/api/products/p2"); x != "HIT" {
			t.Fatal("not cached")
		}
		st, _, b := f.do(t, "PATCH", "/api/products/p2", `{"stock":1}`, bearer(f.mustToken(t, "usr_a", cloudcart.RoleAdmin))...)
		if st != http.StatusOK {
			t.Fatalf("write: %d %s", st, b)
		}
		if _, x := get("/api/products/p2"); x != "MISS" {
			t.Fatal("cached answer survived a product write")
		}
	})
	t.Run("writes need a token", func(t *testing.T) {
		if st, _, _ := f.do(t, "DELETE", "/api/products/p2", ""); st != http.StatusUnauthorized {
			t.Fatalf("anonymous product write: %d", st)
		}
	})
}

func TestMetricsLint(t *testing.T) {
	f := mustFixture(t)
	f.do(t, "GET", "/api/products", "")
	f.do(t, "GET", "/api/orders", "")
	f.do(t, "GET", "/api/users/me", "", bearer(f.mustToken(t, "u", cloudcart.RoleUser))...)
	problems, err := testutil.GatherAndLint(f.tel.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func ExampleParseTrustedProxies() {
	p, err := gateway.ParseTrustedProxies([]string{"10.0.0.0/8", "192.168.1.10", " ::1 "})
	fmt.Println(p, err)
	// Output: [10.0.0.0/8 192.168.1.10/32 ::1/128] <nil>
}
