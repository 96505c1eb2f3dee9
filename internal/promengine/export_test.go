package promengine

import "time"

// SetResendDelay shortens how often the rule manager re-sends a firing alert
// (upstream default 1m), so a test can check that re-sends do not reach the
// webhook receiver. Call it before Run.
func SetResendDelay(e *Engine, d time.Duration) { e.resendDelay = d }
