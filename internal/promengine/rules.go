package promengine

import (
	"context"
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
// forScale, and group intervals replaced by evalInterval. The files on disk,
// and the file names the API reports, stay those of the shipped rules.
type demoLoader struct {
	parser       parser.Parser
	logger       *slog.Logger
	forScale     float64       // 0 or 1: unchanged
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
			r.For = scaleDuration(r.For, l.forScale)
			r.KeepFiringFor = scaleDuration(r.KeepFiringFor, l.forScale)
		}
	}
	return groups, nil
}

// Parse implements rules.GroupLoader.
func (l demoLoader) Parse(query string) (parser.Expr, error) {
	return l.parser.ParseExpr(query)
}

// scaleDuration multiplies d by f, rounded to the millisecond (the TSDB's
// resolution). f of 0 or 1 leaves d as it is.
func scaleDuration(d model.Duration, f float64) model.Duration {
	if f <= 0 || f == 1 || d == 0 {
		return d
	}
	return model.Duration(time.Duration(float64(d) * f).Round(time.Millisecond))
}
