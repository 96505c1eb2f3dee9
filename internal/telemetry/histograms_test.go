package telemetry_test

import (
	"context"
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

func TestHistogramsFlagValue(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    telemetry.Histograms
		classic bool
		native  bool
	}{
		{"", telemetry.HistogramsBoth, true, true},
		{"both", telemetry.HistogramsBoth, true, true},
		{"classic", telemetry.HistogramsClassic, true, false},
		{"native", telemetry.HistogramsNative, false, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var h telemetry.Histograms
			if err := h.Set(tc.in); err != nil {
				t.Fatal(err)
			}
			if h != tc.want || h.Classic() != tc.classic || h.Native() != tc.native {
				t.Errorf("Set(%q) = %q (classic %v, native %v), want %q (%v, %v)", tc.in, h, h.Classic(), h.Native(), tc.want, tc.classic, tc.native)
			}
		})
	}
	var h telemetry.Histograms
	if err := h.Set("exponential"); err == nil {
		t.Error("Set(exponential): want an error")
	}
	if zero := telemetry.Histograms(""); !zero.Classic() || !zero.Native() {
		t.Error("the zero value must mean both (the default)")
	}
}

// TestPrometheusName checks that the names the views derive are the ones
// the exporter gives, for each unit style CloudCart uses.
func TestPrometheusName(t *testing.T) {
	for _, tc := range []struct{ name, unit, want string }{
		{"http.request.duration", "s", "http_request_duration_seconds"},
		{"request.payload", "By", "request_payload_bytes"},
		{"chaos.injected.latency_ms", "{ms}", "chaos_injected_latency_ms"},
		{"product.list_time", "s", "product_list_time_seconds"},
	} {
		got, err := telemetry.PrometheusName(tc.name, tc.unit, sdkmetric.InstrumentKindHistogram)
		if err != nil || got != tc.want {
			t.Errorf("PrometheusName(%q, %q) = %q, %v; want %q", tc.name, tc.unit, got, err, tc.want)
		}
	}
}

// TestHistogramModes records the same observations in each mode and reads
// the registry: classic is the explicit-bucket family under the documented
// name, native the exponential family under name_native, each with the
// same count and sum, and both carry an exemplar of the sampled span.
func TestHistogramModes(t *testing.T) {
	values := []float64{0.003, 0.012, 0.012, 0.04, 0.2, 0.9, 2.5}
	var sum float64
	for _, v := range values {
		sum += v
	}
	for _, mode := range []telemetry.Histograms{telemetry.HistogramsClassic, telemetry.HistogramsNative, telemetry.HistogramsBoth} {
		t.Run(string(mode), func(t *testing.T) {
			tel := telemetrytest.MustNew(t, func(o *telemetry.Options) { o.Histograms = mode })
			in := telemetry.NewInstruments(tel.Meter("test"))
			h := in.Histogram("test.request.duration", "s", "Test latency.", []float64{0.01, 0.1, 1})
			if err := in.Err(); err != nil {
				t.Fatal(err)
			}
			ctx, span := tel.Tracer("test").Start(context.Background(), "op")
			attrs := metric.WithAttributes()
			for _, v := range values {
				h.Record(ctx, v, attrs)
			}
			span.End()
			traceID := span.SpanContext().TraceID().String()

			fams := gatherFamilies(t, tel)
			classic, native := fams["test_request_duration_seconds"], fams["test_request_duration_seconds"+telemetry.NativeSuffix]
			if (classic != nil) != mode.Classic() {
				t.Errorf("classic family present = %v, want %v", classic != nil, mode.Classic())
			}
			if (native != nil) != mode.Native() {
				t.Errorf("native family present = %v, want %v", native != nil, mode.Native())
			}
			if classic != nil {
				hist := onlyHistogram(t, classic)
				finite := 0 // an exemplar above the last bound adds +Inf
				for _, b := range hist.GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) {
						finite++
					}
				}
				if finite != 3 {
					t.Errorf("classic buckets = %d, want the 3 declared", finite)
				}
				if len(hist.GetPositiveSpan()) != 0 || hist.Schema != nil {
					t.Errorf("classic family carries native buckets: %v", hist)
				}
				checkCountSum(t, hist, len(values), sum)
				if !hasExemplar(hist.GetBucket(), nil, traceID) {
					t.Errorf("classic: no exemplar with trace_id %s", traceID)
				}
			}
			if native != nil {
				hist := onlyHistogram(t, native)
				if len(hist.GetBucket()) != 0 {
					t.Errorf("native family carries %d classic buckets", len(hist.GetBucket()))
				}
				if hist.Schema == nil || hist.GetSchema() > 8 || len(hist.GetPositiveSpan()) == 0 {
					t.Errorf("native family: schema %v, %d positive spans; want an exponential histogram", hist.Schema, len(hist.GetPositiveSpan()))
				}
				checkCountSum(t, hist, len(values), sum)
				if !hasExemplar(nil, hist.GetExemplars(), traceID) {
					t.Errorf("native: no exemplar with trace_id %s", traceID)
				}
				if n := len(hist.GetExemplars()); n > 4 {
					t.Errorf("native: %d exemplars of %d observations, want at most 4 per series", n, len(values))
				}
				if native.GetHelp() != "Test latency." {
					t.Errorf("native help = %q", native.GetHelp())
				}
			}
			telemetrytest.Lint(t, tel.Registry)
		})
	}
}

func gatherFamilies(tb testing.TB, tel *telemetry.Telemetry) map[string]*dto.MetricFamily {
	tb.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func onlyHistogram(tb testing.TB, mf *dto.MetricFamily) *dto.Histogram {
	tb.Helper()
	if mf.GetType() != dto.MetricType_HISTOGRAM || len(mf.GetMetric()) != 1 {
		tb.Fatalf("%s: type %s with %d series, want one histogram", mf.GetName(), mf.GetType(), len(mf.GetMetric()))
	}
	return mf.GetMetric()[0].GetHistogram()
}

func checkCountSum(tb testing.TB, h *dto.Histogram, n int, sum float64) {
	tb.Helper()
	if h.GetSampleCount() != uint64(n) || math.Abs(h.GetSampleSum()-sum) > 1e-9 {
		tb.Errorf("count %d sum %v, want %d and %v", h.GetSampleCount(), h.GetSampleSum(), n, sum)
	}
}

func hasExemplar(buckets []*dto.Bucket, exemplars []*dto.Exemplar, traceID string) bool {
	for _, b := range buckets {
		exemplars = append(exemplars, b.GetExemplar())
	}
	for _, e := range exemplars {
		for _, l := range e.GetLabel() {
			if l.GetName() == "trace_id" && l.GetValue() == traceID {
				return true
			}
		}
	}
	return false
}
