package experiment

import (
	"errors"
	"fmt"
)

// Error codes shared by every layer. The api package is the only place that
// maps them to HTTP statuses.
const (
	EINVALID      = "invalid"      // the caller sent something wrong (400)
	EUNAUTHORIZED = "unauthorized" // no or unknown credentials (401)
	EFORBIDDEN    = "forbidden"    // credentials lack the scope (403)
	ENOTFOUND     = "not_found"    // the thing does not exist (404)
	ECONFLICT     = "conflict"     // the request clashes with current state (409)
	ETOOLARGE     = "too_large"    // a body or batch over its limit (413)
	EUNAVAILABLE  = "unavailable"  // a dependency cannot take work now (503)
	EINTERNAL     = "internal"     // a bug or an unexpected failure (500)
)

// Error is the one error vocabulary of Splitcast: a code from the list above,
// a message safe to show to the caller, and, for validation errors, the name
// of the offending field as the caller spelled it (e.g. "segments[1].variants").
type Error struct {
	Code    string
	Message string
	Field   string
	// Line is the line of an uploaded file that the error is about (1 is
	// the first); 0 for errors about anything else.
	Line int
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error naming field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
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

// ErrorMessage returns the caller-safe message of err: the *Error's message,
// or a generic one for internal errors so that no internals leak.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the field named by the first *Error in err's chain.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorLine returns the file line named by the first *Error in err's chain,
// 0 if none.
func ErrorLine(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Line
	}
	return 0
}
