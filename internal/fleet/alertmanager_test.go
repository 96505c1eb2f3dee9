package fleet_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
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

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// webhookReceiver records Alertmanager webhook posts.
type webhookReceiver struct {
	mu   sync.Mutex
	msgs []amMessage
}

type amMessage struct {
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var m amMessage
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	w.msgs = append(w.msgs, m)
	w.mu.Unlock()
}

// saw reports whether an alert named alertname arrived with the status.
func (w *webhookReceiver) saw(alertname, status, receiver string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		for _, a := range m.Alerts {
			if a.Labels["alertname"] == alertname && a.Status == status && m.Receiver == receiver {
				return true
			}
		}
	}
	return false
}

// TestAlertReachesAlertmanager runs the shipped alert rules on the embedded
// engine and Debian's real Alertmanager with the shipped routing: reference
// 001's error spike makes HighErrorRate fire, Alertmanager routes it by
// severity to the page receiver's webhook, and it resolves when the errors
// stop. The test copy of alertmanager.yml only points the webhooks at the
// test's receiver and shortens group_wait/group_interval to 1 s.
func TestAlertReachesAlertmanager(t *testing.T) {
	am := lookTool(t, "prometheus-alertmanager", "alertmanager")
	recv := &webhookReceiver{}
	hook := httptest.NewServer(recv)
	defer hook.Close()

	shipped, err := os.ReadFile("../../deploy/alertmanager/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(string(shipped), "http://notifier:8005/alerts", hook.URL+"/alerts")
	cfg = regexp.MustCompile(`group_(wait|interval): \S+`).ReplaceAllString(cfg, "group_$1: 1s")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(am, "--config.file="+cfgFile, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	amURL := "http://" + addr
	mustEventually(t, 15*time.Second, "alertmanager ready", func() bool {
		resp, err := http.Get(amURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	f := mustFleetConfig(t, func(c *fleet.Config) {
		c.Prometheus = &fleet.PrometheusConfig{Profile: fleet.DemoProfile, AlertmanagerURL: amURL}
	})
	orders := f.URL("orders")
	mustEventually(t, 60*time.Second, "HighErrorRate firing at the page receiver", func() bool {
		post(t, orders+"/simulate?count=20&error_rate=0.6", "")
		return recv.saw("HighErrorRate", "firing", "page")
	})
	mustEventually(t, 60*time.Second, "HighErrorRate resolved", func() bool {
		post(t, orders+"/simulate?count=200&error_rate=0", "")
		return recv.saw("HighErrorRate", "resolved", "page")
	})
	if t.Failed() {
		t.Logf("alertmanager output:\n%s", logs.String())
	}
}
