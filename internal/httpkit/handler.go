package httpkit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// Handlers adapts handlers that return an error: the error becomes the
// JSON error response (an EUNAVAILABLE one with Retry-After, see Error)
// and is counted once in the service's <svc>_errors_total{error_type,endpoint}.
type Handlers struct {
	Log *slog.Logger
	// CountError records one error; errorType is ErrorType(err) and
	// endpoint the route template. May be nil.
	CountError func(ctx context.Context, errorType, endpoint string)
	// Route is called once per route as HandleFunc registers it, with its
	// route template, so a service can create its per-route series at zero
	// before the first request. May be nil.
	Route func(endpoint string)
}

// HandleFunc registers fn (Handle) on mux at pattern, and tells Route the
// route template RouteLabel(pattern): the route is typed once, in pattern.
func (h Handlers) HandleFunc(mux *http.ServeMux, pattern string, fn func(http.ResponseWriter, *http.Request) error, params ...string) {
	mux.HandleFunc(pattern, h.Handle(fn, params...))
	if h.Route != nil {
		h.Route(RouteLabel(pattern))
	}
}

// Handle wraps fn. Its errors are counted under the route template the
// mux matched (RouteLabel(r.Pattern)), so a route is typed once, in its
// mux pattern. params are the query parameters the route accepts
// (CheckQuery): a request with any other, or with a malformed query
// string, is refused before fn runs.
func (h Handlers) Handle(fn func(http.ResponseWriter, *http.Request) error, params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := CheckQuery(r, params...)
		if err == nil {
			err = fn(w, r)
		}
		if err == nil {
			return
		}
		// A request whose context ended (the client left, or its deadline
		// passed) fails with whatever the interrupted call returned:
		// context.Canceled, but also database/sql's "transaction has
		// already been committed or rolled back" or SQLite's "interrupted".
		// None of those is a bug of the service: they are 503s, not 500s.
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || r.Context().Err() != nil {
			err = cloudcart.Errorf(cloudcart.EUNAVAILABLE, "request ended before the work finished")
		}
		var c counted
		if h.CountError != nil && !errors.As(err, &c) {
			h.CountError(r.Context(), ErrorType(err), RouteLabel(r.Pattern))
		}
		Error(w, r, h.Log, err)
	}
}

// Counted marks an error that was already recorded where it happened (a
// background worker, say), so Handle does not count it again.
func Counted(err error) error { return counted{err} }

type counted struct{ error }

func (c counted) Unwrap() error { return c.error }

// ErrorType maps a domain error onto the closed set of error_type label
// values.
func ErrorType(err error) string {
	switch cloudcart.ErrorCode(err) {
	case cloudcart.EINVALID, cloudcart.ETOOLARGE:
		return "validation"
	case cloudcart.ENOTFOUND:
		return "not_found"
	case cloudcart.EUNAVAILABLE:
		return "unavailable"
	case cloudcart.ECONFLICT:
		return "conflict"
	case cloudcart.EPAYMENT:
		return "payment_declined"
	case cloudcart.EUNAUTHORIZED:
		return "unauthorized"
	case cloudcart.EFORBIDDEN:
		return "forbidden"
	}
	return "internal"
}

// ErrorCounter records a service's <svc>_errors_total{error_type,endpoint}.
// Both labels come from closed sets (ErrorType's values and route
// templates), so counting an error builds no attributes.
type ErrorCounter = telemetry.PairCounter

// NewErrorCounter counts on c.
func NewErrorCounter(c metric.Int64Counter) *ErrorCounter {
	return telemetry.NewPairCounter(c, "error_type", "endpoint")
}
