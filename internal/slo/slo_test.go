package slo_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/cloudcart/cloudcart/internal/slo"
)

var update = flag.Bool("update", false, "rewrite the committed generated rule file")

const (
	specPath      = "../../deploy/slo/slos.yml"
	generatedPath = "../../deploy/prometheus/rules/slo.generated.yml"
)

func TestCommittedRulesAreUpToDate(t *testing.T) {
	if *update {
		if err := slo.GenerateFile(specPath, generatedPath); err != nil {
			t.Fatal(err)
		}
	}
	want := mustGenerate(t, mustRead(t, specPath))
	got := mustRead(t, generatedPath)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale (%s); regenerate it from %s with\n\n\tgo run ./cmd/cloudcart slo generate\n\n(or go test ./internal/slo -update) and commit the result",
			generatedPath, firstDiff(got, want), specPath)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	spec := mustRead(t, specPath)
	first := mustGenerate(t, spec)
	for range 5 {
		if !bytes.Equal(first, mustGenerate(t, spec)) {
			t.Fatal("two runs of Generate on the same spec differ")
		}
	}
}

func TestGenerateFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "slo.yml")
	if err := slo.GenerateFile(specPath, out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, out), mustGenerate(t, mustRead(t, specPath))) {
		t.Fatal("GenerateFile wrote something else than Generate returns")
	}
	if err := slo.GenerateFile(filepath.Join(t.TempDir(), "missing.yml"), out); err == nil {
		t.Fatal("GenerateFile with a missing spec: want an error")
	}
}

// TestGeneratedRules checks the shape of the output: one group per SLO, an
// error-ratio recording per window, a page and a ticket alert per SLO with
// the SRE workbook thresholds.
func TestGeneratedRules(t *testing.T) {
	groups := mustParseRules(t, mustGenerate(t, mustRead(t, specPath)))
	if len(groups.Groups) != 4 {
		t.Fatalf("got %d groups, want one per SLO (4)", len(groups.Groups))
	}
	wantRecords := []string{
		"slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m", "slo:sli_error:ratio_rate1h",
		"slo:sli_error:ratio_rate6h", "slo:sli_error:ratio_rate3d",
		"slo:sli_bad_events:increase1h", "slo:sli_bad_events:increase6h", "slo:sli_bad_events:increase3d",
	}
	for _, g := range groups.Groups {
		var records []string
		alerts := map[string]string{}
		for _, r := range g.Rules {
			if r.Record != "" {
				records = append(records, r.Record)
				continue
			}
			if r.Alert != slo.AlertName {
				t.Errorf("%s: alert %q, want %q", g.Name, r.Alert, slo.AlertName)
			}
			alerts[r.Labels["severity"]] = r.Expr
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: alert %s has no %s", g.Name, r.Labels["severity"], a)
				}
			}
		}
		if strings.Join(records, " ") != strings.Join(wantRecords, " ") {
			t.Errorf("%s: records %v, want %v", g.Name, records, wantRecords)
		}
		for sev, wants := range map[string][]string{
			"page": {"ratio_rate1h", "ratio_rate5m", "(14.4 * ", "ratio_rate6h", "ratio_rate30m", "(6 * ",
				"increase1h{slo=\"" + strings.TrimPrefix(g.Name, "slo-") + "\"} >= 5", "increase6h{slo="},
			"ticket": {"ratio_rate3d", "ratio_rate6h", "(1 * ", "increase3d{slo="},
		} {
			for _, w := range wants {
				if !strings.Contains(alerts[sev], w) {
					t.Errorf("%s: %s alert expr does not contain %q:\n%s", g.Name, sev, w, alerts[sev])
				}
			}
		}
	}
}

