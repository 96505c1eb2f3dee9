package ruletest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/promslog"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"

	"github.com/cloudcart/cloudcart/internal/ruletest"
)

const (
	prometheusConfig   = "../../deploy/prometheus/prometheus.yml"
	alertmanagerConfig = "../../deploy/alertmanager/alertmanager.yml"
)

// The scrape jobs of docs/naming.md and their compose targets.
var wantTargets = map[string]string{
	"api-gateway":         "gateway:8080",
	"user-service":        "users:8001",
	"product-service":     "products:8002",
	"order-service":       "orders:8003",
	"chaos-service":       "chaos:8004",
	"notification-worker": "notifier:8005",
	"metrics-aggregator":  "aggregator:8006",
	// Not a CloudCart service: the OTel Collector's own telemetry, for
	// the compose stack (docs/naming.md).
	"otel-collector": "otel-collector:8888",
}

// requireTool returns the path of an external tool. Developers without it
// skip the test; CI (CI=true) must have it, so there it fails instead.
// Debian: apt-get install prometheus (promtool), prometheus-alertmanager
// (amtool).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed, and CI must run it: %v", name, err)
		}
		t.Skipf("%s is not installed: %v", name, err)
	}
	return path
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPromtoolCheckRules checks every rule file with Debian's promtool
// (Prometheus 2.42).
func TestPromtoolCheckRules(t *testing.T) {
	promtool := requireTool(t, "promtool")
	for _, f := range mustGlob(t, filepath.Join(rulesDir, "*.yml")) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out := runTool(t, promtool, "check", "rules", f)
			// Duplicate-rule lint findings are warnings (exit 0); we want none.
			if strings.Contains(out, "duplicate") {
				t.Errorf("promtool check rules %s:\n%s", f, out)
			}
		})
	}
}

// TestPromtoolTestRules runs every rule unit test file with Debian's
// promtool (Prometheus 2.42); TestDeployedRules runs the same files on the
// embedded 3.x engine.
func TestPromtoolTestRules(t *testing.T) {
	t.Parallel()
	promtool := requireTool(t, "promtool")
	for _, f := range mustGlob(t, filepath.Join(testsDir, "*.yml")) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			runTool(t, promtool, "test", "rules", f)
		})
	}
}

