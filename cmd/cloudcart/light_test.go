package main_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/freeport"
)

// TestLightComposeTopology runs deploy/docker-compose.light.yml's topology
// as processes, without Docker: the seven services, each its own `cloudcart
// serve` process on a shared nats-server, sending their spans over OTLP to
// one `cloudcart serve prometheus` started with the compose file's very
// command line, only its addresses rewritten (compose names and ports to
// this machine's free ports; the compose file's settings are checked by
// deploy/validate). The services keep SQLite in their data directories
// where the compose stack has PostgreSQL: storage is not what this test is
// about.
//
// It checks that the engine scrapes every service (up == 1 for each job)
// and that a request through the gateway arrives in its trace store as one
// trace spanning the gateway and the product service.
func TestLightComposeTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nine processes")
	}
	t.Parallel()
	natsBin := requireProgram(t, "nats-server")
	logs := t.TempDir()

	var light struct {
		Env      map[string]string `yaml:"x-light-env"`
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	b, err := os.ReadFile("../../deploy/docker-compose.light.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &light); err != nil {
		t.Fatal(err)
	}
	command := light.Services[fleet.EngineRole].Command
	if len(command) < 3 || !slices.Equal(command[:2], []string{"serve", fleet.EngineRole}) {
		t.Fatalf("docker-compose.light.yml: %s: command %q, want serve %s and its flags", fleet.EngineRole, command, fleet.EngineRole)
	}

	natsAddr := freeport.Addr(t)
	natsHost, natsPort, _ := net.SplitHostPort(natsAddr)
	nats := startDaemon(t, logs, "nats-server", nil, natsBin,
		"-js", "-a", natsHost, "-p", natsPort, "-sd", filepath.Join(t.TempDir(), "jetstream"))
	nats.waitListening(t, natsAddr, time.Minute)

	// Compose's names and ports → this machine's.
	addrs := map[string]string{} // serve name → 127.0.0.1:port
	rewrite := map[string]string{}
	for _, s := range fleet.Services {
		addrs[s.Name] = freeport.Addr(t)
		rewrite[fmt.Sprintf("%s:%d", s.Name, s.Port)] = addrs[s.Name]
	}
	engineAddr, otlpAddr := freeport.Addr(t), freeport.Addr(t)
	args := slices.Clone(command)
	used := map[string]bool{}
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--otlp.listen="); ok {
			if host, _, err := net.SplitHostPort(v); err != nil || host != "" {
				t.Fatalf("compose: --otlp.listen=%s, want :PORT (every interface of the container)", v)
			}
			args[i] = "--otlp.listen=" + otlpAddr
			used["--otlp.listen"] = true
			continue
		}
		for from, to := range rewrite {
			if strings.Contains(a, from) {
				args[i] = strings.ReplaceAll(args[i], from, to)
				used[from] = true
			}
		}
	}
	for from := range rewrite {
		if !used[from] {
			t.Errorf("compose: the engine's command names no %s: it would not scrape that service", from)
		}
	}
	if !used["--otlp.listen"] {
		t.Fatalf("compose: no --otlp.listen in %q", command)
	}
	_, enginePort, _ := net.SplitHostPort(engineAddr)
	engine := startDaemon(t, logs, fleet.EngineRole, []string{
		"CLOUDCART_BIND=127.0.0.1", // loopback here; all interfaces in the container
		"CLOUDCART_DATA_DIR=" + t.TempDir(),
		envName(fleet.EngineRole+".port") + "=" + enginePort,
	}, binary, args...)
	engineURL := "http://" + engineAddr
	engine.waitOK(t, engineURL+"/readyz", time.Minute)

	// The services, with the light stack's OTLP endpoint.
	otlpEndpoint, ok := light.Env["OTEL_EXPORTER_OTLP_ENDPOINT"]
	if !ok || !strings.Contains(otlpEndpoint, fleet.EngineRole+":") {
		t.Fatalf("compose: x-light-env sends OTLP to %q, want the %s service", otlpEndpoint, fleet.EngineRole)
	}
	u, err := url.Parse(otlpEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	_, otlpPort, _ := net.SplitHostPort(otlpAddr)
	_, wantPort, _ := net.SplitHostPort(strings.TrimPrefix(command[slices.IndexFunc(command, func(a string) bool { return strings.HasPrefix(a, "--otlp.listen=") })], "--otlp.listen="))
	if u.Port() != wantPort {
		t.Fatalf("compose: the services send OTLP to port %s, the engine listens on %s", u.Port(), wantPort)
	}
	u.Host = net.JoinHostPort("127.0.0.1", otlpPort)
	env := []string{
		"CLOUDCART_BIND=127.0.0.1",
		"CLOUDCART_NATS_URL=nats://" + natsAddr,
		"CLOUDCART_PRODUCTS_SEED_SIZE=20",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + u.String(), "OTEL_METRICS_EXPORTER=none", "OTEL_SERVICE_NAME=",
	}
	for name, a := range addrs {
		_, port, _ := net.SplitHostPort(a)
		env = append(env, envName(name+".port")+"="+port)
	}
	var started []*daemon
	for _, s := range fleet.Services {
		started = append(started, startDaemon(t, logs, s.Name, append(slices.Clone(env), "CLOUDCART_DATA_DIR="+t.TempDir()), binary, "serve", s.Name))
	}
	for i, s := range fleet.Services {
		started[i].waitOK(t, "http://"+addrs[s.Name]+"/readyz", 2*time.Minute)
	}

	t.Run("every service scraped", func(t *testing.T) {
		want := map[string]string{fleet.PrometheusJob: engineAddr}
		for _, s := range fleet.Services {
			want[s.ServiceName] = addrs[s.Name]
		}
		var got map[string]string
		// The compose file's profile scrapes every 15 s.
		waitFor(t, 2*time.Minute, "up == 1 for every job, at the rewritten compose targets", func() bool {
			r, ok := promQuery(engineURL, "up")
			if !ok {
				return false
			}
			got = map[string]string{}
			for _, s := range r.Data.Result {
				got[s.Metric["job"]] = s.Metric["instance"] + "=" + fmt.Sprint(s.Value[1])
			}
			for job, inst := range want {
				if got[job] != inst+"=1" {
					return false
				}
			}
			return len(got) == len(want)
		}, func() string { return fmt.Sprintf("up by job: %v\nwant each of %v at 1", got, want) })
	})

	t.Run("a request's trace reaches the engine", func(t *testing.T) {
		gw := "http://" + addrs["gateway"] + "/api/products?limit=1"
		var seen map[string]int
		waitFor(t, time.Minute, "a trace spanning api-gateway and product-service in the engine's store", func() bool {
			if resp, err := http.Get(gw); err == nil {
				resp.Body.Close()
			}
			var r struct {
				Data []struct {
					Processes map[string]struct {
						ServiceName string `json:"serviceName"`
					} `json:"processes"`
				} `json:"data"`
			}
			if !httpGetJSON(engineURL+"/api/traces?service=api-gateway&limit=100&lookback=1h", &r) {
				return false
			}
			seen = map[string]int{}
			for _, tr := range r.Data {
				svcs := map[string]bool{}
				for _, p := range tr.Processes {
					svcs[p.ServiceName] = true
					seen[p.ServiceName]++
				}
				if svcs["api-gateway"] && svcs["product-service"] {
					return true
				}
			}
			return false
		}, func() string { return fmt.Sprintf("services of the gateway's traces: %v", seen) })
	})
}
