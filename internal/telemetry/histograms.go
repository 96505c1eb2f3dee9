package telemetry

import (
	"fmt"

	"github.com/prometheus/otlptranslator"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
)

// Histograms selects how histogram instruments reach /metrics: as classic
// histograms (the explicit buckets each instrument declares: _bucket, _sum
// and _count series), as native histograms (base-2 exponential buckets, one
// series per label set, under the name plus NativeSuffix), or both.
//
// The OTel Prometheus exporter writes one Prometheus metric per OTel data
// point: an explicit-bucket point becomes a classic histogram
// (prometheus.NewConstHistogram) and an exponential point a native-only
// histogram (prometheus.NewConstNativeHistogram). It cannot put both bucket
// layouts in one metric as a client_golang Histogram does, and two streams
// of one name would collide in the registry. So "both" is an OTel View that
// adds a second, exponential stream to every histogram instrument under a
// name of its own. docs/histograms.md explains the choice.
type Histograms string

// The modes of --telemetry.histograms.
const (
	HistogramsBoth    Histograms = "both" // the default
	HistogramsClassic Histograms = "classic"
	HistogramsNative  Histograms = "native"
)

// NativeSuffix is appended to a histogram's Prometheus name to name its
// native (exponential) twin: http_request_duration_seconds has
// http_request_duration_seconds_native.
const NativeSuffix = "_native"

// Exponential aggregation of the native streams. MaxScale 3 (schema 3:
// each bucket 2^(1/8) ≈ 9% wider than the last, so a quantile is within
// ±4.5%) is the resolution of client_golang's NativeHistogramBucketFactor
// 1.1, the value Prometheus's documentation suggests. Finer scales (up to 8,
// the finest Prometheus stores) made the services' protobuf /metrics
// larger than with classic buckets, because narrow distributions such as
// SQL statement latencies kept a hundred or more populated buckets
// (docs/benchmarks.md). The SDK lowers the scale on its own when the
// observed range needs more than MaxSize buckets: 160 buckets at schema 3
// span 20 doublings, 1 µs to 1 s.
const (
	nativeMaxSize  = 160
	nativeMaxScale = 3
)

// nativeExemplars is how many exemplars a native series keeps (a random
// sample of the sampled measurements, the SDK's SimpleFixedSize
// reservoir). The OTel default for exponential histograms, 20, made a
// native series in the protobuf exposition about eighteen times its size
// without them (2,140 bytes against 118), and every service's /metrics
// larger than with classic buckets, which keep at most one per bucket.
const nativeExemplars = 4

// translation is how the Prometheus exporter turns OTel names into
// Prometheus names; native stream names are derived with the same rules.
var translation = otlptranslator.UnderscoreEscapingWithSuffixes

// Set parses a flag value; the empty string is the default, both.
func (h *Histograms) Set(s string) error {
	switch v := Histograms(s); v {
	case "":
		*h = HistogramsBoth
	case HistogramsBoth, HistogramsClassic, HistogramsNative:
		*h = v
	default:
		return fmt.Errorf("want classic, native or both, got %q", s)
	}
	return nil
}

// String is the flag value ("" for the zero value, which means both).
func (h Histograms) String() string { return string(h) }

// Classic reports whether classic histograms are exported.
func (h Histograms) Classic() bool { return h != HistogramsNative }

// Native reports whether native histograms are exported.
func (h Histograms) Native() bool { return h != HistogramsClassic }

// NativeName is the Prometheus name of the native twin of the histogram
// whose Prometheus name is classic.
func NativeName(classic string) string { return classic + NativeSuffix }

// PrometheusName is the name the Prometheus exporter gives an instrument's
// default stream.
func PrometheusName(name, unit string, kind sdkmetric.InstrumentKind) (string, error) {
	var typ otlptranslator.MetricType
	switch kind {
	case sdkmetric.InstrumentKindHistogram:
		typ = otlptranslator.MetricTypeHistogram
	case sdkmetric.InstrumentKindCounter, sdkmetric.InstrumentKindObservableCounter:
		typ = otlptranslator.MetricTypeMonotonicCounter
	case sdkmetric.InstrumentKindUpDownCounter, sdkmetric.InstrumentKindObservableUpDownCounter:
		typ = otlptranslator.MetricTypeNonMonotonicCounter
	case sdkmetric.InstrumentKindGauge, sdkmetric.InstrumentKindObservableGauge:
		typ = otlptranslator.MetricTypeGauge
	}
	namer := otlptranslator.NewMetricNamer("", translation)
	return namer.Build(otlptranslator.Metric{Name: name, Unit: unit, Type: typ})
}

// views are the MeterProvider's views for mode h. Classic needs none: the
// default stream of a histogram instrument is its explicit buckets. Native
// replaces that stream by the exponential one; both keeps it and adds the
// exponential one.
//
// The native stream's name is the classic Prometheus name plus
// NativeSuffix, unit kept: the unit's suffix is already in the name, so the
// exporter adds nothing and the name ends in _native. Every reader gets the
// streams, so OTLP export (docs/otlp.md) carries the same two.
func (h Histograms) views() []sdkmetric.View {
	native := func(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
		if i.Kind != sdkmetric.InstrumentKindHistogram {
			return sdkmetric.Stream{}, false
		}
		name, err := PrometheusName(i.Name, i.Unit, i.Kind)
		if err != nil {
			return sdkmetric.Stream{}, false // the default stream would fail to export as well
		}
		return sdkmetric.Stream{
			Name:        NativeName(name),
			Description: i.Description,
			Unit:        i.Unit,
			Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: nativeMaxSize, MaxScale: nativeMaxScale},
			ExemplarReservoirProviderSelector: func(sdkmetric.Aggregation) exemplar.ReservoirProvider {
				return exemplar.FixedSizeReservoirProvider(nativeExemplars)
			},
		}, true
	}
	// classic is the instrument's default stream (its own name and the
	// explicit buckets it advises), named in a view because a matching
	// view replaces the default stream.
	classic := func(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
		if i.Kind != sdkmetric.InstrumentKindHistogram {
			return sdkmetric.Stream{}, false
		}
		return sdkmetric.Stream{Name: i.Name, Description: i.Description, Unit: i.Unit}, true
	}
	switch h {
	case HistogramsClassic:
		return nil
	case HistogramsNative:
		return []sdkmetric.View{native}
	default:
		return []sdkmetric.View{classic, native}
	}
}
