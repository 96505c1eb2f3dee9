package httpkit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// Handlers adapts handlers that return an error: the error becomes the
// JSON error response, is counted once in the service's
// <svc>_errors_total{error_type,endpoint}, and an EUNAVAILABLE answer gets
// Retry-After.
type Handlers struct {
	Log *slog.Logger
	// CountError records one error; errorType is ErrorType(err) and
	// endpoint the route template. May be nil.
	CountError func(ctx context.Context, errorType, endpoint string)
}

// Handle wraps fn. Its errors are counted under the route template the
// mux matched (RouteLabel(r.Pattern)), so a route is typed once, in its
// mux pattern.
func (h Handlers) Handle(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			err = cloudcart.Errorf(cloudcart.EUNAVAILABLE, "request ended before the work finished")
		}
		var c counted
		if h.CountError != nil && !errors.As(err, &c) {
			h.CountError(r.Context(), ErrorType(err), RouteLabel(r.Pattern))
		}
		if cloudcart.ErrorCode(err) == cloudcart.EUNAVAILABLE {
			w.Header().Set("Retry-After", "1")
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

// IntParam reads an integer query parameter in [lo, hi], def when absent.
func IntParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, cloudcart.Errorf(cloudcart.EINVALID, "%s must be an integer between %d and %d, got %q", name, lo, hi, truncate(v, 32))
	}
	return n, nil
}

// BoolParam reads a true/false query parameter, false when absent.
func BoolParam(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, cloudcart.Errorf(cloudcart.EINVALID, "%s must be true or false, got %q", name, truncate(v, 32))
	}
}

// RequireAdmin is an EFORBIDDEN error unless the gateway vouched for an
// admin caller (HeaderUserRole).
func RequireAdmin(r *http.Request) error {
	if r.Header.Get(HeaderUserRole) != string(cloudcart.RoleAdmin) {
		return cloudcart.Errorf(cloudcart.EFORBIDDEN, "this operation needs the admin role")
	}
	return nil
}

// ErrorCounter records a service's <svc>_errors_total{error_type,endpoint}.
// Both labels come from closed sets (ErrorType's values and route
// templates), so counting an error builds no attributes.
type ErrorCounter = telemetry.PairCounter

// NewErrorCounter counts on c.
func NewErrorCounter(c metric.Int64Counter) *ErrorCounter {
	return telemetry.NewPairCounter(c, "error_type", "endpoint")
}
