package fleet_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cloudcart/cloudcart/internal/freeport"
)

// TestPrometheus2ScrapesClassicHistograms points Debian's Prometheus 2.42
// (no native-histogram support unless started with
// --enable-feature=native-histograms) at the same /metrics endpoints, in
// the default mode (both): it negotiates a text format and stores the
// classic histograms exactly as before. The native twins reach it as
// histograms with only a +Inf bucket (count and sum, no quantiles), which
// docs/histograms.md tells 2.x users to drop or to switch off with
// --telemetry.histograms=classic.
func TestPrometheus2ScrapesClassicHistograms(t *testing.T) {
	bin := lookTool(t, "prometheus")
	f := mustFleet(t)
	gw := f.URL("gateway")
	edgeTraffic(t, f)()

	dir := t.TempDir()
	addr := freeport.Addr(t)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: api-gateway\n    static_configs:\n      - targets: [%q]\n",
		strings.TrimPrefix(gw, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	api := mustPromAPI(t, "http://"+addr)
	query := func(q string) model.Vector {
		v, _, err := api.Query(context.Background(), q, time.Now())
		if err != nil {
			return nil // not up yet
		}
		return v.(model.Vector)
	}
	mustEventually(t, 60*time.Second, "Prometheus 2.42 stores http_request_duration_seconds_bucket", func() bool {
		return len(query(`http_request_duration_seconds_bucket{job="api-gateway"}`)) > 0
	})
	if bi, err := api.Buildinfo(context.Background()); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("Prometheus %s", bi.Version)
	}
	t.Run("classic quantiles", func(t *testing.T) {
		q := `histogram_quantile(0.95, sum by (le) (http_request_duration_seconds_bucket{job="api-gateway"}))`
		if v := query(q); len(v) != 1 || math.IsNaN(float64(v[0].Value)) {
			t.Errorf("%s = %v, want one number", q, v)
		}
		les := map[model.LabelValue]bool{}
		for _, s := range query(`http_request_duration_seconds_bucket{job="api-gateway"}`) {
			les[s.Metric["le"]] = true
		}
		if len(les) < 5 {
			t.Errorf("classic buckets le=%v, want the declared layout", les)
		}
	})
	t.Run("native twin as one +Inf bucket", func(t *testing.T) {
		for _, s := range query(`http_request_duration_seconds_native_bucket{job="api-gateway"}`) {
			if s.Metric["le"] != "+Inf" {
				t.Errorf("native twin in text has bucket le=%s", s.Metric["le"])
			}
		}
		if v := query(`http_request_duration_seconds_native_count{job="api-gateway"}`); len(v) == 0 {
			t.Error("no http_request_duration_seconds_native_count: the text exposition of the native twin changed")
		}
	})
}
