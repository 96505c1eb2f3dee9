package dashboards

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// histograms compares the classic and native (exponential) histograms of
// the same latencies (docs/histograms.md): p50/p95/p99 from each side by
// side, what each costs in series, and the functions only native
// histograms answer. Every service runs with --telemetry.histograms=both
// by default; with classic or native alone one side of each panel stays
// empty.
func histograms() board {
	return board{
		uid:         "cloudcart-histograms",
		title:       "Histograms: classic vs native",
		file:        "histograms.json",
		description: "The same latencies from classic (_bucket) and native (_native) histograms: quantiles side by side, series cost, native-only functions (docs/histograms.md).",
		tags:        []string{"histograms", "native-histograms"},
		from:        "now-30m",
		rows: []row{
			latencyRow("API gateway request latency", "http_request_duration_seconds", `job="api-gateway"`,
				"Every request through the gateway, from first byte read to response written. The classic buckets end at "+bounds(httpkit.DurationBuckets)+" s: a classic quantile is interpolated inside one of them, a native one inside a bucket about 9% wide."),
			latencyRow("Order latency end to end", "order_duration_seconds", `job="order-service"`,
				"From acceptance through queue wait and processing to the outcome (the orders SLO's latency)."),
			{title: "Only native histograms answer these", panels: []panel{
				timeSeries("Requests per second (histogram_count)", "reqps",
					q(`histogram_count(sum(rate(http_request_duration_seconds_native{job="api-gateway"}[$__rate_interval])))`, "native: histogram_count"),
					q(`sum(rate(http_request_duration_seconds_count{job="api-gateway"}[$__rate_interval]))`, "classic: _count")).
					describe("The observation rate: histogram_count of a native histogram is the classic _count series; the two lines coincide.").
					size(8, 8).withMin(0),
				timeSeries("Share of requests faster than 300 ms (histogram_fraction)", "percentunit",
					q(`histogram_fraction(0, 0.3, sum(rate(http_request_duration_seconds_native{job="api-gateway"}[$__rate_interval])))`, "native: any threshold")).
					describe("histogram_fraction reads the share of observations in any range, here ≤ 300 ms, which is not a classic bucket boundary: a classic histogram answers only at its boundaries (250 ms, 500 ms) with the _bucket series.").
					size(8, 8).withMin(0).withMax(1).baseColor("red").thresholds(at(0.9, "orange"), at(0.99, "green")),
				timeSeries("Mean and standard deviation (histogram_avg, histogram_stddev)", "s",
					q(`histogram_avg(sum(rate(http_request_duration_seconds_native{job="api-gateway"}[$__rate_interval])))`, "mean"),
					q(`histogram_stddev(sum(rate(http_request_duration_seconds_native{job="api-gateway"}[$__rate_interval])))`, "standard deviation")).
					describe("histogram_avg is histogram_sum / histogram_count; histogram_stddev estimates the spread from the buckets, which a classic histogram's coarse buckets do not support.").
					size(8, 8).withMin(0),
			}},
			{title: "Cost per scrape", panels: []panel{
				timeSeries("Samples per scrape by service", "short",
					q(`max by (job) (scrape_samples_scraped)`, "{{job}}")).
					describe("Samples each scrape of a service stores: a classic histogram costs one sample per bucket plus _sum and _count per label set, a native one a single (larger) sample. Compare a fleet run with --telemetry.histograms=classic, native and both (docs/benchmarks.md).").
					size(24, 8).withMin(0),
			}},
		},
	}
}

// latencyRow is one latency histogram: p50/p95/p99 from classic and
// native, and the series count of each.
func latencyRow(title, metric, sel, desc string) row {
	classic := func(quantile string) query {
		return q(fmt.Sprintf(`histogram_quantile(%s, sum by (le) (rate(%s_bucket{%s}[$__rate_interval])))`, quantile, metric, sel), "classic")
	}
	native := func(quantile string) query {
		return q(fmt.Sprintf(`histogram_quantile(%s, sum(rate(%s_native{%s}[$__rate_interval])))`, quantile, metric, sel), "native")
	}
	var panels []panel
	for _, p := range []struct{ name, quantile string }{{"p50", "0.5"}, {"p95", "0.95"}, {"p99", "0.99"}} {
		panels = append(panels, timeSeries(fmt.Sprintf("%s %s: classic vs native", title, p.name), "s",
			classic(p.quantile), native(p.quantile)).
			describe(fmt.Sprintf("%s: %s estimated from %s_bucket and from %s_native. %s", p.name, title, metric, metric, desc)).
			size(6, 8).withMin(0))
	}
	panels = append(panels, statPanel("Series", "short",
		q(fmt.Sprintf(`count(%[1]s_bucket{%[2]s}) + count(%[1]s_sum{%[2]s}) + count(%[1]s_count{%[2]s})`, metric, sel), "classic"),
		q(fmt.Sprintf(`count(%s_native{%s})`, metric, sel), "native")).
		describe(fmt.Sprintf("Series stored for %s: classic is one per bucket (le) plus _sum and _count per label set; native is one per label set.", metric)).
		size(6, 8).withDecimals(0).baseColor("blue"))
	return row{title: title + " (" + metric + ")", panels: panels}
}

// bounds lists bucket bounds as "0.001, 0.0025, …".
func bounds(b []float64) string {
	s := make([]string, len(b))
	for i, v := range b {
		s[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strings.Join(s, ", ")
}
