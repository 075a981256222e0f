// Package fault gives domain errors a kind, so that one place (the API
// layer) can map them to protocol codes, and a message written for the person
// who will read it.
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an error.
type Kind int

// The kinds of error the domain returns.
const (
	Internal Kind = iota
	Invalid
	Unauthenticated
	PermissionDenied
	NotFound
	FailedPrecondition
	Exhausted
	Conflict
	Unavailable
)

// Error is a domain error with a kind and a message for people.
type Error struct {
	Kind Kind
	Msg  string
	// Field names the input that is wrong, for forms that show the
	// message beside it.
	Field string
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Msg == "" {
		return e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a formatted message.
func New(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k with a message, keeping err as its cause.
func Wrap(k Kind, err error, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...), Err: err}
}

// KindOf reports the kind of err; Internal for errors without one.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}
