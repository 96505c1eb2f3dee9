package console_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/console"
	"github.com/cloudcart/cloudcart/internal/dashboards"
	"github.com/cloudcart/cloudcart/internal/scenario"
)

const token = "console-test-token-0123456789"

func mustConsole(tb testing.TB, o console.Options) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(nil)
	if o.ListenAddr == "" {
		o.ListenAddr = srv.Listener.Addr().String()
	}
	c, err := console.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	srv.Config.Handler = c.Handler()
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv
}

func do(tb testing.TB, method, url, body string, header map[string]string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var write = map[string]string{"X-CloudCart-Console": "1"}

func TestPagesAndAssets(t *testing.T) {
	srv := mustConsole(t, console.Options{})
	resp, body := do(t, "GET", srv.URL+"/", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `<script type="module" src="/console/static/js/app.js">`) {
		t.Fatalf("GET /: %d %.200s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	for _, p := range []string{"/console/static/js/app.js", "/console/static/style.css", "/console/static/favicon.svg"} {
		if resp, _ := do(t, "GET", srv.URL+p, "", nil); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	// Prometheus's UI paths and the console's own answer with the console.
	for _, p := range []string{"/graph", "/targets", "/alerts", "/rules", "/query", "/chaos", "/dashboards", "/dashboards/cloudcart-slo", "/runbooks", "/runbooks/higherrorrate"} {
		if resp, body := do(t, "GET", srv.URL+p, "", nil); resp.StatusCode != 200 || !strings.Contains(body, "/console/static/js/app.js") ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %.100s", p, resp.StatusCode, body)
		}
	}
	if resp, _ := do(t, "GET", srv.URL+"/nope", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %d", resp.StatusCode)
	}
	if resp, body := do(t, "GET", srv.URL+"/console/api/nothing", "", nil); resp.StatusCode != 404 || !strings.Contains(body, `"code":"not_found"`) {
		t.Errorf("unknown console API: %d %s", resp.StatusCode, body)
	}
}

var (
	importRe   = regexp.MustCompile(`(?m)^\s*import .* from '(\./[a-z]+\.js)';`)
	externalRe = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/"' ]`)
)

// TestAssetsAreSelfContained: every module the pages import is embedded,
// and no asset loads anything from another host (the console works
// offline).
func TestAssetsAreSelfContained(t *testing.T) {
	root := "static"
	err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path.Join(root, p))
		if err != nil {
			return err
		}
		// The SVG namespace is a name, not something loaded.
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		if p != "index.html" {
			if m := externalRe.FindString(text); m != "" {
				t.Errorf("%s refers to another host: %q", p, m)
			}
		}
		for _, m := range importRe.FindAllStringSubmatch(text, -1) {
			if _, err := os.Stat(path.Join(root, path.Dir(p), m[1])); err != nil {
				t.Errorf("%s imports %s: %v", p, m[1], err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDashboardsAreTheGrafanaFiles: the console renders byte for byte the
// JSON that Grafana provisions.
func TestDashboardsAreTheGrafanaFiles(t *testing.T) {
	srv := mustConsole(t, console.Options{ScrapeInterval: time.Second})
	var cfg console.Config
	_, body := do(t, "GET", srv.URL+"/console/api/config", "", nil)
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	all, err := dashboards.All()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ScrapeIntervalSeconds != 1 || cfg.Chaos || cfg.Notifier || cfg.Orders || len(cfg.Dashboards) != len(all) {
		t.Fatalf("config %+v", cfg)
	}
	for _, d := range cfg.Dashboards {
		want, err := os.ReadFile("../../" + dashboards.DefaultDir + "/" + d.File)
		if err != nil {
			t.Fatal(err)
		}
		resp, got := do(t, "GET", srv.URL+"/console/api/dashboards/"+d.UID, "", nil)
		if resp.StatusCode != 200 || got != string(want) {
			t.Errorf("%s: %d, served JSON differs from %s (regenerate with go run ./cmd/cloudcart dashboards generate)", d.UID, resp.StatusCode, d.File)
		}
	}
	if resp, _ := do(t, "GET", srv.URL+"/console/api/dashboards/nope", "", nil); resp.StatusCode != 404 {
		t.Errorf("unknown dashboard: %d", resp.StatusCode)
	}
}

// fakeChaos stands in for the chaos service's admin API.
type fakeChaos struct {
	mu       sync.Mutex
	settings cloudcart.ChaosSettings
	calls    []string
}

func (f *fakeChaos) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, `{"error":{"code":"unauthorized","message":"token"}}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/chaos/settings":
	case r.Method == "PUT" && r.URL.Path == "/chaos/settings":
		var s cloudcart.ChaosSettings
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			http.Error(w, `{"error":{"code":"invalid","message":"json"}}`, http.StatusBadRequest)
			return
		}
		f.settings = s
	case r.Method == "POST" && r.URL.Path == "/chaos/enable":
		f.settings.Enabled = true
	case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/chaos/targets/"):
		var fl cloudcart.ChaosFaults
		_ = json.NewDecoder(r.Body).Decode(&fl)
		if f.settings.Targets == nil {
			f.settings.Targets = map[string]cloudcart.ChaosFaults{}
		}
		f.settings.Targets[strings.TrimPrefix(r.URL.Path, "/chaos/targets/")] = fl
	case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/chaos/targets/"):
		delete(f.settings.Targets, strings.TrimPrefix(r.URL.Path, "/chaos/targets/"))
	default:
		http.Error(w, `{"error":{"code":"not_found","message":"route"}}`, http.StatusNotFound)
		return
	}
	f.settings.Version++
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(f.settings)
}

func TestChaosProxy(t *testing.T) {
	fake := &fakeChaos{settings: cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{
		"users": {Latency: &cloudcart.LatencyFault{Probability: 0.1, FixedMS: 5}},
	}}}
	chaosSrv := httptest.NewServer(fake)
	defer chaosSrv.Close()
	srv := mustConsole(t, console.Options{ChaosURL: chaosSrv.URL, ChaosToken: token})
	api := srv.URL + "/console/api/chaos/"

	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		want               int
	}{
		{"write without the console header", "POST", "enable", nil, http.StatusForbidden},
		{"write from another site", "POST", "enable", map[string]string{"X-CloudCart-Console": "1", "Origin": "http://evil.example"}, http.StatusForbidden},
		{"unknown scenario", "POST", "scenarios/nope", write, http.StatusNotFound},
		{"bad faults", "PUT", "targets/orders", write, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := do(t, tc.method, api+tc.path, `{"nonsense":1}`, tc.header); resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.want)
			}
		})
	}
	if resp, body := do(t, "GET", api+"settings", "", nil); resp.StatusCode != 200 || strings.Contains(body, token) {
		t.Fatalf("GET settings: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "PUT", api+"targets/products", `{"error":{"rate":0.5,"status":503}}`, write); resp.StatusCode != 200 {
		t.Fatalf("PUT target: %d %s", resp.StatusCode, body)
	}
	// A scenario needs the whole fleet; this one has only chaos.
	if resp, body := do(t, "POST", api+"scenarios/error-spike", "", map[string]string{"X-CloudCart-Console": "1", "Origin": srv.URL}); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "whole fleet") {
		t.Fatalf("scenario: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "DELETE", api+"targets/products", "", write); resp.StatusCode != 200 {
		t.Fatalf("DELETE target: %d", resp.StatusCode)
	}
	fake.mu.Lock()
	fake.settings.PaymentFailureRate = 0.5
	fake.settings.Targets["notifier"] = cloudcart.ChaosFaults{ConsumeLatency: &cloudcart.LatencyFault{Probability: 1, FixedMS: 5000}}
	fake.mu.Unlock()
	if resp, _ := do(t, "POST", api+"enable", "", write); resp.StatusCode != 200 {
		t.Fatalf("enable: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "POST", api+"reset", "", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("reset without the console header: %d", resp.StatusCode)
	}
	if resp, body := do(t, "POST", api+"reset", "", write); resp.StatusCode != 200 || strings.Contains(body, token) {
		t.Fatalf("reset: %d %s", resp.StatusCode, body)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.settings.Enabled || len(fake.settings.Targets) != 0 || fake.settings.PaymentFailureRate != 0 {
		t.Fatalf("after reset: %+v", fake.settings)
	}
}

// TestScenariosAreTheCLIs: the console offers `cloudcart scenario`'s
// scenarios, same names, same order; low-stock only with the admin account.
func TestScenariosAreTheCLIs(t *testing.T) {
	full := console.Options{ChaosURL: "http://127.0.0.1:1", ChaosToken: token, PrometheusURL: "http://127.0.0.1:1",
		GatewayURL: "http://127.0.0.1:1", NotifierURL: "http://127.0.0.1:1", OrdersURL: "http://127.0.0.1:1"}
	list := func(o console.Options) []console.ScenarioEntry {
		srv := mustConsole(t, o)
		_, body := do(t, "GET", srv.URL+"/console/api/chaos/scenarios", "", nil)
		var l struct {
			Scenarios []console.ScenarioEntry `json:"scenarios"`
		}
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatalf("%v %s", err, body)
		}
		return l.Scenarios
	}
	var names []string
	for _, e := range list(full) {
		names = append(names, e.Name)
		if e.Available != (e.Name != "low-stock") || e.Title == "" || e.Expect.Name == "" {
			t.Errorf("%s: %+v", e.Name, e)
		}
	}
	if want := scenario.Names(); strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("console scenarios %v, want cloudcart scenario's %v", names, want)
	}
	full.AdminEmail, full.AdminPassword = "admin@example.com", "secret-password"
	for _, e := range list(full) {
		if !e.Available {
			t.Errorf("%s unavailable with the admin account: %s", e.Name, e.Unavailable)
		}
	}
	// The chaos service is down: a 502 with the console's JSON error.
	srv := mustConsole(t, full)
	if resp, body := do(t, "POST", srv.URL+"/console/api/chaos/enable", "", write); resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "chaos-service did not answer") {
		t.Fatalf("chaos down: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", srv.URL+"/console/api/chaos/scenarios/nope", "", write); resp.StatusCode != 404 {
		t.Fatalf("unknown scenario: %d %s", resp.StatusCode, body)
	}
}

func TestWithoutServices(t *testing.T) {
	srv := mustConsole(t, console.Options{ChaosNote: "chaos controls are off here"})
	var cfg console.Config
	if _, body := do(t, "GET", srv.URL+"/console/api/config", "", nil); json.Unmarshal([]byte(body), &cfg) != nil || cfg.Chaos || cfg.ChaosNote != "chaos controls are off here" {
		t.Errorf("config %s", body)
	}
	for _, p := range []string{"chaos/settings", "chaos/scenarios", "notifications"} {
		if resp, body := do(t, "GET", srv.URL+"/console/api/"+p, "", nil); resp.StatusCode != 404 || !strings.Contains(body, "does not run in this fleet") {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	if resp, _ := do(t, "POST", srv.URL+"/console/api/orders/simulate", "", write); resp.StatusCode != 404 {
		t.Errorf("simulate: %d", resp.StatusCode)
	}
}

func TestNotificationsAndSimulate(t *testing.T) {
	var got []string
	var mu sync.Mutex
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.String())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"notifications":[]}`)
	}))
	defer svc.Close()
	srv := mustConsole(t, console.Options{NotifierURL: svc.URL, OrdersURL: svc.URL})
	if resp, body := do(t, "GET", srv.URL+"/console/api/notifications?limit=5", "", nil); resp.StatusCode != 200 || body != `{"notifications":[]}` {
		t.Fatalf("notifications: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", srv.URL+"/console/api/notifications?limit=5000", "", nil); resp.StatusCode != 400 {
		t.Fatalf("limit 5000: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", srv.URL+"/console/api/notifications?kind=nonsense", "", nil); resp.StatusCode != 400 {
		t.Fatalf("kind=nonsense: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", srv.URL+"/console/api/notifications?limit=8&kind=alert", "", nil); resp.StatusCode != 200 {
		t.Fatalf("kind=alert: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "POST", srv.URL+"/console/api/orders/simulate?count=30&error_rate=0.5", "", write); resp.StatusCode != 200 {
		t.Fatalf("simulate: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "POST", srv.URL+"/console/api/orders/simulate?error_rate=2", "", write); resp.StatusCode != 400 {
		t.Fatalf("simulate error_rate=2: %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"GET /notifications?limit=5", "GET /notifications?kind=alert&limit=8", "POST /simulate?count=30&error_rate=0.5"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

// TestWritesRefuseDNSRebinding: a page at evil.example whose name was
// rebound to this machine sends Host and Origin evil.example:port along
// with the console header; the console refuses it (421, or 403 for a
// foreign Origin) and accepts the loopback spellings of its own address
// and the configured external URL. Reads stay open.
func TestWritesRefuseDNSRebinding(t *testing.T) {
	fake := &fakeChaos{}
	chaosSrv := httptest.NewServer(fake)
	defer chaosSrv.Close()
	srv := mustConsole(t, console.Options{ChaosURL: chaosSrv.URL, ChaosToken: token, ExternalURL: "https://console.example.org/prom"})
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	own := "127.0.0.1:" + port
	enable := srv.URL + "/console/api/chaos/enable"
	for _, tc := range []struct {
		name, host, origin string
		want               int
	}{
		{"rebound host and origin", "evil.example:" + port, "http://evil.example:" + port, http.StatusMisdirectedRequest},
		{"rebound host, no origin", "evil.example:" + port, "", http.StatusMisdirectedRequest},
		{"evil.example:9090", "evil.example:9090", "http://evil.example:9090", http.StatusMisdirectedRequest},
		{"own port, other interface name", "10.0.0.1:" + port, "", http.StatusMisdirectedRequest},
		{"own host, foreign origin", own, "http://evil.example:" + port, http.StatusForbidden},
		{"own host, origin at another port", own, "http://127.0.0.1:1", http.StatusForbidden},
		{"own host, origin with a path", own, "http://" + own + "/x", http.StatusForbidden},
		{"external host, foreign origin", "console.example.org", "https://evil.example", http.StatusForbidden},
		{"127.0.0.1", own, "http://" + own, http.StatusOK},
		{"localhost", "localhost:" + port, "http://localhost:" + port, http.StatusOK},
		{"LOCALHOST", "LOCALHOST:" + port, "http://LocalHost:" + port, http.StatusOK},
		{"[::1]", "[::1]:" + port, "http://[::1]:" + port, http.StatusOK},
		{"no origin (curl)", own, "", http.StatusOK},
		{"external URL", "console.example.org", "https://console.example.org", http.StatusOK},
		{"external URL, default port spelt out", "console.example.org:443", "https://console.example.org:443", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"X-CloudCart-Console": "1", "Host": tc.host}
			if tc.origin != "" {
				h["Origin"] = tc.origin
			}
			resp, body := do(t, "POST", enable, "", h)
			if resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want != http.StatusOK && !strings.Contains(body, `"error"`) {
				t.Fatalf("refusal is not a JSON error: %s", body)
			}
		})
	}
	fake.mu.Lock()
	enabled := len(fake.calls)
	fake.mu.Unlock()
	if want := 7; enabled != want {
		t.Errorf("the chaos service saw %d writes, want %d (only the accepted ones)", enabled, want)
	}
	// Reads do not look at Host.
	if resp, body := do(t, "GET", srv.URL+"/console/api/chaos/settings", "", map[string]string{"Host": "evil.example:" + port}); resp.StatusCode != 200 {
		t.Errorf("read with a foreign Host: %d %s", resp.StatusCode, body)
	}
}

func TestNewRejectsBadExternalURL(t *testing.T) {
	for _, u := range []string{"console.example.org", "ftp://x", "http://"} {
		if _, err := console.New(console.Options{ListenAddr: "127.0.0.1:9090", ExternalURL: u}); err == nil {
			t.Errorf("ExternalURL %q accepted", u)
		}
	}
}
