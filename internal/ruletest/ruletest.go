// Package ruletest runs Prometheus rule unit tests, written in the format of
// `promtool test rules`, on the Prometheus engine linked into CloudCart
// (3.x). The same test files also run under Debian's promtool (2.x), so one
// set of tests proves that the rules behave the same on both engines.
//
// It is a port of the subset of promtool's cmd/promtool/unittest.go that
// Prometheus 2.42 also understands: rule_files, evaluation_interval,
// group_eval_order and tests with name, interval, input_series,
// external_labels, external_url, alert_rule_test and promql_expr_test.
// Fields outside that subset (start_timestamp, fuzzy_compare, native
// histogram samples) are rejected, as promtool 2.42 would reject them.
//
// Unlike promtool, groups that group_eval_order does not mention are
// evaluated in a fixed order (by file, then name), so a run is reproducible.
package ruletest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"go.yaml.in/yaml/v2"
	"golang.org/x/sync/errgroup"
)

// Run runs the rule unit tests in testFile and reports every failure on tb.
func Run(tb testing.TB, testFile string) {
	tb.Helper()
	for _, err := range RunFile(testFile) {
		tb.Error(err)
	}
}

// RunFile runs the rule unit tests in testFile and returns every failure;
// it returns nil when all tests pass.
func RunFile(testFile string) []error {
	b, err := os.ReadFile(testFile)
	if err != nil {
		return []error{err}
	}
	var f unitTestFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return []error{fmt.Errorf("%s: %w", testFile, err)}
	}
	ruleFiles, err := globRuleFiles(filepath.Dir(testFile), f.RuleFiles)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", testFile, err)}
	}
	if f.EvaluationInterval == 0 {
		f.EvaluationInterval = model.Duration(time.Minute)
	}
	order := make(map[string]int, len(f.GroupEvalOrder))
	for i, name := range f.GroupEvalOrder {
		if _, dup := order[name]; dup {
			return []error{fmt.Errorf("%s: group name repeated in evaluation order: %s", testFile, name)}
		}
		order[name] = i
	}

	// Test groups are independent (each has its own storage, engine and
	// rule manager): they run side by side, one per CPU, and their
	// failures are reported in the file's order.
	groupErrs := make([][]error, len(f.Tests))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, tg := range f.Tests {
		name := tg.Name
		if name == "" {
			name = fmt.Sprintf("unnamed#%d", i)
		}
		if tg.Interval == 0 {
			tg.Interval = f.EvaluationInterval
		}
		g.Go(func() error {
			for _, err := range tg.run(time.Duration(f.EvaluationInterval), order, ruleFiles) {
				groupErrs[i] = append(groupErrs[i], fmt.Errorf("%s: test %s:\n%w", testFile, name, err))
			}
			return nil
		})
	}
	_ = g.Wait() // failures are collected per group, in the file's order
	return slices.Concat(groupErrs...)
}

// unitTestFile is one `promtool test rules` file.
type unitTestFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval,omitempty"`
	GroupEvalOrder     []string       `yaml:"group_eval_order"`
	Tests              []testGroup    `yaml:"tests"`
}

// testGroup is a set of input series and the tests run on them.
type testGroup struct {
	Interval        model.Duration   `yaml:"interval"`
	InputSeries     []series         `yaml:"input_series"`
	AlertRuleTests  []alertTestCase  `yaml:"alert_rule_test,omitempty"`
	PromqlExprTests []promqlTestCase `yaml:"promql_expr_test,omitempty"`
	ExternalLabels  labels.Labels    `yaml:"external_labels,omitempty"`
	ExternalURL     string           `yaml:"external_url,omitempty"`
	Name            string           `yaml:"name,omitempty"`
}

type series struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertTestCase struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []expAlert     `yaml:"exp_alerts"`
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

type promqlTestCase struct {
	Expr       string         `yaml:"expr"`
	EvalTime   model.Duration `yaml:"eval_time"`
	ExpSamples []expSample    `yaml:"exp_samples"`
}

type expSample struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
}

// promqlParser parses like Prometheus 2.42 and a default 3.x: no
// experimental syntax.
var promqlParser = parser.NewParser(parser.Options{})

// globRuleFiles resolves rule file patterns relative to the test file.
func globRuleFiles(dir string, patterns []string) ([]string, error) {
	var files []string
	for _, p := range patterns {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("rule_files: no file matches %s", p)
		}
		files = append(files, m...)
	}
	return files, nil
}

