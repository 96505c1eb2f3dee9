package users_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/services"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
	"github.com/cloudcart/cloudcart/internal/users"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// fixture is a user service on a real store.
type fixture struct {
	svc    *users.Service
	tel    *telemetry.Telemetry
	store  *sqlstore.UserStore
	signer *token.Signer
	h      http.Handler
	events *recorder
	relay  *sqlstore.Relay // publishes the store's outbox into events
}

// recorder is an event publisher that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []*cloudcart.Event
}

func (r *recorder) Publish(_ context.Context, e *cloudcart.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

type dbConfig struct{ dsn, path string }

func mustDBConfig(tb testing.TB, backend string) dbConfig {
	tb.Helper()
	dsn, path := sqlstoretest.MustConfig(tb, backend)
	return dbConfig{dsn, path}
}

var testKey = func() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}()

// mustFixture starts a service on the database; the same dbConfig twice is
// a restart.
func mustFixture(tb testing.TB, db dbConfig) *fixture {
	tb.Helper()
	f := &fixture{tel: telemetrytest.MustNew(tb), events: &recorder{}}
	meter := f.tel.Meter("test")
	m, err := users.NewMetrics(meter)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := sqlstore.Open(context.Background(), sqlstore.Options{DSN: db.dsn, Path: db.path,
		Metrics: sqlstoretest.MustMetrics(tb, meter, sqlstore.MetricsOptions{Prefix: services.All.MustLookup("users").Prefix, ConnectionErrors: true})})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	if f.store, err = sqlstore.NewUserStore(context.Background(), d); err != nil {
		tb.Fatal(err)
	}
	if err := sqlstore.MigrateEvents(context.Background(), d); err != nil {
		tb.Fatal(err)
	}
	if f.relay, err = sqlstore.NewRelay(d, sqlstore.RelayOptions{Source: "user-service", Publisher: f.events}); err != nil {
		tb.Fatal(err)
	}
	f.store.Events = sqlstore.NewOutbox("user-service", f.relay)
	if f.signer, err = token.NewSigner(testKey, token.SignerOptions{Issuer: "iss", Audience: "aud", TTL: time.Hour}); err != nil {
		tb.Fatal(err)
	}
	o := users.Options{Store: f.store, Metrics: m, Signer: f.signer, Meter: meter, Tracer: f.tel.Tracer("test"),
		BcryptCost: bcrypt.MinCost}
	users.WeakHashingForTests(&o)
	if f.svc, err = users.New(o); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.svc.Close() })
	mw, err := httpkit.NewMiddleware(meter, f.tel.Tracer("test"), f.tel.Propagator, services.All.MustLookup("users").HTTP)
	if err != nil {
		tb.Fatal(err)
	}
	f.h = httpkit.LimitBody(httpkit.DefaultMaxBodyBytes, mw.Wrap(f.svc.Handler()))
	return f
}

func (f *fixture) do(tb testing.TB, method, target, body, tok string) *httptest.ResponseRecorder {
	tb.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) value(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	return telemetrytest.Value(tb, f.tel.Registry, name, labels)
}

func (f *fixture) mustRegister(tb testing.TB, email, password string) *cloudcart.User {
	tb.Helper()
	rec := f.do(tb, "POST", "/auth/register", `{"email":"`+email+`","name":"Test User","password":"`+password+`"}`, "")
	if rec.Code != http.StatusAccepted {
		tb.Fatalf("register %s: %d %s", email, rec.Code, rec.Body)
	}
	// The answer does not say who registered: log in to learn it.
	login := f.do(tb, "POST", "/auth/login", `{"email":"`+email+`","password":"`+password+`"}`, "")
	var r users.LoginResponse
	if login.Code != http.StatusOK || json.Unmarshal(login.Body.Bytes(), &r) != nil || r.User == nil {
		tb.Fatalf("login after registering %s: %d %s", email, login.Code, login.Body)
	}
	return r.User
}

