package fleet_test

import (
	"bufio"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// docRow is one metric row of docs/metrics.md.
type docRow struct {
	typ    string
	labels []string
}

var (
	sectionRe = regexp.MustCompile("^## ([a-z-]+)$")
	rowRe     = regexp.MustCompile("^\\| `([a-z_][a-z0-9_]*)` \\| (counter|gauge|histogram) \\| ([^|]*) \\|")
	labelRe   = regexp.MustCompile("`([a-z_]+)`")
)

// readMetricDocs parses docs/metrics.md into rows per service section.
func readMetricDocs(tb testing.TB) map[string]map[string]docRow {
	tb.Helper()
	f, err := os.Open("../../docs/metrics.md")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]docRow{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := sectionRe.FindStringSubmatch(sc.Text()); m != nil {
			section = m[1]
			continue
		}
		m := rowRe.FindStringSubmatch(sc.Text())
		if m == nil || section == "" {
			continue
		}
		var labels []string
		for _, l := range labelRe.FindAllStringSubmatch(m[3], -1) {
			labels = append(labels, l[1])
		}
		slices.Sort(labels)
		if out[section] == nil {
			out[section] = map[string]docRow{}
		}
		out[section][m[1]] = docRow{typ: m[2], labels: labels}
	}
	return out
}

// sharedSections are documented once for several services: a service
// exposes the families of each shared section that applies to it besides
// its own.
var sharedSections = map[string]func(service string) bool{
	// The chaos middleware runs in every service but chaos-service.
	"chaos-middleware": func(service string) bool { return service != "chaos-service" },
}

// docsFor is what a service's live families are checked against: its
// section plus the shared sections that apply to it.
func docsFor(docs map[string]map[string]docRow, service string) map[string]docRow {
	out := maps.Clone(docs[service])
	if out == nil {
		out = map[string]docRow{}
	}
	for section, applies := range sharedSections {
		if applies(service) {
			maps.Copy(out, docs[section])
		}
	}
	// Every histogram has its native twin (--telemetry.histograms=both,
	// the default): documented once, in docs/metrics.md's introduction and
	// docs/histograms.md, not as a second row per histogram.
	for name, row := range maps.Clone(out) {
		if row.typ == "histogram" {
			out[telemetry.NativeName(name)] = row
		}
	}
	return out
}

// runtimeFamily reports families documented once for all services.
func runtimeFamily(name string) bool {
	for _, p := range []string{"go_", "process_", "promhttp_", "target_info"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// checkDocumented compares a service's live families with its section.
func checkDocumented(t *testing.T, service string, docs map[string]docRow, fams []*dto.MetricFamily) {
	t.Helper()
	live := map[string]bool{}
	for _, mf := range fams {
		name := mf.GetName()
		if runtimeFamily(name) {
			continue
		}
		live[name] = true
		row, ok := docs[name]
		if !ok {
			t.Errorf("%s exposes %s, which docs/metrics.md does not document under ## %s", service, name, service)
			continue
		}
		if typ := strings.ToLower(mf.GetType().String()); typ != row.typ {
			t.Errorf("%s: docs say %s, live type is %s", name, row.typ, typ)
		}
		labels := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "le" {
					labels[l.GetName()] = true
				}
			}
		}
		var got []string
		for l := range labels {
			got = append(got, l)
		}
		slices.Sort(got)
		if !slices.Equal(got, row.labels) {
			t.Errorf("%s: docs say labels %v, live labels are %v", name, row.labels, got)
		}
	}
	for name := range docs {
		if !live[name] {
			t.Errorf("docs/metrics.md documents %s under ## %s, but the service does not expose it", name, service)
		}
	}
}
