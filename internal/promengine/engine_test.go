package promengine_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/cloudcart/cloudcart/internal/promengine"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const e2eRules = `groups:
  - name: cloudcart-test
    rules:
      - record: job:cloudcart_test_requests:sum
        expr: sum by (job) (cloudcart_test_requests_total)
      - alert: TestTargetUp
        expr: up{job="test-target"} == 1
        labels:
          severity: info
        annotations:
          summary: "{{ $labels.instance }} is up"
`

// TestEndToEnd scrapes a real client_golang target and checks every API
// endpoint Grafana's Prometheus datasource and promtool use, by value.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	tgt := mustTarget(t)
	dir := t.TempDir()
	rulesFile := mustWriteFile(t, dir, "rules.yml", e2eRules)
	configFile := mustWriteFile(t, dir, "prometheus.yml", string(testConfig([]string{"rules.yml"}, tgt)))
	config, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	r := mustStart(t, promengine.Options{Config: config, ConfigFile: configFile})
	ctx := context.Background()

	waitValue(t, r.api, `up{job="test-target"}`, 1)

	t.Run("query", func(t *testing.T) {
		got, why := instant(ctx, r.api, "cloudcart_test_requests_total", time.Now())
		if why != "" || got != 5 {
			t.Fatalf("cloudcart_test_requests_total = %v (%s), want 5", got, why)
		}
	})
	t.Run("recording rule", func(t *testing.T) {
		waitValue(t, r.api, `job:cloudcart_test_requests:sum{job="test-target"}`, 5)
	})
	t.Run("query_range", func(t *testing.T) {
		end := time.Now()
		v, _, err := r.api.QueryRange(ctx, `up{job="test-target"}`, apiv1.Range{Start: end.Add(-time.Minute), End: end, Step: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		m, ok := v.(model.Matrix)
		if !ok || len(m) != 1 || len(m[0].Values) == 0 {
			t.Fatalf("want one non-empty series, got %v", v)
		}
		for _, p := range m[0].Values {
			if p.Value != 1 {
				t.Errorf("up at %v = %v, want 1", p.Timestamp, p.Value)
			}
		}
	})
	t.Run("query via POST form", func(t *testing.T) {
		resp, err := http.PostForm(r.url+"/api/v1/query", url.Values{"query": {"cloudcart_test_requests_total"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Status string
			Data   struct {
				ResultType string
				Result     []struct{ Value []any }
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body.Status != "success" || body.Data.ResultType != "vector" || len(body.Data.Result) != 1 || body.Data.Result[0].Value[1] != "5" {
			t.Fatalf("POST /api/v1/query = %+v", body)
		}
	})
	t.Run("series", func(t *testing.T) {
		series, _, err := r.api.Series(ctx, []string{"cloudcart_test_requests_total"}, time.Now().Add(-time.Minute), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		want := model.LabelSet{"__name__": "cloudcart_test_requests_total", "job": "test-target", "instance": model.LabelValue(tgt.addr())}
		if len(series) != 1 || !series[0].Equal(want) {
			t.Fatalf("series = %v, want [%v]", series, want)
		}
	})
	t.Run("labels", func(t *testing.T) {
		names, _, err := r.api.LabelNames(ctx, nil, time.Now().Add(-time.Minute), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []model.LabelName{"__name__", "instance", "job", "le"} {
			if !slices.Contains(names, n) {
				t.Errorf("label names %v lack %q", names, n)
			}
		}
	})
	t.Run("label values", func(t *testing.T) {
		vals, _, err := r.api.LabelValues(ctx, "job", nil, time.Now().Add(-time.Minute), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(vals, model.LabelValues{"test-target"}) {
			t.Fatalf("job values = %v, want [test-target]", vals)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		// Scraped as OpenMetrics, so metadata is keyed by family name
		// (counters without _total), exactly as in Prometheus.
		md, err := r.api.Metadata(ctx, "", "")
		if err != nil {
			t.Fatal(err)
		}
		for family, want := range map[string]apiv1.Metadata{
			"cloudcart_test_requests":                 {Type: apiv1.MetricTypeCounter, Help: "Requests handled by the test target."},
			"cloudcart_test_request_duration_seconds": {Type: apiv1.MetricTypeHistogram, Help: "Request latency of the test target."},
		} {
			if got := md[family]; len(got) != 1 || got[0] != want {
				t.Errorf("metadata[%s] = %+v, want [%+v]", family, got, want)
			}
		}
	})
	t.Run("targets", func(t *testing.T) {
		res, err := r.api.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Active) != 1 {
			t.Fatalf("active targets = %+v", res.Active)
		}
		a := res.Active[0]
		if a.Health != apiv1.HealthGood || a.ScrapePool != "test-target" || a.ScrapeURL != tgt.srv.URL+"/metrics" || a.LastError != "" {
			t.Fatalf("target = %+v", a)
		}
	})
	t.Run("rules", func(t *testing.T) {
		eventually(t, waitTimeout, func() string {
			res, err := r.api.Rules(ctx, nil)
			if err != nil {
				return err.Error()
			}
			if len(res.Groups) != 1 || res.Groups[0].Name != "cloudcart-test" || res.Groups[0].File != rulesFile || len(res.Groups[0].Rules) != 2 {
				return "unexpected groups"
			}
			rec, ok := res.Groups[0].Rules[0].(apiv1.RecordingRule)
			if !ok || rec.Name != "job:cloudcart_test_requests:sum" || rec.Health != apiv1.RuleHealthGood {
				return "recording rule not healthy yet"
			}
			al, ok := res.Groups[0].Rules[1].(apiv1.AlertingRule)
			if !ok || al.Name != "TestTargetUp" || al.State != "firing" {
				return "alerting rule not firing yet"
			}
			return ""
		})
	})
	t.Run("alerts", func(t *testing.T) {
		eventually(t, waitTimeout, func() string {
			res, err := r.api.Alerts(ctx)
			if err != nil {
				return err.Error()
			}
			if len(res.Alerts) != 1 {
				return "no alert yet"
			}
			a := res.Alerts[0]
			if a.State != apiv1.AlertStateFiring || a.Labels["alertname"] != "TestTargetUp" || a.Annotations["summary"] != model.LabelValue(tgt.addr()+" is up") {
				return "alert not firing yet"
			}
			return ""
		})
	})
	t.Run("query_exemplars", func(t *testing.T) {
		for _, c := range []struct {
			query, traceID string
			value          float64
		}{
			{"cloudcart_test_requests_total", "abc123", 5},
			{`cloudcart_test_request_duration_seconds_bucket{le="0.5"}`, "def456", 0.3},
		} {
			res, err := r.api.QueryExemplars(ctx, c.query, time.Now().Add(-time.Minute), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || len(res[0].Exemplars) == 0 {
				t.Fatalf("exemplars for %s = %+v", c.query, res)
			}
			ex := res[0].Exemplars[0]
			if ex.Labels["trace_id"] != model.LabelValue(c.traceID) || float64(ex.Value) != c.value {
				t.Errorf("exemplar for %s = %+v, want trace_id=%s value %v", c.query, ex, c.traceID, c.value)
			}
		}
	})
	t.Run("buildinfo", func(t *testing.T) {
		bi, err := r.api.Buildinfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if bi.Version != "3.15.0" {
			t.Fatalf("version = %q, want 3.15.0", bi.Version)
		}
	})
	t.Run("status", func(t *testing.T) {
		cfg, err := r.api.Config(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(cfg.YAML, "job_name: test-target") {
			t.Errorf("config lacks the job:\n%s", cfg.YAML)
		}
		flags, err := r.api.Flags(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if flags["web.enable-admin-api"] != "false" || flags["storage.tsdb.retention.time"] != "15d" {
			t.Errorf("flags = %v", flags)
		}
		ri, err := r.api.Runtimeinfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ri.StorageRetention != "15d" || !ri.ReloadConfigSuccess {
			t.Errorf("runtimeinfo = %+v", ri)
		}
		ts, err := r.api.TSDB(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ts.HeadStats.NumSeries < 4 {
			t.Errorf("head series = %d, want the target's series", ts.HeadStats.NumSeries)
		}
	})
	t.Run("ready", func(t *testing.T) {
		resp, err := http.Get(r.url + "/-/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/-/ready = %d", resp.StatusCode)
		}
	})
}

// TestRestartReplaysWAL stops an engine and starts another on the same
// DataDir: samples only in the WAL must come back. Both runs register their
// self-metrics on one registry, which only works if the first run
// unregistered its own.
func TestRestartReplaysWAL(t *testing.T) {
	t.Parallel()
	tgt := mustTarget(t)
	dataDir := filepath.Join(t.TempDir(), "prometheus")
	reg := prometheus.NewRegistry()
	ctx := context.Background()

	first := mustStart(t, promengine.Options{DataDir: dataDir, Config: testConfig(nil, tgt), Registerer: reg})
	waitValue(t, first.api, "cloudcart_test_requests_total", 5)
	at := time.Now()
	first.stop(t)
	tgt.srv.Close()
	if _, err := os.Stat(filepath.Join(dataDir, "wal")); err != nil {
		t.Fatalf("no WAL after the first run: %v", err)
	}

	second := mustStart(t, promengine.Options{DataDir: dataDir, Config: testConfig(nil), Registerer: reg})
	for q, want := range map[string]float64{"cloudcart_test_requests_total": 5, `up{job="test-target"}`: 1} {
		got, why := instant(ctx, second.api, q, at)
		if why != "" || got != want {
			t.Errorf("after restart %s at %v = %v (%s), want %v", q, at, got, why, want)
		}
	}
	// Exemplars live in memory and in the WAL, so they come back too.
	ex, err := second.api.QueryExemplars(ctx, "cloudcart_test_requests_total", at.Add(-time.Minute), at)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 1 || len(ex[0].Exemplars) == 0 || ex[0].Exemplars[0].Labels["trace_id"] != "abc123" {
		t.Errorf("exemplars after restart = %+v, want trace_id=abc123", ex)
	}
	if got := gaugeValue(t, reg, "prometheus_tsdb_head_series"); got < 1 {
		t.Errorf("prometheus_tsdb_head_series = %v after replay, want > 0", got)
	}
}

// gaugeValue gathers reg and returns the value of the unlabelled gauge name.
func gaugeValue(tb testing.TB, reg prometheus.Gatherer, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && mf.GetType() == dto.MetricType_GAUGE && len(mf.Metric) == 1 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	tb.Fatalf("gauge %s not registered", name)
	return 0
}

// TestSnapshotRestore follows docs/storage.md: snapshot through the admin
// API, stop, replace the data dir with the snapshot, start, same answers.
func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	tgt := mustTarget(t)
	dataDir := filepath.Join(t.TempDir(), "prometheus")
	ctx := context.Background()

	first := mustStart(t, promengine.Options{DataDir: dataDir, Config: testConfig(nil, tgt), EnableAdminAPI: true})
	waitValue(t, first.api, "cloudcart_test_requests_total", 5)
	at := time.Now()
	snap, err := first.api.Snapshot(ctx, false)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	first.stop(t)
	tgt.srv.Close()

	snapDir := filepath.Join(dataDir, "snapshots", snap.Name)
	restored := filepath.Join(t.TempDir(), "restored")
	if err := os.Rename(snapDir, restored); err != nil {
		t.Fatalf("snapshot not at %s: %v", snapDir, err)
	}
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(restored, dataDir); err != nil {
		t.Fatal(err)
	}

	second := mustStart(t, promengine.Options{DataDir: dataDir, Config: testConfig(nil)})
	got, why := instant(ctx, second.api, "cloudcart_test_requests_total", at)
	if why != "" || got != 5 {
		t.Fatalf("after restore cloudcart_test_requests_total at %v = %v (%s), want 5", at, got, why)
	}
	// Blocks hold samples, not exemplars: a restored snapshot has none.
	ex, err := second.api.QueryExemplars(ctx, "cloudcart_test_requests_total", at.Add(-time.Minute), at)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 0 {
		t.Errorf("exemplars after restore = %+v, want none", ex)
	}
}

// TestAdminAPIDisabled: without EnableAdminAPI the admin endpoints refuse,
// in the API's error format.
func TestAdminAPIDisabled(t *testing.T) {
	t.Parallel()
	r := mustStart(t, promengine.Options{Config: testConfig(nil)})
	for _, path := range []string{"/api/v1/admin/tsdb/snapshot", "/api/v1/admin/tsdb/delete_series?match[]=up", "/api/v1/admin/tsdb/clean_tombstones"} {
		resp, err := http.Post(r.url+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Status, ErrorType, Error string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden || body.Status != "error" || body.ErrorType != "unavailable" {
			t.Errorf("POST %s = %d %+v, want 403 unavailable", path, resp.StatusCode, body)
		}
	}
	if _, err := os.Stat(filepath.Join(r.dataDir, "snapshots")); !os.IsNotExist(err) {
		t.Errorf("snapshots dir exists although the admin API is off (err %v)", err)
	}
}

// TestHandlerBeforeRun: the API answers 503 until Run has opened the TSDB.
func TestHandlerBeforeRun(t *testing.T) {
	t.Parallel()
	e, err := promengine.New(promengine.Options{DataDir: t.TempDir(), Config: testConfig(nil)})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/query?query=up", "/-/ready"} {
		rec := httptest.NewRecorder()
		e.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("GET %s before Run = %d, want 503", path, rec.Code)
		}
	}
	if e.Ready() {
		t.Error("Ready before Run")
	}
}

// TestRunOnce: a second Run is refused.
func TestRunOnce(t *testing.T) {
	t.Parallel()
	r := mustStart(t, promengine.Options{Config: testConfig(nil)})
	if err := r.engine.Run(context.Background()); err == nil {
		t.Fatal("second Run returned nil")
	}
}

// TestNewRejects: bad input fails New with a useful error, before anything
// touches the disk.
func TestNewRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken := mustWriteFile(t, dir, "broken.yml", "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: sum(\n")
	for _, c := range []struct {
		name    string
		opts    promengine.Options
		wantErr string
	}{
		{"no data dir", promengine.Options{Config: testConfig(nil)}, "DataDir"},
		{"bad yaml", promengine.Options{DataDir: dir, Config: []byte("scrape_configs: [")}, "parse prometheus config"},
		{"unknown field", promengine.Options{DataDir: dir, Config: []byte("scrape_intervall: 1s")}, "parse prometheus config"},
		{"sd not compiled in", promengine.Options{DataDir: dir, Config: []byte("scrape_configs:\n  - job_name: x\n    file_sd_configs: [{files: [x.json]}]\n")}, "field file_sd_configs not found"},
		{"broken rule file", promengine.Options{DataDir: dir, Config: testConfig([]string{broken})}, "broken.yml"},
		{"negative for scale", promengine.Options{DataDir: dir, Config: testConfig(nil), ForScale: -1}, "ForScale"},
		{"bad webhook url", promengine.Options{DataDir: dir, Config: testConfig(nil), WebhookURL: "slack"}, "webhook URL"},
		{"bad alertmanager url", promengine.Options{DataDir: dir, Config: testConfig(nil), AlertmanagerURL: "am:9093"}, "alertmanager URL"},
		{"bad external url", promengine.Options{DataDir: dir, Config: testConfig(nil), ExternalURL: "localhost"}, "external URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := promengine.New(c.opts)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("New err = %v, want it to mention %q", err, c.wantErr)
			}
		})
	}
}

// TestDataDirLocked: a second engine on a data dir in use fails Run (the
// TSDB lock), and cleans up after itself.
func TestDataDirLocked(t *testing.T) {
	t.Parallel()
	first := mustStart(t, promengine.Options{Config: testConfig(nil)})
	second, err := promengine.New(promengine.Options{DataDir: first.dataDir, Config: testConfig(nil)})
	if err != nil {
		t.Fatal(err)
	}
	err = second.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("Run on a locked data dir = %v, want a lock error", err)
	}
	if second.Ready() {
		t.Error("failed engine reports ready")
	}
}

// TestRetention: Options set retention unless prometheus.yml has a
// storage.tsdb.retention section, which wins (Prometheus 3 semantics).
func TestRetention(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		config  string
		opts    promengine.Options
		want    string
		seconds float64
		bytes   float64
	}{
		{"default", "", promengine.Options{}, "15d", 15 * 86400, 0},
		{"options", "", promengine.Options{RetentionTime: 48 * time.Hour, RetentionSize: 1 << 30}, "2d or 1GiB", 2 * 86400, 1 << 30},
		{"size only", "", promengine.Options{RetentionSize: 512 << 20}, "512MiB", 0, 512 << 20},
		{"config wins", "storage:\n  tsdb:\n    retention:\n      time: 3d\n", promengine.Options{RetentionTime: time.Hour}, "3d", 3 * 86400, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			c.opts.Config = []byte(c.config)
			c.opts.Registerer = reg
			r := mustStart(t, c.opts)
			ri, err := r.api.Runtimeinfo(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if ri.StorageRetention != c.want {
				t.Errorf("retention = %q, want %q", ri.StorageRetention, c.want)
			}
			// What the TSDB itself enforces.
			if got := gaugeValue(t, reg, "prometheus_tsdb_retention_limit_seconds"); got != c.seconds {
				t.Errorf("prometheus_tsdb_retention_limit_seconds = %v, want %v", got, c.seconds)
			}
			if got := gaugeValue(t, reg, "prometheus_tsdb_retention_limit_bytes"); got != c.bytes {
				t.Errorf("prometheus_tsdb_retention_limit_bytes = %v, want %v", got, c.bytes)
			}
		})
	}
}

// TestNewAcceptsHTTPSD: http_sd_configs is compiled in (docs/storage.md).
func TestNewAcceptsHTTPSD(t *testing.T) {
	t.Parallel()
	cfg := "scrape_configs:\n  - job_name: x\n    http_sd_configs: [{url: 'http://127.0.0.1:1/sd'}]\n"
	if _, err := promengine.New(promengine.Options{DataDir: t.TempDir(), Config: []byte(cfg)}); err != nil {
		t.Fatalf("New: %v", err)
	}
}