func (f *fixture) mustLogin(tb testing.TB, email, password string) string {
	tb.Helper()
	rec := f.do(tb, "POST", "/auth/login", `{"email":"`+email+`","password":"`+password+`"}`, "")
	if rec.Code != http.StatusOK {
		tb.Fatalf("login %s: %d %s", email, rec.Code, rec.Body)
	}
	var r users.LoginResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &r)
	return r.AccessToken
}

func mustStatus(tb testing.TB, rec *httptest.ResponseRecorder, status int, mentions string) {
	tb.Helper()
	if rec.Code != status {
		tb.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if mentions != "" && !strings.Contains(rec.Body.String(), mentions) {
		tb.Fatalf("body %s does not mention %q", rec.Body, mentions)
	}
}

const pw = "correct horse battery"

func TestRegisterLoginProfile(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			f := mustFixture(t, mustDBConfig(t, backend))
			u := f.mustRegister(t, " Alice@Example.COM ", pw)
			if u.Email != "alice@example.com" || u.Role != cloudcart.RoleUser || !u.Active {
				t.Fatalf("registered %+v", u)
			}
			// Registering a taken email answers exactly as a new one does.
			again := f.do(t, "POST", "/auth/register", `{"email":"alice@example.com","name":"A","password":"`+pw+`"}`, "")
			fresh := f.do(t, "POST", "/auth/register", `{"email":"fresh@example.com","name":"F","password":"`+pw+`"}`, "")
			if again.Code != http.StatusAccepted || again.Body.String() != fresh.Body.String() || fresh.Code != http.StatusAccepted {
				t.Fatalf("taken email: %d %s; new email: %d %s", again.Code, again.Body, fresh.Code, fresh.Body)
			}
			if v := f.value(t, "user_registrations_total", map[string]string{"status": "duplicate"}); v != 1 {
				t.Fatalf("duplicate registrations counted %v, want 1", v)
			}

			tok := f.mustLogin(t, "ALICE@example.com", pw)
			if b := f.do(t, "GET", "/users/"+u.ID, "", tok).Body.String(); !strings.Contains(b, u.ID) || strings.Contains(b, "password") || strings.Contains(b, "$2a$") {
				t.Fatalf("GET /users/{id} of oneself: %s", b)
			}
			mustStatus(t, f.do(t, "GET", "/users/me", "", tok), http.StatusOK, `"email":"alice@example.com"`)
			mustStatus(t, f.do(t, "PATCH", "/users/me", `{"name":"Alice Liddell"}`, tok), http.StatusOK, `"name":"Alice Liddell"`)
			mustStatus(t, f.do(t, "PATCH", "/users/me", `{"role":"admin"}`, tok), http.StatusBadRequest, `unknown field`)
			mustStatus(t, f.do(t, "PATCH", "/users/me", `{"email":"a2@example.com"}`, tok), http.StatusBadRequest, "current_password is required")
			mustStatus(t, f.do(t, "PATCH", "/users/me", `{"email":"a2@example.com","current_password":"nope nope"}`, tok), http.StatusForbidden, "incorrect")
			mustStatus(t, f.do(t, "PATCH", "/users/me", `{"email":"a2@example.com","password":"new password 1","current_password":"`+pw+`"}`, tok), http.StatusOK, "a2@example.com")
			mustStatus(t, f.do(t, "POST", "/auth/login", `{"email":"a2@example.com","password":"`+pw+`"}`, ""), http.StatusUnauthorized, "invalid email or password")
			f.mustLogin(t, "a2@example.com", "new password 1")

			for name, want := range map[string]float64{
				"user_registrations_total|status=success":          2, // alice, fresh
				"user_registrations_total|status=duplicate":        1,
				"user_logins_total|success=true":                   3, // mustRegister's, two mustLogin
				"user_logins_total|success=false":                  1,
				"password_hashing_duration_seconds|":               4, // three registrations, one password change
				"user_update_duration_seconds|":                    4, // every UpdateProfile call, refused ones too
				"user_db_query_duration_seconds|query_type=update": 2,
				"user_errors_total|error_type=conflict":            0, // the duplicate is not an error to the caller
			} {
				fam, lbl, _ := strings.Cut(name, "|")
				match := map[string]string{}
				if k, v, ok := strings.Cut(lbl, "="); ok {
					match[k] = v
				}
				if got := f.value(t, fam, match); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			if _, err := f.relay.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			var types []cloudcart.EventType
			for _, e := range f.events.events {
				types = append(types, e.Type)
			}
			// The owner of the taken email hears of the attempt.
			if want := []cloudcart.EventType{cloudcart.EventUserRegistered, cloudcart.EventUserRegistrationAttempted, cloudcart.EventUserRegistered}; !slices.Equal(types, want) {
				t.Fatalf("events published: %v, want %v", types, want)
			}
			var d cloudcart.UserRegistrationAttemptedData
			if err := f.events.events[1].DecodeData(&d); err != nil || d.UserID != u.ID || d.Email != "alice@example.com" {
				t.Fatalf("registration attempt event: %+v %v", d, err)
			}
		})
	}
}

