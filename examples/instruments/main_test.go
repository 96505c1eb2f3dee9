package main

import (
	"flag"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// tally is a third recorder: it adds up the simulated requests itself, so
// the test knows what both /metrics must say without trusting either.
type tally struct {
	requests        map[[3]string]float64 // endpoint, method, status
	errors          map[string]float64
	tokens          map[[2]string]float64 // model, type
	webhooks        map[string]float64
	cache           map[string]float64
	retrieval       []float64
	rerank          []float64
	requestDuration []float64
	active          float64
}

func newTally() *tally {
	return &tally{requests: map[[3]string]float64{}, errors: map[string]float64{},
		tokens: map[[2]string]float64{}, webhooks: map[string]float64{}, cache: map[string]float64{}}
}

func (t *tally) request(r request) {
	t.requests[[3]string{r.endpoint, r.method, r.status}]++
	if r.errorType != "" {
		t.errors[r.errorType]++
	}
	t.tokens[[2]string{r.model, "prompt"}] += float64(r.promptTokens)
	t.tokens[[2]string{r.model, "completion"}] += float64(r.completionTokens)
	t.cache[hitOrMiss(r.embeddingHit)]++
	t.retrieval = append(t.retrieval, r.retrieval)
	t.rerank = append(t.rerank, r.rerank)
	t.requestDuration = append(t.requestDuration, r.duration)
}
func (t *tally) webhookStarted()               { t.active++ }
func (t *tally) webhookFinished(status string) { t.active--; t.webhooks[status]++ }

// TestBothLibrariesExposeReference004 drives 500 simulated requests and
// checks each family on both endpoints: its type, its labels and its
// values, computed independently by a tally recorder.
func TestBothLibrariesExposeReference004(t *testing.T) {
	ex, err := newExample(7)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.shutdown()
	want := newTally()
	ex.work.recorders = append(ex.work.recorders, want)
	for range 500 {
		ex.work.step()
	}
	srv := httptest.NewServer(ex.handler())
	defer srv.Close()

	for _, path := range []string{"/metrics", "/metrics/client_golang"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			got := scrape(t, srv.URL+path)
			wantTypes := map[string]dto.MetricType{
				"api_requests_total":             dto.MetricType_COUNTER,
				"api_errors_total":               dto.MetricType_COUNTER,
				"llm_tokens_total":               dto.MetricType_COUNTER,
				"webhook_delivery_total":         dto.MetricType_COUNTER,
				"embedding_cache_requests_total": dto.MetricType_COUNTER,
				"api_request_duration_seconds":   dto.MetricType_HISTOGRAM,
				"document_retrieval_seconds":     dto.MetricType_HISTOGRAM,
				"rerank_latency_seconds":         dto.MetricType_HISTOGRAM,
				"webhooks_active":                dto.MetricType_GAUGE,
				"embedding_cache_hit_rate":       dto.MetricType_GAUGE,
				"cache_hit_rate":                 dto.MetricType_GAUGE,
			}
			var names []string
			for name := range got {
				names = append(names, name)
			}
			for name, typ := range wantTypes {
				f, ok := got[name]
				if !ok {
					t.Errorf("%s missing; families: %v", name, names)
					continue
				}
				if f.GetType() != typ {
					t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
				}
				if f.GetHelp() == "" {
					t.Errorf("%s has no help text", name)
				}
			}
			if len(got) != len(wantTypes) {
				t.Errorf("%d families, want %d: %v", len(got), len(wantTypes), names)
			}

			for k, v := range want.requests {
				assertValue(t, got, "api_requests_total", map[string]string{"endpoint": k[0], "method": k[1], "status": k[2]}, v)
			}
			for _, e := range errorTypes {
				assertValue(t, got, "api_errors_total", map[string]string{"error_type": e}, want.errors[e])
			}
			for k, v := range want.tokens {
				assertValue(t, got, "llm_tokens_total", map[string]string{"model": k[0], "type": k[1]}, v)
			}
			for _, s := range []string{"success", "failure"} {
				assertValue(t, got, "webhook_delivery_total", map[string]string{"status": s}, want.webhooks[s])
			}
			for _, r := range []string{"hit", "miss"} {
				assertValue(t, got, "embedding_cache_requests_total", map[string]string{"result": r}, want.cache[r])
			}
			assertValue(t, got, "webhooks_active", nil, want.active)
			emb, resp := ex.work.state.hitRates()
			assertValue(t, got, "embedding_cache_hit_rate", nil, emb)
			assertValue(t, got, "cache_hit_rate", nil, resp)
			if hr := want.cache["hit"] / (want.cache["hit"] + want.cache["miss"]); math.Abs(hr-emb) > 1e-12 {
				t.Errorf("embedding_cache_hit_rate %v, but hits/lookups counted %v", emb, hr)
			}

			assertHistogram(t, got, "api_request_duration_seconds", requestBuckets, want.requestDuration)
			assertHistogram(t, got, "document_retrieval_seconds", retrievalBuckets, want.retrieval)
			assertHistogram(t, got, "rerank_latency_seconds", rerankBuckets, want.rerank)
		})
	}
}

