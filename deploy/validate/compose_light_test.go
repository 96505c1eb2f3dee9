package validate_test

import (
	"fmt"
	"maps"
	"net"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// lightReplaced are the full stack's services the light stack's one
// `cloudcart serve prometheus` stands in for.
var lightReplaced = []string{"prometheus", "alertmanager", "grafana", "otel-collector", "jaeger"}

// TestComposeLight checks deploy/docker-compose.light.yml: what holds for
// both stacks (checkCompose), that its services are the full stack's with
// only their telemetry's destination and dependencies changed, and that
// the engine's command line uses real flags of `cloudcart serve
// prometheus`, scrapes every service at its compose name and port, and
// takes OTLP where the services send it.
func TestComposeLight(t *testing.T) {
	p := mustComposeFile(t, "docker-compose.light.yml", "cloudcart-light")
	full := mustCompose(t)
	checkCompose(t, p)
	naming := mustNaming(t)
	engine, ok := p.Services[fleet.EngineRole]
	if !ok {
		t.Fatalf("no %s service running `cloudcart serve %s`", fleet.EngineRole, fleet.EngineRole)
	}
	engineSvc, _ := fleet.Planned.Lookup(fleet.EngineRole)

	t.Run("the full stack's services, one engine for the observability stack", func(t *testing.T) {
		var want []string
		for name := range full.Services {
			if !slices.Contains(lightReplaced, name) {
				want = append(want, name)
			}
		}
		want = append(want, fleet.EngineRole)
		if got := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("services %q, want %q", got, slices.Sorted(slices.Values(want)))
		}
		for name, s := range p.Services {
			if name == fleet.EngineRole {
				continue
			}
			f := full.Services[name]
			if s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil {
				s.Environment = maps.Clone(s.Environment)
				s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = f.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
			}
			s.DependsOn, f.DependsOn = nil, nil
			if !reflect.DeepEqual(s, f) {
				t.Errorf("%s differs from the full stack's in more than OTEL_EXPORTER_OTLP_ENDPOINT and depends_on:\nlight %+v\nfull  %+v", name, s, f)
			}
		}
	})

	flags := mustEngineCommand(t, engine.Command)

	t.Run("engine command line: real flags", func(t *testing.T) {
		known := mustEngineFlags(t)
		for name := range flags {
			if !known[name] {
				t.Errorf("--%s is not a flag of `cloudcart serve %s` (-h lists %q)", name, fleet.EngineRole, slices.Sorted(maps.Keys(known)))
			}
		}
	})

	t.Run("engine scrapes every service at its compose name", func(t *testing.T) {
		v, ok := flags["prometheus.targets"]
		if !ok {
			t.Fatal("no --prometheus.targets: the engine would scrape 127.0.0.1, its own container")
		}
		checkEndpoints(t, "--prometheus.targets", v, p, naming, nil)
		got := map[string]string{}
		for kv := range strings.SplitSeq(v, ",") {
			name, u, _ := strings.Cut(kv, "=")
			got[name] = u
		}
		want := map[string]string{}
		for _, s := range naming {
			want[s.Name] = fmt.Sprintf("http://%s:%d", s.Name, s.Port)
		}
		if !maps.Equal(got, want) {
			t.Errorf("--prometheus.targets=%s, want each of the fleet's services: %v", v, want)
		}
		for _, f := range []string{"alertmanager.url", "alerts.webhook-url"} {
			if _, ok := flags[f]; ok {
				t.Errorf("--%s: the alerts go to the notification worker among the targets (no Alertmanager here)", f)
			}
		}
	})

	t.Run("engine listens where the services send", func(t *testing.T) {
		listen, ok := flags["otlp.listen"]
		host, port, err := net.SplitHostPort(listen)
		if !ok || err != nil || (host != "" && host != "0.0.0.0" && host != "::") {
			t.Fatalf("--otlp.listen=%q: want all interfaces (:PORT), the other containers send there", listen)
		}
		if b, ok := flags["bind"]; ok && b != "" {
			t.Errorf("--bind=%s: the engine must listen on every interface of its container", b)
		}
		wantPorts := map[string]bool{strconv.Itoa(engineSvc.Port): true, port: true}
		for _, pc := range engine.Ports {
			if pc.Published != strconv.Itoa(int(pc.Target)) || !wantPorts[pc.Published] {
				t.Errorf("%s publishes %s as %d; want %v, each as itself", fleet.EngineRole, pc.Published, pc.Target, slices.Sorted(maps.Keys(wantPorts)))
			}
			delete(wantPorts, pc.Published)
		}
		if len(wantPorts) > 0 {
			t.Errorf("%s does not publish %v (console and API; OTLP/HTTP)", fleet.EngineRole, slices.Sorted(maps.Keys(wantPorts)))
		}
		want := fmt.Sprintf("http://%s:%s", fleet.EngineRole, port)
		for name, s := range cloudcartServices(p) {
			if name == fleet.EngineRole {
				continue
			}
			if v := s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]; v == nil || *v != want {
				t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT %q, want %s", name, deref(v), want)
			}
			if d, ok := s.DependsOn[fleet.EngineRole]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s does not wait for %s: its first spans would be lost", name, fleet.EngineRole)
			}
		}
	})

	t.Run("engine keeps its TSDB in a volume", func(t *testing.T) {
		var ok bool
		for _, v := range engine.Volumes {
			ok = ok || (v.Type == types.VolumeTypeVolume && v.Target == "/data")
		}
		if !ok || !engine.ReadOnly {
			t.Errorf("%s: volumes %+v, read-only %v: want a named volume at /data (the image's CLOUDCART_DATA_DIR) on a read-only root", fleet.EngineRole, engine.Volumes, engine.ReadOnly)
		}
	})
}

// mustEngineCommand parses `serve prometheus --flag=value ...` into its
// flags; every flag must be written --name=value, so the test reads it
// as the program does.
func mustEngineCommand(tb testing.TB, cmd []string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, a := range cmd[min(2, len(cmd)):] {
		name, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			tb.Fatalf("%s: command argument %q: write flags as --name=value", fleet.EngineRole, a)
		}
		if _, dup := out[name]; dup {
			tb.Fatalf("%s: --%s given twice", fleet.EngineRole, name)
		}
		out[name] = v
	}
	return out
}

// mustEngineFlags lists the flags `cloudcart serve prometheus -h` prints.
func mustEngineFlags(tb testing.TB) map[string]bool {
	tb.Helper()
	out, err := exec.Command(mustBinary(tb), "serve", fleet.EngineRole, "-h").CombinedOutput()
	if err != nil {
		tb.Fatalf("cloudcart serve %s -h: %v\n%s", fleet.EngineRole, err, out)
	}
	names := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			names[m[1]] = true
		}
	}
	if !names["otlp.listen"] || !names["prometheus.targets"] {
		tb.Fatalf("cloudcart serve %s -h lists no --otlp.listen or --prometheus.targets:\n%s", fleet.EngineRole, out)
	}
	return names
}

func deref(p *string) string {
	if p == nil {
		return "(unset)"
	}
	return *p
}
