package mail

import (
	netmail "net/mail"
	"strings"
)

// MaskAddress hides most of a mail address so it can be shown, as in
// "code sent to a***e@e******.com", without disclosing it. It keeps the first
// and last character of the local part (local parts of one or two characters
// become their first character and "*"), the first character of the domain
// and the top-level domain. A display name, if any, is dropped. Input that is
// not an address is masked as a whole.
func MaskAddress(addr string) string {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return ""
	}
	if a, err := netmail.ParseAddress(addr); err == nil {
		addr = a.Address
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return maskLocal(addr)
	}
	local, domain := addr[:at], addr[at+1:]
	name, tld := domain, ""
	if dot := strings.LastIndexByte(domain, '.'); dot > 0 {
		name, tld = domain[:dot], domain[dot:]
	}
	return maskLocal(local) + "@" + keepFirst(name) + tld
}

// maskLocal keeps the first and last rune of s, or only the first if s is
// short, and replaces the rest with "*".
func maskLocal(s string) string {
	r := []rune(s)
	switch {
	case len(r) == 0:
		return "*"
	case len(r) <= 2:
		return string(r[0]) + "*"
	default:
		return string(r[0]) + strings.Repeat("*", len(r)-2) + string(r[len(r)-1])
	}
}

// keepFirst keeps the first rune of s and replaces the rest with "*", with at
// least one "*".
func keepFirst(s string) string {
	r := []rune(s)
	if len(r) == 0 {
		return "*"
	}
	return string(r[0]) + strings.Repeat("*", max(1, len(r)-1))
}
