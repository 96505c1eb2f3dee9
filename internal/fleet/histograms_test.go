package fleet_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// TestEngineStoresNativeHistograms runs the fleet with the default
// --telemetry.histograms=both and the embedded engine's generated config,
// drives the traffic that creates every documented series, and checks in
// the engine's TSDB, for every histogram of docs/metrics.md in every
// service: the classic _bucket series are there as before, the _native
// twin is stored as native-histogram samples (not as a one-bucket classic
// histogram, which a text scrape would make of it), and the gateway's
// native latency histogram carries exemplars that name a trace.
func TestEngineStoresNativeHistograms(t *testing.T) {
	f := sharedFleetWithPrometheus(t)
	orders := f.URL("orders")
	post(t, orders+"/simulate?count=20&error_rate=0.5", "")
	post(t, orders+"/orders", `{"customer":"x","items":[]}`)
	get(t, orders+"/orders")
	edgeTraffic(t, f)()
	commerceTraffic(t, f)()
	eventTraffic(t, f)()
	outboxTraffic(t, f)
	api := mustPromAPI(t, f.URL("prometheus"))
	query := func(q string) model.Vector {
		v, _, err := api.Query(context.Background(), q, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v.(model.Vector)
	}

	docs := readMetricDocs(t)
	checked := 0
	for _, u := range f.Units() {
		if u.Telemetry == nil {
			continue // the engine itself
		}
		job := u.Service.ServiceName
		var names []string
		for name, row := range docsFor(docs, job) {
			if row.typ == "histogram" && !strings.HasSuffix(name, telemetry.NativeSuffix) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			checked++
			t.Run(job+"/"+name, func(t *testing.T) {
				sel := fmt.Sprintf(`{job=%q}`, job)
				native := telemetry.NativeName(name)
				check := func() string {
					if len(query(name+"_bucket"+sel)) == 0 {
						return "no classic " + name + "_bucket series"
					}
					v := query(native + sel)
					if len(v) == 0 {
						return "no " + native + " series"
					}
					for _, s := range v {
						if s.Histogram == nil {
							return fmt.Sprintf("%s is a float sample, not a native histogram", s.Metric)
						}
					}
					return ""
				}
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
					why := check()
					if why == "" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("after 30s: %s", why)
					}
				}
				if v := query(native + "_bucket" + sel); len(v) != 0 {
					t.Errorf("%s_bucket exists (%d series): the native twin was scraped as text", native, len(v))
				}
			})
		}
	}
	if checked < 30 {
		t.Fatalf("checked %d histograms; docs/metrics.md lists more", checked)
	}

	t.Run("exemplars on native histograms", func(t *testing.T) {
		q := `http_request_duration_seconds_native{job="api-gateway"}`
		mustEventually(t, 30*time.Second, "an exemplar with a trace_id on "+q, func() bool {
			edgeTraffic(t, f)() // traced requests through the gateway
			res, err := api.QueryExemplars(context.Background(), q, time.Now().Add(-5*time.Minute), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				for _, e := range r.Exemplars {
					if len(e.Labels["trace_id"]) == 32 {
						return true
					}
				}
			}
			return false
		})
	})
}

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
	f := sharedFleet(t)
	gw := f.URL("gateway")
	edgeTraffic(t, f)()

	dir := t.TempDir()
	addr := freeAddr(t)
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
