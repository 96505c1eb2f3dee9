package ruletest_test

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

const (
	runbooksDoc = "../../docs/runbooks.md"
	alertsDoc   = "../../docs/alerts.md"
	runbookBase = "https://github.com/cloudcart/cloudcart/blob/main/docs/runbooks.md#"
)

type alertRule struct {
	file, name  string
	labels      map[string]string
	annotations map[string]string
}

// loadAlerts returns every alerting rule of the shipped rule files, parsed
// by the embedded engine's loader.
func loadAlerts(t *testing.T) []alertRule {
	t.Helper()
	var out []alertRule
	for _, f := range mustGlob(t, filepath.Join(rulesDir, "*.yml")) {
		groups, errs := rulefmt.ParseFile(f, false, model.LegacyValidation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					out = append(out, alertRule{filepath.Base(f), r.Alert, r.Labels, r.Annotations})
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no alerting rules found")
	}
	return out
}

// TestAlertsAreDocumented: every alert has a severity, a summary, a
// templated description and a runbook link to an existing section of
// docs/runbooks.md, and is listed in docs/alerts.md.
func TestAlertsAreDocumented(t *testing.T) {
	runbooks := string(mustReadFile(t, runbooksDoc))
	alertsMD := string(mustReadFile(t, alertsDoc))
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\S+)\s*$`).FindAllStringSubmatch(runbooks, -1) {
		anchors[strings.ToLower(m[1])] = true // GitHub's anchor for a one-word heading
	}
	for _, a := range loadAlerts(t) {
		where := a.file + ": " + a.name
		if sev := a.labels["severity"]; !slices.Contains([]string{"page", "ticket", "info"}, sev) {
			t.Errorf("%s: severity %q, want page, ticket or info", where, sev)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if a.annotations[k] == "" {
				t.Errorf("%s: no %s annotation", where, k)
			}
		}
		if !strings.Contains(a.annotations["description"], "{{") {
			t.Errorf("%s: description is not templated with $labels or $value", where)
		}
		if want := runbookBase + strings.ToLower(a.name); a.annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", where, a.annotations["runbook_url"], want)
		}
		if !anchors[strings.ToLower(a.name)] {
			t.Errorf("%s: docs/runbooks.md has no section \"## %s\"", where, a.name)
		}
		if !strings.Contains(alertsMD, "`"+a.name+"`") {
			t.Errorf("%s: not listed in docs/alerts.md", where)
		}
	}
}

// TestEveryAlertIsUnitTested: for every alerting rule, the unit tests in
// deploy/prometheus/tests expect it to fire (with the rule's own labels)
// and, somewhere, to stay silent.
func TestEveryAlertIsUnitTested(t *testing.T) {
	type expectation struct {
		alertname string
		labels    []map[string]string // one per expected firing alert; none = silent
	}
	var exps []expectation
	for _, f := range mustGlob(t, filepath.Join(testsDir, "*.yml")) {
		var doc struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string `yaml:"alertname"`
					ExpAlerts []struct {
						ExpLabels map[string]string `yaml:"exp_labels"`
					} `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(mustReadFile(t, f), &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tg := range doc.Tests {
			for _, at := range tg.AlertRuleTest {
				e := expectation{alertname: at.Alertname}
				for _, a := range at.ExpAlerts {
					e.labels = append(e.labels, a.ExpLabels)
				}
				exps = append(exps, e)
			}
		}
	}
	for _, a := range loadAlerts(t) {
		fires, silent := false, false
		for _, e := range exps {
			if e.alertname != a.name {
				continue
			}
			if len(e.labels) == 0 {
				silent = true
			}
			for _, ls := range e.labels {
				if isSubset(a.labels, ls) {
					fires = true
				}
			}
		}
		if !fires {
			t.Errorf("%s: no unit test expects %s%v to fire", a.file, a.name, a.labels)
		}
		if !silent {
			t.Errorf("%s: no unit test expects %s to stay silent", a.file, a.name)
		}
	}
}

func isSubset(sub, super map[string]string) bool {
	for _, k := range slices.Sorted(maps.Keys(sub)) {
		if super[k] != sub[k] {
			return false
		}
	}
	return true
}

func mustReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
