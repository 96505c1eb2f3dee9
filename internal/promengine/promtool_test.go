package promengine_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/promengine"
)

// TestPromtoolQuery runs a real `promtool query instant` (Debian's promtool,
// Prometheus 2.42) against the engine. Without promtool the test skips,
// except in CI (CI=true), where a missing promtool is a broken set-up.
func TestPromtoolQuery(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found in CI (apt-get install prometheus): %v", err)
		}
		t.Skipf("promtool not installed: %v", err)
	}
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
