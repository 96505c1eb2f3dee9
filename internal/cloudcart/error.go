package cloudcart

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in internal/httpkit.
const (
	EINVALID      = "invalid"        // the input is wrong; the message says how
	ENOTFOUND     = "not_found"      // the thing asked for does not exist
	ECONFLICT     = "conflict"       // the request clashes with current state
	ETOOLARGE     = "too_large"      // the request body exceeds the limit
	EUNAVAILABLE  = "unavailable"    // temporarily unable to serve; retry later
	EUNAUTHORIZED = "unauthorized"   // missing or invalid credentials
	EFORBIDDEN    = "forbidden"      // authenticated but not allowed
	EPAYMENT      = "payment_failed" // the payment step declined the order
	EINTERNAL     = "internal"       // a bug or an infrastructure failure
)

// Error is a domain error: a code from the list above and a message that is
// safe to show to the caller. Internal errors keep their cause for logging.
type Error struct {
	Code    string
	Message string
	Err     error // cause, never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("cloudcart error: code=%s message=%s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("cloudcart error: code=%s message=%s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the safe message of the first *Error in err's chain,
// or a generic text for any other error, so internals never leak to clients.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}
