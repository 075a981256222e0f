// Package password hashes and verifies user passwords with argon2id.
//
// Hashes are stored as PHC strings:
//
//	$argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>
//
// where salt and hash are unpadded standard base64. Verify uses the
// parameters embedded in the string, so Params can be raised later without
// invalidating existing hashes (see NeedsRehash).
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Length limits enforced by Check, in characters (Unicode code points).
const (
	MinLength = 8
	MaxLength = 1024
)

// Parameters are argon2id cost parameters.
type Parameters struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
	// SaltLen is the length of the random salt in bytes.
	SaltLen uint32
	// KeyLen is the length of the derived hash in bytes.
	KeyLen uint32
}

// Params are the parameters Hash uses for new hashes: 64 MiB, 2 passes,
// 2 lanes, a 16-byte salt and a 32-byte hash. Tests and benchmarks may
// lower them; production code should leave them alone.
var Params = Parameters{
	Memory:  64 * 1024,
	Time:    2,
	Threads: 2,
	SaltLen: 16,
	KeyLen:  32,
}

// Bounds on parameters accepted by Verify, so a corrupted or hostile
// stored hash cannot make verification use unbounded memory or time.
const (
	maxMemory  = 4 * 1024 * 1024 // KiB, i.e. 4 GiB
	maxTime    = 1000
	minSaltLen = 8
	maxSaltLen = 1024
	minKeyLen  = 16
	maxKeyLen  = 1024
)

// ErrMalformed is wrapped by errors about stored hashes that cannot be
// parsed.
var ErrMalformed = errors.New("malformed password hash")

var b64 = base64.RawStdEncoding.Strict()

// Hash returns the PHC-encoded argon2id hash of pw with a fresh random
// salt, using Params. It waits for a free slot (see Limit) as long as ctx
// allows and at most MaxWait, and answers ErrBusy when none came.
func Hash(ctx context.Context, pw string) (string, error) {
	p := Params
	if p.Memory < 8*uint32(p.Threads) || p.Time < 1 || p.Threads < 1 || p.SaltLen < minSaltLen || p.KeyLen < minKeyLen {
		return "", fmt.Errorf("invalid argon2id parameters %+v", p)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate salt: %w", err)
	}
	if err := acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	release()
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether pw matches the PHC-encoded hash. It returns an
// error wrapping ErrMalformed, and false, if encoded cannot be parsed; a
// wrong password is not an error. Like Hash, it waits for a free slot and
// answers ErrBusy (or ctx's error) when none came.
func Verify(ctx context.Context, encoded, pw string) (bool, error) {
	h, err := parse(encoded)
	if err != nil {
		return false, err
	}
	if err := acquire(ctx); err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(pw), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.key)))
	release()
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// the current Params (or cannot be parsed), so that the caller should
// replace it with a new Hash after a successful login.
func NeedsRehash(encoded string) bool {
	h, err := parse(encoded)
	if err != nil {
		return true
	}
	p := h.params
	return p.Memory != Params.Memory || p.Time != Params.Time || p.Threads != Params.Threads ||
		p.SaltLen != Params.SaltLen || p.KeyLen != Params.KeyLen
}

// Check reports whether pw is acceptable as a new password. The error
// message can be shown to the user.
func Check(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinLength:
		return fmt.Errorf("password is too short: use at least %d characters", MinLength)
	case n > MaxLength:
		return fmt.Errorf("password is too long: use at most %d characters", MaxLength)
	}
	return nil
}

type hashed struct {
	params Parameters
	salt   []byte
	key    []byte
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// parse decodes "$argon2id$v=19$m=M,t=T,p=P$salt$hash".
func parse(encoded string) (hashed, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return hashed{}, malformed("expected $argon2id$v=19$m=...,t=...,p=...$salt$hash")
	}
	if parts[1] != "argon2id" {
		return hashed{}, malformed("unsupported algorithm %q, want argon2id", parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return hashed{}, malformed("unsupported version %q, want v=%d", parts[2], argon2.Version)
	}
	var h hashed
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return hashed{}, malformed("parameters %q are not m=...,t=...,p=...", parts[3])
	}
	m, err := paramValue(params[0], "m", maxMemory)
	if err != nil {
		return hashed{}, err
	}
	t, err := paramValue(params[1], "t", maxTime)
	if err != nil {
		return hashed{}, err
	}
	p, err := paramValue(params[2], "p", 255)
	if err != nil {
		return hashed{}, err
	}
	if m < 8*p {
		return hashed{}, malformed("memory m=%d is below the argon2 minimum of 8*p=%d", m, 8*p)
	}
	h.params = Parameters{Memory: m, Time: t, Threads: uint8(p)}
	if h.salt, err = b64.DecodeString(parts[4]); err != nil {
		return hashed{}, malformed("salt is not valid base64")
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil {
		return hashed{}, malformed("hash is not valid base64")
	}
	if len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen {
		return hashed{}, malformed("salt is %d bytes, want %d to %d", len(h.salt), minSaltLen, maxSaltLen)
	}
	if len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
		return hashed{}, malformed("hash is %d bytes, want %d to %d", len(h.key), minKeyLen, maxKeyLen)
	}
	h.params.SaltLen = uint32(len(h.salt))
	h.params.KeyLen = uint32(len(h.key))
	return h, nil
}

// paramValue parses "name=N" with 1 <= N <= max, rejecting signs and
// leading zeros so that each hash has exactly one encoding.
func paramValue(s, name string, max uint32) (uint32, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, malformed("expected parameter %s=..., got %q", name, s)
	}
	if v == "" || v[0] < '1' || v[0] > '9' {
		return 0, malformed("parameter %s must be a positive number, got %q", name, v)
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > uint64(max) {
		return 0, malformed("parameter %s=%s is out of range (1 to %d)", name, v, max)
	}
	return uint32(n), nil
}
