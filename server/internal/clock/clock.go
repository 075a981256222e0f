// Package clock abstracts the current time so that code depending on it
// (token expiry, TOTP windows, certificate validity) can be tested with a
// fake clock from package clocktest.
package clock

import "time"

// Clock tells the current time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

// Real is the system clock. Its zero value is ready to use.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

var _ Clock = Real{}
