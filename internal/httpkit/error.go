// Package httpkit is the HTTP layer every CloudCart service shares: one JSON
// error format, one mapping from domain error codes to statuses, strict JSON
// decoding, the server with its timeouts, health endpoints and graceful
// shutdown, the instrumentation middleware, and the instrumented client
// transport for service-to-service calls.
package httpkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// codes maps domain error codes to HTTP statuses. It is the only place that
// does so.
var statusByCode = map[string]int{
	cloudcart.EINVALID:      http.StatusBadRequest,
	cloudcart.ENOTFOUND:     http.StatusNotFound,
	cloudcart.ECONFLICT:     http.StatusConflict,
	cloudcart.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	cloudcart.EUNAVAILABLE:  http.StatusServiceUnavailable,
	cloudcart.EUNAUTHORIZED: http.StatusUnauthorized,
	cloudcart.EFORBIDDEN:    http.StatusForbidden,
	cloudcart.EPAYMENT:      http.StatusPaymentRequired,
	cloudcart.EINTERNAL:     http.StatusInternalServerError,
}

// StatusCode returns the HTTP status for a domain error code.
func StatusCode(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody says what went wrong, in a code a program can switch on and a
// message a person can read.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error writes err as a JSON error response. Internal errors are logged
// here, once, with their cause; the client sees only a generic message.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code, msg := cloudcart.ErrorCode(err), cloudcart.ErrorMessage(err)
	switch {
	case code == cloudcart.EINTERNAL && log != nil:
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	case code == cloudcart.EUNAVAILABLE:
		// Not the caller's fault: tell it when to retry (the error may
		// know, e.g. a storage fault), and log the cause for operators.
		secs := 1
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			secs = max(int(math.Ceil(ra.RetryAfter().Seconds())), 1)
		}
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		if log != nil {
			log.WarnContext(r.Context(), "unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	WriteJSON(w, StatusCode(code), ErrorResponse{Error: ErrorBody{Code: code, Message: msg}})
}

// WriteJSON writes v with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DecodeJSON reads exactly one JSON value from the body into v, rejecting
// unknown fields and trailing data. The Content-Type is not checked: the
// body is parsed strictly either way, and plain `curl -d` works. Its errors are EINVALID (or ETOOLARGE)
// domain errors whose message names the problem.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err)
		}
		return cloudcart.Errorf(cloudcart.EINVALID, "body must contain a single JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
		ce  *cloudcart.Error
	)
	switch {
	case errors.As(err, &mbe):
		return cloudcart.Errorf(cloudcart.ETOOLARGE, "body must be at most %d bytes", mbe.Limit)
	case errors.As(err, &ce):
		return ce // a field's own UnmarshalJSON said what is wrong
	case errors.As(err, &syn):
		return cloudcart.Errorf(cloudcart.EINVALID, "malformed JSON at byte %d", syn.Offset)
	case errors.Is(err, io.EOF):
		return cloudcart.Errorf(cloudcart.EINVALID, "body must not be empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return cloudcart.Errorf(cloudcart.EINVALID, "malformed JSON: unexpected end of body")
	case errors.As(err, &typ):
		return cloudcart.Errorf(cloudcart.EINVALID, "field %q must be of type %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return cloudcart.Errorf(cloudcart.EINVALID, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return cloudcart.Errorf(cloudcart.EINVALID, "malformed JSON: %v", err)
}

// NotFound and MethodNotAllowed are JSON versions of the mux's own answers.
func writeRoutingError(w http.ResponseWriter, r *http.Request, status int) {
	code, msg := cloudcart.ENOTFOUND, fmt.Sprintf("no route for %s %s", r.Method, truncate(r.URL.Path, 128))
	if status == http.StatusMethodNotAllowed {
		code, msg = "method_not_allowed", fmt.Sprintf("method %s is not allowed on %s; allowed: %s",
			truncate(r.Method, 16), truncate(r.URL.Path, 128), w.Header().Get("Allow"))
	}
	WriteJSON(w, status, ErrorResponse{Error: ErrorBody{Code: code, Message: msg}})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
