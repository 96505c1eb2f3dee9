package scenario_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/scenario"
)

// fakeFleet answers as the chaos admin API, the Prometheus alerts and
// query API and the notification worker do. Once chaos is switched on the
// alert fires if fires is set (and its notification exists); once the
// settings are put back it resolves.
type fakeFleet struct {
	t     *testing.T
	fires bool

	mu       sync.Mutex
	settings cloudcart.ChaosSettings
	puts     []cloudcart.ChaosSettings
	firedAt  time.Time
	resolved time.Time
}

// strayFaults are faults a person left configured, chaos switched off.
var strayFaults = cloudcart.ChaosSettings{PaymentFailureRate: 0.01,
	Targets: map[string]cloudcart.ChaosFaults{"users": {Latency: &cloudcart.LatencyFault{Probability: 0.1, FixedMS: 5}}}}

func mustFakeFleet(t *testing.T, fires bool, settings cloudcart.ChaosSettings) (*fakeFleet, *httptest.Server) {
	f := &fakeFleet{t: t, fires: fires, settings: settings}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeFleet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	write := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.URL.Path == "/chaos/settings":
		if r.Header.Get("Authorization") != "Bearer "+testChaosToken {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPut {
			var s cloudcart.ChaosSettings
			if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			f.puts = append(f.puts, s)
			switch {
			case s.Enabled && f.fires && f.firedAt.IsZero():
				f.firedAt = time.Now().Add(200 * time.Millisecond)
			case !s.Enabled && !f.firedAt.IsZero():
				f.resolved = time.Now().Add(200 * time.Millisecond)
			}
			f.settings = s
		}
		write(f.settings)
	case r.URL.Path == "/api/v1/alerts":
		var alerts []map[string]any
		if now := time.Now(); !f.firedAt.IsZero() && now.After(f.firedAt) && (f.resolved.IsZero() || now.Before(f.resolved)) {
			alerts = append(alerts, map[string]any{"state": "firing", "activeAt": f.firedAt, "value": "0",
				"labels":      map[string]string{"alertname": "UpstreamServiceDown", "job": "order-service", "severity": "page"},
				"annotations": map[string]string{}})
		}
		write(map[string]any{"status": "success", "data": map[string]any{"alerts": alerts}})
	case r.URL.Path == "/api/v1/query":
		write(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": []any{}}})
	case r.URL.Path == "/notifications":
		ns := []map[string]any{}
		note := func(status string, at time.Time) {
			ns = append([]map[string]any{{"id": "ntf_" + status, "title": "[" + strings.ToUpper(status) + "] UpstreamServiceDown (order-service)",
				"severity": "page", "created_at": at,
				"fields": map[string]string{"status": status, "label.job": "order-service", "label.severity": "page"}}}, ns...)
		}
		if now := time.Now(); !f.firedAt.IsZero() && now.After(f.firedAt) {
			note("firing", f.firedAt)
		}
		if now := time.Now(); !f.resolved.IsZero() && now.After(f.resolved) {
			note("resolved", f.resolved)
		}
		write(map[string]any{"notifications": ns})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeFleet) state() (cloudcart.ChaosSettings, []cloudcart.ChaosSettings) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settings, append([]cloudcart.ChaosSettings(nil), f.puts...)
}

func mustRunner(t *testing.T, url string, timeout time.Duration, opts ...func(*scenario.Config)) *scenario.Runner {
	t.Helper()
	c := scenario.Config{Gateway: url, Prometheus: url, Chaos: url, Notifier: url, Orders: url,
		ChaosToken: testChaosToken, Timeout: timeout, ResolveTimeout: 10 * time.Second, Poll: 20 * time.Millisecond}
	for _, o := range opts {
		o(&c)
	}
	r, err := scenario.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func serviceDown(t *testing.T) scenario.Scenario {
	t.Helper()
	sc, ok := scenario.Lookup("service-down", "")
	if !ok {
		t.Fatal("no service-down scenario")
	}
	return sc
}

// TestRunnerTimeline: a cause whose alert fires and is notified passes,
// with every step of the timeline in order, each observed live in that
// order with the detail the result has, and the chaos settings found
// before the cause put back.
func TestRunnerTimeline(t *testing.T) {
	t.Parallel()
	f, srv := mustFakeFleet(t, true, cloudcart.ChaosSettings{})
	var live []scenario.Event
	var mu sync.Mutex
	observe := func(c *scenario.Config) {
		c.Observe = func(_ scenario.Scenario, e scenario.Event) { mu.Lock(); live = append(live, e); mu.Unlock() }
	}
	before, _ := f.state()
	res := mustRunner(t, srv.URL, 10*time.Second, observe).Run(context.Background(), serviceDown(t))
	if !res.Passed {
		t.Fatalf("failed: %s", res.Error)
	}
	mu.Lock()
	if a, b := jsonOf(t, live), jsonOf(t, res.Events); a != b {
		t.Errorf("observed live\n%s\nthe result's timeline\n%s", a, b)
	}
	mu.Unlock()
	var steps []string
	for _, e := range res.Events {
		steps = append(steps, e.Step)
	}
	want := []string{scenario.StepCause, scenario.StepPending, scenario.StepFiring, scenario.StepNotification, scenario.StepRestored, scenario.StepResolved}
	if strings.Join(steps, ",") != strings.Join(want, ",") {
		t.Errorf("steps %v, want %v", steps, want)
	}
	if res.CauseToNotification <= 0 || res.RestoreToResolved <= 0 {
		t.Errorf("cause to notification %v, restore to resolved %v", res.CauseToNotification, res.RestoreToResolved)
	}
	after, puts := f.state()
	if len(puts) != 2 || !puts[0].Enabled || !puts[0].Targets["orders"].Outage {
		t.Fatalf("the cause put %+v", puts)
	}
	if b, a := jsonOf(t, before), jsonOf(t, after); a != b {
		t.Errorf("settings after the restore\n%s\nwant those before the cause\n%s", a, b)
	}
	var buf strings.Builder
	if err := scenario.WriteTimeline(&buf, res); err != nil || !strings.Contains(buf.String(), "PASS service-down") {
		t.Errorf("timeline: %v\n%s", err, buf.String())
	}
}

// TestRunnerRestoresOnFailure: an alert that never fires fails the run
// once Timeout has passed, and an interrupted run fails too; both restore
// the settings.
func TestRunnerRestoresOnFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cancel  bool
		wantErr string
	}{
		{"timeout", false, "no firing within"},
		{"interrupted", true, "interrupted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := mustFakeFleet(t, false, cloudcart.ChaosSettings{})
			before, _ := f.state()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				time.AfterFunc(300*time.Millisecond, cancel)
			}
			res := mustRunner(t, srv.URL, time.Second).Run(ctx, serviceDown(t))
			if res.Passed || !strings.Contains(res.Error, tc.wantErr) {
				t.Fatalf("passed %v, error %q; want a failure saying %q", res.Passed, res.Error, tc.wantErr)
			}
			if _, ok := res.Event(scenario.StepRestored); !ok {
				t.Error("no restore in the timeline")
			}
			after, _ := f.state()
			if b, a := jsonOf(t, before), jsonOf(t, after); a != b {
				t.Errorf("settings after the run\n%s\nwant\n%s", a, b)
			}
		})
	}
}

