package services_test

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/console"
	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/scenario"
	"github.com/cloudcart/cloudcart/internal/services"
)

// renamed is the fleet with the order service renamed and moved: what
// changes in the table must change everywhere that derives from it.
var renamed = services.All.With("orders", func(s *services.Service) {
	s.Name, s.ServiceName, s.Port = "checkout", "checkout-service", 9103
})

func TestScrapeConfigDerivesFromTheTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		table services.Table
		job   string
		addr  string
	}{
		{"shipped", services.All, "order-service", "127.0.0.1:8003"},
		{"renamed", renamed, "checkout-service", "127.0.0.1:9103"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fleet.Config{Services: tc.table, Bind: "127.0.0.1"}
			b, err := cfg.ScrapeConfig(fleet.DemoProfile)
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				ScrapeConfigs []struct {
					JobName       string `yaml:"job_name"`
					StaticConfigs []struct {
						Targets []string `yaml:"targets"`
					} `yaml:"static_configs"`
				} `yaml:"scrape_configs"`
			}
			if err := yaml.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			jobs := map[string]string{}
			for _, sc := range c.ScrapeConfigs {
				jobs[sc.JobName] = sc.StaticConfigs[0].Targets[0]
			}
			if jobs[tc.job] != tc.addr {
				t.Errorf("job %s scrapes %q, want %s; config:\n%s", tc.job, jobs[tc.job], tc.addr, b)
			}
			if len(jobs) != len(tc.table)+1 || jobs[services.PrometheusJob] != "127.0.0.1:9090" {
				t.Errorf("jobs %v: want one per service and the engine's own", jobs)
			}
		})
	}
}

func TestAggregatorTargetsDeriveFromTheTable(t *testing.T) {
	cfg := fleet.Config{Services: renamed}
	targets, err := cfg.AggregatorTargets("aggregator")
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, tg := range targets {
		jobs = append(jobs, tg.Service)
		if tg.Service == "checkout-service" &&
			(tg.URL != "http://127.0.0.1:9103" || tg.Requests != "order_http_requests_total" || tg.Duration != "order_http_request_duration_seconds") {
			t.Errorf("checkout target %+v", tg)
		}
	}
	if !slices.Contains(jobs, "checkout-service") || slices.Contains(jobs, "order-service") || slices.Contains(jobs, "metrics-aggregator") || len(targets) != len(renamed)-1 {
		t.Errorf("aggregator scrapes %v", jobs)
	}
	cfg.Aggregator.Targets = []string{"checkout=http://checkout:9103"}
	if targets, err = cfg.AggregatorTargets("aggregator"); err != nil || len(targets) != 1 || targets[0].Service != "checkout-service" {
		t.Errorf("--aggregator.targets checkout=...: %+v, %v", targets, err)
	}
	cfg.Aggregator.Targets = []string{"orders=http://orders:8003"}
	if _, err = cfg.AggregatorTargets("aggregator"); err == nil || !strings.Contains(err.Error(), `unknown service "orders"`) {
		t.Errorf("--aggregator.targets of a service not in the table: %v", err)
	}
}

func TestConsoleChaosTargetsDeriveFromTheTable(t *testing.T) {
	c, err := console.New(console.Options{Services: renamed, ChaosURL: "http://127.0.0.1:1", ChaosToken: "unused-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/api/chaos/scenarios", nil))
	var body struct{ Targets []string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("GET /console/api/chaos/scenarios: %d %s", rec.Code, rec.Body)
	}
	want := []string{"users", "products", "checkout", "notifier", "gateway", "aggregator", cloudcart.ChaosTargetAll}
	if !slices.Equal(body.Targets, want) {
		t.Errorf("console chaos targets %v, want %v", body.Targets, want)
	}
}

