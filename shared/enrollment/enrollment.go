// Package enrollment encodes and decodes enrollment codes: the single
// string a user copies from their profile page on the Wicket server and
// pastes into the desktop client.
//
// A code carries everything the client needs to reach the server and enrol
// a device: the server's HTTPS URL, a one-time enrollment token and,
// optionally, the SHA-256 fingerprint of the server's TLS certificate (used
// to pin self-signed certificates).
//
// The text form is "wicket1." followed by the unpadded base64url encoding
// of a compact JSON object:
//
//	{"u":"https://vpn.example.com:8443","t":"wet_...","f":"3b1f..."}
//
// where "f" is omitted when there is no fingerprint.
package enrollment

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/wicket-vpn/wicket/shared/hostname"
)

// Prefix starts every enrollment code in the current format.
const Prefix = "wicket1."

// Limits on the parts of a code.
const (
	// MaxTokenLen is the maximum length of Code.Token.
	MaxTokenLen = 256
	// MaxURLLen is the maximum length of Code.URL.
	MaxURLLen = 2048
	// maxCodeLen bounds the pasted text so a huge paste is rejected early.
	maxCodeLen = 8192
)

// Errors returned by Parse wrap one of these, so callers can tell the
// classes apart with errors.Is. The full error message is meant to be shown
// to the user as is.
var (
	// ErrNotCode means the text is not a Wicket enrollment code at all.
	ErrNotCode = errors.New("enrollment code is not a Wicket code")
	// ErrNewerVersion means the code was made by a newer Wicket server than
	// this client understands.
	ErrNewerVersion = errors.New("enrollment code is from a newer version of Wicket")
	// ErrDamaged means the code looks like a Wicket code but cannot be
	// decoded, usually because it was truncated or altered while copying.
	ErrDamaged = errors.New("enrollment code is damaged")
	// ErrInvalid means the code decodes but its contents are not
	// acceptable, for example the server URL does not use https.
	ErrInvalid = errors.New("enrollment code is invalid")
)

// Code is a decoded enrollment code.
type Code struct {
	// URL is the server's https URL, e.g. https://vpn.example.com:8443.
	URL string
	// Token is the one-time enrollment token (base64url alphabet).
	Token string
	// Fingerprint is the lowercase hex SHA-256 of the server's leaf TLS
	// certificate in DER form. It is empty when the server has a
	// certificate signed by a publicly trusted CA.
	Fingerprint string
}

// wire is the JSON form of a Code.
type wire struct {
	U string `json:"u"`
	T string `json:"t"`
	F string `json:"f,omitempty"`
}

// String returns the text form of c: Prefix followed by unpadded base64url
// of compact JSON. It does not validate c; use Validate for that.
func (c Code) String() string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Encoding a struct of strings cannot fail.
	_ = enc.Encode(wire{U: c.URL, T: c.Token, F: c.Fingerprint})
	js := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return Prefix + base64.RawURLEncoding.EncodeToString(js)
}

// Parse decodes an enrollment code as pasted by a user. All whitespace is
// removed first, including line breaks and spaces a mail client may have
// inserted in the middle. The fingerprint may be given in upper case or as
// colon-separated byte pairs; it is normalised to lowercase hex without
// colons. The returned error is suitable for showing to the user.
func Parse(s string) (Code, error) {
	s = removeSpace(s)
	if s == "" {
		return Code{}, fmt.Errorf("%w: it is empty; paste the code from your profile page", ErrNotCode)
	}
	if len(s) > maxCodeLen {
		return Code{}, fmt.Errorf("%w: it is %d characters long, far longer than a code can be; copy it again from your profile page", ErrDamaged, len(s))
	}
	if !strings.HasPrefix(s, Prefix) {
		if v, ok := otherVersion(s); ok {
			return Code{}, fmt.Errorf("%w (%q); update the Wicket app and try again", ErrNewerVersion, v)
		}
		return Code{}, fmt.Errorf("%w (it should start with %q)", ErrNotCode, Prefix)
	}
	payload := strings.TrimRight(s[len(Prefix):], "=")
	if payload == "" {
		return Code{}, damaged("nothing follows %q", Prefix)
	}
	js, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		var cie base64.CorruptInputError
		if errors.As(err, &cie) && int(cie) < len(payload) {
			return Code{}, damaged("unexpected character %q at position %d", payload[cie], len(Prefix)+int(cie)+1)
		}
		return Code{}, damaged("it has been cut short or has extra characters")
	}
	var w wire
	if err := json.Unmarshal(js, &w); err != nil {
		return Code{}, damaged("its contents cannot be read (%v)", err)
	}
	c := Code{URL: w.U, Token: w.T, Fingerprint: w.F}
	if c.URL == "" && c.Token == "" {
		return Code{}, damaged("it contains no server address or token")
	}
	fp, err := normaliseFingerprint(c.Fingerprint)
	if err != nil {
		return Code{}, fmt.Errorf("%w: %v; ask your admin for a new enrollment code", ErrInvalid, err)
	}
	c.Fingerprint = fp
	if err := c.Validate(); err != nil {
		return Code{}, err
	}
	return c, nil
}