// TestRunnerRefusesStrayFaults: faults the scenario did not set, left
// configured with chaos off, make it refuse to start and name them (its
// own enable would bring them back); with Reset it clears them first and
// leaves the fleet clean.
func TestRunnerRefusesStrayFaults(t *testing.T) {
	t.Parallel()
	t.Run("refuses", func(t *testing.T) {
		t.Parallel()
		f, srv := mustFakeFleet(t, true, strayFaults)
		res := mustRunner(t, srv.URL, 10*time.Second).Run(context.Background(), serviceDown(t))
		if res.Passed || !strings.Contains(res.Error, "users: latency") || !strings.Contains(res.Error, "payment_failure_rate 0.01") ||
			!strings.Contains(res.Error, "cloudcart chaos reset") {
			t.Fatalf("passed %v, error %q; want a refusal naming the stray faults and the way out", res.Passed, res.Error)
		}
		if _, puts := f.state(); len(puts) != 0 {
			t.Fatalf("a refused scenario changed the settings: %+v", puts)
		}
	})
	t.Run("reset", func(t *testing.T) {
		t.Parallel()
		f, srv := mustFakeFleet(t, true, strayFaults)
		res := mustRunner(t, srv.URL, 10*time.Second, func(c *scenario.Config) { c.Reset = true }).Run(context.Background(), serviceDown(t))
		if !res.Passed {
			t.Fatalf("failed: %s", res.Error)
		}
		after, puts := f.state()
		if len(puts) != 3 || len(puts[0].Configured()) != 0 || puts[1].Targets["users"].Latency != nil {
			t.Fatalf("puts %+v; want a reset, the cause alone, the restore", puts)
		}
		if c := after.Configured(); len(c) != 0 {
			t.Fatalf("faults left after the run: %v", c)
		}
	})
}

// TestLowStockSkipsWithoutAdmin: without the admin account low-stock is
// skipped, saying why, and touches nothing.
func TestLowStockSkipsWithoutAdmin(t *testing.T) {
	t.Parallel()
	f, srv := mustFakeFleet(t, true, cloudcart.ChaosSettings{})
	sc, _ := scenario.Lookup("low-stock", "")
	res := mustRunner(t, srv.URL, 10*time.Second).Run(context.Background(), sc)
	if !res.Skipped || res.Passed || !strings.Contains(res.Error, "--users.admin-email") {
		t.Fatalf("result %+v; want skipped, saying how to give the admin account", res)
	}
	if _, puts := f.state(); len(puts) != 0 {
		t.Fatalf("a skipped scenario changed the settings: %+v", puts)
	}
	var b strings.Builder
	if err := scenario.WriteTimeline(&b, res); err != nil || !strings.HasPrefix(b.String(), "SKIP low-stock: ") {
		t.Fatalf("timeline %q, %v", b.String(), err)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestScenariosAreValid: every scenario's chaos settings pass the chaos
// service's validation, and every scenario says what it expects.
func TestScenariosAreValid(t *testing.T) {
	t.Parallel()
	for _, service := range []string{"", "gateway", "aggregator"} {
		for _, sc := range scenario.All(service) {
			if sc.Expect.Name == "" || sc.Severity == "" || sc.Cause == "" || sc.Symptom.Series == "" {
				t.Errorf("%s: incomplete: %+v", sc.Name, sc)
			}
		}
	}
	if len(scenario.Names()) != 6 {
		t.Errorf("scenarios %v", scenario.Names())
	}
	var b strings.Builder
	if err := scenario.WriteList(&b, scenario.All("")); err != nil || strings.Count(b.String(), "expect: ") != 6 {
		t.Errorf("list: %v\n%s", err, b.String())
	}
}
