package ruletest_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/ruletest"
)

// TestRuleFilesArePortable: every shipped rule file loads and behaves the
// same in Prometheus 2.42 and 3.x (see docs/alerts.md). Runs without
// promtool.
func TestRuleFilesArePortable(t *testing.T) {
	for _, f := range mustGlob(t, filepath.Join(rulesDir, "*.yml")) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, err := range ruletest.CheckCompat(f) {
				t.Error(err)
			}
		})
	}
}

func TestCheckCompatFindsProblems(t *testing.T) {
	errs := ruletest.CheckCompat("testdata/nonportable.yml")
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`nonportable.yml:4: group field "labels"`,
		`nonportable.yml:5: group field "query_offset"`,
		`nonportable.yml:8: le="0.5": Prometheus 3.x normalises le values`,
		`nonportable.yml:10: metric name "http.server.duration_count" needs UTF-8 quoting`,
		`nonportable.yml:12: 1:1: parse error: unknown function with name "holt_winters"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing finding %q; got:\n%s", want, all)
		}
	}
	if len(errs) != 5 {
		t.Errorf("got %d findings, want 5:\n%s", len(errs), all)
	}
}
