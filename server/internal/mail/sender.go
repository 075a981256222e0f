package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// DefaultTimeout bounds a whole Send when Sender.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// Mailer sends one message with the given settings. *Sender implements it;
// tests may substitute their own.
type Mailer interface {
	Send(ctx context.Context, set Settings, m Message) error
}

var _ Mailer = (*Sender)(nil)

// Sender delivers messages over SMTP. The zero value is ready to use and a
// Sender may be used by several goroutines at once; each Send opens its own
// connection.
type Sender struct {
	// TLSConfig is used for STARTTLS and implicit TLS. Nil means the
	// system's root certificates. If its ServerName is empty, the
	// settings' Host is used.
	TLSConfig *tls.Config
	// Timeout bounds the whole of one Send, from dialling to the server's
	// acceptance of the message. Zero means DefaultTimeout.
	Timeout time.Duration
	// HelloName is the name announced in EHLO. Empty means this machine's
	// host name, or "localhost" if it has none usable.
	HelloName string

	// isLoopback decides whether credentials may be sent in plain text to
	// the peer; nil means a check of the peer's IP address. Tests set it.
	isLoopback func(net.Addr) bool
}

// Send delivers m through the SMTP server described by set. It checks set
// and m first, then connects, encrypts the connection as set.TLS says, logs
// in if set.Username is not empty, and submits the message. It never falls
// back to a weaker TLS mode and never sends a password in plain text except
// to a loopback address.
//
// Errors name what failed and suggest a fix in words meant for an
// administrator. They wrap the underlying cause (such as *smtp.SMTPError,
// context.DeadlineExceeded or ErrInvalidMessage) for errors.Is and
// errors.As.
func (s *Sender) Send(ctx context.Context, set Settings, m Message) error {
	if err := set.Validate(); err != nil {
		return err
	}
	env, data, err := compose(set.From, m, time.Now())
	if err != nil {
		return err
	}

	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, &timeoutError{timeout})
	defer cancel()
	r := &run{ctx: ctx, set: set, addr: set.addr()}

	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		return r.fail("connect to "+r.addr, err, "check the SMTP host and port")
	}
	defer raw.Close()
	// Closing the connection unblocks whatever the client is waiting for
	// once the deadline passes or the caller gives up.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	if set.Username != "" && set.TLS == TLSNone && !s.loopback(raw.RemoteAddr()) {
		return &sendError{msg: fmt.Sprintf("refusing to send the SMTP password to %s over an unencrypted connection — choose STARTTLS or implicit TLS", r.addr)}
	}

	c, err := r.open(raw, s.tlsConfig(set.Host))
	if err != nil {
		return err
	}
	defer c.Close()
	c.CommandTimeout = timeout
	c.SubmissionTimeout = timeout

	if err := c.Hello(s.helloName()); err != nil {
		return r.helloFailed(err)
	}
	if set.Username != "" {
		if err := r.login(c); err != nil {
			return err
		}
	}
	if err := r.submit(c, env, data); err != nil {
		return err
	}
	// The message is accepted; a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// run carries the state of one Send for error reporting.
type run struct {
	ctx  context.Context
	set  Settings
	addr string
}

// open starts the SMTP client on raw, doing the TLS part of the settings.
func (r *run) open(raw net.Conn, cfg *tls.Config) (*smtp.Client, error) {
	switch r.set.TLS {
	case TLSImplicit:
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(r.ctx); err != nil {
			return nil, r.tlsFailed(err)
		}
		return smtp.NewClient(tc), nil
	case TLSStartTLS:
		c, err := smtp.NewClientStartTLS(raw, cfg)
		if err == nil {
			return c, nil
		}
		if !r.done() && isNoStartTLS(err) {
			return nil, &sendError{msg: "SMTP server does not offer STARTTLS — choose implicit TLS or none", err: err}
		}
		return nil, r.helloFailed(err)
	default:
		return smtp.NewClient(raw), nil
	}
}

// isNoStartTLS recognises go-smtp's error for a server that does not
// advertise STARTTLS; the library has no exported value for it.
func isNoStartTLS(err error) bool {
	var se *smtp.SMTPError
	return !errors.As(err, &se) && strings.Contains(err.Error(), "STARTTLS")
}

// login authenticates with AUTH PLAIN.
func (r *run) login(c *smtp.Client) error {
	if ok, mechs := c.Extension("AUTH"); !ok {
		hint := "clear the SMTP username if the server needs no login"
		if r.set.TLS == TLSNone {
			hint += ", or choose STARTTLS or implicit TLS: many servers offer login only over TLS"
		}
		return &sendError{msg: "SMTP server does not offer a login (AUTH) — " + hint}
	} else if !c.SupportsAuth(sasl.Plain) {
		return &sendError{msg: fmt.Sprintf("SMTP server does not support the PLAIN login method (it offers %s)", mechs)}
	}
	err := c.Auth(sasl.NewPlainClient("", r.set.Username, r.set.Password))
	if err == nil {
		return nil
	}
	var se *smtp.SMTPError
	if !r.done() && errors.As(err, &se) && (se.Code == 535 || se.EnhancedCode == smtp.EnhancedCode{5, 7, 8}) {
		return &sendError{msg: "SMTP server refused the login — check the username and password", err: err}
	}
	return r.fail("SMTP login failed", err, "")
}

