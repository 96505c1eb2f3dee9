package promengine

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/features"
)

// Alerting defaults: upstream's flag defaults (--rules.alert.*).
const (
	outageTolerance = time.Hour
	forGracePeriod  = 10 * time.Minute
	resendDelay     = time.Minute
)

// ruleManagerSettings is what the rule manager needs from the engine.
type ruleManagerSettings struct {
	ctx         context.Context
	db          storage.Storage
	queryEngine *queryEngine
	notify      rules.NotifyFunc
	loader      rules.GroupLoader
	externalURL *url.URL
	nameScheme  model.ValidationScheme
	parser      parser.Parser
	features    features.Collector
	resendDelay time.Duration
}

// newRuleManager builds the recording/alerting rule manager as cmd/prometheus
// does. Rule groups are loaded through s.loader (see demoLoader).
func newRuleManager(s ruleManagerSettings, logger *slog.Logger, reg prometheus.Registerer) *rules.Manager {
	return rules.NewManager(&rules.ManagerOptions{
		NameValidationScheme: s.nameScheme,
		Appendable:           s.db,
		Queryable:            s.db,
		QueryFunc:            rules.EngineQueryFunc(s.queryEngine.Engine, s.db),
		NotifyFunc:           s.notify,
		Context:              s.ctx,
		ExternalURL:          s.externalURL,
		Registerer:           reg,
		Logger:               logger.With("component", "rule manager"),
		OutageTolerance:      outageTolerance,
		ForGracePeriod:       forGracePeriod,
		ResendDelay:          s.resendDelay,
		GroupLoader:          s.loader,
		FeatureRegistry:      s.features,
		Parser:               s.parser,
	})
}

// demoLoader loads rule files with upstream's parser and then applies the
// demo profile in memory: `for` and `keep_firing_for` multiplied by
// forScale, the time ranges inside every expression by windowScale (see
// scaleWindows), and group intervals replaced by evalInterval. The files on
// disk, and the file names the API reports, stay those of the shipped rules.
type demoLoader struct {
	parser       parser.Parser
	logger       *slog.Logger
	forScale     float64       // 0 or 1: unchanged
	minFor       time.Duration // no scaled `for` is shorter (unless it was)
	windowScale  float64       // 0 or 1: unchanged
	minWindow    time.Duration // no scaled range is shorter (unless it was)
	minStep      time.Duration // nor a scaled subquery step
	evalInterval time.Duration // 0: unchanged
}

// Load implements rules.GroupLoader.
func (l demoLoader) Load(identifier string, ignoreUnknownFields bool, scheme model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	groups, errs := rulefmt.ParseFile(identifier, ignoreUnknownFields, scheme, l.parser, l.logger)
	if len(errs) > 0 {
		return groups, errs
	}
	for gi := range groups.Groups {
		g := &groups.Groups[gi]
		if l.evalInterval > 0 && g.Interval != 0 {
			g.Interval = model.Duration(l.evalInterval)
		}
		for ri := range g.Rules {
			r := &g.Rules[ri]
			r.For = scaleDuration(r.For, l.forScale, l.minFor)
			r.KeepFiringFor = scaleDuration(r.KeepFiringFor, l.forScale, l.minFor)
			if l.windowScale <= 0 || l.windowScale == 1 {
				continue
			}
			expr, err := l.parser.ParseExpr(r.Expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: group %q: %w", identifier, g.Name, err))
				continue
			}
			scaleWindows(expr, l.windowScale, l.minWindow, l.minStep)
			r.Expr = expr.String()
		}
	}
	return groups, errs
}

// Parse implements rules.GroupLoader.
func (l demoLoader) Parse(query string) (parser.Expr, error) {
	return l.parser.ParseExpr(query)
}

// scaleWindows compresses time in a parsed expression the way the demo
// profile compresses `for`: every range selector's range ([5m]), every
// subquery's range and step, and every offset is multiplied by f. A range
// is not scaled below minWindow (a rate needs a few scrapes in its window),
// nor raised to it when it was shorter already; a subquery step not below
// minStep. Durations the expression holds as plain numbers (a threshold of
// 30 seconds, predict_linear's seconds) are values, not windows, and stay.
// Duration expressions (3.x only, excluded by ruletest.CheckCompat) stay too.
func scaleWindows(expr parser.Expr, f float64, minWindow, minStep time.Duration) {
	times := func(d time.Duration) time.Duration { return time.Duration(float64(d) * f).Round(time.Millisecond) }
	scale := func(d, floor time.Duration) time.Duration {
		if d <= 0 {
			return d
		}
		return min(d, max(times(d), floor))
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.MatrixSelector:
			if n.RangeExpr == nil {
				n.Range = scale(n.Range, minWindow)
			}
		case *parser.SubqueryExpr:
			if n.RangeExpr == nil {
				n.Range = scale(n.Range, minWindow)
			}
			if n.StepExpr == nil {
				n.Step = scale(n.Step, minStep)
			}
			if n.OriginalOffsetExpr == nil {
				n.OriginalOffset = times(n.OriginalOffset)
			}
		case *parser.VectorSelector:
			if n.OriginalOffsetExpr == nil {
				n.OriginalOffset = times(n.OriginalOffset)
			}
		}
		return nil
	})
}

// scaleDuration multiplies d by f, rounded to the millisecond (the TSDB's
// resolution), but not below floor unless d was. f of 0 or 1 leaves d as
// it is.
func scaleDuration(d model.Duration, f float64, floor time.Duration) model.Duration {
	if f <= 0 || f == 1 || d == 0 {
		return d
	}
	return model.Duration(min(time.Duration(d), max(time.Duration(float64(d)*f).Round(time.Millisecond), floor)))
}
