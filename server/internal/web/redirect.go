package web

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// localPath keeps a "next" address on this site: a clean path (with query
// and fragment) of this site, or "/" for anything else.
//
// Browsers are lenient where Go is not. They drop tabs and newlines from a
// Location, so "/\t/evil.example" arrives as "//evil.example", another
// site; they read "\" as "/" and skip some invisible characters. So the
// address, and every form it takes when percent-decoded again, must start
// with exactly one "/" and hold no backslash, no control or formatting
// character (bidi controls included) and no scheme or host.
func localPath(next string) string {
	if !isLocalPath(next) {
		return "/"
	}
	return next
}

// maxDecodes bounds how often an address is percent-decoded; no link the
// pages make is encoded more than once.
const maxDecodes = 3

func isLocalPath(s string) bool {
	for range maxDecodes {
		if !cleanLocal(s) {
			return false
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return false
		}
		if d == s {
			return true
		}
		s = d
	}
	return false
}

// cleanLocal checks one form of the address.
func cleanLocal(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\\' || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == ""
}