func damaged(format string, args ...any) error {
	return fmt.Errorf("%w: %s; copy it again from your profile page", ErrDamaged, fmt.Sprintf(format, args...))
}

// Validate reports whether c is a well-formed code: URL is an absolute
// https URL with a host and no user info, query or fragment; Token is 1 to
// MaxTokenLen characters of the base64url alphabet; Fingerprint is empty
// or 64 lowercase hex characters. A valid Code survives a round trip
// through String and Parse unchanged. Errors wrap ErrInvalid.
func (c Code) Validate() error {
	if err := checkURL(c.URL); err != nil {
		return fmt.Errorf("%w: %v; ask your admin for a new enrollment code", ErrInvalid, err)
	}
	if err := checkToken(c.Token); err != nil {
		return fmt.Errorf("%w: %v; ask your admin for a new enrollment code", ErrInvalid, err)
	}
	if c.Fingerprint != "" && !isLowerHex64(c.Fingerprint) {
		return fmt.Errorf("%w: the certificate fingerprint must be 64 lowercase hex characters; ask your admin for a new enrollment code", ErrInvalid)
	}
	return nil
}

// removeSpace drops every Unicode white space character from s.
func removeSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// otherVersion reports whether s starts with "wicketN." for some N, and
// returns that prefix.
func otherVersion(s string) (string, bool) {
	const w = "wicket"
	if len(s) < len(w) || !strings.EqualFold(s[:len(w)], w) {
		return "", false
	}
	i := len(w)
	for i < len(s) && i < len(w)+6 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == len(w) || i >= len(s) || s[i] != '.' {
		return "", false
	}
	return s[:i+1], true
}

func checkURL(raw string) error {
	if raw == "" {
		return errors.New("the server address is missing")
	}
	if len(raw) > MaxURLLen {
		return fmt.Errorf("the server address is too long (%d characters, at most %d)", len(raw), MaxURLLen)
	}
	for _, r := range raw {
		if r <= ' ' || r >= 0x7f {
			return fmt.Errorf("the server address %q contains a character that is not allowed", raw)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("the server address %q is not a valid URL", raw)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("the server address %q must start with https://", raw)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("the server address %q has no host name", raw)
	}
	if _, err := netip.ParseAddr(u.Hostname()); err != nil && !hostname.Valid(u.Hostname()) {
		return fmt.Errorf("the server address %q has %q where a host name or IP address belongs", raw, u.Hostname())
	}
	if u.User != nil {
		return fmt.Errorf("the server address %q must not contain a user name or password", raw)
	}
	if strings.ContainsAny(raw, "?#") {
		return fmt.Errorf("the server address %q must not contain a query (?) or fragment (#)", raw)
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("the server address %q has an invalid port", raw)
		}
	}
	return nil
}

func checkToken(t string) error {
	if t == "" {
		return errors.New("the enrollment token is missing")
	}
	if len(t) > MaxTokenLen {
		return fmt.Errorf("the enrollment token is too long (%d characters, at most %d)", len(t), MaxTokenLen)
	}
	for i := 0; i < len(t); i++ {
		if !isTokenChar(t[i]) {
			return errors.New("the enrollment token contains a character that is not allowed")
		}
	}
	return nil
}

func isTokenChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_'
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// normaliseFingerprint accepts a fingerprint as 64 hex characters in either
// case, or as 32 colon-separated hex byte pairs, and returns it as 64
// lowercase hex characters. An empty fingerprint stays empty.
func normaliseFingerprint(fp string) (string, error) {
	if fp == "" {
		return "", nil
	}
	if strings.Contains(fp, ":") {
		parts := strings.Split(fp, ":")
		if len(parts) != 32 {
			return "", fmt.Errorf("the certificate fingerprint must have 32 colon-separated byte pairs, got %d", len(parts))
		}
		for _, p := range parts {
			if len(p) != 2 {
				return "", errors.New("the certificate fingerprint must have 32 colon-separated byte pairs like AB:CD:...")
			}
		}
		fp = strings.Join(parts, "")
	}
	if len(fp) != 64 {
		return "", fmt.Errorf("the certificate fingerprint must be 64 hex characters, got %d", len(fp))
	}
	b, err := hex.DecodeString(fp)
	if err != nil {
		return "", errors.New("the certificate fingerprint must contain only hex digits 0-9 and a-f")
	}
	return hex.EncodeToString(b), nil
}
