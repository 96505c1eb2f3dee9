package fleet_test

import (
	"net/http"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// notAtStart are the documented families that may be absent from a fresh
// fleet's first scrape, each with the reason it cannot exist at zero. Every
// other family is either unlabelled or has a closed label set, and is
// created at construction: counters at zero for each known label
// combination, up-down counters and gauges at their real value.
var notAtStart = map[string]string{
	// Labelled by an HTTP status code: the value set is whatever a handler
	// or an upstream answers, known only per response.
	"http_requests_total":              "HTTP status label",
	"user_http_requests_total":         "HTTP status label",
	"order_http_requests_total":        "HTTP status label",
	"product_http_requests_total":      "HTTP status label",
	"chaos_http_requests_total":        "HTTP status label",
	"notification_http_requests_total": "HTTP status label",
	"aggregator_http_requests_total":   "HTTP status label",
	"upstream_service_errors_total":    "status_code is the backend's status",
	"error_injections_total":           "error_code is the configured status of a fault",
	// Open label values.
	"product_top_viewed_views": "product_id: only products that were viewed",
	// A share or an average of no events is undefined (0/0): the gauge is
	// absent, as documented, rather than a made-up 0 or NaN.
	"notification_event_types_distribution": "share of handled events: none yet",
	"service_error_rate_percent":            "5xx share of no requests",
	"service_latency_ms":                    "average latency of no requests",
	"service_p95_latency_ms":                "p95 of no requests",
	// Read from the broker once the durable consumers exist, within one
	// lag interval of start; a 0 before that would claim a caught-up
	// consumer nobody measured.
	"notification_consumer_lag_seconds": "first broker reading pending",
}

// TestFamiliesExistAtFirstScrape starts a fleet with no traffic and checks
// that each service's first scrape has every documented family but the
// exceptions above and histograms. A histogram series cannot exist without
// an observation: recording a zero would be a fake request.
func TestFamiliesExistAtFirstScrape(t *testing.T) {
	f := mustFleet(t)
	docs := readMetricDocs(t)
	for _, u := range f.Units() {
		if u.Telemetry == nil {
			continue // the embedded Prometheus
		}
		service := u.Service.ServiceName
		t.Run(service, func(t *testing.T) {
			live := scrapeFamilies(t, u.Server.URL()+"/metrics")
			for name, row := range docsFor(docs, service) {
				if _, ok := live[name]; ok {
					continue
				}
				if row.typ == "histogram" {
					continue
				}
				if _, ok := notAtStart[name]; ok {
					continue
				}
				t.Errorf("%s: %s (labels %v) is not exposed on the first scrape", service, name, row.labels)
			}
		})
	}
	// The exceptions stay documented families.
	all := map[string]bool{}
	for _, sec := range docs {
		for name := range sec {
			all[name] = true
		}
	}
	for name := range notAtStart {
		if !all[name] {
			t.Errorf("notAtStart lists %s, which docs/metrics.md does not document", name)
		}
	}
}

func scrapeFamilies(tb testing.TB, url string) map[string]bool {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]bool{}
	for name := range fams {
		out[name] = true
	}
	return out
}
