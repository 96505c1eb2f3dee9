package ruletest_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/ruletest"
)

const (
	rulesDir = "../../deploy/prometheus/rules"
	testsDir = "../../deploy/prometheus/tests"
)

// TestDeployedRules runs every rule unit test file shipped in
// deploy/prometheus/tests on the embedded engine, beside
// TestPromtoolTestRules (promtool runs the same files in its own process).
func TestDeployedRules(t *testing.T) {
	t.Parallel()
	files := mustGlob(t, filepath.Join(testsDir, "*.yml"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			ruletest.Run(t, f)
		})
	}
}

// TestRunnerReportsFailures makes sure the runner is not vacuous: a test
// file whose expectations are wrong must fail, with a message that says
// which expectation.
func TestRunnerReportsFailures(t *testing.T) {
	errs := ruletest.RunFile("testdata/failing_test.yml")
	want := []string{
		"alertname: AlwaysFiring, time: 1m",       // expected silent, fires
		"alertname: AlwaysFiring, time: 2m",       // wrong annotation
		"alertname: NeverFiring, time: 2m",        // expected to fire, silent
		`expr: "answer", time: 1m`,                // wrong value
		`expr: "rate(answer[5m]", time: 1m, err:`, // does not parse
	}
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("failures do not mention %q; got:\n%s", w, all)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d failures, want %d:\n%s", len(errs), len(want), all)
	}
}

func TestRunnerPassesGoodFile(t *testing.T) {
	ruletest.Run(t, "testdata/passing_test.yml")
}

func TestRunnerRejectsUnsupportedFields(t *testing.T) {
	errs := ruletest.RunFile("testdata/unsupported_test.yml")
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "fuzzy_compare") {
		t.Fatalf("got %v, want one error about fuzzy_compare (unknown to promtool 2.42)", errs)
	}
}

func mustGlob(tb testing.TB, pattern string) []string {
	tb.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatalf("no files match %s", pattern)
	}
	return files
}
