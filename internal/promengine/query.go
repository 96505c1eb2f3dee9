package promengine

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/features"
)

// Query limits: upstream's flag defaults (--query.timeout, --query.max-samples,
// --query.max-concurrency, --query.lookback-delta).
const (
	queryTimeout        = 2 * time.Minute
	queryMaxSamples     = 50_000_000
	queryMaxConcurrency = 20
	lookbackDelta       = 5 * time.Minute
)

// queryEngine is the PromQL engine plus the evaluation interval that
// subqueries without a step fall back to (upstream keeps that in sync with
// global.evaluation_interval on every config load).
type queryEngine struct {
	*promql.Engine
	noStepSubqueryInterval atomic.Int64 // milliseconds
}

// newQueryEngine builds the PromQL engine as cmd/prometheus does: @ modifier
// and negative offsets on, an active query tracker in dataDir (queries.active:
// queries that were running when the process died are logged at next start).
func newQueryEngine(dataDir string, p parser.Parser, logger *slog.Logger, reg prometheus.Registerer, fr features.Collector) (*queryEngine, error) {
	tracker, err := promql.NewActiveQueryTracker(dataDir, queryMaxConcurrency, logger.With("component", "activeQueryTracker"))
	if err != nil {
		return nil, fmt.Errorf("active query tracker: %w", err)
	}
	qe := &queryEngine{}
	qe.noStepSubqueryInterval.Store(time.Minute.Milliseconds())
	qe.Engine = promql.NewEngine(promql.EngineOpts{
		Logger:                   logger.With("component", "query engine"),
		Reg:                      reg,
		MaxSamples:               queryMaxSamples,
		Timeout:                  queryTimeout,
		ActiveQueryTracker:       tracker,
		LookbackDelta:            lookbackDelta,
		NoStepSubqueryIntervalFn: func(int64) int64 { return qe.noStepSubqueryInterval.Load() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		FeatureRegistry:          fr,
		Parser:                   p,
	})
	return qe, nil
}

// setEvaluationInterval is the "query_engine" part of a config load.
func (qe *queryEngine) setEvaluationInterval(d time.Duration) {
	qe.noStepSubqueryInterval.Store(d.Milliseconds())
}
