// Package mailtest runs an in-process SMTP server for tests. It speaks the
// real protocol, optionally with STARTTLS or implicit TLS and with AUTH
// PLAIN, and records every message it accepts, decoded, so tests can read
// the mail a program sent, for instance to pick a one-time code out of it.
package mailtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/wicket-vpn/wicket/server/internal/mail"
)

// Received is one message the server accepted.
type Received struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To holds the envelope recipients (RCPT TO).
	To []string
	// Data is the message exactly as transmitted, with CRLF line endings.
	Data []byte
	// Header is the parsed message header.
	Header netmail.Header
	// Subject is the Subject header with RFC 2047 encoded words decoded.
	Subject string
	// Body is the text body with its transfer encoding (quoted-printable or
	// base64) undone and line endings turned into "\n".
	Body string
}

// clone returns a deep copy of r.
func (r Received) clone() Received {
	r.To = slices.Clone(r.To)
	r.Data = bytes.Clone(r.Data)
	h := make(netmail.Header, len(r.Header))
	for k, v := range r.Header {
		h[k] = slices.Clone(v)
	}
	r.Header = h
	return r
}

// Option configures a Server.
type Option func(*config)

type config struct {
	tls      mail.TLSMode
	user     string
	pass     string
	failRcpt []string
}

// WithTLS makes the server use mode: mail.TLSStartTLS offers STARTTLS on a
// plain connection, mail.TLSImplicit speaks TLS from the start. Both use a
// self-signed certificate for 127.0.0.1, ::1 and localhost that ClientTLS
// trusts. The default is mail.TLSNone, which offers no STARTTLS.
func WithTLS(mode mail.TLSMode) Option {
	return func(c *config) { c.tls = mode }
}

// WithAuth makes the server offer AUTH PLAIN and require a login with these
// credentials before MAIL FROM. Wrong credentials are refused with 535.
// With mail.TLSStartTLS, AUTH is only offered after STARTTLS, as real
// servers do.
func WithAuth(username, password string) Option {
	return func(c *config) { c.user, c.pass = username, password }
}

// WithFailRcpt makes the server refuse the recipient addr with 550 at RCPT
// TO. It may be given several times.
func WithFailRcpt(addr string) Option {
	return func(c *config) { c.failRcpt = append(c.failRcpt, addr) }
}

// Server is a running test SMTP server listening on 127.0.0.1. It is closed
// when the test that created it ends.
type Server struct {
	cfg    config
	port   int
	certs  *x509.CertPool // nil without TLS
	logger *testLogger

	mu      sync.Mutex
	msgs    []Received
	arrived chan struct{} // closed and replaced whenever a message arrives
	closed  chan struct{} // closed when the server shuts down
}