// submit runs MAIL FROM, RCPT TO and DATA.
func (r *run) submit(c *smtp.Client, env envelope, data []byte) error {
	var opts *smtp.MailOptions
	if env.utf8 {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(env.from, opts); err != nil {
		var se *smtp.SMTPError
		if r.set.Username == "" && !r.done() && errors.As(err, &se) &&
			(se.Code == 530 || se.EnhancedCode == smtp.EnhancedCode{5, 7, 0}) {
			return &sendError{msg: "SMTP server requires a login — set the SMTP username and password", err: err}
		}
		return r.fail(fmt.Sprintf("SMTP server refused the sender address %s", env.from), err,
			"check the From address; many servers accept only the login's own address")
	}
	if err := c.Rcpt(env.to, nil); err != nil {
		return r.fail(fmt.Sprintf("SMTP server refused the recipient %s", env.to), err, "")
	}
	w, err := c.Data()
	if err != nil {
		return r.fail("SMTP server refused to take the message", err, "")
	}
	if _, err := w.Write(data); err != nil {
		return r.fail("sending the message to "+r.addr+" failed", err, "")
	}
	if err := w.Close(); err != nil {
		return r.fail("SMTP server rejected the message", err, "")
	}
	return nil
}

// helloFailed reports a failure before the session was established: in the
// greeting, EHLO, or the TLS handshake that STARTTLS starts.
func (r *run) helloFailed(err error) error {
	if !r.done() && isTLSError(err) {
		return r.tlsFailed(err)
	}
	hint := ""
	if r.set.TLS != TLSImplicit && r.done() && errors.Is(context.Cause(r.ctx), errSendTimeout) {
		hint = "if this port expects implicit TLS (usually 465), choose implicit TLS"
	}
	return r.fail("no SMTP greeting from "+r.addr, err, hint)
}

// tlsFailed reports a failed TLS handshake.
func (r *run) tlsFailed(err error) error {
	var hint string
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	switch {
	case r.done():
	case errors.As(err, &rh):
		hint = "this port does not speak implicit TLS; choose STARTTLS (usually port 587) or check the port"
	case errors.As(err, &cv):
		hint = "the server's certificate must be valid for " + r.set.Host + " and signed by a trusted authority"
	default:
		hint = "check the TLS mode and the port"
	}
	return r.fail("TLS handshake with "+r.addr+" failed", err, hint)
}

// done reports whether the send was cut short by its context. A connection
// deadline can fire a moment before the context's timer, so once the deadline
// has passed it waits for the context to catch up.
func (r *run) done() bool {
	if dl, ok := r.ctx.Deadline(); ok && !time.Now().Before(dl) {
		<-r.ctx.Done()
	}
	return r.ctx.Err() != nil
}

// fail wraps err as "what: reason — hint".
func (r *run) fail(what string, err error, hint string) error {
	var reason string
	cause := err
	if r.done() {
		c := context.Cause(r.ctx)
		cause = errors.Join(c, err)
		switch {
		case errors.Is(c, errSendTimeout):
			reason = c.Error()
		case errors.Is(c, context.DeadlineExceeded):
			reason = "timed out"
		default:
			reason = "cancelled"
		}
	} else {
		reason = describe(err)
	}
	msg := what + ": " + reason
	if hint != "" {
		msg += " — " + hint
	}
	return &sendError{msg: msg, err: cause}
}

// describe turns a network, TLS or SMTP error into a short phrase.
func describe(err error) string {
	var (
		se  *smtp.SMTPError
		dns *net.DNSError
		cv  *tls.CertificateVerificationError
		rh  tls.RecordHeaderError
		ne  net.Error
		op  *net.OpError
		sys *os.SyscallError
	)
	switch {
	case errors.As(err, &se):
		msg := fmt.Sprintf("server replied %d", se.Code)
		if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode != smtp.EnhancedCodeNotSet {
			msg += fmt.Sprintf(" %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		if se.Message != "" {
			msg += " " + se.Message
		}
		return msg
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "host " + dns.Name + " not found"
		}
		return "host name lookup failed: " + dns.Err
	case errors.As(err, &cv):
		return "the server's certificate is not trusted: " + strings.TrimPrefix(cv.Err.Error(), "x509: ")
	case errors.As(err, &rh):
		return "the server did not answer with TLS"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection"
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.As(err, &sys):
		return sys.Err.Error()
	case errors.As(err, &op) && op.Err != nil:
		return op.Err.Error()
	}
	return strings.TrimPrefix(err.Error(), "smtp: ")
}

// isTLSError reports whether err comes from a TLS handshake.
func isTLSError(err error) bool {
	var (
		cv  *tls.CertificateVerificationError
		rh  tls.RecordHeaderError
		al  tls.AlertError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		inv x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &rh) || errors.As(err, &al) ||
		errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &inv)
}

func (s *Sender) tlsConfig(host string) *tls.Config {
	var cfg *tls.Config
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

func (s *Sender) loopback(a net.Addr) bool {
	if s.isLoopback != nil {
		return s.isLoopback(a)
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	return false
}

func (s *Sender) helloName() string {
	if s.HelloName != "" {
		return s.HelloName
	}
	if h, err := os.Hostname(); err == nil && isDomainName(h) {
		return h
	}
	return "localhost"
}

// isDomainName reports whether s is made only of letters, digits, hyphens
// and dots, so it can be sent in EHLO.
func isDomainName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// errSendTimeout is matched by the cause set when Sender.Timeout expires.
var errSendTimeout = errors.New("mail send timed out")

// timeoutError is the context cause when Sender.Timeout expires. It matches
// both errSendTimeout and context.DeadlineExceeded.
type timeoutError struct{ d time.Duration }

func (e *timeoutError) Error() string { return fmt.Sprintf("timed out after %s", e.d) }

func (e *timeoutError) Is(target error) bool {
	return target == errSendTimeout || target == context.DeadlineExceeded
}

// sendError carries a message for administrators and the cause underneath.
type sendError struct {
	msg string
	err error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.err }