// TestLoginFailuresLookAlike: an unknown email and a wrong password get
// the same status and body, after the same work: one bcrypt comparison
// each (the unknown email against a dummy hash).
func TestLoginFailuresLookAlike(t *testing.T) {
	f := mustFixture(t, mustDBConfig(t, "sqlite"))
	f.mustRegister(t, "bob@example.com", pw)
	compares := func() float64 { return f.value(t, "password_validation_duration_seconds", nil) }
	before := compares()
	unknown := f.do(t, "POST", "/auth/login", `{"email":"nobody@example.com","password":"`+pw+`"}`, "")
	afterUnknown := compares()
	wrong := f.do(t, "POST", "/auth/login", `{"email":"bob@example.com","password":"wrong password"}`, "")
	afterWrong := compares()
	if unknown.Code != http.StatusUnauthorized || unknown.Code != wrong.Code || unknown.Body.String() != wrong.Body.String() {
		t.Fatalf("unknown user: %d %s; wrong password: %d %s", unknown.Code, unknown.Body, wrong.Code, wrong.Body)
	}
	if afterUnknown-before != 1 || afterWrong-afterUnknown != 1 {
		t.Fatalf("bcrypt comparisons: unknown user %v, wrong password %v; want 1 each", afterUnknown-before, afterWrong-afterUnknown)
	}
	if f.value(t, "user_auth_failures_total", map[string]string{"reason": "unknown_user"}) != 1 ||
		f.value(t, "user_auth_failures_total", map[string]string{"reason": "bad_password"}) != 1 {
		t.Fatal("failure reasons not counted apart (they are only told apart in metrics)")
	}
}

func TestPasswordLimits(t *testing.T) {
	f := mustFixture(t, mustDBConfig(t, "sqlite"))
	reg := func(email, password string) *httptest.ResponseRecorder {
		return f.do(t, "POST", "/auth/register", `{"email":"`+email+`","name":"N","password":"`+password+`"}`, "")
	}
	mustStatus(t, reg("a@example.com", strings.Repeat("x", 72)), http.StatusAccepted, "")
	mustStatus(t, reg("b@example.com", strings.Repeat("x", 73)), http.StatusBadRequest, "at most 72 bytes (bcrypt's limit), got 73")
	mustStatus(t, reg("c@example.com", strings.Repeat("€", 24)), http.StatusAccepted, "") // 72 bytes
	mustStatus(t, reg("d@example.com", strings.Repeat("€", 25)), http.StatusBadRequest, "got 75")
	mustStatus(t, reg("e@example.com", "short"), http.StatusBadRequest, "at least 8 bytes")
	mustStatus(t, reg("not-an-email", pw), http.StatusBadRequest, "not an address")
	mustStatus(t, f.do(t, "POST", "/auth/login", `{"email":"a@example.com","password":"`+strings.Repeat("x", 100)+`"}`, ""), http.StatusBadRequest, "at most 72 bytes")
	f.mustLogin(t, "a@example.com", strings.Repeat("x", 72))
	if f.value(t, "user_registrations_total", map[string]string{"status": "invalid"}) != 4 {
		t.Fatal("invalid registrations not counted")
	}
}