// New starts a server configured by opts and registers its shutdown with
// t.Cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{arrived: make(chan struct{}), closed: make(chan struct{})}
	for _, o := range opts {
		o(&s.cfg)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 50
	s.logger = &testLogger{t: t}
	srv.ErrorLog = s.logger

	switch s.cfg.tls {
	case mail.TLSNone:
		// Loopback only: letting a test log in without TLS is harmless.
		srv.AllowInsecureAuth = true
	case mail.TLSStartTLS, mail.TLSImplicit:
		cert, pool, err := selfSigned()
		if err != nil {
			ln.Close()
			t.Fatalf("mailtest: make certificate: %v", err)
		}
		s.certs = pool
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if s.cfg.tls == mail.TLSImplicit {
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
	default:
		ln.Close()
		t.Fatalf("mailtest: unknown TLS mode %v", s.cfg.tls)
	}

	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil {
			t.Errorf("mailtest: serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		close(s.closed)
		srv.Close()
		// Serve may not have registered ln with srv yet, in which case
		// srv.Close did not close it.
		ln.Close()
		<-served
		s.logger.stop()
	})
	return s
}

// Host returns the address the server listens on, "127.0.0.1".
func (s *Server) Host() string { return "127.0.0.1" }

// Port returns the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Settings returns settings for sending through this server from the
// address from, with its TLS mode and, if WithAuth was given, its
// credentials. For TLS modes, pair them with ClientTLS.
func (s *Server) Settings(from string) mail.Settings {
	return mail.Settings{
		Host:     s.Host(),
		Port:     s.port,
		Username: s.cfg.user,
		Password: s.cfg.pass,
		From:     from,
		TLS:      s.cfg.tls,
	}
}

// ClientTLS returns a TLS configuration trusting the server's certificate,
// for mail.Sender.TLSConfig. Without TLS it trusts nothing but is still
// usable. Each call returns a new configuration.
func (s *Server) ClientTLS() *tls.Config {
	pool := s.certs
	if pool == nil {
		pool = x509.NewCertPool()
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// Messages returns a copy of the messages accepted so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.clone()
	}
	return out
}

// WaitFor blocks until the server has accepted n messages (n counts from 1)
// for the envelope recipient to, compared without regard to case, and
// returns the n-th of them. It returns an error when ctx ends or the server
// is closed first.
func (s *Server) WaitFor(ctx context.Context, to string, n int) (Received, error) {
	if n < 1 {
		return Received{}, fmt.Errorf("mailtest: WaitFor: n is %d, want 1 or more", n)
	}
	if a, err := netmail.ParseAddress(to); err == nil {
		to = a.Address
	}
	for {
		s.mu.Lock()
		seen := 0
		for _, m := range s.msgs {
			if slices.ContainsFunc(m.To, func(r string) bool { return strings.EqualFold(r, to) }) {
				seen++
				if seen == n {
					s.mu.Unlock()
					return m.clone(), nil
				}
			}
		}
		arrived := s.arrived
		s.mu.Unlock()

		select {
		case <-arrived:
		case <-ctx.Done():
			return Received{}, fmt.Errorf("mailtest: waiting for message %d to %s (have %d): %w", n, to, seen, context.Cause(ctx))
		case <-s.closed:
			return Received{}, fmt.Errorf("mailtest: waiting for message %d to %s (have %d): server closed", n, to, seen)
		}
	}
}

func (s *Server) add(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, r)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

func (s *Server) refuses(rcpt string) bool {
	return slices.ContainsFunc(s.cfg.failRcpt, func(a string) bool { return strings.EqualFold(a, rcpt) })
}

var codeRE = regexp.MustCompile(`\b[0-9]{6}\b`)

// CodeIn returns the first 6-digit number in body that is not part of a
// longer word or number, such as the one-time code in a sign-in mail.
func CodeIn(body string) (string, error) {
	if code := codeRE.FindString(body); code != "" {
		return code, nil
	}
	return "", errors.New("mailtest: no 6-digit code in the message body")
}

// session is one SMTP session; go-smtp uses it from a single goroutine.
type session struct {
	srv    *Server
	authed bool
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string {
	if s.srv.cfg.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.srv.cfg.user == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if (identity != "" && identity != username) || username != s.srv.cfg.user || password != s.srv.cfg.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.cfg.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	s.to = nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.refuses(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Mailbox unavailable"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rec, err := decode(data)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Malformed message: " + err.Error()}
	}
	rec.From = s.from
	rec.To = slices.Clone(s.to)
	s.srv.add(rec)
	return nil
}

func (s *session) Reset() {
	s.from = ""
	s.to = nil
}

func (s *session) Logout() error { return nil }

// decode parses a message into Header, Subject and Body.
func decode(data []byte) (Received, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return Received{}, fmt.Errorf("header: %w", err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Received{}, fmt.Errorf("subject: %w", err)
	}
	var body io.Reader = msg.Body
	switch cte := strings.ToLower(strings.TrimSpace(msg.Header.Get("Content-Transfer-Encoding"))); cte {
	case "", "7bit", "8bit", "binary":
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	default:
		return Received{}, fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return Received{}, fmt.Errorf("body: %w", err)
	}
	return Received{
		Data:    data,
		Header:  msg.Header,
		Subject: subject,
		Body:    strings.ReplaceAll(string(text), "\r\n", "\n"),
	}, nil
}

// selfSigned makes a certificate for the loopback addresses and a pool that
// trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// testLogger passes go-smtp's internal error log to t.Logf until the server
// is closed, after which logging on t would be a misuse.
type testLogger struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (l *testLogger) Printf(format string, v ...any) {
	l.log(fmt.Sprintf(format, v...))
}

func (l *testLogger) Println(v ...any) {
	l.log(strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

func (l *testLogger) log(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Logf("mailtest: %s", msg)
	}
}

func (l *testLogger) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
}
