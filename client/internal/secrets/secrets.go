// Package secrets keeps the client's secrets — each instance's WireGuard
// private key and device token — in the operating system's keyring, so that
// nothing secret is written to plain files.
package secrets

import "errors"

// ErrNotFound is returned by Store.Get when no secret is stored under a key.
var ErrNotFound = errors.New("secret not found")

// Store holds small secrets by key. Implementations must be safe for
// concurrent use.
type Store interface {
	// Get returns the secret stored under key, or an error wrapping
	// ErrNotFound.
	Get(key string) (string, error)
	// Set stores secret under key, replacing any earlier value.
	Set(key, secret string) error
	// Delete removes the secret under key; deleting a missing key is not an
	// error.
	Delete(key string) error
}
