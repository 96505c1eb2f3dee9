package promengine_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/promengine"
)

// TestPromtoolQuery runs a real `promtool query instant` (Debian's promtool,
// Prometheus 2.42) against the engine.
func TestPromtoolQuery(t *testing.T) {
	t.Parallel()
	promtool := mustPromtool(t)
	tgt := mustTarget(t)
	r := mustStart(t, promengine.Options{Config: testConfig(nil, tgt)})
	waitValue(t, r.api, `up{job="test-target"}`, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "query", "instant", r.url, `up{job="test-target"}`).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool: %v\n%s", err, out)
	}
	// promtool prints one line per sample: `<labels> => <value> @[<time>]`.
	got := strings.TrimSpace(string(out))
	if !strings.Contains(got, `job="test-target"`) || !strings.Contains(got, `instance="`+tgt.addr()+`"`) || !strings.Contains(got, "=> 1 @[") {
		t.Fatalf("promtool output %q, want up{instance=%q, job=\"test-target\"} => 1", got, tgt.addr())
	}
}

// TestPromtoolTSDBAnalyze: promtool (2.42) reads the blocks the engine
// writes; docs/storage.md tells users to analyze a snapshot this way.
func TestPromtoolTSDBAnalyze(t *testing.T) {
	t.Parallel()
	promtool := mustPromtool(t)
	tgt := mustTarget(t)
	r := mustStart(t, promengine.Options{Config: testConfig(nil, tgt), EnableAdminAPI: true})
	waitValue(t, r.api, "cloudcart_test_requests_total", 5)
	snap, err := r.api.Snapshot(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := filepath.Join(r.dataDir, "snapshots", snap.Name)
	out, err := exec.CommandContext(ctx, promtool, "tsdb", "analyze", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb analyze: %v\n%s", err, out)
	}
	for _, want := range []string{"Block ID: ", "Series: ", "job=test-target", "__name__=cloudcart_test_requests_total"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("promtool tsdb analyze output lacks %q:\n%s", want, out)
		}
	}
}

// mustPromtool finds promtool. Without it the test skips, except in CI
// (CI=true), where a missing promtool is a broken set-up.
func mustPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found in CI (Debian package prometheus): %v", err)
		}
		t.Skipf("promtool not installed: %v", err)
	}
	return p
}
