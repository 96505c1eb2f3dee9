package ruletest

import (
	"cmp"
	"fmt"
	"os"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// Fields of a rule group and of a rule that Prometheus 2.42 knows. Later
// versions added group `labels` and `query_offset`, which 2.42 rejects.
var (
	groupFields2x = []string{"name", "interval", "limit", "rules"}
	ruleFields2x  = []string{"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
)

// functions2x are the PromQL functions of Prometheus 2.42 that 3.x still
// has (holt_winters was renamed in 3.0).
var functions2x = []string{
	"abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
	"avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
	"count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
	"delta", "deriv", "exp", "floor", "histogram_count", "histogram_fraction",
	"histogram_quantile", "histogram_sum", "hour", "idelta", "increase", "irate",
	"label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "max_over_time",
	"min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time",
	"quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh",
	"sort", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time",
	"tan", "tanh", "time", "timestamp", "vector", "year",
}

// aggregations2x are the aggregation operators of Prometheus 2.42 (3.x adds
// limitk and limit_ratio).
var aggregations2x = []string{
	"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar",
	"topk", "bottomk", "count_values", "quantile",
}

// normalisedLabels are the labels whose float values Prometheus 3.x
// normalises at ingestion (le="1.0" becomes le="1"), so they may only be
// matched by a regex that accepts both spellings.
var normalisedLabels = []string{labels.BucketLabel, "quantile"}

// CheckCompat reports every construct in ruleFile that would make the same
// file load or behave differently in Prometheus 2.42 and 3.x: fields that
// 2.42 does not know (group labels, query_offset), names that need 3.x's
// UTF-8 quoting, functions and aggregations missing from either version,
// and equality matchers on `le` or `quantile`. It returns nil when the file
// is portable.
func CheckCompat(ruleFile string) []error {
	b, err := os.ReadFile(ruleFile)
	if err != nil {
		return []error{err}
	}
	var doc struct {
		Groups []map[string]yaml.Node `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return []error{fmt.Errorf("%s: %w", ruleFile, err)}
	}
	type finding struct {
		line int
		msg  string
	}
	var findings []finding
	report := func(line int, format string, args ...any) {
		findings = append(findings, finding{line, fmt.Sprintf(format, args...)})
	}
	for _, g := range doc.Groups {
		for field, node := range g {
			if !slices.Contains(groupFields2x, field) {
				report(node.Line, "group field %q is unknown to Prometheus 2.42", field)
			}
		}
		rulesNode := g["rules"]
		var rules []map[string]yaml.Node
		if err := rulesNode.Decode(&rules); err != nil {
			report(rulesNode.Line, "rules: %v", err)
			continue
		}
		for _, r := range rules {
			for field, node := range r {
				if !slices.Contains(ruleFields2x, field) {
					report(node.Line, "rule field %q is unknown to Prometheus 2.42", field)
				}
			}
			if n, ok := r["record"]; ok && !model.LegacyValidation.IsValidMetricName(n.Value) {
				report(n.Line, "record name %q is not a legacy metric name", n.Value)
			}
			for _, field := range []string{"labels", "annotations"} {
				n, ok := r[field]
				if !ok {
					continue
				}
				var m map[string]string
				if err := n.Decode(&m); err != nil {
					report(n.Line, "%s: %v", field, err)
					continue
				}
				for name := range m {
					if !model.LegacyValidation.IsValidLabelName(name) {
						report(n.Line, "%s name %q is not a legacy label name", field, name)
					}
				}
			}
			if n, ok := r["expr"]; ok {
				for _, err := range checkExpr(n.Value) {
					report(n.Line, "%v", err)
				}
			}
		}
	}
	// Map iteration order is random; report in file order.
	slices.SortFunc(findings, func(a, b finding) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.msg, b.msg))
	})
	var errs []error
	for _, f := range findings {
		errs = append(errs, fmt.Errorf("%s:%d: %s", ruleFile, f.line, f.msg))
	}
	return errs
}

// checkExpr parses expr as both versions would (no experimental syntax) and
// walks it for non-portable constructs.
func checkExpr(expr string) []error {
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return []error{err}
	}
	var errs []error
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.Call:
			if !slices.Contains(functions2x, n.Func.Name) {
				errs = append(errs, fmt.Errorf("function %s() does not exist in both Prometheus 2.42 and 3.x", n.Func.Name))
			}
		case *parser.AggregateExpr:
			if op := n.Op.String(); !slices.Contains(aggregations2x, op) {
				errs = append(errs, fmt.Errorf("aggregation %s does not exist in Prometheus 2.42", op))
			}
			for _, l := range n.Grouping {
				if !model.LegacyValidation.IsValidLabelName(l) {
					errs = append(errs, fmt.Errorf("label %q needs UTF-8 quoting, which Prometheus 2.42 cannot parse", l))
				}
			}
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil {
				for _, l := range append(slices.Clone(vm.MatchingLabels), vm.Include...) {
					if !model.LegacyValidation.IsValidLabelName(l) {
						errs = append(errs, fmt.Errorf("label %q needs UTF-8 quoting, which Prometheus 2.42 cannot parse", l))
					}
				}
			}
		case *parser.VectorSelector:
			for _, m := range n.LabelMatchers {
				switch {
				case m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual && !model.LegacyValidation.IsValidMetricName(m.Value):
					errs = append(errs, fmt.Errorf("metric name %q needs UTF-8 quoting, which Prometheus 2.42 cannot parse", m.Value))
				case !model.LegacyValidation.IsValidLabelName(m.Name):
					errs = append(errs, fmt.Errorf("label %q needs UTF-8 quoting, which Prometheus 2.42 cannot parse", m.Name))
				case slices.Contains(normalisedLabels, m.Name) && (m.Type == labels.MatchEqual || m.Type == labels.MatchNotEqual):
					errs = append(errs, fmt.Errorf("%s: Prometheus 3.x normalises %s values (\"1.0\" becomes \"1\"), 2.x does not; match with a regex that accepts both, e.g. %s=~\"1(\\\\.0*)?\"", m, m.Name, m.Name))
				}
			}
		}
		return nil
	})
	return errs
}

// configFields3x are the global prometheus.yml fields the shipped file sets
// that Prometheus 2.42 does not know (its strict parser rejects the file):
// both came with native histograms as a scrape setting in 3.x (2.42 has
// only --enable-feature=native-histograms, which scrapes no classic
// buckets alongside). docs/histograms.md.
var configFields3x = []string{"scrape_native_histograms", "always_scrape_classic_histograms"}

// Config2x is a prometheus.yml as Prometheus 2.42 loads it: the global
// fields of configFields3x removed, everything else as it was (so 2.42
// still rejects anything else it does not know). It reports the fields it
// removed.
func Config2x(cfg []byte) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(cfg, &doc); err != nil {
		return nil, nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("prometheus.yml: not a mapping")
	}
	var removed []string
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if top[i].Value != "global" || top[i+1].Kind != yaml.MappingNode {
			continue
		}
		g := top[i+1]
		var kept []*yaml.Node
		for j := 0; j+1 < len(g.Content); j += 2 {
			if slices.Contains(configFields3x, g.Content[j].Value) {
				removed = append(removed, g.Content[j].Value)
				continue
			}
			kept = append(kept, g.Content[j], g.Content[j+1])
		}
		g.Content = kept
	}
	out, err := yaml.Marshal(&doc)
	return out, removed, err
}
