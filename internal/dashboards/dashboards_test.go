package dashboards_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	yaml "go.yaml.in/yaml/v3"

	"github.com/cloudcart/cloudcart/internal/dashboards"
)

var update = flag.Bool("update", false, "rewrite the committed dashboard JSON files")

const (
	committedDir = "../../deploy/grafana/dashboards"
	provisioning = "../../deploy/grafana/provisioning"
	sloSpec      = "../../deploy/slo/slos.yml"
)

func TestCommittedDashboardsAreUpToDate(t *testing.T) {
	if *update {
		if _, err := dashboards.Generate(committedDir); err != nil {
			t.Fatal(err)
		}
	}
	if err := dashboards.Check(committedDir); err != nil {
		t.Fatalf("deploy/grafana/dashboards differs from internal/dashboards:\n%v\n\nregenerate with\n\n\tgo run ./cmd/cloudcart dashboards generate\n\n(or go test ./internal/dashboards -update) and commit the result", err)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	first := mustFiles(t)
	for range 3 {
		again := mustFiles(t)
		for name, b := range first {
			if !bytes.Equal(b, again[name]) {
				t.Fatalf("%s: two builds differ", name)
			}
		}
	}
}

func TestGenerateRemovesStaleFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "renamed.json")
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := dashboards.Check(dir); err == nil || !strings.Contains(err.Error(), "renamed.json is not generated") {
		t.Fatalf("Check on a directory with a stray file: %v", err)
	}
	written, err := dashboards.Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale file kept: %v", err)
	}
	if len(written) != len(mustFiles(t)) {
		t.Fatalf("wrote %d files", len(written))
	}
	if err := dashboards.Check(dir); err != nil {
		t.Fatal(err)
	}
}

func mustFiles(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := dashboards.Files()
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// grafanaPanel is the part of the JSON model the conventions are about.
type grafanaPanel struct {
	Type       string `json:"type"`
	ID         int    `json:"id"`
	Title      string `json:"title"`
	Datasource struct {
		Type, UID string
	} `json:"datasource"`
	Targets []struct {
		Datasource struct{ UID string } `json:"datasource"`
		RefID      string               `json:"refId"`
		Expr       string               `json:"expr"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit       string `json:"unit"`
			Thresholds struct {
				Mode  string `json:"mode"`
				Steps []struct {
					Value *float64 `json:"value"`
					Color string   `json:"color"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
}

type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Type, Name string
			Query      any
		} `json:"list"`
	} `json:"templating"`
}

// rateWindow stands in for $__rate_interval while checking ranges.
const rateWindow = 1234 * time.Second

// TestConventions: every panel has a unit, thresholds, the datasource
// variable and parseable queries; rate() windows are $__rate_interval
// (or the 5m of the recording rule they are combined with); variables used
// are defined.
func TestConventions(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	uids := map[string]bool{}
	for name, b := range mustFiles(t) {
		t.Run(name, func(t *testing.T) {
			var d grafanaDashboard
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			if uids[d.UID] || len(d.UID) > 40 {
				t.Errorf("uid %q duplicated or longer than Grafana's 40 characters", d.UID)
			}
			uids[d.UID] = true
			vars := map[string]bool{"__rate_interval": true, "__range": true, "__interval": true}
			for _, v := range d.Templating.List {
				vars[v.Name] = true
			}
			if !vars["datasource"] {
				t.Error("no datasource variable")
			}
			ids := map[int]bool{}
			panels := 0
			for _, pn := range d.Panels {
				if ids[pn.ID] || pn.ID == 0 {
					t.Errorf("panel %q: id %d missing or duplicated", pn.Title, pn.ID)
				}
				ids[pn.ID] = true
				if pn.GridPos.W == 0 || pn.GridPos.H == 0 || pn.GridPos.X+pn.GridPos.W > 24 {
					t.Errorf("panel %q: grid position %+v", pn.Title, pn.GridPos)
				}
				if pn.Type == "row" {
					continue
				}
				panels++
				if pn.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: datasource %q, want ${datasource}", pn.Title, pn.Datasource.UID)
				}
				if pn.FieldConfig.Defaults.Unit == "" {
					t.Errorf("panel %q: no unit", pn.Title)
				}
				if th := pn.FieldConfig.Defaults.Thresholds; th.Mode != "absolute" || len(th.Steps) == 0 || th.Steps[0].Value != nil {
					t.Errorf("panel %q: thresholds %+v", pn.Title, th)
				}
				if len(pn.Targets) == 0 {
					t.Errorf("panel %q: no query", pn.Title)
				}
				for _, tg := range pn.Targets {
					if tg.Datasource.UID != "${datasource}" {
						t.Errorf("panel %q %s: datasource %q", pn.Title, tg.RefID, tg.Datasource.UID)
					}
					for _, v := range dashboards.Variables(tg.Expr) {
						if !vars[v] {
							t.Errorf("panel %q %s: undefined variable $%s", pn.Title, tg.RefID, v)
						}
					}
					checkRateWindows(t, p, pn.Title, tg.Expr, pn.Type != "timeseries")
				}
			}
			if panels < 4 {
				t.Errorf("only %d panels", panels)
			}
		})
	}
}

