package ui

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/shared/humantime"
)

// formatBytes renders a byte count the way people read traffic: "0 B",
// "812 B", "1.2 KB", "34.5 MB" (decimal units, like most network tools).
func formatBytes(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "KMGTP"[exp])
}

// formatClock renders a wall-clock time of today as "14:05", and of another
// day with its date, so a deadline is never ambiguous.
func formatClock(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	y1, m1, d1 := t.Date()
	y2, m2, d2 := now.Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		return t.Format("15:04")
	}
	return t.Format("Jan 2, 15:04")
}

// stateText is the short status shown beside a location.
func stateText(l core.LocationView) string {
	switch l.State {
	case core.AwaitingMethod, core.AwaitingCode:
		return "Signing in…"
	case core.Connecting:
		return "Connecting…"
	case core.Failed:
		return "Failed"
	}
	return l.State.String()
}

// handshakeText says how fresh the tunnel's latest handshake is.
func handshakeText(l core.LocationView) string {
	if l.LatestHandshake.IsZero() {
		return "Waiting for the first handshake…"
	}
	if l.HandshakeAge < 2*time.Second {
		return "Just now"
	}
	return humantime.Duration(l.HandshakeAge.Truncate(time.Second)) + " ago"
}

// trafficText renders both directions of the tunnel's traffic.
func trafficText(l core.LocationView) string {
	return fmt.Sprintf("↓ %s received   ↑ %s sent", formatBytes(l.RxBytes), formatBytes(l.TxBytes))
}

// idleText says when the server would end an idle session: a heading with
// the limit ("Idle disconnect after 5 min without traffic") and the
// deadline ("In 4 min 57 s, at 14:05"). Locations without MFA have no
// idle limit.
func idleText(l core.LocationView, now time.Time) (head, value string) {
	if l.IdleDisconnectAt.IsZero() {
		return "Idle disconnect", "None: this location has no idle limit"
	}
	head = "Idle disconnect"
	if l.IdleThreshold > 0 {
		head += " after " + humantime.Duration(l.IdleThreshold) + " without traffic"
	}
	left := l.IdleDisconnectAt.Sub(now)
	if left <= 0 {
		return head, "Due now unless traffic flows"
	}
	return head, fmt.Sprintf("In %s, at %s", humantime.Duration(left), formatClock(l.IdleDisconnectAt, now))
}

// socksAddrRE finds a loopback host:port in a tunnel's Offers sentence.
var socksAddrRE = regexp.MustCompile(`(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):\d{1,5}`)

// proxyAddr returns the SOCKS5 proxy address a userspace tunnel offers, or
// "" when the tunnel offers no proxy.
func proxyAddr(offers string) string {
	if !strings.Contains(strings.ToUpper(offers), "SOCKS") {
		return ""
	}
	return socksAddrRE.FindString(offers)
}

// usageHint tells a person how to use what the tunnel offers: with a SOCKS5
// proxy, applications must be pointed at it (text, plus a command to try
// it); with a system tunnel the location's networks simply work.
func usageHint(l core.LocationView) (text, command string) {
	if addr := proxyAddr(l.Offers); addr != "" {
		example := "10.0.0.5"
		if len(l.AllowedIPs) > 0 {
			example = exampleHost(l.AllowedIPs[0])
		}
		return "Set your browser or app to use this SOCKS5 proxy. To try it:",
			fmt.Sprintf("curl --proxy socks5h://%s http://%s/", addr, example)
	}
	if len(l.AllowedIPs) > 0 {
		return "Traffic to " + strings.Join(l.AllowedIPs, ", ") + " goes through the tunnel.", ""
	}
	return "", ""
}

// exampleHost picks an address inside a network for the usage example:
// the network's first host ("10.10.0.0/24" → "10.10.0.1").
func exampleHost(prefix string) string {
	addr, _, ok := strings.Cut(prefix, "/")
	if !ok {
		return addr
	}
	if parts := strings.Split(addr, "."); len(parts) == 4 && parts[3] == "0" {
		parts[3] = "1"
		return strings.Join(parts, ".")
	}
	return addr
}

// methodFromLabel maps a picker label back to its method.
func methodFromLabel(label string) (core.Method, bool) {
	for _, m := range core.Methods {
		if m.Label() == label {
			return m, true
		}
	}
	return "", false
}

// onlyDigits keeps the ASCII digits of s, at most max of them.
func onlyDigits(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' && b.Len() < max {
			b.WriteRune(r)
		}
	}
	return b.String()
}
