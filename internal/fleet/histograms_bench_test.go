package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// The Accept headers of a Prometheus 3 scrape with native histograms on
// (protobuf first) and of Prometheus 2.42 (OpenMetrics first).
const (
	acceptProto       = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	acceptOpenMetrics = "application/openmetrics-text;version=1.0.0"
)

// BenchmarkHistogramModes measures what --telemetry.histograms costs: for
// classic, native and both it runs the whole fleet with the embedded engine
// (1 s scrapes) under the tests' traffic for histogramBenchLoad, then
// reports per service the /metrics size in the protobuf format (what
// Prometheus 3 with scrape_native_histograms fetches) and in OpenMetrics
// text (what Prometheus 2.42 fetches) and the time to serve each, the
// engine's head series, and from a TSDB snapshot the bytes per sample of
// float chunks (classic buckets, counters, gauges) and of native-histogram
// chunks. Run once per mode:
//
//	go test -run '^$' -bench BenchmarkHistogramModes -benchtime 1x ./internal/fleet/
func BenchmarkHistogramModes(b *testing.B) {
	for _, mode := range []telemetry.Histograms{telemetry.HistogramsClassic, telemetry.HistogramsNative, telemetry.HistogramsBoth} {
		b.Run(string(mode), func(b *testing.B) {
			var dataDir string
			f := mustFleetConfig(b, func(c *fleet.Config) {
				c.Histograms = mode
				c.Gateway.RateLimit = -1
				c.Prometheus = &fleet.PrometheusConfig{Profile: fleet.DemoProfile, EnableAdminAPI: true}
				dataDir = c.DataDir
			})
			orders := f.URL("orders")
			// The same traffic in every mode. Not eventTraffic: it waits
			// for classic families, and the aggregator's p95 (computed from
			// the services' classic buckets) does not exist in native mode.
			edge, commerce := edgeTraffic(b, f), commerceTraffic(b, f)
			notifier, aggregator := f.URL("notifier"), f.URL("aggregator")
			for end := time.Now().Add(histogramBenchLoad); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
				post(b, orders+"/simulate?count=20&error_rate=0.1", "")
				edge()
				commerce()
				get(b, notifier+"/notifications?limit=5")
				get(b, aggregator+"/services")
			}
			time.Sleep(2 * time.Second) // the last traffic scraped

			var rows []string
			var protoTotal, textTotal int
			for range b.N {
				rows, protoTotal, textTotal = nil, 0, 0
				for _, u := range f.Units() {
					if u.Telemetry == nil {
						continue
					}
					pb, pt := scrapeCost(b, u.Server.URL()+"/metrics", acceptProto)
					tb, tt := scrapeCost(b, u.Server.URL()+"/metrics", acceptOpenMetrics)
					protoTotal += pb
					textTotal += tb
					rows = append(rows, fmt.Sprintf("| %s | %s | %d | %.2f | %d | %.2f |", mode, u.Service.ServiceName, pb, ms(pt), tb, ms(tt)))
				}
			}
			b.ReportMetric(float64(protoTotal), "proto-B/scrape-all")
			b.ReportMetric(float64(textTotal), "openmetrics-B/scrape-all")

			api := mustPromAPI(b, f.URL("prometheus"))
			v, _, err := api.Query(context.Background(), `prometheus_tsdb_head_series`, time.Now())
			if err != nil || len(v.(model.Vector)) != 1 {
				b.Fatalf("head series: %v %v", v, err)
			}
			head := float64(v.(model.Vector)[0].Value)
			b.ReportMetric(head, "head-series")

			fl, hi := snapshotChunkStats(b, f.URL("prometheus"), filepath.Join(dataDir, "prometheus"))
			b.ReportMetric(fl.perSample(), "B/float-sample")
			if hi.samples > 0 {
				b.ReportMetric(hi.perSample(), "B/histogram-sample")
			}
			b.Logf("\n| mode | service | protobuf bytes | protobuf ms | OpenMetrics bytes | OpenMetrics ms |\n|---|---|---|---|---|---|\n%s\n"+
				"head series %.0f; float chunks: %d series, %d samples, %.2f B/sample; native-histogram chunks: %d series, %d samples, %.2f B/sample",
				strings.Join(rows, "\n"), head, fl.series, fl.samples, fl.perSample(), hi.series, hi.samples, hi.perSample())
		})
	}
}

// histogramBenchLoad is how long each mode runs under traffic before it is
// measured: 40 scrapes at the demo profile's 1 s.
const histogramBenchLoad = 40 * time.Second

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// scrapeCost fetches url with the accept header 20 times and returns the
// body size and the median time to fetch and read it.
func scrapeCost(tb testing.TB, url, accept string) (int, time.Duration) {
	tb.Helper()
	var size int
	var times []time.Duration
	for range 20 {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Accept", accept)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			tb.Fatal(err)
		}
		times = append(times, time.Since(start))
		size = len(body)
	}
	slices.Sort(times)
	return size, times[len(times)/2]
}

// chunkStats adds up the chunks of one encoding family in a TSDB block.
type chunkStats struct {
	series, chunks, samples, bytes int
}

func (c chunkStats) perSample() float64 {
	if c.samples == 0 {
		return 0
	}
	return float64(c.bytes) / float64(c.samples)
}

// snapshotChunkStats takes a snapshot through the admin API (the head
// written out as a block) and walks its chunks: float (XOR) chunks on one
// side, native-histogram chunks on the other, with the bytes and samples
// of each. The engine's own series (job cloudcart-prometheus: client_golang
// histograms that are native in every mode) are left out.
func snapshotChunkStats(tb testing.TB, engineURL, engineDir string) (float, hist chunkStats) {
	tb.Helper()
	resp, err := http.Post(engineURL+"/api/v1/admin/tsdb/snapshot", "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	var r struct{ Data struct{ Name string } }
	err = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if err != nil || r.Data.Name == "" {
		tb.Fatalf("snapshot: %v %+v", err, r)
	}
	dir := filepath.Join(engineDir, "snapshots", r.Data.Name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		blk, err := tsdb.OpenBlock(nil, filepath.Join(dir, e.Name()), nil, nil)
		if err != nil {
			tb.Fatal(err)
		}
		ir, err := blk.Index()
		if err != nil {
			tb.Fatal(err)
		}
		cr, err := blk.Chunks()
		if err != nil {
			tb.Fatal(err)
		}
		k, v := index.AllPostingsKey()
		p, err := ir.Postings(context.Background(), k, v)
		if err != nil {
			tb.Fatal(err)
		}
		var builder labels.ScratchBuilder
		var metas []chunks.Meta
		for p.Next() {
			if err := ir.Series(p.At(), &builder, &metas); err != nil {
				tb.Fatal(err)
			}
			if builder.Labels().Get("job") == fleet.PrometheusJob {
				continue
			}
			var s *chunkStats
			for _, m := range metas {
				c, _, err := cr.ChunkOrIterable(m)
				if err != nil || c == nil {
					tb.Fatalf("chunk: %v", err)
				}
				switch c.Encoding() {
				case chunkenc.EncXOR:
					s = &float
				case chunkenc.EncHistogram, chunkenc.EncFloatHistogram:
					s = &hist
				default:
					continue
				}
				s.chunks++
				s.samples += c.NumSamples()
				s.bytes += len(c.Bytes())
			}
			if s != nil {
				s.series++
			}
		}
		if err := p.Err(); err != nil {
			tb.Fatal(err)
		}
		ir.Close()
		cr.Close()
		blk.Close()
	}
	return float, hist
}