// run loads the input series lazily, evaluates every rule group at each
// evaluation step from 0 to the largest eval_time, checks the firing alerts
// at each alert test's eval_time and finally runs the PromQL tests.
func (tg *testGroup) run(evalInterval time.Duration, order map[string]int, ruleFiles []string) (errs []error) {
	suite, err := promqltest.NewLazyLoader(tg.loadCommand(), promqltest.LazyLoaderOpts{
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
	if err != nil {
		return []error{err}
	}
	defer func() {
		if err := suite.Close(); err != nil {
			errs = append(errs, err)
		}
	}()
	suite.SubqueryInterval = evalInterval

	mgr := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:  rules.EngineQueryFunc(suite.QueryEngine(), suite.Storage()),
		Appendable: suite.Storage(),
		Context:    context.Background(),
		NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
		Logger:     promslog.NewNopLogger(),
		Parser:     promqlParser,
		// Prometheus 2.x only accepts legacy metric and label names.
		NameValidationScheme: model.LegacyValidation,
	})
	groupsByKey, loadErrs := mgr.LoadGroups(time.Duration(tg.Interval), tg.ExternalLabels, tg.ExternalURL, nil, false, ruleFiles...)
	if loadErrs != nil {
		return loadErrs
	}
	groups := orderedGroups(groupsByKey, order)
	for _, g := range groups {
		for _, r := range g.Rules() {
			if ar, ok := r.(*rules.AlertingRule); ok {
				// As in promtool: treat `for` state as restored so that ALERTS
				// series are written from the first evaluation.
				ar.SetRestored(true)
			}
		}
	}

	alertTests := map[model.Duration][]alertTestCase{}
	for _, at := range tg.AlertRuleTests {
		if at.Alertname == "" {
			return []error{fmt.Errorf("an item under alert_rule_test misses required attribute alertname at eval_time %v", at.EvalTime)}
		}
		alertTests[at.EvalTime] = append(alertTests[at.EvalTime], at)
	}
	evalTimes := make([]model.Duration, 0, len(alertTests))
	for t := range alertTests {
		evalTimes = append(evalTimes, t)
	}
	slices.Sort(evalTimes)

	mint := time.Unix(0, 0).UTC()
	maxt := mint.Add(tg.maxEvalTime())
	next := 0
	for ts := mint; !ts.After(maxt); ts = ts.Add(evalInterval) {
		var evalErrs []error
		suite.WithSamplesTill(ts, func(err error) {
			if err != nil {
				evalErrs = append(evalErrs, err)
				return
			}
			for _, g := range groups {
				g.Eval(suite.Context(), ts)
				for _, r := range g.Rules() {
					if err := r.LastError(); err != nil {
						evalErrs = append(evalErrs, fmt.Errorf("    rule: %s, time: %s, err: %w", r.Name(), ts.Sub(mint), err))
					}
				}
			}
		})
		if len(evalErrs) > 0 {
			return append(errs, evalErrs...)
		}
		// An alert test at eval_time t is checked against the evaluation at
		// the last step ts <= t.
		for next < len(evalTimes) && time.Duration(evalTimes[next]) < ts.Add(evalInterval).Sub(mint) {
			errs = append(errs, checkAlerts(groups, alertTests[evalTimes[next]])...)
			next++
		}
	}

	for _, tc := range tg.PromqlExprTests {
		if err := tc.check(suite.Context(), mint, suite.QueryEngine(), suite.Queryable()); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// loadCommand renders the input series as a promqltest "load" command.
func (tg *testGroup) loadCommand() string {
	var b strings.Builder
	fmt.Fprintf(&b, "load %v\n", tg.Interval)
	for _, s := range tg.InputSeries {
		fmt.Fprintf(&b, "  %v %v\n", s.Series, s.Values)
	}
	return b.String()
}

func (tg *testGroup) maxEvalTime() time.Duration {
	var maxd model.Duration
	for _, at := range tg.AlertRuleTests {
		maxd = max(maxd, at.EvalTime)
	}
	for _, pt := range tg.PromqlExprTests {
		maxd = max(maxd, pt.EvalTime)
	}
	return time.Duration(maxd)
}

// orderedGroups sorts groups by their position in group_eval_order; groups
// it does not list come first (as in promtool), ordered by file and name.
func orderedGroups(byKey map[string]*rules.Group, order map[string]int) []*rules.Group {
	groups := make([]*rules.Group, 0, len(byKey))
	for _, g := range byKey {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b *rules.Group) int {
		return cmp.Or(
			cmp.Compare(order[a.Name()], order[b.Name()]),
			cmp.Compare(a.File(), b.File()),
			cmp.Compare(a.Name(), b.Name()),
		)
	})
	return groups
}

// alertInstance is a firing alert, or an expected one.
type alertInstance struct {
	labels, annotations labels.Labels
}

func (a alertInstance) String() string {
	return "Labels:" + a.labels.String() + "\nAnnotations:" + a.annotations.String()
}

func compareAlerts(a, b alertInstance) int {
	return cmp.Or(labels.Compare(a.labels, b.labels), labels.Compare(a.annotations, b.annotations))
}

// checkAlerts compares the firing alerts of the current evaluation with the
// expected ones. Pending alerts do not count, as in promtool.
func checkAlerts(groups []*rules.Group, tests []alertTestCase) []error {
	got := map[string][]alertInstance{}
	for _, g := range groups {
		for _, r := range g.Rules() {
			ar, ok := r.(*rules.AlertingRule)
			if !ok {
				continue
			}
			for _, a := range ar.ActiveAlerts() {
				if a.State == rules.StateFiring {
					got[ar.Name()] = append(got[ar.Name()], alertInstance{a.Labels.Copy(), a.Annotations.Copy()})
				}
			}
		}
	}
	var errs []error
	for _, tc := range tests {
		var want []alertInstance
		for _, a := range tc.ExpAlerts {
			ls := maps.Clone(a.ExpLabels)
			if ls == nil {
				ls = map[string]string{}
			}
			ls[labels.AlertName] = tc.Alertname
			want = append(want, alertInstance{labels.FromMap(ls), labels.FromMap(a.ExpAnnotations)})
		}
		have := slices.Clone(got[tc.Alertname])
		slices.SortFunc(want, compareAlerts)
		slices.SortFunc(have, compareAlerts)
		if !slices.EqualFunc(want, have, func(a, b alertInstance) bool { return compareAlerts(a, b) == 0 }) {
			errs = append(errs, fmt.Errorf("    alertname: %s, time: %s, \n        exp:%v, \n        got:%v",
				tc.Alertname, tc.EvalTime, formatAlerts(want), formatAlerts(have)))
		}
	}
	return errs
}

func formatAlerts(as []alertInstance) string {
	if len(as) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteString("[")
	for i, a := range as {
		fmt.Fprintf(&b, "\n            %d:\n              %s", i, strings.ReplaceAll(a.String(), "\n", "\n              "))
	}
	b.WriteString("\n          ]")
	return b.String()
}

// check runs one PromQL test as an instant query at its eval_time. Values
// must match exactly, as in promtool without fuzzy_compare.
func (tc promqlTestCase) check(ctx context.Context, mint time.Time, engine *promql.Engine, q storage.Queryable) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("    expr: %q, time: %s, %s", tc.Expr, tc.EvalTime, fmt.Sprintf(format, args...))
	}
	got, err := instantQuery(ctx, engine, q, tc.Expr, mint.Add(time.Duration(tc.EvalTime)))
	if err != nil {
		return fail("err: %v", err)
	}
	var have, want []sample
	for _, s := range got {
		if s.H != nil {
			return fail("native histogram results are not supported")
		}
		have = append(have, sample{s.Metric.Copy(), s.F})
	}
	for _, s := range tc.ExpSamples {
		ls, err := promqlParser.ParseMetric(s.Labels)
		if err != nil {
			return fail("err: labels %q: %v", s.Labels, err)
		}
		want = append(want, sample{ls, s.Value})
	}
	bySeries := func(a, b sample) int { return labels.Compare(a.labels, b.labels) }
	slices.SortFunc(have, bySeries)
	slices.SortFunc(want, bySeries)
	if !slices.EqualFunc(want, have, func(a, b sample) bool {
		return labels.Equal(a.labels, b.labels) && a.value == b.value
	}) {
		return fail("\n        exp: %v\n        got: %v", formatSamples(want), formatSamples(have))
	}
	return nil
}

type sample struct {
	labels labels.Labels
	value  float64
}

func formatSamples(ss []sample) string {
	if len(ss) == 0 {
		return "nil"
	}
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.labels.String() + " " + strconv.FormatFloat(s.value, 'E', -1, 64)
	}
	return strings.Join(parts, ", ")
}

func instantQuery(ctx context.Context, engine *promql.Engine, q storage.Queryable, expr string, t time.Time) (promql.Vector, error) {
	qry, err := engine.NewInstantQuery(ctx, q, nil, expr, t)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v, nil
	case promql.Scalar:
		return promql.Vector{{T: v.T, F: v.V, Metric: labels.EmptyLabels()}}, nil
	default:
		return nil, errors.New("rule result is not a vector or scalar")
	}
}
