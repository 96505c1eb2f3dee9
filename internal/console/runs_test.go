package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/console"
)

// TestRunbooksServedLocally: every alert of the shipped rules has its
// runbook section, served by the console under the anchor its
// runbook_url names.
func TestRunbooksServedLocally(t *testing.T) {
	srv := mustConsole(t, console.Options{})
	resp, body := do(t, "GET", srv.URL+"/console/api/runbooks", "", nil)
	var got struct {
		Runbooks []console.Runbook `json:"runbooks"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got.Runbooks) < 5 {
		t.Fatalf("%d %.300s", resp.StatusCode, body)
	}
	books := map[string]console.Runbook{}
	for _, b := range got.Runbooks {
		books[b.Anchor] = b
	}
	if intro := got.Runbooks[0]; intro.Anchor != "" || intro.Title != "Runbooks" || !strings.Contains(intro.Markdown, "```sh") {
		t.Errorf("introduction %+v", intro)
	}
	files, _ := filepath.Glob("../../deploy/prometheus/rules/*.yml")
	urlRe := regexp.MustCompile(`runbook_url: \S*runbooks\.md#([a-z0-9-]+)`)
	alertRe := regexp.MustCompile(`(?m)^\s*- alert: (\S+)`)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range urlRe.FindAllStringSubmatch(string(b), -1) {
			n++
			if rb, ok := books[m[1]]; !ok || !strings.Contains(rb.Markdown, "**Meaning.**") {
				t.Errorf("%s: runbook #%s not served (%+v)", f, m[1], rb)
			}
		}
		for _, m := range alertRe.FindAllStringSubmatch(string(b), -1) {
			if _, ok := books[console.Anchor(m[1])]; !ok {
				t.Errorf("%s: alert %s has no runbook section", f, m[1])
			}
		}
	}
	if n == 0 {
		t.Fatal("no runbook_url in the rules")
	}
	if a := console.Anchor("Error budget: 30 days"); a != "error-budget-30-days" {
		t.Errorf("anchor %q", a)
	}
}

// fakeFleet answers for every service a scenario run calls: the chaos
// admin API (fakeChaos), a Prometheus with no alert, a notifier with no
// notification, and 404 for the shop (the run's load fails, harmlessly).
func fakeFleet(chaos *fakeChaos) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/chaos/"):
			chaos.ServeHTTP(w, r)
		case r.URL.Path == "/api/v1/alerts":
			_, _ = io.WriteString(w, `{"status":"success","data":{"alerts":[]}}`)
		case r.URL.Path == "/api/v1/query":
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
		case r.URL.Path == "/notifications":
			_, _ = io.WriteString(w, `{"notifications":[]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"fake"}}`)
		}
	})
}

// TestScenarioRunStopRestores: a scenario started from the console applies
// its cause through the chaos API, shows the step in its run, and a stop
// restores the settings found before; a second start while one runs is 409.
// (Faults the scenario did not set make it refuse to start:
// internal/scenario's TestRunnerRefusesStrayFaults.)
func TestScenarioRunStopRestores(t *testing.T) {
	before := cloudcart.ChaosSettings{}
	chaos := &fakeChaos{settings: before}
	fleet := httptest.NewServer(fakeFleet(chaos))
	defer fleet.Close()
	u := fleet.URL
	srv := mustConsole(t, console.Options{ChaosURL: u, ChaosToken: token, PrometheusURL: u, GatewayURL: u, NotifierURL: u, OrdersURL: u})
	api := srv.URL + "/console/api/chaos/scenarios/"
	if resp, body := do(t, "POST", api+"latency-spike", "", write); resp.StatusCode != http.StatusAccepted || !strings.Contains(body, `"running":true`) {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "POST", api+"error-spike", "", write); resp.StatusCode != http.StatusConflict {
		t.Fatalf("second start: %d", resp.StatusCode)
	}
	var run struct {
		Run console.RunState `json:"run"`
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body := do(t, "GET", api+"run", "", nil)
		if err := json.Unmarshal([]byte(body), &run); err != nil {
			t.Fatal(err)
		}
		if len(run.Run.Events) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cause applied: %s", body)
		}
	}
	chaos.mu.Lock()
	applied := chaos.settings
	chaos.mu.Unlock()
	if !applied.Enabled || applied.Targets["gateway"].Latency == nil {
		t.Fatalf("cause: %+v", applied)
	}
	resp, body := do(t, "DELETE", api+"run", "", write)
	if err := json.Unmarshal([]byte(body), &run); resp.StatusCode != 200 || err != nil || run.Run.Running || run.Run.Result == nil || run.Run.Result.Passed {
		t.Fatalf("stop: %d %s", resp.StatusCode, body)
	}
	chaos.mu.Lock()
	restored := chaos.settings
	chaos.mu.Unlock()
	if restored.Enabled || len(restored.Configured()) != 0 {
		t.Fatalf("restored: %+v", restored)
	}
	if resp, _ := do(t, "DELETE", api+"run", "", write); resp.StatusCode != http.StatusConflict {
		t.Fatalf("stop with nothing running: %d", resp.StatusCode)
	}
}