func TestAdministration(t *testing.T) {
	f := mustFixture(t, mustDBConfig(t, "sqlite"))
	ctx := context.Background()
	if _, err := f.svc.EnsureAdmin(ctx, "root@example.com", "Root", pw); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.EnsureAdmin(ctx, "root@example.com", "Root", "another password"); err != nil {
		t.Fatalf("second EnsureAdmin: %v", err)
	}
	carol := f.mustRegister(t, "carol@example.com", pw)
	if _, err := f.svc.EnsureAdmin(ctx, "carol@example.com", "Carol", pw); cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
		t.Fatalf("EnsureAdmin promoted an existing user: %v", err)
	}
	admin, user := f.mustLogin(t, "root@example.com", pw), f.mustLogin(t, "carol@example.com", pw)

	mustStatus(t, f.do(t, "GET", "/users", "", user), http.StatusForbidden, "only admins")
	mustStatus(t, f.do(t, "GET", "/users", "", admin), http.StatusOK, `"total":2`)
	mustStatus(t, f.do(t, "GET", "/users?role=admin", "", admin), http.StatusOK, `"total":1`)
	mustStatus(t, f.do(t, "GET", "/users?role=root", "", admin), http.StatusBadRequest, "role must be")
	mustStatus(t, f.do(t, "PATCH", "/users/"+carol.ID, `{"active":false}`, user), http.StatusForbidden, "")
	mustStatus(t, f.do(t, "PATCH", "/users/"+carol.ID, `{"role":"superuser"}`, admin), http.StatusBadRequest, "role must be user or admin")

	rootID := strings.Split(strings.Split(f.do(t, "GET", "/users/me", "", admin).Body.String(), `"id":"`)[1], `"`)[0]
	mustStatus(t, f.do(t, "PATCH", "/users/"+rootID, `{"active":false}`, admin), http.StatusConflict, "cannot demote or deactivate themselves")
	mustStatus(t, f.do(t, "PATCH", "/users/"+carol.ID, `{"active":false}`, admin), http.StatusOK, `"active":false`)

	// Deactivation is immediate: the old token and a new login both stop.
	mustStatus(t, f.do(t, "GET", "/users/me", "", user), http.StatusForbidden, "deactivated")
	mustStatus(t, f.do(t, "POST", "/auth/login", `{"email":"carol@example.com","password":"`+pw+`"}`, ""), http.StatusForbidden, "deactivated")
	mustStatus(t, f.do(t, "GET", "/users?active=false", "", admin), http.StatusOK, `"total":1`)
	mustStatus(t, f.do(t, "GET", "/users/usr_missing", "", admin), http.StatusNotFound, "")
}

