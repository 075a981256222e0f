// Package mail sends wicketd's notification mail, such as one-time sign-in
// codes, through an SMTP server chosen by the administrator.
//
// Settings describes the server, Message the mail, and Sender delivers it.
// Errors returned by Sender.Send and Settings.Validate are written to be
// shown to an administrator as they are.
package mail

import (
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strings"
)

// TLSMode says how the connection to the SMTP server is encrypted.
type TLSMode int

const (
	// TLSNone sends everything in plain text. Credentials are only sent
	// this way to a server on the loopback interface.
	TLSNone TLSMode = iota
	// TLSStartTLS connects in plain text and upgrades with the STARTTLS
	// command before anything else is sent (usually port 587). If the
	// server does not offer STARTTLS, sending fails.
	TLSStartTLS
	// TLSImplicit speaks TLS from the first byte (usually port 465).
	TLSImplicit
)

// String returns "none", "starttls" or "implicit", the names ParseTLSMode
// accepts.
func (m TLSMode) String() string {
	switch m {
	case TLSNone:
		return "none"
	case TLSStartTLS:
		return "starttls"
	case TLSImplicit:
		return "implicit"
	default:
		return fmt.Sprintf("TLSMode(%d)", int(m))
	}
}

// valid reports whether m is one of the defined modes.
func (m TLSMode) valid() bool {
	return m == TLSNone || m == TLSStartTLS || m == TLSImplicit
}

// ParseTLSMode parses the name of a TLS mode as returned by TLSMode.String,
// ignoring case. It also accepts "tls" and "ssl" for TLSImplicit and ""
// for TLSNone.
func ParseTLSMode(s string) (TLSMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none", "plain":
		return TLSNone, nil
	case "starttls":
		return TLSStartTLS, nil
	case "implicit", "tls", "ssl":
		return TLSImplicit, nil
	}
	return 0, fmt.Errorf("TLS mode %q is not known — choose none, starttls or implicit", s)
}

// Settings holds what is needed to reach the administrator's SMTP server.
type Settings struct {
	// Host is the SMTP server's host name or IP address, without a port.
	Host string
	// Port is the SMTP server's TCP port, usually 587 for STARTTLS and
	// 465 for implicit TLS.
	Port int
	// Username and Password are used for AUTH PLAIN. An empty Username
	// means no login.
	Username, Password string
	// From is the sender address, optionally with a display name, as in
	// "Wicket <wicket@example.com>".
	From string
	// TLS says how the connection is encrypted.
	TLS TLSMode
}

// Configured reports whether mail has been set up at all, that is whether a
// host and a sender address are set. It does not check that they are valid;
// use Validate for that.
func (s Settings) Configured() bool {
	return strings.TrimSpace(s.Host) != "" && strings.TrimSpace(s.From) != ""
}

// Validate checks the settings without contacting the server. It returns nil
// or an error describing every problem found, each naming the field.
func (s Settings) Validate() error {
	var errs []error
	if err := validateHost(s.Host); err != nil {
		errs = append(errs, err)
	}
	if s.Port < 1 || s.Port > 65535 {
		errs = append(errs, fmt.Errorf("SMTP port %d is out of range — use a port from 1 to 65535 (usually 587 for STARTTLS or 465 for implicit TLS)", s.Port))
	}
	if _, err := parseFrom(s.From); err != nil {
		errs = append(errs, err)
	}
	if !s.TLS.valid() {
		errs = append(errs, fmt.Errorf("SMTP TLS mode %d is not valid — choose none, STARTTLS or implicit TLS", int(s.TLS)))
	}
	return errors.Join(errs...)
}

// addr returns host:port for dialling.
func (s Settings) addr() string {
	return net.JoinHostPort(s.Host, fmt.Sprint(s.Port))
}

func validateHost(host string) error {
	if host == "" {
		return errors.New("SMTP host is not set — enter the mail server's host name, such as smtp.example.com")
	}
	if strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("SMTP host %q contains spaces or control characters — enter only the host name, such as smtp.example.com", host)
	}
	if strings.Contains(host, "/") {
		return fmt.Errorf("SMTP host %q is not a host name — enter only the host name, such as smtp.example.com, without a scheme or path", host)
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return fmt.Errorf("SMTP host %q includes a port — enter the host name alone and the port in the port field", host)
	}
	return nil
}

// parseFrom checks the From setting and returns the parsed address.
func parseFrom(from string) (*netmail.Address, error) {
	if strings.TrimSpace(from) == "" {
		return nil, errors.New("From address is not set — enter the address the mail is sent from, such as wicket@example.com")
	}
	if strings.ContainsAny(from, "\r\n") {
		return nil, errors.New("From address contains a line break — enter a single address, such as wicket@example.com")
	}
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("From address %q is not valid (%s) — use an address such as wicket@example.com or \"Wicket <wicket@example.com>\"", from, strings.TrimPrefix(err.Error(), "mail: "))
	}
	return a, nil
}
