package promengine

import (
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
)

// SetResendDelay shortens how often the rule manager re-sends a firing alert
// (upstream default 1m), so a test can check that re-sends do not reach the
// webhook receiver. Call it before Run.
func SetResendDelay(e *Engine, d time.Duration) { e.resendDelay = d }

// ScaleWindows applies the demo profile's window scaling to one query.
func ScaleWindows(query string, f float64, minWindow, minStep time.Duration) (string, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(query)
	if err != nil {
		return "", err
	}
	scaleWindows(expr, f, minWindow, minStep)
	return expr.String(), nil
}

// RuleLoader is the loader the engine's rule manager uses.
func RuleLoader(e *Engine) rules.GroupLoader { return e.loader }