// TestLatencyBucketMatcher checks that the generated le matcher selects the
// threshold bucket however the exposition spelled its bound (2.x keeps
// "1.0", 3.x normalises it to "1") and no other bucket.
func TestLatencyBucketMatcher(t *testing.T) {
	for _, tc := range []struct {
		threshold string
		match     []string
		noMatch   []string
	}{
		{"0.5", []string{"0.5", "0.50", "0.500"}, []string{"0.05", "5", "0.55", "0x5"}},
		{"1", []string{"1", "1.0", "1.00", "1."}, []string{"10", "0.1", "1.5", "+Inf"}},
		{"2.5", []string{"2.5", "2.50"}, []string{"2", "25", "2.05"}},
		{"10", []string{"10", "10.0"}, []string{"1", "100"}},
	} {
		t.Run(tc.threshold, func(t *testing.T) {
			spec := strings.ReplaceAll(latencySpec, "THRESHOLD", tc.threshold)
			groups := mustParseRules(t, mustGenerate(t, []byte(spec)))
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(groups.Groups[0].Rules[0].Expr)
			if err != nil {
				t.Fatal(err)
			}
			var re *regexp.Regexp
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					for _, m := range vs.LabelMatchers {
						if m.Name == "le" {
							re = regexp.MustCompile("^(?:" + m.Value + ")$")
						}
					}
				}
				return nil
			})
			if re == nil {
				t.Fatal("no le matcher in the latency SLI")
			}
			for _, le := range tc.match {
				if !re.MatchString(le) {
					t.Errorf("le=%q: not matched by %s", le, re)
				}
			}
			for _, le := range tc.noMatch {
				if re.MatchString(le) {
					t.Errorf("le=%q: matched by %s", le, re)
				}
			}
		})
	}
}

const latencySpec = `
period: 28d
burn_rate_alerts:
  - {severity: page, burn_rate: 13.44, long_window: 1h, short_window: 5m}
slos:
  - name: x-latency
    job: x
    objective: 99
    latency:
      histogram: x_duration_seconds{job="x"}
      threshold_seconds: THRESHOLD
`

func TestGenerateRejectsBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name, spec, wantErr string
	}{
		{"empty", ``, "empty spec"},
		{"unknown field", validSpec + "    objectve: 99\n", "objectve"},
		{"no period", strings.Replace(validSpec, "period: 30d", "", 1), "period"},
		{"bad severity", strings.Replace(validSpec, "severity: page", "severity: critical", 1), "severity"},
		{"short not shorter", strings.Replace(validSpec, "short_window: 5m", "short_window: 1h", 1), "must be shorter"},
		{"window past period", strings.Replace(validSpec, "long_window: 1h", "long_window: 31d", 1), "longer than the period"},
		{"objective percent", strings.Replace(validSpec, "objective: 99.5", "objective: 0.995", 1), "could never fire"},
		{"objective 100", strings.Replace(validSpec, "objective: 99.5", "objective: 100", 1), "strictly between"},
		{"bad name", strings.Replace(validSpec, "name: a-b", "name: A B", 1), "name must match"},
		{"bad selector", strings.Replace(validSpec, `total: x_total{job="x"}`, `total: rate(x_total[5m])`, 1), "availability.total"},
		{"regex name", strings.Replace(validSpec, `total: x_total{job="x"}`, `total: '{__name__=~"x.*"}'`, 1), "plain metric name"},
		{"both slis", validSpec + "    latency: {histogram: h, threshold_seconds: 1}\n", "exactly one"},
		{"duplicate", validSpec + strings.SplitAfter(validSpec, "slos:\n")[1], "duplicate name"},
		{"negative min_bad_events", "min_bad_events: -1\n" + validSpec, "min_bad_events"},
		{"min_window_coverage above 1", "min_window_coverage: 2\n" + validSpec, "min_window_coverage"},
		{"le in histogram", strings.NewReplacer(`{job="x"}`, `{job="x",le="1"}`, "THRESHOLD", "1").Replace(latencySpec), "must not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := slo.Generate([]byte(tc.spec))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Generate: got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

const validSpec = `period: 30d
burn_rate_alerts:
  - severity: page
    burn_rate: 14.4
    long_window: 1h
    short_window: 5m
slos:
  - name: a-b
    job: x
    objective: 99.5
    availability:
      errors: x_total{job="x",code="500"}
      total: x_total{job="x"}
`

func TestValidSpecGenerates(t *testing.T) {
	mustGenerate(t, []byte(validSpec))
}

func mustGenerate(tb testing.TB, spec []byte) []byte {
	tb.Helper()
	out, err := slo.Generate(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustParseRules(tb testing.TB, b []byte) *rulefmt.RuleGroups {
	tb.Helper()
	groups, errs := rulefmt.Parse(b, false, model.LegacyValidation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
	if len(errs) > 0 {
		tb.Fatal(errs)
	}
	return groups
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	line := func(ls []string, i int) string {
		if i < len(ls) {
			return strconv.Quote(ls[i])
		}
		return "<end of file>"
	}
	for i := 0; i < len(g) || i < len(w); i++ {
		if line(g, i) != line(w, i) {
			return fmt.Sprintf("first difference at line %d: committed %s, generated %s", i+1, line(g, i), line(w, i))
		}
	}
	return "no line differs"
}
