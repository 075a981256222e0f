package secrets

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/zalando/go-keyring"
)

// DefaultService is the keyring service name Wicket's secrets are stored
// under ("wicket" in Seahorse, Keychain Access or Credential Manager).
const DefaultService = "wicket"

// ErrUnavailable means the operating system's keyring could not be reached.
// Errors wrapping it say what to install or unlock.
var ErrUnavailable = errors.New("no keyring is available")

// Keyring is a Store in the operating system's keyring: the Secret Service
// (gnome-keyring, KWallet…) on Linux, the Keychain on macOS and the
// Credential Manager on Windows.
type Keyring struct {
	// Service groups the entries; empty means DefaultService.
	Service string
}

func (k Keyring) service() string {
	if k.Service == "" {
		return DefaultService
	}
	return k.Service
}

// Get implements Store.
func (k Keyring) Get(key string) (string, error) {
	v, err := keyring.Get(k.service(), key)
	if err != nil {
		return "", k.wrap("read", key, err)
	}
	return v, nil
}

// Set implements Store.
func (k Keyring) Set(key, secret string) error {
	if err := keyring.Set(k.service(), key, secret); err != nil {
		return k.wrap("store", key, err)
	}
	return nil
}

// Delete implements Store.
func (k Keyring) Delete(key string) error {
	err := keyring.Delete(k.service(), key)
	if err == nil || errors.Is(err, keyring.ErrNotFound) {
		return nil
	}
	return k.wrap("delete", key, err)
}

// Check reports whether the keyring can be used, by reading an entry that
// need not exist. It returns nil or an error wrapping ErrUnavailable.
func (k Keyring) Check() error {
	_, err := k.Get("wicket-keyring-check")
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// wrap turns go-keyring's errors into ours. Only the key's name appears in
// messages, never a secret.
func (k Keyring) wrap(op, key string, err error) error {
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("%w: %q in keyring service %q", ErrNotFound, key, k.service())
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("cannot %s %q in the keyring: the secret is too big for this keyring", op, key)
	}
	// Anything else means the keyring itself did not answer (no D-Bus
	// session, no Secret Service, a locked collection, a denied prompt).
	return fmt.Errorf("%w: %s (%s %q: %v)", ErrUnavailable, unavailableHint(), op, key, err)
}

// unavailableHint says what a person can do about a missing keyring on this
// operating system.
func unavailableHint() string {
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd":
		return "install and unlock gnome-keyring (or another Secret Service such as KWallet or KeePassXC) " +
			"and run Wicket inside a desktop session with D-Bus; on a server, start one with " +
			"dbus-run-session and unlock the keyring with gnome-keyring-daemon --unlock"
	case "darwin":
		return "unlock your login keychain in Keychain Access and allow Wicket to use it"
	case "windows":
		return "Windows Credential Manager did not answer; sign in to an interactive session and try again"
	}
	return "this system has no keyring Wicket can use"
}