// checkRateWindows: a rate() is over $__rate_interval, over 5m beside a
// :rate5m recording rule (same window on both sides), or, in a panel that
// shows one current value, over a whole period of a day or more (an SLO's
// 30 days) that a chart could not afford to read at every step.
func checkRateWindows(t *testing.T, p parser.Parser, panel, expr string, instant bool) {
	t.Helper()
	e, err := p.ParseExpr(dashboards.Expand(expr, map[string]string{
		"__rate_interval": model.Duration(rateWindow).String(), "__range": "1h", "__interval": "15s",
	}, ".*"))
	if err != nil {
		t.Errorf("panel %q: %q does not parse: %v", panel, expr, err)
		return
	}
	recording := strings.Contains(expr, ":rate5m")
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		call, ok := n.(*parser.Call)
		if !ok || (call.Func.Name != "rate" && call.Func.Name != "irate") {
			return nil
		}
		ms, ok := call.Args[0].(*parser.MatrixSelector)
		if !ok {
			return nil
		}
		switch {
		case ms.Range == rateWindow:
		case recording && ms.Range == 5*time.Minute:
		case instant && ms.Range >= 24*time.Hour:
		default:
			t.Errorf("panel %q: %s over %s in %q, want $__rate_interval", panel, call.Func.Name, ms.Range, expr)
		}
		return nil
	})
}

func TestQueriesFromJSON(t *testing.T) {
	b := []byte(`{"uid":"x","panels":[
		{"type":"timeseries","title":"a","targets":[{"refId":"A","expr":"up"},{"refId":"B","expr":"up == 0"}]},
		{"type":"row","title":"collapsed","panels":[{"type":"stat","title":"b","targets":[{"refId":"A","expr":"vector(1)"}]}]}]}`)
	got, err := dashboards.QueriesFromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, q := range got {
		exprs = append(exprs, q.Panel+":"+q.RefID+":"+q.Expr)
	}
	if want := []string{"a:A:up", "a:B:up == 0", "b:A:vector(1)"}; !slices.Equal(exprs, want) {
		t.Fatalf("got %q, want %q", exprs, want)
	}
	n := 0
	for name, b := range mustFiles(t) {
		qs, err := dashboards.QueriesFromJSON(b)
		if err != nil || len(qs) == 0 {
			t.Errorf("%s: %d queries, %v", name, len(qs), err)
		}
		n += len(qs)
	}
	t.Logf("%d queries in %d dashboards", n, len(mustFiles(t)))
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"__rate_interval": "1m", "job": "order-service"}
	for _, tc := range []struct{ in, other, want string }{
		{`rate(x{job=~"$job"}[$__rate_interval])`, "", `rate(x{job=~"order-service"}[1m])`},
		{`rate(x{job=~"${job}"}[${__rate_interval}])`, "", `rate(x{job=~"order-service"}[1m])`},
		{`x{job=~"${job:regex}",c=~"[[category]]"}`, ".*", `x{job=~"order-service",c=~".*"}`},
		{`x{c=~"$category"}`, "", `x{c=~"$category"}`},
		{`x{le=~"\\+Inf"}`, ".*", `x{le=~"\\+Inf"}`},
	} {
		if got := dashboards.Expand(tc.in, vars, tc.other); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := dashboards.Variables(`a{x="$job",y="${job}"}[$__rate_interval]`); !slices.Equal(got, []string{"job", "__rate_interval"}) {
		t.Errorf("Variables = %q", got)
	}
}