// TestPopulationGaugesSurviveRestart: the gauges are read from the store,
// so a new process on the same database reports the same population.
func TestPopulationGaugesSurviveRestart(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			db := mustDBConfig(t, backend)
			f := mustFixture(t, db)
			gauges := func(f *fixture) [3]float64 {
				return [3]float64{f.value(t, "total_users_count", nil), f.value(t, "active_users_count", nil), f.value(t, "admin_users_count", nil)}
			}
			if g := gauges(f); g != [3]float64{0, 0, 0} {
				t.Fatalf("empty store: %v", g)
			}
			ctx := context.Background()
			f.mustRegister(t, "u1@example.com", pw)
			u2 := f.mustRegister(t, "u2@example.com", pw)
			admin, _ := f.svc.EnsureAdmin(ctx, "root@example.com", "Root", pw)
			off := false
			if _, err := f.svc.UpdateUser(ctx, admin, u2.ID, users.AdminUpdate{Active: &off}); err != nil {
				t.Fatal(err)
			}
			want := [3]float64{3, 2, 1}
			if g := gauges(f); g != want {
				t.Fatalf("total, active, admin = %v, want %v", g, want)
			}
			restarted := mustFixture(t, db)
			if g := gauges(restarted); g != want {
				t.Fatalf("after restart: %v, want %v", g, want)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	f := mustFixture(t, mustDBConfig(t, "sqlite"))
	f.mustRegister(t, "dave@example.com", pw)
	tok := f.mustLogin(t, "dave@example.com", pw)

	rec := f.do(t, "GET", "/.well-known/jwks.json", "", "")
	var set token.KeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS: %s", rec.Body)
	}
	k := set.Keys[0]
	pub, err := k.PublicKey()
	if err != nil || k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Kid != f.signer.KeyID() {
		t.Fatalf("JWK %+v: %v", k, err)
	}
	v, _ := token.NewVerifier(token.StaticKeys{k.Kid: pub}, token.VerifierOptions{Issuer: "iss", Audience: "aud"})
	id, err := v.Verify(context.Background(), tok)
	if err != nil || !strings.HasPrefix(id.UserID, "usr_") || id.Role != cloudcart.RoleUser || time.Until(id.ExpiresAt) < 59*time.Minute {
		t.Fatalf("token from the published key: %+v %v", id, err)
	}

	expired, _ := token.NewSigner(testKey, token.SignerOptions{Issuer: "iss", Audience: "aud", TTL: time.Minute,
		Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	old, _, _ := expired.Issue(id.UserID, cloudcart.RoleUser)
	for _, tc := range []struct{ name, tok, reason string }{
		{"missing", "", "missing_token"},
		{"expired", old, "expired_token"},
		{"garbage", "abc.def.ghi", "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(t, "GET", "/users/me", "", tc.tok)
			mustStatus(t, rec, http.StatusUnauthorized, "")
			if rec.Header().Get("WWW-Authenticate") == "" || f.value(t, "user_auth_failures_total", map[string]string{"reason": tc.reason}) != 1 {
				t.Fatalf("no WWW-Authenticate or %s not counted", tc.reason)
			}
		})
	}
}

func TestBcryptCostFloor(t *testing.T) {
	tel := telemetrytest.MustNew(t)
	m, _ := users.NewMetrics(tel.Meter("t"))
	db := sqlstoretest.MustOpen(t, "sqlite", sqlstore.Options{})
	store, _ := sqlstore.NewUserStore(context.Background(), db)
	s, _ := token.NewSigner(testKey, token.SignerOptions{Issuer: "i", Audience: "a", TTL: time.Hour})
	_, err := users.New(users.Options{Store: store, Metrics: m, Signer: s, BcryptCost: users.MinBcryptCost - 1})
	if cloudcart.ErrorCode(err) != cloudcart.EINVALID {
		t.Fatalf("cost %d accepted outside tests: %v", users.MinBcryptCost-1, err)
	}
}

func TestMetricsLint(t *testing.T) {
	f := mustFixture(t, mustDBConfig(t, "sqlite"))
	f.mustRegister(t, "lint@example.com", pw)
	tok := f.mustLogin(t, "lint@example.com", pw)
	f.do(t, "PATCH", "/users/me", `{"name":"L"}`, tok)
	problems, err := testutil.GatherAndLint(f.tel.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		// Reference 002 names the population gauges *_count; the linter
		// reserves that suffix for histograms. The names win (they are what
		// dashboards query); docs/metrics.md says so.
		if strings.HasSuffix(p.Metric, "users_count") && strings.Contains(p.Text, `"_count" suffix`) {
			continue
		}
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
