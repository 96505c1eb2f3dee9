package validate_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// noHealthcheck are the compose services that cannot have a health check,
// and why. Every other service must have one.
var noHealthcheck = map[string]string{
	"otel-collector": "the collector image is FROM scratch: no shell, no wget, nothing to run a check with",
}

// mustCompose loads deploy/docker-compose.yml as `docker compose` does:
// schema validation, interpolation (with an empty environment, so the
// defaults in the file apply), merge keys, paths resolved.
func mustCompose(tb testing.TB) *types.Project {
	tb.Helper()
	return mustComposeFile(tb, "docker-compose.yml", "cloudcart")
}

// mustComposeFile loads a compose file of deploy/ as mustCompose does.
func mustComposeFile(tb testing.TB, file, project string) *types.Project {
	tb.Helper()
	wd, err := filepath.Abs(".")
	if err != nil {
		tb.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(wd, file)}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SetProjectName(project, true)
		o.ResolvePaths = true
	})
	if err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	return p
}

// cloudcartServices are the compose services running the CloudCart image,
// by compose service name.
func cloudcartServices(p *types.Project) map[string]types.ServiceConfig {
	out := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		if s.Build != nil || strings.HasPrefix(s.Image, "cloudcart:") {
			out[name] = s
		}
	}
	return out
}

func TestCompose(t *testing.T) { checkCompose(t, mustCompose(t)) }

