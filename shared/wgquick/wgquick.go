// Package wgquick writes the configuration files of wg-quick and of the
// official WireGuard apps (an [Interface] and its [Peer] sections), for
// devices that do not run the Wicket client: a phone, a router.
package wgquick

import (
	"bufio"
	"fmt"
	"net/netip"
	"strings"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// Config is one interface with one peer, the gateway.
type Config struct {
	// Comment is written first as "# Comment" lines; it must not need
	// escaping (one line of visible text).
	Comment    string
	PrivateKey wgkey.Key
	Address    []netip.Prefix
	DNS        []netip.Addr
	// MTU is left out when 0.
	MTU  int
	Peer Peer
}

// Peer is the gateway as the device sees it.
type Peer struct {
	PublicKey wgkey.Key
	// PresharedKey is left out when zero.
	PresharedKey wgkey.Key
	// Endpoint is host:port; the host may be a name.
	Endpoint   string
	AllowedIPs []netip.Prefix
	// PersistentKeepalive in seconds; left out when 0.
	PersistentKeepalive int
}

// String renders the file.
func (c Config) String() string {
	var b strings.Builder
	for _, line := range strings.Split(c.Comment, "\n") {
		if line != "" {
			fmt.Fprintf(&b, "# %s\n", line)
		}
	}
	b.WriteString("[Interface]\n")
	fmt.Fprintf(&b, "PrivateKey = %s\n", c.PrivateKey)
	if len(c.Address) > 0 {
		fmt.Fprintf(&b, "Address = %s\n", join(c.Address))
	}
	if len(c.DNS) > 0 {
		fmt.Fprintf(&b, "DNS = %s\n", join(c.DNS))
	}
	if c.MTU > 0 {
		fmt.Fprintf(&b, "MTU = %d\n", c.MTU)
	}
	p := c.Peer
	b.WriteString("\n[Peer]\n")
	fmt.Fprintf(&b, "PublicKey = %s\n", p.PublicKey)
	if !p.PresharedKey.IsZero() {
		fmt.Fprintf(&b, "PresharedKey = %s\n", p.PresharedKey)
	}
	fmt.Fprintf(&b, "Endpoint = %s\n", p.Endpoint)
	fmt.Fprintf(&b, "AllowedIPs = %s\n", join(p.AllowedIPs))
	if p.PersistentKeepalive > 0 {
		fmt.Fprintf(&b, "PersistentKeepalive = %d\n", p.PersistentKeepalive)
	}
	return b.String()
}

func join[T fmt.Stringer](list []T) string {
	parts := make([]string, len(list))
	for i, v := range list {
		parts[i] = v.String()
	}
	return strings.Join(parts, ", ")
}

// wgQuickOnly are the [Interface] keys that wg-quick reads itself and
// `wg setconf` refuses.
var wgQuickOnly = map[string]bool{
	"address": true, "dns": true, "mtu": true, "table": true, "saveconfig": true,
	"preup": true, "postup": true, "predown": true, "postdown": true,
}

// Strip leaves out what only wg-quick understands, as `wg-quick strip`
// does, so that `wg setconf` takes the rest.
func Strip(conf string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(conf))
	section := ""
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") {
			section = strings.ToLower(t)
		}
		key, _, ok := strings.Cut(t, "=")
		if ok && section == "[interface]" && wgQuickOnly[strings.ToLower(strings.TrimSpace(key))] {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// maxName is the longest interface name Linux allows (IFNAMSIZ-1), which
// wg-quick and the WireGuard apps take from the file name.
const maxName = 15

// FileName makes a configuration file name from parts ("Office", "Phone"
// → "office-phone.conf"): wg-quick names the interface after the file and
// accepts only up to 15 of [a-zA-Z0-9_=+.-], so other characters become
// hyphens and the name is cut to fit; "wireguard.conf" when nothing is left.
func FileName(parts ...string) string {
	var words []string
	for _, p := range parts {
		var b strings.Builder
		for _, r := range strings.ToLower(p) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '=', r == '+', r == '.':
				b.WriteRune(r)
			default:
				b.WriteByte('-')
			}
		}
		if w := strings.Trim(collapse(b.String()), "-."); w != "" {
			words = append(words, w)
		}
	}
	name := strings.Join(words, "-")
	if len(name) > maxName {
		name = strings.TrimRight(name[:maxName], "-.")
	}
	if name == "" {
		name = "wireguard"
	}
	return name + ".conf"
}

func collapse(s string) string {
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	return s
}
