package promengine_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/promengine"
)

// TestOTLPBeforeRun: OTLP metrics arriving before the TSDB is open (or
// after it closed) are refused with 503, so an SDK retries them.
// internal/otlpin's tests cover ingestion on a running engine.
func TestOTLPBeforeRun(t *testing.T) {
	t.Parallel()
	e, err := promengine.New(promengine.Options{DataDir: t.TempDir(), Config: testConfig(nil)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	e.OTLPMetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/metrics", strings.NewReader("")))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("OTLP before Run = %d, want 503", rec.Code)
	}
}