// TestFirstScrape shows the one difference between the libraries that a
// user sees: before anything is recorded, client_golang exposes unlabelled
// metrics at zero while the OpenTelemetry SDK exposes an instrument only
// once it has a value. Both expose the label values primed at zero.
func TestFirstScrape(t *testing.T) {
	ex, err := newExample(1)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.shutdown()
	srv := httptest.NewServer(ex.handler())
	defer srv.Close()
	otel := scrape(t, srv.URL+"/metrics")
	prom := scrape(t, srv.URL+"/metrics/client_golang")
	for _, name := range []string{"api_request_duration_seconds", "document_retrieval_seconds", "rerank_latency_seconds", "webhooks_active"} {
		if _, ok := otel[name]; ok {
			t.Errorf("OpenTelemetry exposes %s before its first recording; the tutorial says it does not", name)
		}
		if _, ok := prom[name]; !ok {
			t.Errorf("client_golang does not expose %s at zero", name)
		}
	}
	for _, fams := range []map[string]*dto.MetricFamily{otel, prom} {
		assertValue(t, fams, "webhook_delivery_total", map[string]string{"status": "failure"}, 0)
		assertValue(t, fams, "api_errors_total", map[string]string{"error_type": "validation"}, 0)
	}
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// find is the series of family name with exactly these labels.
func find(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if match {
			return m
		}
	}
	return nil
}

func assertValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	m := find(fams, name, labels)
	if m == nil {
		t.Errorf("%s%v: no such series", name, labels)
		return
	}
	var got float64
	switch {
	case m.Counter != nil:
		got = m.GetCounter().GetValue()
	case m.Gauge != nil:
		got = m.GetGauge().GetValue()
	default:
		t.Errorf("%s%v: neither counter nor gauge", name, labels)
		return
	}
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// assertHistogram checks the _bucket/_sum/_count triple: the bucket bounds
// are the layout chosen in code, each bucket counts the observations at or
// under its bound (cumulative), and count and sum are every observation's.
func assertHistogram(t *testing.T, fams map[string]*dto.MetricFamily, name string, bounds, observed []float64) {
	t.Helper()
	m := find(fams, name, nil)
	if m == nil || m.Histogram == nil {
		t.Errorf("%s: no histogram", name)
		return
	}
	h := m.GetHistogram()
	var gotBounds []float64
	for i, b := range h.GetBucket() {
		gotBounds = append(gotBounds, b.GetUpperBound())
		want := 0
		for _, v := range observed {
			if v <= b.GetUpperBound() {
				want++
			}
		}
		if got := b.GetCumulativeCount(); got != uint64(want) {
			t.Errorf("%s_bucket{le=%q} = %d, want %d (bucket %d)", name, model.FloatString(b.GetUpperBound()), got, want, i)
		}
	}
	// The text format ends every histogram with the +Inf bucket: every
	// observation is at or under +Inf, so it always equals _count.
	if !slices.Equal(gotBounds, append(slices.Clone(bounds), math.Inf(1))) {
		t.Errorf("%s bucket bounds %v, want %v", name, gotBounds, bounds)
	}
	var sum float64
	for _, v := range observed {
		sum += v
	}
	if h.GetSampleCount() != uint64(len(observed)) {
		t.Errorf("%s_count = %d, want %d", name, h.GetSampleCount(), len(observed))
	}
	if math.Abs(h.GetSampleSum()-sum) > 1e-9*math.Max(1, sum) {
		t.Errorf("%s_sum = %v, want %v", name, h.GetSampleSum(), sum)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/*.txt, the /metrics output the tutorial quotes")

// TestGoldenOutput pins what each endpoint serves after 20 simulated
// requests of seed 4. docs/tutorial.md quotes these files, so the output
// users read there is generated by this test (`go test
// ./examples/instruments -update`), never typed.
func TestGoldenOutput(t *testing.T) {
	ex, err := newExample(4)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.shutdown()
	for range 20 {
		ex.work.step()
	}
	srv := httptest.NewServer(ex.handler())
	defer srv.Close()
	for path, file := range map[string]string{"/metrics": "otel.txt", "/metrics/client_golang": "client_golang.txt"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", file)
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./examples/instruments -update)", err)
		}
		if string(got) != string(want) {
			t.Errorf("GET %s differs from %s; run go test ./examples/instruments -update and review the diff", path, golden)
		}
	}
}
