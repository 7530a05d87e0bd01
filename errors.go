package gatehouse

import (
	"errors"
	"fmt"
	"strings"
)

// Stable error codes. They appear in problem documents (`code`) and are part of the
// public contract: clients switch on them, so never rename one.
const (
	EInvalid            = "invalid"             // the input breaks a rule; Fields says which
	ENotFound           = "not_found"           // the named resource does not exist
	EConflict           = "conflict"            // the resource exists, or others depend on it
	EUnauthorized       = "unauthorized"        // no or bad credentials
	EForbidden          = "forbidden"           // credentials lack the right
	EPreconditionFailed = "precondition_failed" // If-Match did not match the current revision
	ETooLarge           = "too_large"           // the request body exceeds the limit
	EUnavailable        = "unavailable"         // a dependency (the store) cannot be reached
	EInternal           = "internal"            // a bug or an unexpected failure
)

// Error is the error type of the domain. Code is one of the E* constants; Message is
// safe to show to the caller; Fields lists per-field problems of an EInvalid error.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	Err     error // internal cause, never shown to callers
}

// FieldError names one field that failed validation, as a JSON-path-like string
// (`upstream.targets[0].url`).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Message == "" {
		b.WriteString(e.Code)
	}
	for i, f := range e.Fields {
		if i == 0 && e.Message != "" {
			b.WriteString(": ")
		} else if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for any
// other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the caller-safe message of err: the *Error's message, or a
// generic one for internal errors so that causes never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Message != "" {
			return e.Message
		}
		return e.Code
	}
	return "internal error"
}

// Problems collects field errors during validation.
type Problems struct {
	fields []FieldError
}

// Addf records a problem with field.
func (p *Problems) Addf(field, format string, args ...any) {
	p.fields = append(p.fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Merge adds the field errors of err (an EInvalid *Error) under prefix.
func (p *Problems) Merge(prefix string, err error) {
	if err == nil {
		return
	}
	var e *Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		for _, f := range e.Fields {
			name := prefix
			if f.Field != "" {
				if name != "" && !strings.HasPrefix(f.Field, "[") {
					name += "."
				}
				name += f.Field
			}
			p.fields = append(p.fields, FieldError{Field: name, Message: f.Message})
		}
		return
	}
	p.fields = append(p.fields, FieldError{Field: prefix, Message: ErrorMessage(err)})
}

// Err returns nil when nothing was recorded, else an EInvalid *Error naming what.
func (p *Problems) Err(what string) error {
	if len(p.fields) == 0 {
		return nil
	}
	return &Error{Code: EInvalid, Message: "invalid " + what, Fields: p.fields}
}