// TestSLOsMatchSpec: the SLO dashboard, built from the generated rule
// file, shows the objectives of deploy/slo/slos.yml.
func TestSLOsMatchSpec(t *testing.T) {
	b, err := os.ReadFile(sloSpec)
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Period         string `yaml:"period"`
		BurnRateAlerts []struct {
			BurnRate float64 `yaml:"burn_rate"`
		} `yaml:"burn_rate_alerts"`
		SLOs []struct {
			Name, Job, Description string
			Objective              float64
		} `yaml:"slos"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	slos, err := dashboards.EmbeddedSLOs()
	if err != nil {
		t.Fatal(err)
	}
	if len(slos) != len(spec.SLOs) {
		t.Fatalf("%d SLOs in the rules, %d in the spec", len(slos), len(spec.SLOs))
	}
	var rates []float64
	for _, r := range spec.BurnRateAlerts {
		rates = append(rates, r.BurnRate)
	}
	slices.Sort(rates)
	for i, want := range spec.SLOs {
		got := slos[i]
		if got.Name != want.Name || got.Job != want.Job || got.Description != want.Description ||
			math.Abs(got.Objective*100-want.Objective) > 1e-9 || got.Period != spec.Period || !slices.Equal(got.BurnRates, rates) {
			t.Errorf("SLO %d: from the rules %+v, in the spec %+v (period %s, burn rates %v)", i, got, want, spec.Period, rates)
		}
		if len(got.Windows) < 2 {
			t.Errorf("%s: windows %v", got.Name, got.Windows)
		}
	}
}

func TestParseSLORulesRejectsUnknownShapes(t *testing.T) {
	for name, in := range map[string]string{
		"no SLO":  "groups: []\n",
		"summary": "groups:\n- rules:\n  - record: slo:sli_error:ratio_rate5m\n    expr: vector(0)\n    labels: {slo: a, job: j}\n  - alert: ErrorBudgetBurn\n    expr: slo:sli_error:ratio_rate5m > (14.4 * 0.01)\n    labels: {slo: a}\n    annotations: {summary: something else}\n",
	} {
		if _, err := dashboards.ParseSLORules([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestProvisioning: the provisioning files are in the layout Grafana reads
// (provisioning/datasources/*.yml, provisioning/dashboards/*.yml), the data
// source is the uid the dashboards default to, and the provider loads
// JSON files from a path.
func TestProvisioning(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, Access, URL string
			IsDefault                    bool `yaml:"isDefault"`
		}
	}
	mustYAML(t, filepath.Join(provisioning, "datasources", "prometheus.yml"), &ds)
	// The Prometheus data source the dashboards default to, and Jaeger
	// for the traces behind exemplars (docs/traces.md).
	if ds.APIVersion != 1 || len(ds.Datasources) != 2 {
		t.Fatalf("datasources: %+v", ds)
	}
	d := ds.Datasources[0]
	if d.UID != dashboards.DatasourceUID || d.Type != "prometheus" || d.URL != "http://prometheus:9090" || d.Access != "proxy" || !d.IsDefault {
		t.Errorf("datasource %+v", d)
	}
	if j := ds.Datasources[1]; j.Type != "jaeger" || j.URL != "http://jaeger:16686" || j.Access != "proxy" || j.IsDefault {
		t.Errorf("datasource %+v", j)
	}
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type, Folder string
			Options            struct{ Path string }
		}
	}
	mustYAML(t, filepath.Join(provisioning, "dashboards", "cloudcart.yml"), &prov)
	if prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || !strings.HasPrefix(prov.Providers[0].Options.Path, "/") {
		t.Errorf("dashboard provider %+v", prov)
	}
}

func mustYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}
