package fleet_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/freeport"
)

// TestEngineAloneTargets: `serve prometheus --prometheus.targets` scrapes
// the services where they are (compose service names in a container
// network; here another process's port), exactly those, sends its alerts
// to the listed notifier's /alerts, and refuses a list it could not
// scrape.
func TestEngineAloneTargets(t *testing.T) {
	engine := func(targets ...string) fleet.Config {
		return fleet.Config{DataDir: t.TempDir(), Bind: "127.0.0.1", Version: "test",
			Ports:      map[string]int{fleet.EngineRole: 0},
			Prometheus: &fleet.PrometheusConfig{Profile: fleet.DemoProfile, Targets: targets}}
	}
	for _, tc := range []struct {
		name    string
		targets []string
		want    string
	}{
		{"not NAME=URL", []string{"orders"}, "must be NAME=URL"},
		{"unknown service", []string{"billing=http://billing:8009"}, `unknown service "billing"`},
		{"not a URL", []string{"orders=orders:8003"}, "not an http(s) URL"},
		{"no port", []string{"orders=http://orders"}, "want http://host:port"},
		{"a path", []string{"orders=http://orders:8003/metrics"}, "want http://host:port"},
		{"https", []string{"orders=https://orders:8003"}, "want http://host:port"},
		{"twice", []string{"orders=http://a:1", "orders=http://b:2"}, "orders given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fleet.New(context.Background(), engine(tc.targets...), fleet.EngineRole)
			if err == nil || !strings.Contains(err.Error(), "--prometheus.targets") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want --prometheus.targets: …%s…", err, tc.want)
			}
		})
	}

	t.Run("scrapes the listed services", func(t *testing.T) {
		other := mustFleetConfig(t) // stands for the containers
		cfg := engine("orders="+other.URL("orders"), "products="+other.URL("products"))
		eng := fleettest.Start(t, cfg, fleet.EngineRole)
		base := eng.URL(fleet.EngineRole)
		fleettest.WaitFor(t, 30*time.Second, "both listed services scraped, nothing else", func() string {
			var q struct {
				Data struct {
					Result []struct {
						Metric map[string]string `json:"metric"`
						Value  [2]any            `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			getJSONInto(t, base+"/api/v1/query?query=up", &q)
			up := map[string]any{}
			for _, r := range q.Data.Result {
				up[r.Metric["job"]+" "+r.Metric["instance"]] = r.Value[1]
			}
			want := map[string]any{
				"order-service " + strings.TrimPrefix(other.URL("orders"), "http://"):     "1",
				"product-service " + strings.TrimPrefix(other.URL("products"), "http://"): "1",
				fleet.PrometheusJob + " " + strings.TrimPrefix(base, "http://"):           "1",
			}
			if len(up) != len(want) {
				return fmt.Sprintf("up: %v", up)
			}
			for k, v := range want {
				if up[k] != v {
					return fmt.Sprintf("up: %v", up)
				}
			}
			return ""
		})
		gen, err := os.ReadFile(filepath.Join(cfg.DataDir, "prometheus", "prometheus.generated.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(gen), "user-service") {
			t.Errorf("an unlisted service is scraped:\n%s", gen)
		}
	})

	t.Run("alerts go to the listed notifier", func(t *testing.T) {
		var (
			mu     sync.Mutex
			alerts []string
		)
		notifier := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/alerts" && r.Method == http.MethodPost {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				alerts = append(alerts, string(b))
				mu.Unlock()
			}
		})) // its /metrics: an empty exposition
		defer notifier.Close()
		down := "http://" + mustClosedAddr(t)
		fleettest.Start(t, engine("notifier="+notifier.URL, "gateway="+down), fleet.EngineRole)
		fleettest.WaitFor(t, 90*time.Second, "UpstreamServiceDown for the gateway posted to the notifier's /alerts", func() string {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range alerts {
				if strings.Contains(a, `"alertname":"UpstreamServiceDown"`) && strings.Contains(a, `"job":"api-gateway"`) {
					return ""
				}
			}
			return fmt.Sprintf("%d posts: %.300q", len(alerts), alerts)
		})
	})
}

// mustClosedAddr is a loopback address nothing listens on.
func mustClosedAddr(tb testing.TB) string {
	tb.Helper()
	return freeport.Addr(tb) // reserved: nothing will listen on it
}
