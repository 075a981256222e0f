// Package mfa holds the rules of Wicket's second factors: TOTP codes with
// one step of skew, emailed one-time codes, and the lockout after repeated
// wrong codes. It keeps no state: used TOTP steps, challenges and failures
// live in the store so every server replica applies the same rules.
package mfa

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"image/png"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The rules of the security design.
const (
	Digits          = 6
	Period          = 30 * time.Second
	Skew            = 1
	ChallengeTTL    = 5 * time.Minute
	MaxTries        = 5
	LockoutFailures = 5
	LockoutWindow   = 5 * time.Minute
	LockoutDuration = 5 * time.Minute
	MailInterval    = 30 * time.Second
)

// NewTOTPKey makes a new TOTP secret for an account of an issuer.
func NewTOTPKey(issuer, account string) (*otp.Key, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      uint(Period / time.Second),
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, err
	}
	// The library's URL leaves '&', '=' and ':' in names unescaped; the
	// key's URL is built here like every other.
	return TOTPKeyFromSecret(issuer, account, key.Secret())
}

// TOTPKeyFromSecret rebuilds the otpauth key of a stored secret.
//
// The URL follows the Key Uri Format authenticator apps read:
// otpauth://totp/ISSUER:ACCOUNT?algorithm=SHA1&digits=6&issuer=ISSUER&period=30&secret=SECRET,
// with every part escaped by net/url, spaces as %20 and '+' as %2B (some
// apps read a '+' as a space). The label's issuer prefix is where apps, and
// otp.Key.AccountName, split the label at its first ':', so a ':' in the
// issuer is left out of that prefix only; the issuer parameter, which
// apps prefer, keeps the issuer as it is, and the account may hold ':'.
func TOTPKeyFromSecret(issuer, account, secret string) (*otp.Key, error) {
	q := url.Values{}
	q.Set("algorithm", "SHA1")
	q.Set("digits", strconv.Itoa(Digits))
	q.Set("issuer", issuer)
	q.Set("period", strconv.Itoa(int(Period/time.Second)))
	q.Set("secret", secret)
	label := strings.ReplaceAll(issuer, ":", "") + ":" + account
	u := url.URL{
		Scheme: "otpauth",
		Host:   "totp",
		Path:   "/" + label,
		// net/url leaves '/' and '+' as they are in a path; in a label
		// they would read as a path step and, to some apps, a space.
		RawPath:  "/" + strings.NewReplacer("/", "%2F", "+", "%2B").Replace((&url.URL{Path: label}).EscapedPath()),
		RawQuery: strings.ReplaceAll(q.Encode(), "+", "%20"),
	}
	return otp.NewKeyFromURL(u.String())
}

// QRPNG renders the key's otpauth URL as a PNG QR code.
func QRPNG(key *otp.Key, size int) ([]byte, error) {
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("render QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Step returns the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// MatchTOTP checks code against secret at now with one step of skew either
// way and returns the step that matched, so the caller can refuse its reuse.
func MatchTOTP(secret, code string, now time.Time) (int64, bool) {
	if !WellFormed(code) {
		return 0, false
	}
	base := Step(now)
	for _, d := range []int64{0, -1, 1} {
		step := base + d
		at := time.Unix(step*int64(Period/time.Second), 0)
		want, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if constEq(want, code) {
			return step, true
		}
	}
	return 0, false
}

// TOTPCode returns the code of secret at t (for tests and tools).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// WellFormed reports whether code is six ASCII digits.
func WellFormed(code string) bool {
	if len(code) != Digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// NewEmailCode returns six uniformly random digits.
func NewEmailCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// HashCode hashes an emailed code with its challenge as salt, so a stored
// hash is useless for any other challenge.
func HashCode(salt, code string) string {
	h := sha256.Sum256([]byte(salt + ":" + code))
	return hex.EncodeToString(h[:])
}

// CodeMatches compares a code with a stored hash in constant time.
func CodeMatches(salt, code, hash string) bool {
	return constEq(HashCode(salt, code), hash)
}

// LockedUntil applies the lockout rule to a user's recent wrong codes
// (newest first): LockoutFailures of them within LockoutWindow lock the user
// until LockoutDuration after the newest.
func LockedUntil(failures []time.Time, now time.Time) (time.Time, bool) {
	if len(failures) < LockoutFailures {
		return time.Time{}, false
	}
	newest, oldest := failures[0], failures[LockoutFailures-1]
	if newest.Sub(oldest) > LockoutWindow {
		return time.Time{}, false
	}
	until := newest.Add(LockoutDuration)
	if !now.Before(until) {
		return time.Time{}, false
	}
	return until, true
}

func constEq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Method is a second factor; the numbers are the API's MfaMethod.
type Method int

// The second factors.
const (
	TOTP  Method = 1
	Email Method = 2
	// WebAuthn is a passkey or security key, confirmed in a browser.
	WebAuthn Method = 3
)

// String names the method for people.
func (m Method) String() string {
	switch m {
	case TOTP:
		return "authenticator app"
	case Email:
		return "email code"
	case WebAuthn:
		return "passkey"
	}
	return "unknown method"
}
