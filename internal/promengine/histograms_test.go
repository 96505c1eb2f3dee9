package promengine_test

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cloudcart/cloudcart/internal/promengine"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// latencyBuckets are the classic buckets of the test histogram, the layout
// of CloudCart's HTTP latency histograms.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// knownLatencies are n values spread log-uniformly over 1 ms–2 s, the
// shape of a latency distribution with a long tail.
func knownLatencies(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 0.001 * math.Pow(2000, float64(i)/float64(n-1))
	}
	return out
}

// TestNativeAndClassicQuantilesAgree records a known distribution through
// CloudCart's telemetry pipeline (--telemetry.histograms=both), lets the
// embedded engine scrape it with scrape_native_histograms, and compares
// histogram_quantile over the classic _bucket series and over the native
// twin with the exact quantiles of the recorded values: both lie in the
// classic bucket of the exact quantile, so they differ by less than that
// bucket's width, and the native estimate is within its own (much finer)
// bucket. The functions only native histograms support answer exactly or
// within one native bucket; on classic series they return nothing.
func TestNativeAndClassicQuantilesAgree(t *testing.T) {
	tel := telemetrytest.MustNew(t)
	in := telemetry.NewInstruments(tel.Meter("test"))
	h := in.Histogram("test.latency", "s", "Known latencies.", latencyBuckets)
	if err := in.Err(); err != nil {
		t.Fatal(err)
	}
	values := knownLatencies(1000)
	var sum float64
	for _, v := range values {
		h.Record(context.Background(), v)
		sum += v
	}
	schema := nativeSchema(t, tel, "test_latency_seconds_native")
	growth := math.Pow(2, math.Pow(2, -float64(schema))) // upper/lower bound of a native bucket
	t.Logf("native schema %d: bucket growth factor %.4f", schema, growth)

	srv := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(srv.Close)
	cfg := fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_native_histograms: true
  always_scrape_classic_histograms: true
scrape_configs:
  - job_name: known
    static_configs:
      - targets: [%q]
`, model.Duration(testInterval), strings.TrimPrefix(srv.URL, "http://"))
	r := mustStart(t, promengine.Options{Config: []byte(cfg)})
	waitValue(t, r.api, "test_latency_seconds_count", 1000)
	waitValue(t, r.api, "histogram_count(test_latency_seconds_native)", 1000)
	ctx, now := context.Background(), time.Now()
	value := func(q string) float64 {
		t.Helper()
		v, why := instant(ctx, r.api, q, now)
		if why != "" {
			t.Fatal(why)
		}
		return v
	}

	for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
		t.Run(fmt.Sprintf("p%g", q*100), func(t *testing.T) {
			exact := values[int(math.Ceil(q*float64(len(values))))-1]
			classic := value(fmt.Sprintf("histogram_quantile(%g, test_latency_seconds_bucket)", q))
			native := value(fmt.Sprintf("histogram_quantile(%g, test_latency_seconds_native)", q))
			i, _ := slices.BinarySearch(latencyBuckets, exact)
			lo, hi := 0.0, latencyBuckets[i]
			if i > 0 {
				lo = latencyBuckets[i-1]
			}
			t.Logf("exact %.4f  classic %.4f  native %.4f  classic bucket (%g, %g]", exact, classic, native, lo, hi)
			if classic < lo || classic > hi {
				t.Errorf("classic estimate %.4f outside the exact quantile's bucket (%g, %g]", classic, lo, hi)
			}
			if d := math.Abs(native - classic); d > hi-lo {
				t.Errorf("native %.4f and classic %.4f differ by %.4f, more than the classic bucket's width %g", native, classic, d, hi-lo)
			}
			if native < exact/growth || native > exact*growth {
				t.Errorf("native estimate %.4f is not within one native bucket (×%.4f) of the exact %.4f", native, growth, exact)
			}
		})
	}

	t.Run("native-only functions", func(t *testing.T) {
		if got := value("histogram_sum(test_latency_seconds_native)"); math.Abs(got-sum) > 1e-6*sum {
			t.Errorf("histogram_sum = %v, want %v", got, sum)
		}
		var below, mean, sq float64
		for _, v := range values {
			if v <= 0.1 {
				below++
			}
			mean += v / float64(len(values))
		}
		for _, v := range values {
			sq += (v - mean) * (v - mean) / float64(len(values))
		}
		// One native bucket holds about 1/(8·11) of a log-uniform spread
		// over 11 doublings at schema 3: the fraction is within 2 points.
		if got, want := value("histogram_fraction(0, 0.1, test_latency_seconds_native)"), below/float64(len(values)); math.Abs(got-want) > 0.02 {
			t.Errorf("histogram_fraction(0, 0.1) = %.4f, want %.4f", got, want)
		}
		if got, want := value("histogram_stddev(test_latency_seconds_native)"), math.Sqrt(sq); math.Abs(got-want) > 0.05*want {
			t.Errorf("histogram_stddev = %.4f, want %.4f within 5%%", got, want)
		}
		for _, q := range []string{"histogram_count(test_latency_seconds_bucket)", "histogram_sum(test_latency_seconds_bucket)"} {
			v, _, err := r.api.Query(ctx, q, now)
			if err != nil {
				t.Fatal(err)
			}
			if vec := v.(model.Vector); len(vec) != 0 {
				t.Errorf("%s = %v, want nothing: classic series are floats", q, vec)
			}
		}
	})
}

// nativeSchema is the schema of the single series of a native family in
// tel's registry.
func nativeSchema(tb testing.TB, tel *telemetry.Telemetry, name string) int32 {
	tb.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 && mf.GetMetric()[0].GetHistogram().Schema != nil {
			return mf.GetMetric()[0].GetHistogram().GetSchema()
		}
	}
	tb.Fatalf("no native histogram %s", name)
	return 0
}
