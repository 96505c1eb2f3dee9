package promengine_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/cloudcart/cloudcart/internal/promengine"
)

// TestScaleWindows: the demo profile multiplies ranges, subquery ranges
// and steps and offsets, with floors, and leaves numbers alone.
func TestScaleWindows(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, query, want string
	}{
		{"range", `rate(x[5m])`, `rate(x[15s])`},
		{"long windows", `rate(x[1h]) / rate(x[6h]) > rate(x[3d])`, `rate(x[3m]) / rate(x[18m]) > rate(x[3h36m])`},
		{"floor", `rate(x[1m])`, `rate(x[4s])`},
		{"never longer than written", `rate(x[2s])`, `rate(x[2s])`},
		{"subquery range and step", `max_over_time(rate(x[5m])[1h:1m])`, `max_over_time(rate(x[15s])[3m:3s])`},
		{"subquery default step", `max_over_time(x[1h:])`, `max_over_time(x[3m:])`},
		{"offsets", `x offset 1h - rate(y[10m] offset 20m)`, `x offset 3m - rate(y[30s] offset 1m)`},
		{"numbers stay", `x > 30 and predict_linear(y[1h], 3600) < 0`, `x > 30 and predict_linear(y[3m], 3600) < 0`},
		{"no ranges", `up == 0`, `up == 0`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := promengine.ScaleWindows(c.query, 0.05, 4*time.Second, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("ScaleWindows(%s) = %s, want %s", c.query, got, c.want)
			}
		})
	}
}

// TestDemoProfileScalesShippedRules loads the shipped rule files as the
// demo profile does: every rewritten expression still parses, every range
// is the production one × 0.05 (at least 4 s), every `for` too (at least
// 10 s), and the production profile keeps the rules exactly as written.
func TestDemoProfileScalesShippedRules(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../deploy/prometheus/rules/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("shipped rules: %v %v", files, err)
	}
	for i, f := range files {
		if files[i], err = filepath.Abs(f); err != nil {
			t.Fatal(err)
		}
	}
	exprs := func(load func(file string) (*rulefmt.RuleGroups, []error)) map[string]rulefmt.Rule {
		t.Helper()
		out := map[string]rulefmt.Rule{}
		for _, f := range files {
			groups, errs := load(f)
			if len(errs) > 0 {
				t.Fatalf("%s: %v", f, errs)
			}
			for _, g := range groups.Groups {
				for i, r := range g.Rules {
					out[fmt.Sprintf("%s/%s/%d %s%s", filepath.Base(f), g.Name, i, r.Record, r.Alert)] = r
				}
			}
		}
		return out
	}
	load := func(o promengine.Options) map[string]rulefmt.Rule {
		t.Helper()
		o.DataDir = t.TempDir()
		o.Config = testConfig(files)
		e, err := promengine.New(o) // New parses every loaded rule
		if err != nil {
			t.Fatal(err)
		}
		return exprs(func(f string) (*rulefmt.RuleGroups, []error) {
			return promengine.RuleLoader(e).Load(f, false, model.UTF8Validation)
		})
	}
	p := parser.NewParser(parser.Options{})
	written := exprs(func(f string) (*rulefmt.RuleGroups, []error) {
		return rulefmt.ParseFile(f, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	})
	prod := load(promengine.Options{})
	demo := load(promengine.Options{ScrapeInterval: time.Second, EvalInterval: time.Second,
		ForScale: 0.05, MinFor: 10 * time.Second, WindowScale: 0.05})
	if len(prod) != len(demo) || len(prod) < 20 {
		t.Fatalf("%d production rules, %d demo rules", len(prod), len(demo))
	}
	scaled := 0
	for key, rule := range prod {
		if rule.Expr != written[key].Expr || rule.For != written[key].For {
			t.Errorf("%s: the production profile changed the rule %+v to %+v", key, written[key], rule)
		}
		if want := min(rule.For, max(rule.For/20, model.Duration(10*time.Second))); demo[key].For != want {
			t.Errorf("%s: for %v became %v, want %v", key, rule.For, demo[key].For, want)
		}
		want, got := ranges(t, p, rule.Expr), ranges(t, p, demo[key].Expr)
		if len(want) != len(got) {
			t.Fatalf("%s: ranges %v became %v", key, want, got)
		}
		for i := range want {
			if w := max(time.Duration(float64(want[i])*0.05), 4*time.Second); got[i] != w {
				t.Errorf("%s: range %v became %v, want %v", key, want[i], got[i], w)
			}
			scaled++
		}
	}
	if scaled < 50 {
		t.Errorf("only %d ranges in the shipped rules", scaled)
	}
}

// ranges lists the range of every range selector in query, in order.
func ranges(tb testing.TB, p parser.Parser, query string) []time.Duration {
	tb.Helper()
	expr, err := p.ParseExpr(query)
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	var out []time.Duration
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if m, ok := n.(*parser.MatrixSelector); ok {
			out = append(out, m.Range)
		}
		return nil
	})
	return out
}
