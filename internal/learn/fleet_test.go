package learn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/learn"
	"github.com/cloudcart/cloudcart/internal/users"
)

const testChaosToken = "learn-test-chaos-token-0123456789"

// TestLessonsOnAFleet walks the whole path on a fresh in-process fleet
// with the embedded engine (demo profile, as `cloudcart run` starts): for
// each lesson in order, every check is first run on the engine (it must be
// valid PromQL or a working API path), then the lesson's own requests are
// made, and the test waits until every check passes. A lesson whose
// actions cannot make its checks pass fails here.
func TestLessonsOnAFleet(t *testing.T) {
	ports := map[string]int{}
	for _, p := range fleet.Planned {
		ports[p.Name] = 0
	}
	f := fleettest.Start(t, fleet.Config{
		DataDir: t.TempDir(), Bind: "127.0.0.1", Ports: ports, Version: "test", AllInOne: true,
		Products: fleet.ProductsConfig{SeedSize: 300},
		// As under `cloudcart run`: 001's POST /orders and /simulate are
		// open to anonymous callers on a loopback fleet (docs/security.md).
		Orders:     fleet.OrdersConfig{DemoEndpoints: true},
		Users:      fleet.UsersConfig{BcryptCost: users.MinBcryptCost},
		Chaos:      fleet.ChaosConfig{Token: testChaosToken},
		Gateway:    fleet.GatewayConfig{UpstreamTimeout: 30 * time.Second},
		Prometheus: &fleet.PrometheusConfig{Profile: fleet.DemoProfile},
	})
	r := &learn.Runner{BaseURL: f.URL, EngineURL: f.URL("prometheus"), ChaosToken: testChaosToken}
	ctx := context.Background()

	t.Run("console", func(t *testing.T) { consoleAPI(t, f.URL("prometheus")) })
	for _, l := range learn.Lessons {
		t.Run(l.ID, func(t *testing.T) {
			for _, c := range l.Checks {
				if _, err := r.Passes(ctx, c); err != nil {
					t.Fatalf("check %q does not run on the engine: %v", c.Description, err)
				}
			}
			for _, a := range l.Actions {
				if !a.HTTP() {
					continue
				}
				res, err := r.Do(ctx, a)
				if err != nil {
					t.Fatalf("action %q: %v", a.Label, err)
				}
				t.Logf("%s → %d %s", a.Label, res.Status, res.Counts)
				if a.Repeat <= 1 && !(a.Expect == 0 && res.Status/100 == 2) && res.Status != a.Expect {
					t.Fatalf("action %q answered %d, want %s: %s", a.Label, res.Status, expected(a), res.Body)
				}
			}
			// Alerts need their window and `for` (10 s in the demo
			// profile); the rest need a scrape or two.
			deadline := time.Now().Add(2 * time.Minute)
			for _, c := range l.Checks {
				for {
					ok, err := r.Passes(ctx, c)
					if err != nil {
						t.Fatalf("check %q: %v", c.Description, err)
					}
					if ok {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("check %q still fails 2 minutes after the lesson's actions: %s", c.Description, c.Query+c.API)
					}
					time.Sleep(500 * time.Millisecond)
				}
			}
		})
	}
}

func expected(a learn.Action) string {
	if a.Expect == 0 {
		return "2xx"
	}
	return fmt.Sprint(a.Expect)
}

// consoleAPI checks the Learn page's server side on the fleet's console:
// the lessons as JSON, a button, and exercise comparisons (001's Error Rate
// query as written divides each series by itself, and the comparison must
// say so; the reference matches itself).
func consoleAPI(t *testing.T, base string) {
	var got struct {
		Lessons []struct {
			ID      string
			Actions []struct {
				Label    string
				Curl     string
				Runnable bool
			}
		}
	}
	if status := callJSON(t, "GET", base+"/console/api/lessons", "", true, &got); status != http.StatusOK {
		t.Fatalf("GET lessons: %d", status)
	}
	if len(got.Lessons) != len(learn.Lessons) || got.Lessons[0].ID != learn.Lessons[0].ID {
		t.Fatalf("lessons JSON has %d lessons, want %d", len(got.Lessons), len(learn.Lessons))
	}
	runnable := 0
	for _, l := range got.Lessons {
		for _, a := range l.Actions {
			if a.Runnable {
				runnable++
				if !strings.HasPrefix(a.Curl, "curl -s") && !strings.HasPrefix(a.Curl, "for i in") {
					t.Errorf("%s: button without a curl line: %q", l.ID, a.Curl)
				}
			}
		}
	}
	if runnable == 0 {
		t.Error("no lesson action is a console button")
	}

	dashboard, _ := learn.ByID("dashboard")
	var res struct{ Status int }
	if status := callJSON(t, "POST", base+"/console/api/lessons/dashboard/actions/0", "", true, &res); status != http.StatusOK || res.Status != http.StatusOK {
		t.Fatalf("button %q: %d, service answered %d", dashboard.Actions[0].Label, status, res.Status)
	}
	// The rate needs two scrapes of the new counts.
	var cmp learn.Comparison
	deadline := time.Now().Add(time.Minute)
	for {
		callJSON(t, "POST", base+"/console/api/lessons/dashboard/exercise", `{"query":`+strconv.Quote(dashboard.Exercise.Reference)+`}`, true, &cmp)
		if cmp.Match || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if !cmp.Match {
		t.Fatalf("the reference query does not match itself: %v", cmp.Differences)
	}
	asWritten := `rate(orders_processed_total{status="failure"}[1m]) / rate(orders_processed_total[1m])`
	callJSON(t, "POST", base+"/console/api/lessons/dashboard/exercise", `{"query":`+strconv.Quote(asWritten)+`}`, true, &cmp)
	if cmp.Match || len(cmp.Differences) == 0 {
		t.Errorf("001's query as written matched the reference: %+v", cmp)
	}
	t.Logf("001's query as written: %v", cmp.Differences)

	for _, c := range []struct {
		name, method, path, body string
		header                   bool
		want                     int
	}{
		{"unknown lesson", "POST", "/console/api/lessons/nope/actions/0", "", true, 404},
		{"action out of range", "POST", "/console/api/lessons/dashboard/actions/99", "", true, 404},
		{"action index not a number", "POST", "/console/api/lessons/dashboard/actions/x", "", true, 404},
		{"a link is not a button", "POST", "/console/api/lessons/pipeline/actions/0", "", true, 400},
		{"no console header", "POST", "/console/api/lessons/dashboard/actions/0", "", false, 403},
		{"bad PromQL", "POST", "/console/api/lessons/dashboard/exercise", `{"query":"sum(("}`, true, 400},
		{"empty query", "POST", "/console/api/lessons/dashboard/exercise", `{"query":""}`, true, 400},
		{"unknown field", "POST", "/console/api/lessons/dashboard/exercise", `{"q":"up"}`, true, 400},
		{"lesson without exercise", "POST", "/console/api/lessons/pipeline/exercise", `{"query":"up"}`, true, 404},
	} {
		var e struct{ Error struct{ Message string } }
		if status := callJSON(t, c.method, base+c.path, c.body, c.header, &e); status != c.want || e.Error.Message == "" {
			t.Errorf("%s: %d %q, want %d with a message", c.name, status, e.Error.Message, c.want)
		}
	}
}

func callJSON(t *testing.T, method, url, body string, consoleHeader bool, into any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if consoleHeader {
		req.Header.Set("X-CloudCart-Console", "1")
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %v", method, url, resp.StatusCode, err)
	}
	return resp.StatusCode
}
