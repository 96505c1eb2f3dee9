package chaos_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/chaos"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/services"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

const token = "test-token-0123456789"

// fakeBus records the settings the service publishes.
type fakeBus struct {
	mu  sync.Mutex
	got []cloudcart.ChaosSettings
}

func (b *fakeBus) PutChaosSettings(_ context.Context, s cloudcart.ChaosSettings) error {
	b.mu.Lock()
	b.got = append(b.got, s)
	b.mu.Unlock()
	return nil
}

func (b *fakeBus) last() (cloudcart.ChaosSettings, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.got) == 0 {
		return cloudcart.ChaosSettings{}, false
	}
	return b.got[len(b.got)-1], true
}

type fixture struct {
	svc *chaos.Service
	tel *telemetry.Telemetry
	bus *fakeBus
	h   http.Handler
	db  *sqlstore.DB
}

func mustService(tb testing.TB, db *sqlstore.DB) *fixture {
	tb.Helper()
	ctx := context.Background()
	tel := telemetrytest.MustNew(tb)
	meter := tel.Meter("test")
	m, err := chaos.NewMetrics(meter)
	if err != nil {
		tb.Fatal(err)
	}
	store, err := sqlstore.NewChaosStore(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	b := &fakeBus{}
	svc, err := chaos.New(ctx, chaos.Options{Store: store, Publisher: b, Token: token, Metrics: m, Meter: meter,
		Targets: []string{"orders", "users", "gateway"}, Source: "chaos-service"})
	if err != nil {
		tb.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = svc.Run(rctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	mw, err := httpkit.NewMiddleware(meter, nil, nil, services.All.MustLookup("chaos").HTTP)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{svc: svc, tel: tel, bus: b, h: mw.Wrap(svc.Handler()), db: db}
}

func (f *fixture) do(tb testing.TB, method, path, tok, body string) (int, string) {
	tb.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func TestAdminAPI(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			db := sqlstoretest.MustOpen(t, backend, sqlstore.Options{})
			f := mustService(t, db)
			t.Run("401 without the token", func(t *testing.T) {
				for _, tc := range []struct{ method, path, tok string }{
					{"GET", "/chaos/settings", ""},
					{"POST", "/chaos/enable", ""},
					{"PUT", "/chaos/targets/orders", "wrong-token-0123456789"},
					{"PUT", "/chaos/settings", token[:len(token)-1]},
				} {
					code, body := f.do(t, tc.method, tc.path, tc.tok, `{}`)
					if code != http.StatusUnauthorized || !strings.Contains(body, `"code":"unauthorized"`) {
						t.Errorf("%s %s with %q = %d %s", tc.method, tc.path, tc.tok, code, body)
					}
				}
				if s := f.svc.Settings(); s.Version != 0 || s.Enabled {
					t.Fatalf("an unauthorized request changed the settings: %+v", s)
				}
			})
			t.Run("400 on invalid settings, nothing stored", func(t *testing.T) {
				for _, tc := range []struct{ path, body, want string }{
					{"/chaos/targets/orders", `{"error":{"rate":1.5,"status":503}}`, "error.rate must be between 0 and 1"},
					{"/chaos/targets/orders", `{"error":{"rate":0.5,"status":404}}`, "must be a 5xx status"},
					{"/chaos/targets/orders", `{"latency":{"probability":1,"fixed_ms":9000,"jitter_ms":2000}}`, "at most 10000"},
					{"/chaos/targets/orders", `{"latency":{"probability":-0.1,"fixed_ms":5}}`, "probability must be between 0 and 1"},
					{"/chaos/targets/orders", `{"timeout":{"rate":0.1,"after_ms":60000}}`, "after_ms must be between"},
					{"/chaos/targets/orders", `{"error":{"rate":0.6},"timeout":{"rate":0.6}}`, "at most 1"},
					{"/chaos/targets/orders", `{"routes":{"orders":{}}}`, "not a route template"},
					{"/chaos/targets/orders", `{"latencyy":{}}`, "unknown field"},
					{"/chaos/targets/nope", `{}`, "unknown service"},
					{"/chaos/targets/chaos", `{}`, "does not inject faults into itself"},
					{"/chaos/targets/*", `{"outage":true}`, "outage takes down one named service"},
					{"/chaos/targets/orders", `{"routes":{"/orders":{"outage":true}}}`, "apply to a whole service"},
					{"/chaos/targets/orders", `{"consume_latency":{"probability":1,"fixed_ms":20000}}`, "consume_latency: fixed_ms + jitter_ms must be at most"},
					{"/chaos/settings", `{"payment_failure_rate":2}`, "payment_failure_rate must be between 0 and 1"},
				} {
					code, body := f.do(t, "PUT", tc.path, token, tc.body)
					if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
						t.Errorf("PUT %s %s = %d %s; want 400 saying %q", tc.path, tc.body, code, body, tc.want)
					}
				}
				if s := f.svc.Settings(); s.Version != 0 {
					t.Fatalf("a rejected change was stored: %+v", s)
				}
				if v := telemetrytest.Value(t, f.tel.Registry, "chaos_injections_total", map[string]string{"status": "rejected", "injection_type": "error"}); v < 3 {
					t.Errorf("rejected error injections = %v", v)
				}
			})
			t.Run("configure, enable, persist, publish", func(t *testing.T) {
				code, body := f.do(t, "PUT", "/chaos/targets/orders", token,
					`{"error":{"rate":0.5,"status":503},"latency":{"probability":0.25,"fixed_ms":100,"jitter_ms":50},"routes":{"/orders/{id}":{"timeout":{"rate":0.1,"after_ms":1000}}}}`)
				if code != 200 {
					t.Fatalf("PUT target = %d %s", code, body)
				}
				if code, body := f.do(t, "POST", "/chaos/enable", token, ""); code != 200 {
					t.Fatalf("enable = %d %s", code, body)
				}
				var s cloudcart.ChaosSettings
				code, body = f.do(t, "GET", "/chaos/settings", token, "")
				if err := json.Unmarshal([]byte(body), &s); err != nil || code != 200 {
					t.Fatalf("GET = %d %s", code, body)
				}
				if !s.Enabled || s.Version != 2 || s.Targets["orders"].Error.Status != 503 {
					t.Fatalf("settings = %+v", s)
				}
				eventually(t, "published to the bus", func() bool { got, ok := f.bus.last(); return ok && got.Version == 2 })
				reg := f.tel.Registry
				for name, want := range map[string]float64{
					"chaos_enabled_total": 1, "chaos_config_updates_total": 2, "latency_injections_total": 1,
					"latency_injection_duration_ms": 1, "timeout_injections_total": 1, "chaos_latency_injection_probability": 0.25,
				} {
					if v := telemetrytest.Value(t, reg, name, nil); v != want {
						t.Errorf("%s = %v, want %v", name, v, want)
					}
				}
				if v := telemetrytest.Value(t, reg, "error_injections_total", map[string]string{"error_code": "503"}); v != 1 {
					t.Errorf("error_injections_total{503} = %v", v)
				}
				if v := telemetrytest.Value(t, reg, "chaos_injections_total", map[string]string{"injection_type": "enable", "status": "success"}); v != 1 {
					t.Errorf("enable injections = %v", v)
				}
				// A restart reads the stored settings and republishes them.
				g := mustService(t, f.db)
				if s := g.svc.Settings(); s.Version != 2 || !s.Enabled {
					t.Fatalf("after restart: %+v", s)
				}
				eventually(t, "republished at start", func() bool { got, ok := g.bus.last(); return ok && got.Version == 2 })
				if code, _ := f.do(t, "POST", "/chaos/disable", token, ""); code != 200 {
					t.Fatal("disable")
				}
				if v := telemetrytest.Value(t, reg, "chaos_latency_injection_probability", nil); v != 0 {
					t.Errorf("probability while disabled = %v", v)
				}
			})
		})
	}
}

func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLoadToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chaos.token")
	tok, created, err := chaos.LoadToken("", path)
	if err != nil || !created || len(tok) < chaos.MinTokenLen {
		t.Fatalf("first start: %q, %v, %v", tok, created, err)
	}
	again, created, err := chaos.LoadToken("", path)
	if err != nil || created || again != tok {
		t.Fatalf("second start: %q, %v, %v; want the stored token", again, created, err)
	}
	if given, _, err := chaos.LoadToken("given-token-0123456789", path); err != nil || given != "given-token-0123456789" {
		t.Fatalf("flag: %q, %v", given, err)
	}
	if _, _, err := chaos.LoadToken("short", path); err == nil {
		t.Fatal("a short token was accepted")
	}
}
