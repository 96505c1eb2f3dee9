package main_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// TestK6Script runs the shipped k6 script (deploy/k6/cloudcart.js) for a
// few seconds against `cloudcart run`: its journeys must work against the
// real gateway and its thresholds (under 1% errors, over 99% of checks)
// hold. k6 comes from `go install go.k6.io/k6@v1.8.1` (.ci/run); under CI
// a missing k6 fails the test.
func TestK6Script(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the fleet and k6")
	}
	k6 := os.Getenv("CLOUDCART_TEST_K6")
	if k6 == "" {
		k6, _ = exec.LookPath("k6")
	}
	if k6 == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("k6 not found: set CLOUDCART_TEST_K6 or put k6 on PATH (.ci/run: go install go.k6.io/k6@v1.8.1)")
		}
		t.Skip("k6 not found (go install go.k6.io/k6@v1.8.1)")
	}
	out, err := exec.Command(k6, "inspect", "../../deploy/k6/cloudcart.js").CombinedOutput()
	if err != nil {
		t.Fatalf("k6 inspect: %v\n%s", err, out)
	}

	p := mustStart(t, "run", "--data-dir", t.TempDir(), "--no-prometheus", "--users.bcrypt-cost=10")
	before := telemetrytest.Value(t, telemetrytest.Scrape(t, p.urls["gateway"]+"/metrics"), "http_requests_total", nil)
	cmd := exec.Command(k6, "run", "--no-usage-report", "--quiet", "../../deploy/k6/cloudcart.js")
	cmd.Env = append(os.Environ(), "BASE_URL="+p.urls["gateway"], "RATE=5", "DURATION=5s", "USERS=2", "THINK_TIME=0.1",
		"K6_NO_COLOR=true")
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("k6 run (thresholds: <1%% errors, >99%% checks): %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "iterations") {
		t.Fatalf("no k6 summary:\n%s", out)
	}
	after := telemetrytest.Value(t, telemetrytest.Scrape(t, p.urls["gateway"]+"/metrics"), "http_requests_total", nil)
	if after-before < 25 {
		t.Fatalf("the gateway counted %v requests during the k6 run; 25 journeys make more", after-before)
	}
}
