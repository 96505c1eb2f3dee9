package fleet_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/freeport"
)

// lookTool finds a program the test needs. Missing, the test skips on a
// developer machine and fails under CI, where .ci/run installs it.
func lookTool(tb testing.TB, names ...string) string {
	tb.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("none of %v on PATH; .ci/run must install it", names)
	}
	tb.Skipf("none of %v on PATH", names)
	return ""
}

// TestAlertReachesAlertmanager runs the shipped alert rules on the embedded
// engine, Debian's real Alertmanager with the shipped routing, and the
// fleet's notification worker: reference 001's error spike makes
// HighErrorRate fire, Alertmanager routes it to the worker's /alerts, a
// notification exists, and it resolves when the errors stop. The test copy
// of alertmanager.yml only points the webhooks at this fleet's notification
// worker and shortens group_wait/group_interval to 1 s.
func TestAlertReachesAlertmanager(t *testing.T) {
	am := lookTool(t, "prometheus-alertmanager", "alertmanager")
	addr := freeport.Addr(t)
	amURL := "http://" + addr
	f := mustFleetConfig(t, func(c *fleet.Config) {
		c.Prometheus = &fleet.PrometheusConfig{Profile: fleet.DemoProfile, AlertmanagerURL: amURL}
	})

	shipped, err := os.ReadFile("../../deploy/alertmanager/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(string(shipped), "http://notifier:8005/alerts", f.URL("notifier")+"/alerts")
	cfg = regexp.MustCompile(`group_(wait|interval): \S+`).ReplaceAllString(cfg, "group_$1: 1s")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(am, "--config.file="+cfgFile, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	mustEventually(t, 15*time.Second, "alertmanager ready", func() bool {
		resp, err := http.Get(amURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	orders := f.URL("orders")
	notified := func(title string) bool {
		var page struct {
			Notifications []struct{ Title, Severity string }
		}
		getJSON(t, f.URL("notifier")+"/notifications?kind=alert&limit=100", &page)
		for _, n := range page.Notifications {
			if strings.HasPrefix(n.Title, title) && n.Severity == "page" {
				return true
			}
		}
		return false
	}
	mustEventually(t, 60*time.Second, "a HighErrorRate notification via Alertmanager", func() bool {
		post(t, orders+"/simulate?count=20&error_rate=0.6", "")
		return notified("[FIRING] HighErrorRate (order-service)")
	})
	mustEventually(t, 90*time.Second, "HighErrorRate resolved", func() bool {
		post(t, orders+"/simulate?count=200&error_rate=0", "")
		return notified("[RESOLVED] HighErrorRate (order-service)")
	})
	if t.Failed() {
		t.Logf("alertmanager output:\n%s", logs.String())
	}
}