// checkCompose checks a compose stack: for both (docker-compose.yml and
// docker-compose.light.yml) files, ports, health checks, dependencies,
// images, and that each CloudCart container serves what it is named
// after (the engine, `serve prometheus`, included: TestComposeLight checks
// its flags) with settings that are real flags naming real services; for
// the full stack, its observability configuration files too.
func checkCompose(t *testing.T, p *types.Project) {
	naming := mustNaming(t)
	cc := cloudcartServices(p)

	t.Run("every service once, named as it is served", func(t *testing.T) {
		for _, s := range naming {
			if _, ok := cc[s.Name]; !ok {
				t.Errorf("no compose service %q running `cloudcart serve %s`", s.Name, s.Name)
			}
		}
		for name, s := range cc {
			want := []string{"serve", name}
			if name == fleet.EngineRole && len(s.Command) > 2 && slices.Equal(s.Command[:2], want) {
				continue // and its flags
			}
			if !slices.Equal(s.Command, want) {
				t.Errorf("%s: command %q, want %q (the compose service is named as the served service, its hostname)", name, s.Command, want)
			}
		}
	})

	t.Run("referenced files exist", func(t *testing.T) {
		for name, s := range p.Services {
			if b := s.Build; b != nil {
				dockerfile := b.Dockerfile
				if !filepath.IsAbs(dockerfile) {
					dockerfile = filepath.Join(b.Context, dockerfile)
				}
				mustExist(t, name+": build context", b.Context)
				mustExist(t, name+": Dockerfile", dockerfile)
			}
			for _, v := range s.Volumes {
				if v.Type == types.VolumeTypeBind {
					mustExist(t, name+": bind mount", v.Source)
				}
			}
			for _, f := range s.EnvFiles {
				mustExist(t, name+": env_file", f.Path)
			}
		}
		for _, c := range p.Configs {
			if c.File != "" {
				mustExist(t, "config "+c.Name, c.File)
			}
		}
		for _, c := range p.Secrets {
			if c.File != "" {
				mustExist(t, "secret "+c.Name, c.File)
			}
		}
	})

	t.Run("host ports: loopback, no collisions", func(t *testing.T) {
		seen := map[string]string{}
		for _, name := range slices.Sorted(maps.Keys(p.Services)) {
			for _, port := range p.Services[name].Ports {
				key := fmt.Sprintf("%s/%s", port.Published, port.Protocol)
				if other, ok := seen[key]; ok {
					t.Errorf("host port %s published by both %s and %s", key, other, name)
				}
				seen[key] = name
				if port.HostIP != "127.0.0.1" {
					t.Errorf("%s publishes %s on %q: bind it to 127.0.0.1", name, key, port.HostIP)
				}
			}
		}
	})

	t.Run("health checks", func(t *testing.T) {
		for name, s := range p.Services {
			hc := s.HealthCheck
			_, exempt := noHealthcheck[name]
			switch {
			case exempt && hc != nil:
				t.Errorf("%s has a health check now: remove it from noHealthcheck", name)
			case !exempt && (hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE"):
				t.Errorf("%s has no health check", name)
			}
		}
		for name, s := range cc {
			svc, _ := fleet.Planned.Lookup(name) // the services and the engine
			want := []string{"CMD", "/cloudcart", "healthcheck", fmt.Sprintf("http://127.0.0.1:%d/readyz", svc.Port)}
			if s.HealthCheck == nil || !slices.Equal(s.HealthCheck.Test, want) {
				t.Errorf("%s: health check %v, want %q", name, s.HealthCheck, want)
			}
		}
	})

	t.Run("dependencies", func(t *testing.T) {
		for name, s := range p.Services {
			for dep, d := range s.DependsOn {
				target, ok := p.Services[dep]
				if !ok {
					t.Errorf("%s depends on %s, which is not a service", name, dep)
					continue
				}
				if d.Condition == types.ServiceConditionHealthy && target.HealthCheck == nil {
					t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
				}
				if _, exempt := noHealthcheck[dep]; !exempt && d.Condition != types.ServiceConditionHealthy {
					t.Errorf("%s depends on %s with condition %q: use service_healthy", name, dep, d.Condition)
				}
			}
		}
	})

	t.Run("pinned images", func(t *testing.T) {
		for name, s := range p.Services {
			if s.Image == "" {
				t.Errorf("%s has no image", name)
			} else if err := pinned(s.Image); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	t.Run("ports are the fleet's", func(t *testing.T) {
		for name, s := range cc {
			if name == fleet.EngineRole {
				continue // console and OTLP: TestComposeLight
			}
			svc, _ := lookupService(naming, name)
			if len(s.Ports) != 1 || s.Ports[0].Target != uint32(svc.Port) || s.Ports[0].Published != strconv.Itoa(svc.Port) {
				t.Errorf("%s: ports %+v, want %d published as %d", name, s.Ports, svc.Port, svc.Port)
			}
		}
	})

	t.Run("settings name real flags and real services", func(t *testing.T) {
		flags := serveEnv(t)
		dbs := mustDatabases(t)
		for name, s := range cc {
			for key, v := range s.Environment {
				if flags != nil && strings.HasPrefix(key, "CLOUDCART_") && !flags[key] {
					t.Errorf("%s: %s is not the variable of any `cloudcart serve` flag", name, key)
				}
				if v == nil || *v == "" || !connects(key) { // empty: an optional setting left unset
					continue
				}
				checkEndpoints(t, fmt.Sprintf("%s: %s", name, key), *v, p, naming, dbs)
			}
		}
	})

	if p.Name != "cloudcart" {
		return // the light stack has none of these files
	}

	t.Run("configuration files name real services", func(t *testing.T) {
		var cfgs struct {
			Prometheus struct {
				Alerting struct {
					Alertmanagers []struct {
						StaticConfigs []struct {
							Targets []string `yaml:"targets"`
						} `yaml:"static_configs"`
					} `yaml:"alertmanagers"`
				} `yaml:"alerting"`
			}
			Alertmanager struct {
				Receivers []struct {
					Name           string `yaml:"name"`
					WebhookConfigs []struct {
						URL string `yaml:"url"`
					} `yaml:"webhook_configs"`
				} `yaml:"receivers"`
			}
			Grafana struct {
				Datasources []struct {
					Name string `yaml:"name"`
					URL  string `yaml:"url"`
				} `yaml:"datasources"`
			}
			Collector struct {
				Exporters map[string]struct {
					Endpoint string `yaml:"endpoint"`
				} `yaml:"exporters"`
			}
		}
		mustYAML(t, "prometheus/prometheus.yml", &cfgs.Prometheus)
		mustYAML(t, "alertmanager/alertmanager.yml", &cfgs.Alertmanager)
		mustYAML(t, "grafana/provisioning/datasources/prometheus.yml", &cfgs.Grafana)
		mustYAML(t, "otel-collector/config.yaml", &cfgs.Collector)
		for _, am := range cfgs.Prometheus.Alerting.Alertmanagers {
			for _, sc := range am.StaticConfigs {
				for _, target := range sc.Targets {
					checkEndpoints(t, "prometheus.yml: alertmanager", target, p, naming, nil)
				}
			}
		}
		for _, r := range cfgs.Alertmanager.Receivers {
			for _, w := range r.WebhookConfigs {
				checkEndpoints(t, "alertmanager.yml: receiver "+r.Name, w.URL, p, naming, nil)
			}
		}
		for _, d := range cfgs.Grafana.Datasources {
			checkEndpoints(t, "grafana datasource "+d.Name, d.URL, p, naming, nil)
		}
		for name, e := range cfgs.Collector.Exporters {
			if e.Endpoint != "" && !strings.Contains(e.Endpoint, "0.0.0.0") && !strings.Contains(e.Endpoint, "${") {
				checkEndpoints(t, "otel-collector exporter "+name, e.Endpoint, p, naming, nil)
			}
		}
	})

	t.Run("prometheus scrapes the naming contract's jobs", func(t *testing.T) {
		var cfg struct {
			ScrapeConfigs []struct {
				JobName       string `yaml:"job_name"`
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"scrape_configs"`
		}
		mustYAML(t, "prometheus/prometheus.yml", &cfg)
		want := map[string]string{} // job → target
		for _, s := range naming {
			want[s.Job] = fmt.Sprintf("%s:%d", s.Name, s.Port)
		}
		got := map[string]bool{}
		for _, sc := range cfg.ScrapeConfigs {
			var targets []string
			for _, st := range sc.StaticConfigs {
				targets = append(targets, st.Targets...)
			}
			if target, ok := want[sc.JobName]; ok {
				got[sc.JobName] = true
				if !slices.Equal(targets, []string{target}) {
					t.Errorf("job %s scrapes %q, want [%s]", sc.JobName, targets, target)
				}
				continue
			}
			// Any other job scrapes the stack's own parts, never a
			// CloudCart service under a name of its own.
			for _, target := range targets {
				checkEndpoints(t, "prometheus.yml: job "+sc.JobName, target, p, naming, nil)
				host, _, _ := strings.Cut(target, ":")
				if _, ok := cc[host]; ok {
					t.Errorf("job %s scrapes CloudCart service %s: its job must be its service.name (docs/naming.md)", sc.JobName, host)
				}
			}
		}
		for job := range want {
			if !got[job] {
				t.Errorf("no scrape job %s (docs/naming.md)", job)
			}
		}
	})
}

// checkEndpoints fails unless every host value connects to is a compose
// service, at the CloudCart service's port when it is one, and a
// PostgreSQL DSN names a database deploy/postgres/init-databases.sql makes.
func checkEndpoints(tb testing.TB, what, value string, p *types.Project, naming []service, dbs []string) {
	tb.Helper()
	eps, err := endpoints(value)
	if err != nil {
		tb.Errorf("%s: %q: %v", what, value, err)
		return
	}
	if len(eps) == 0 {
		tb.Errorf("%s: %q names nothing to connect to", what, value)
	}
	for _, ep := range eps {
		if _, ok := p.Services[ep.Host]; !ok {
			tb.Errorf("%s: %q: host %s is not a compose service", what, value, ep.Host)
			continue
		}
		if s, ok := lookupService(naming, ep.Host); ok && ep.Port != strconv.Itoa(s.Port) {
			tb.Errorf("%s: %q: %s listens on %d", what, value, ep.Host, s.Port)
		}
		if ep.Host == "postgres" && dbs != nil && !slices.Contains(dbs, ep.Path) {
			tb.Errorf("%s: database %q is not created by postgres/init-databases.sql (%v)", what, ep.Path, dbs)
		}
	}
}

func mustExist(tb testing.TB, what, path string) {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		tb.Errorf("%s: %v", what, err)
	}
}

func mustYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	if err := yaml.Unmarshal(mustRead(tb, path), v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// The services find each other by name and port in the fleet too: the
// compose file's service names are the fleet's.
func TestComposeNamesAreFleetNames(t *testing.T) {
	p := mustCompose(t)
	for _, s := range fleet.Services {
		if _, ok := p.Services[s.Name]; !ok {
			t.Errorf("fleet service %s is not in docker-compose.yml", s.Name)
		}
	}
}

var localhostPort = regexp.MustCompile(`localhost:(\d+)`)

// docs/deploy.md sends readers to ports the compose stack publishes.
func TestDeployDocPorts(t *testing.T) {
	p := mustCompose(t)
	published := map[string]bool{}
	for _, s := range p.Services {
		for _, port := range s.Ports {
			published[port.Published] = true
		}
	}
	for _, m := range localhostPort.FindAllStringSubmatch(string(mustRead(t, repo("docs", "deploy.md"))), -1) {
		if !published[m[1]] {
			t.Errorf("docs/deploy.md mentions localhost:%s, which docker-compose.yml does not publish", m[1])
		}
	}
}
