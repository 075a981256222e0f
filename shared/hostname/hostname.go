// Package hostname holds Wicket's one rule for what a DNS host name looks
// like, shared by everything that takes one from a person or a program:
// location endpoints, the server address in enrollment codes, the names in
// the server's TLS certificate and the destinations the client's SOCKS5
// proxy is asked for.
package hostname

import "strings"

// MaxLen is the longest name DNS can carry, without the trailing dot.
const MaxLen = 253

// Valid reports whether name is a plausible DNS host name: dot-separated
// labels of 1 to 63 letters, digits, hyphens and underscores, no label
// starting or ending with a hyphen, at most MaxLen characters, and an
// optional trailing dot (a fully qualified name). The last label may not
// be all digits, so a mistyped IPv4 address such as "10.0.0.256" is not
// taken for a name.
//
// Underscores are not allowed by RFC 1123, but names that hold them exist
// in many internal networks, resolvers look them up and TLS clients match
// them, so they are accepted. Valid does not accept IP addresses or
// wildcards: callers that take those check for them first.
func Valid(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > MaxLen {
		return false
	}
	var last string
	for label := range strings.SplitSeq(name, ".") {
		if !validLabel(label) {
			return false
		}
		last = label
	}
	return !allDigits(last)
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
