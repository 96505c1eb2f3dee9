package httpkit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Handlers adapts handlers that return an error: the error becomes the
// JSON error response (an EUNAVAILABLE one with Retry-After, see Error)
// and is counted once in the service's <svc>_errors_total{error_type,endpoint}.
type Handlers struct {
	Log *slog.Logger
	// CountError records one error; errorType is ErrorType(err) and
	// endpoint the route template. May be nil.
	CountError func(ctx context.Context, errorType, endpoint string)
	// Route is called once per route as Handle registers it, so a service
	// can create its per-route series at zero before the first request.
	// May be nil.
	Route func(endpoint string)
}

// Handle wraps fn, registered at the route template endpoint. params are
// the query parameters the route accepts (CheckQuery): a request with any
// other, or with a malformed query string, is refused before fn runs.
func (h Handlers) Handle(endpoint string, fn func(http.ResponseWriter, *http.Request) error, params ...string) http.HandlerFunc {
	if h.Route != nil {
		h.Route(endpoint)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		err := CheckQuery(r, params...)
		if err == nil {
			err = fn(w, r)
		}
		if err == nil {
			return
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			err = cloudcart.Errorf(cloudcart.EUNAVAILABLE, "request ended before the work finished")
		}
		var c counted
		if h.CountError != nil && !errors.As(err, &c) {
			h.CountError(r.Context(), ErrorType(err), endpoint)
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
