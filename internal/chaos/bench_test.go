package chaos_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/cloudcart/cloudcart/internal/chaos"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// BenchmarkMiddleware measures what the chaos middleware adds to a request
// it injects nothing into: chaos off (the normal state), chaos on for
// another service, and a per-route rule of this service on another route
// (which costs a route lookup).
func BenchmarkMiddleware(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {})
	for _, tc := range []struct {
		name string
		s    *cloudcart.ChaosSettings
	}{
		{"bare mux", nil},
		{"chaos off", &cloudcart.ChaosSettings{}},
		{"chaos on, other service", &cloudcart.ChaosSettings{Enabled: true, Targets: map[string]cloudcart.ChaosFaults{
			"users": {Error: &cloudcart.ErrorFault{Rate: 1}}}}},
		{"chaos on, rule on another route", &cloudcart.ChaosSettings{Enabled: true, Targets: map[string]cloudcart.ChaosFaults{
			"orders": {Routes: map[string]cloudcart.ChaosFaults{"/orders": {Error: &cloudcart.ErrorFault{Rate: 1}}}}}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var h http.Handler = mux
			if tc.s != nil {
				mw, err := chaos.NewMiddleware(chaos.MiddlewareOptions{Target: "orders", Meter: noop.NewMeterProvider().Meter("")})
				if err != nil {
					b.Fatal(err)
				}
				mw.Apply(*tc.s)
				h = mw.Wrap(mux)
			}
			r := httptest.NewRequest("GET", "/orders/42", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}
