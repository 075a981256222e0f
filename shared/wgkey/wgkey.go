// Package wgkey handles WireGuard keys: generating private and preshared
// keys, deriving public keys, and converting keys to and from the base64
// form used in configuration files and the hex form used by wireguard-go's
// UAPI.
package wgkey

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/curve25519"
)

// KeyLen is the length of a WireGuard key in bytes.
const KeyLen = 32

// encodedLen is the length of a key in standard padded base64.
var encodedLen = base64.StdEncoding.EncodedLen(KeyLen)

// Key is a WireGuard key: a private, public or preshared key. The zero
// value is the all-zero key, which is never a valid key in practice.
type Key [KeyLen]byte

// NewPrivate returns a new random Curve25519 private key, clamped as
// described in RFC 7748.
func NewPrivate() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("generate private key: %w", err)
	}
	k.clamp()
	return k, nil
}

// clamp applies the Curve25519 scalar clamping to k.
func (k *Key) clamp() {
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
}

// Public returns the public key for the private key k.
func (k Key) Public() Key {
	var pub Key
	// X25519 clamps the scalar itself, so an unclamped k gives the same
	// result as a clamped one. It only fails for low-order points, which
	// cannot happen with the base point.
	out, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err != nil {
		panic("wgkey: X25519 with base point failed: " + err.Error())
	}
	copy(pub[:], out)
	return pub
}

// NewPreshared returns a new random preshared key.
func NewPreshared() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("generate preshared key: %w", err)
	}
	return k, nil
}

// Parse parses a key in standard base64 (44 characters including the
// trailing "="). Surrounding whitespace is ignored.
func Parse(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Key{}, fmt.Errorf("key is empty: expected %d characters of base64 (%d bytes)", encodedLen, KeyLen)
	}
	if len(s) != encodedLen {
		return Key{}, fmt.Errorf("key must be %d characters of base64 (%d bytes), got %d characters", encodedLen, KeyLen, len(s))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return Key{}, fmt.Errorf("key is not valid base64: %w", err)
	}
	if len(b) != KeyLen {
		return Key{}, fmt.Errorf("key must decode to %d bytes, got %d bytes", KeyLen, len(b))
	}
	var k Key
	copy(k[:], b)
	return k, nil
}

// String returns k in standard base64, the form used in WireGuard
// configuration files.
func (k Key) String() string {
	return base64.StdEncoding.EncodeToString(k[:])
}

// Hex returns k as lowercase hex, the form wireguard-go's UAPI expects.
func (k Key) Hex() string {
	return hex.EncodeToString(k[:])
}

// IsZero reports whether k is the all-zero key.
func (k Key) IsZero() bool {
	return k == Key{}
}