func TestScenariosDeriveFromTheTable(t *testing.T) {
	if got := scenario.OutageTargets(renamed); got["checkout"] != "checkout-service" || got["orders"] != "" || got["chaos"] != "" || got["notifier"] != "" {
		t.Errorf("outage targets %v", got)
	}
	// A job is a service's, wherever a scenario expects or watches it.
	rejobbed := services.All.With("orders", func(s *services.Service) { s.ServiceName = "checkout-service" })
	b, err := json.Marshal(scenario.Of(rejobbed, ""))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "order-service") || strings.Count(string(b), "checkout-service") < 3 {
		t.Errorf("scenarios of the fleet whose order service is checkout-service:\n%s", b)
	}
	all := scenario.Of(renamed, "checkout")
	for _, sc := range all {
		if sc.Name == "service-down" {
			if job := sc.Expect.Labels["job"]; job != "checkout-service" || sc.Symptom.Series != `up{job="checkout-service"}` {
				t.Errorf("service-down expects %v, watches %s", sc.Expect, sc.Symptom.Series)
			}
			return
		}
	}
	t.Fatal("no service-down scenario")
}

func TestPortFlagsDeriveFromTheTable(t *testing.T) {
	moved := services.All.With("orders", func(s *services.Service) { s.Port = 9103 })
	cfg := fleet.Config{Services: moved}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	if err := cfg.RegisterFlags(fs); err != nil {
		t.Fatal(err)
	}
	if f := fs.Lookup("orders.port"); f == nil || f.DefValue != "9103" {
		t.Fatalf("--orders.port: %+v", f)
	}
	if err := fs.Parse([]string{"--orders.port", "9200"}); err != nil || cfg.Port("orders") != 9200 {
		t.Errorf("--orders.port 9200: port %d, %v", cfg.Port("orders"), err)
	}
	if err := (&fleet.Config{Services: renamed}).RegisterFlags(flag.NewFlagSet("t", flag.ContinueOnError)); err == nil {
		t.Error("a service without wiring in internal/fleet registered flags")
	}
}

// The HTTP families are the documented names (docs/naming.md).
func TestHTTPFamilies(t *testing.T) {
	want := map[string][2]string{
		"gateway":    {"http_requests_total", "http_request_duration_seconds"},
		"users":      {"user_http_requests_total", "user_request_duration_seconds"},
		"products":   {"product_http_requests_total", "product_request_duration_seconds"},
		"orders":     {"order_http_requests_total", "order_http_request_duration_seconds"},
		"chaos":      {"chaos_http_requests_total", "chaos_request_duration_seconds"},
		"notifier":   {"notification_http_requests_total", "notification_http_request_duration_seconds"},
		"aggregator": {"aggregator_http_requests_total", "aggregator_http_request_duration_seconds"},
	}
	if len(services.All) != len(want) {
		t.Errorf("%d services, want %d", len(services.All), len(want))
	}
	for _, s := range services.All {
		if got := [2]string{s.RequestsFamily(), s.DurationFamily()}; got != want[s.Name] {
			t.Errorf("%s: families %v, want %v", s.Name, got, want[s.Name])
		}
	}
}

// The table's chaos capabilities are the chaos service's rules: every
// target it accepts, an outage only where Outage says.
func TestChaosCapabilitiesAgreeWithTheChaosRules(t *testing.T) {
	known := services.All.ChaosTargets()
	for _, s := range services.All {
		settings := cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{s.Name: {Error: &cloudcart.ErrorFault{Rate: 0.1}}}}
		if err := settings.Validate(known); (err == nil) != s.Chaos {
			t.Errorf("%s: Chaos %v, but an error fault validates to %v", s.Name, s.Chaos, err)
		}
		if !s.Chaos {
			continue
		}
		settings = cloudcart.ChaosSettings{Targets: map[string]cloudcart.ChaosFaults{s.Name: {Outage: true}}}
		if err := settings.Validate(known); (err == nil) != s.Outage {
			t.Errorf("%s: Outage %v, but an outage fault validates to %v", s.Name, s.Outage, err)
		}
	}
}
