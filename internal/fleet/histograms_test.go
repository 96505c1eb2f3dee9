package fleet_test

import (
	"context"
	"fmt"
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
	f := mustFleetWithPrometheus(t)
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
