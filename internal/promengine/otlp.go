package promengine

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"
)

// newOTLPHandler is upstream's OTLP metrics receiver (what Prometheus serves
// at /api/v1/otlp/v1/metrics with --web.enable-otlp-receiver): it decodes
// protobuf or JSON, gzip or not, and translates with otlptranslator
// according to the config's otlp: section (suffixes, UTF-8, resource
// attributes promoted) into the TSDB. Delta temporality is rejected, as
// upstream does by default.
func newOTLPHandler(db *tsdb.DB, cfg func() config.Config, logger *slog.Logger, reg prometheus.Registerer) http.Handler {
	return remote.NewOTLPWriteHandler(logger.With("component", "otlp"), reg, db, cfg, remote.OTLPOptions{
		LookbackDelta: 5 * time.Minute, // promql's default, which target_info's sample interval follows
	})
}

// OTLPMetricsHandler accepts OTLP/HTTP metric exports (POST, the body of
// /v1/metrics) into the TSDB through upstream's translation. Before Run has
// opened the TSDB and after it returns, it answers 503.
func (e *Engine) OTLPMetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.apiMu.RLock()
		defer e.apiMu.RUnlock()
		if e.otlp == nil {
			http.Error(w, "the embedded Prometheus is not running", http.StatusServiceUnavailable)
			return
		}
		e.otlp.ServeHTTP(w, r)
	})
}