// TestPromtoolCheckConfig checks prometheus.yml, and through it the rule
// files it globs, with Debian's promtool.
//
// The shipped file is for Prometheus 3 (the compose image): its global
// scrape_native_histograms and always_scrape_classic_histograms are 3.x
// fields, and 2.42's strict YAML parser rejects the file for them ("field
// scrape_native_histograms not found"). So where promtool is 2.x, it checks
// the file with exactly those fields removed (ruletest.Config2x, the copy
// the multi-process test runs Prometheus 2.42 on), and the whole file is
// checked by the embedded 3.x loader in TestPrometheusConfig.
func TestPromtoolCheckConfig(t *testing.T) {
	promtool := requireTool(t, "promtool")
	out, err := exec.Command(promtool, "check", "config", prometheusConfig).CombinedOutput()
	if err == nil {
		return // a promtool that knows the 3.x fields
	}
	if !strings.Contains(string(out), "field scrape_native_histograms not found") {
		t.Fatalf("promtool check config %s: %v\n%s", prometheusConfig, err, out)
	}
	t.Logf("%s does not know Prometheus 3's native-histogram fields; checking the file without them", promtoolVersion(t, promtool))
	shipped, err := os.ReadFile(prometheusConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg2x, removed, err := ruletest.Config2x(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{"scrape_native_histograms", "always_scrape_classic_histograms"}) {
		t.Errorf("removed %v for Prometheus 2.x", removed)
	}
	dir := t.TempDir() // rule_files are relative to the config file
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), cfg2x, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range mustGlob(t, filepath.Join(filepath.Dir(prometheusConfig), "rules", "*.yml")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "rules", filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runTool(t, promtool, "check", "config", filepath.Join(dir, "prometheus.yml"))
}

func promtoolVersion(t *testing.T, promtool string) string {
	out, _ := exec.Command(promtool, "--version").CombinedOutput()
	v, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(v)
}

// TestPrometheusConfig loads prometheus.yml with the embedded 3.x config
// loader and checks it against the naming contract.
func TestPrometheusConfig(t *testing.T) {
	cfg, err := promconfig.LoadFile(prometheusConfig, false, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.GlobalConfig.ScrapeInterval.String(); got != "15s" {
		t.Errorf("scrape_interval = %s, want 15s", got)
	}
	if !slices.Equal(cfg.RuleFiles, []string{filepath.Join(filepath.Dir(prometheusConfig), "rules/*.yml")}) {
		t.Errorf("rule_files = %v, want [rules/*.yml]", cfg.RuleFiles)
	}
	var amTargets []string
	for _, am := range cfg.AlertingConfig.AlertmanagerConfigs {
		for _, sc := range am.ServiceDiscoveryConfigs {
			amTargets = append(amTargets, staticTargets(t, sc)...)
		}
	}
	if !slices.Equal(amTargets, []string{"alertmanager:9093"}) {
		t.Errorf("alertmanagers = %v, want [alertmanager:9093]", amTargets)
	}
	scs, err := cfg.GetScrapeConfigs()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, sc := range scs {
		// Native histograms (docs/histograms.md): stored, negotiated
		// over protobuf, classic buckets of dual families kept.
		if !sc.ScrapeNativeHistogramsEnabled() || !sc.AlwaysScrapeClassicHistogramsEnabled() {
			t.Errorf("job %s: scrape_native_histograms %v, always_scrape_classic_histograms %v; want both true",
				sc.JobName, sc.ScrapeNativeHistogramsEnabled(), sc.AlwaysScrapeClassicHistogramsEnabled())
		}
		if len(sc.ScrapeProtocols) == 0 || sc.ScrapeProtocols[0] != promconfig.PrometheusProto {
			t.Errorf("job %s: scrape_protocols %v, want the protobuf format first", sc.JobName, sc.ScrapeProtocols)
		}
		var targets []string
		for _, sd := range sc.ServiceDiscoveryConfigs {
			targets = append(targets, staticTargets(t, sd)...)
		}
		got[sc.JobName] = strings.Join(targets, ",")
	}
	for job, target := range wantTargets {
		if got[job] != target {
			t.Errorf("job %s: targets %q, want %q", job, got[job], target)
		}
	}
	if len(got) != len(wantTargets) {
		t.Errorf("got %d scrape jobs, want the %d of docs/naming.md and the collector: %v", len(got), len(wantTargets), got)
	}
}

func staticTargets(t *testing.T, sd discovery.Config) []string {
	t.Helper()
	static, ok := sd.(discovery.StaticConfig)
	if !ok {
		t.Fatalf("service discovery %T: only static_configs are expected", sd)
	}
	var out []string
	for _, tg := range static {
		for _, ls := range tg.Targets {
			out = append(out, string(ls["__address__"]))
		}
	}
	return out
}

// TestAmtoolCheckConfig validates alertmanager.yml with Debian's amtool
// (Alertmanager 0.25).
func TestAmtoolCheckConfig(t *testing.T) {
	amtool := requireTool(t, "amtool")
	runTool(t, amtool, "check-config", alertmanagerConfig)
}

// wantReceivers is the routing contract: for every alert name, the
// receiver each of its severities must reach. TestAlertRoutes fails when an
// alert is added without an entry here.
var wantReceivers = map[string]map[string]string{
	"HighErrorRate":           {"page": "page"},
	"HighLatency":             {"ticket": "ticket"},
	"UpstreamServiceDown":     {"page": "page", "ticket": "ticket"},
	"HighConsumerLag":         {"ticket": "ticket"},
	"DatabaseSlowQueries":     {"ticket": "ticket"},
	"LowStock":                {"info": "info"},
	"ChaosLatencyNotInjected": {"info": "info"},
	"ErrorBudgetBurn":         {"page": "page", "ticket": "ticket"},
}

// TestAlertRoutes runs `amtool config routes test` for every alert name and
// severity found in the rule files.
func TestAlertRoutes(t *testing.T) {
	alerts := loadAlerts(t)
	seen := map[string]map[string]bool{}
	for _, a := range alerts {
		if seen[a.name] == nil {
			seen[a.name] = map[string]bool{}
		}
		seen[a.name][a.labels["severity"]] = true
	}
	for name, sevs := range seen {
		for sev := range sevs {
			if _, ok := wantReceivers[name][sev]; !ok {
				t.Errorf("alert %s with severity %q has no expected receiver in wantReceivers", name, sev)
			}
		}
	}
	for name, sevs := range wantReceivers {
		for sev := range sevs {
			if !seen[name][sev] {
				t.Errorf("wantReceivers lists %s/%s, but no rule raises it", name, sev)
			}
		}
	}

	amtool := requireTool(t, "amtool")
	route := func(t *testing.T, receiver string, labels ...string) {
		args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerConfig, "--verify.receivers=" + receiver}, labels...)
		runTool(t, amtool, args...)
	}
	for name, sevs := range wantReceivers {
		for sev, receiver := range sevs {
			t.Run(name+"/"+sev, func(t *testing.T) {
				route(t, receiver, "alertname="+name, "severity="+sev, "job=api-gateway")
			})
		}
	}
	t.Run("no severity falls back to ticket", func(t *testing.T) {
		route(t, "ticket", "alertname=Unlabelled", "job=api-gateway")
	})
}
