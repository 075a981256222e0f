// Package token creates and checks bearer secrets: device tokens,
// enrollment tokens, MFA challenges, API sessions and gateway tokens.
//
// A token is a short readable prefix naming its kind followed by 32 random
// bytes in unpadded base64url, e.g. "wdt_Qm9ndXMh...". The prefix makes a
// leaked token easy to recognise (and to find with secret scanners). Only
// the SHA-256 of a token is stored; the plain token is shown once.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// Prefixes for the kinds of token Wicket issues.
const (
	PrefixDevice       = "wdt_" // device token, used by an enrolled client
	PrefixEnrollment   = "wet_" // one-time enrollment token in an enrollment code
	PrefixMFAChallenge = "wmc_" // pending MFA challenge during login
	PrefixSession      = "wst_" // API session of a logged-in user
	PrefixGateway      = "wgt_" // gateway token, used by a VPN gateway
)

// RandomLen is the number of random bytes in a token.
const RandomLen = 32

// maxPrefixLen bounds the readable prefix.
const maxPrefixLen = 16

// encodedRandomLen is the length of the random part once encoded.
var encodedRandomLen = base64.RawURLEncoding.EncodedLen(RandomLen)

// New returns a new token with the given prefix, and its hash for storage.
// The prefix must be at most 16 characters of the base64url alphabet
// (letters, digits, '-' and '_'); by convention it is one of the Prefix
// constants.
func New(prefix string) (plain string, hash []byte, err error) {
	if err := checkPrefix(prefix); err != nil {
		return "", nil, err
	}
	b := make([]byte, RandomLen)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("generate token: %w", err)
	}
	plain = prefix + base64.RawURLEncoding.EncodeToString(b)
	return plain, Hash(plain), nil
}

// Hash returns the SHA-256 of plain, the form in which tokens are stored
// and looked up.
func Hash(plain string) []byte {
	sum := sha256.Sum256([]byte(plain))
	return sum[:]
}

// Equal reports whether the hashes a and b are equal, in time that does
// not depend on their contents.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// Valid reports whether plain has the shape of a token made by New with
// prefix. It lets callers reject garbage, or a token of the wrong kind,
// before looking it up.
func Valid(plain, prefix string) bool {
	rest, ok := strings.CutPrefix(plain, prefix)
	if !ok || len(rest) != encodedRandomLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	return err == nil && len(b) == RandomLen
}

func checkPrefix(prefix string) error {
	if len(prefix) > maxPrefixLen {
		return fmt.Errorf("token prefix %q is longer than %d characters", prefix, maxPrefixLen)
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("token prefix %q may only contain letters, digits, '-' and '_'", prefix)
		}
	}
	return nil
}
