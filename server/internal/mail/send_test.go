package mail_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/mail/mailtest"
)

var _ mail.Mailer = (*mail.Sender)(nil)

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSendRoundTrip(t *testing.T) {
	modes := []mail.TLSMode{mail.TLSNone, mail.TLSStartTLS, mail.TLSImplicit}
	for _, mode := range modes {
		for _, auth := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/auth=%v", mode, auth), func(t *testing.T) {
				opts := []mailtest.Option{mailtest.WithTLS(mode)}
				if auth {
					opts = append(opts, mailtest.WithAuth("wicket", "s3cret pass"))
				}
				srv := mailtest.New(t, opts...)
				sender := &mail.Sender{TLSConfig: srv.ClientTLS()}
				set := srv.Settings("Wicket VPN <wicket@example.com>")

				body := "Your sign-in code is 482913.\n\n" +
					".a line starting with a dot\n" +
					"equals = sign, trailing space \n" +
					"Grüße — " + strings.Repeat("long line ", 20) + "\n"
				err := sender.Send(t.Context(), set, mail.Message{
					To:      "Alice <alice@example.org>",
					Subject: "Your Wicket sign-in code",
					Body:    body,
				})
				if err != nil {
					t.Fatalf("Send: %v", err)
				}

				got, err := srv.WaitFor(waitCtx(t), "alice@example.org", 1)
				if err != nil {
					t.Fatal(err)
				}
				if got.From != "wicket@example.com" {
					t.Errorf("envelope From = %q", got.From)
				}
				if len(got.To) != 1 || got.To[0] != "alice@example.org" {
					t.Errorf("envelope To = %q", got.To)
				}
				if got.Subject != "Your Wicket sign-in code" {
					t.Errorf("Subject = %q", got.Subject)
				}
				if got.Body != body {
					t.Errorf("Body = %q, want %q", got.Body, body)
				}
				if code, err := mailtest.CodeIn(got.Body); err != nil || code != "482913" {
					t.Errorf("CodeIn = %q, %v", code, err)
				}

				h := got.Header
				for name, want := range map[string]string{
					"From":                      `"Wicket VPN" <wicket@example.com>`,
					"To":                        `"Alice" <alice@example.org>`,
					"MIME-Version":              "1.0",
					"Content-Type":              "text/plain; charset=utf-8",
					"Content-Transfer-Encoding": "quoted-printable",
				} {
					if v := h.Get(name); v != want {
						t.Errorf("header %s = %q, want %q", name, v, want)
					}
				}
				if d, err := h.Date(); err != nil || time.Since(d).Abs() > time.Minute {
					t.Errorf("Date = %q (%v)", h.Get("Date"), err)
				}
				if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") || len(id) < 20 {
					t.Errorf("Message-ID = %q", id)
				}
				for i, b := range got.Data {
					if b >= 0x80 {
						t.Fatalf("raw message has a non-ASCII byte at %d", i)
					}
				}
				for line := range strings.SplitSeq(string(got.Data), "\r\n") {
					if len(line) > 78 {
						t.Errorf("line longer than 78 characters: %q", line)
					}
				}
			})
		}
	}
}

func TestSendNonASCIISubject(t *testing.T) {
	srv := mailtest.New(t)
	subjects := []string{
		"Ihr Anmeldecode für Wicket",
		"Код для входа в Wicket — действует 10 минут, не сообщайте его никому, даже сотрудникам поддержки",
		"ログインコード ✓",
		"A plain ASCII subject that is long enough to need folding across more than one header line, surely",
	}
	for i, subject := range subjects {
		err := (&mail.Sender{}).Send(t.Context(), srv.Settings("wicket@example.com"), mail.Message{
			To: "bob@example.org", Subject: subject, Body: "hi\n",
		})
		if err != nil {
			t.Fatalf("Send(%q): %v", subject, err)
		}
		got, err := srv.WaitFor(waitCtx(t), "bob@example.org", i+1)
		if err != nil {
			t.Fatal(err)
		}
		if got.Subject != subject {
			t.Errorf("Subject = %q, want %q", got.Subject, subject)
		}
		raw := got.Header.Get("Subject")
		if !isASCII(raw) {
			t.Errorf("raw Subject header is not ASCII: %q", raw)
		}
		if to := got.Header.Get("To"); to != "bob@example.org" {
			t.Errorf("To header = %q", to)
		}
		if !isASCII(subject) && !strings.Contains(raw, "=?utf-8?q?") {
			t.Errorf("raw Subject header is not Q-encoded: %q", raw)
		}
		for line := range strings.SplitSeq(string(got.Data), "\r\n") {
			if len(line) > 78 {
				t.Errorf("line longer than 78 characters: %q", line)
			}
		}
	}
}

func isASCII(s string) bool {
	for _, r := range s {
		if r >= 0x80 {
			return false
		}
	}
	return true
}

func TestSendAuthFailure(t *testing.T) {
	srv := mailtest.New(t, mailtest.WithTLS(mail.TLSStartTLS), mailtest.WithAuth("wicket", "right"))
	set := srv.Settings("wicket@example.com")
	set.Password = "wrong"
	err := (&mail.Sender{TLSConfig: srv.ClientTLS()}).Send(t.Context(), set, mail.Message{To: "a@example.org", Subject: "s", Body: "b"})
	if err == nil {
		t.Fatal("Send succeeded with a wrong password")
	}
	if want := "SMTP server refused the login — check the username and password"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 {
		t.Errorf("error does not wrap a 535 SMTPError: %#v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestSendLoginRequired(t *testing.T) {
	srv := mailtest.New(t, mailtest.WithTLS(mail.TLSImplicit), mailtest.WithAuth("wicket", "pw"))
	set := srv.Settings("wicket@example.com")
	set.Username, set.Password = "", ""
	err := (&mail.Sender{TLSConfig: srv.ClientTLS()}).Send(t.Context(), set, mail.Message{To: "a@example.org", Subject: "s", Body: "b"})
	if err == nil || !strings.Contains(err.Error(), "requires a login") {
		t.Errorf("error = %v, want one saying a login is required", err)
	}
}

func TestSendStartTLSNotOffered(t *testing.T) {
	srv := mailtest.New(t) // no TLS at all
	set := srv.Settings("wicket@example.com")
	set.TLS = mail.TLSStartTLS
	err := (&mail.Sender{}).Send(t.Context(), set, mail.Message{To: "a@example.org", Subject: "s", Body: "b"})
	if err == nil {
		t.Fatal("Send fell back to plain text")
	}
	if want := "SMTP server does not offer STARTTLS — choose implicit TLS or none"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestSendUntrustedCertificate(t *testing.T) {
	for _, mode := range []mail.TLSMode{mail.TLSStartTLS, mail.TLSImplicit} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := mailtest.New(t, mailtest.WithTLS(mode), mailtest.WithAuth("u", "p"))
			// No TLSConfig: system roots, which do not know the test CA.
			err := (&mail.Sender{}).Send(t.Context(), srv.Settings("wicket@example.com"), mail.Message{To: "a@example.org", Subject: "s", Body: "b"})
			if err == nil {
				t.Fatal("Send trusted a self-signed certificate")
			}
			if !strings.Contains(err.Error(), "TLS handshake with 127.0.0.1:") || !strings.Contains(err.Error(), "certificate is not trusted") {
				t.Errorf("error = %q", err)
			}
		})
	}
}

func TestSendImplicitTLSToPlainServer(t *testing.T) {
	srv := mailtest.New(t)
	set := srv.Settings("wicket@example.com")
	set.TLS = mail.TLSImplicit
	err := (&mail.Sender{}).Send(t.Context(), set, mail.Message{To: "a@example.org", Subject: "s", Body: "b"})
	if err == nil || !strings.Contains(err.Error(), "did not answer with TLS") || !strings.Contains(err.Error(), "choose STARTTLS") {
		t.Errorf("error = %v", err)
	}
}

func TestSendTimeout(t *testing.T) {
	// A plain-text client waits for a greeting that an implicit-TLS server
	// never sends.
	srv := mailtest.New(t, mailtest.WithTLS(mail.TLSImplicit))
	set := srv.Settings("wicket@example.com")
	set.TLS = mail.TLSNone
	start := time.Now()
	err := (&mail.Sender{Timeout: 300 * time.Millisecond}).Send(t.Context(), set, mail.Message{To: "a@example.org", Subject: "s", Body: "b"})
	if err == nil {
		t.Fatal("Send succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v despite a 300ms timeout", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not wrap context.DeadlineExceeded: %v", err)
	}
	if !strings.Contains(err.Error(), "timed out after 300ms") || !strings.Contains(err.Error(), "choose implicit TLS") {
		t.Errorf("error = %q", err)
	}
}

func TestSendCancelled(t *testing.T) {
	srv := mailtest.New(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := (&mail.Sender{}).Send(ctx, srv.Settings("wicket@example.com"), mail.Message{To: "a@example.org", Subject: "s", Body: "b"})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("error = %v", err)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	set := mail.Settings{Host: "127.0.0.1", Port: port, From: "wicket@example.com"}
	err = (&mail.Sender{}).Send(t.Context(), set, mail.Message{To: "a@example.org", Subject: "s", Body: "b"})
	want := fmt.Sprintf("connect to 127.0.0.1:%d: connection refused — check the SMTP host and port", port)
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestSendRefusesPlainTextCredentials(t *testing.T) {
	srv := mailtest.New(t, mailtest.WithAuth("wicket", "pw"))
	sender := &mail.Sender{}
	mail.TreatAsRemote(sender)
	err := sender.Send(t.Context(), srv.Settings("wicket@example.com"), mail.Message{To: "a@example.org", Subject: "s", Body: "b"})
	if err == nil || !strings.Contains(err.Error(), "refusing to send the SMTP password") {
		t.Errorf("error = %v", err)
	}

	// The same remote treatment is fine once the connection is encrypted.
	tlsSrv := mailtest.New(t, mailtest.WithTLS(mail.TLSStartTLS), mailtest.WithAuth("wicket", "pw"))
	sender = &mail.Sender{TLSConfig: tlsSrv.ClientTLS()}
	mail.TreatAsRemote(sender)
	if err := sender.Send(t.Context(), tlsSrv.Settings("wicket@example.com"), mail.Message{To: "a@example.org", Subject: "s", Body: "b"}); err != nil {
		t.Errorf("Send over STARTTLS: %v", err)
	}
}

func TestSendRecipientRefused(t *testing.T) {
	srv := mailtest.New(t, mailtest.WithFailRcpt("bob@example.org"))
	err := (&mail.Sender{}).Send(t.Context(), srv.Settings("wicket@example.com"), mail.Message{To: "bob@example.org", Subject: "s", Body: "b"})
	want := "SMTP server refused the recipient bob@example.org: server replied 550 5.1.1 Mailbox unavailable"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	if err := (&mail.Sender{}).Send(t.Context(), srv.Settings("wicket@example.com"), mail.Message{To: "carol@example.org", Subject: "s", Body: "b"}); err != nil {
		t.Errorf("Send to another recipient: %v", err)
	}
}

func TestSendHeaderInjection(t *testing.T) {
	srv := mailtest.New(t)
	set := srv.Settings("wicket@example.com")
	for name, m := range map[string]mail.Message{
		"subject CRLF": {To: "a@example.org", Subject: "hello\r\nBcc: victim@example.net", Body: "b"},
		"subject LF":   {To: "a@example.org", Subject: "hello\nBcc: victim@example.net", Body: "b"},
		"subject CR":   {To: "a@example.org", Subject: "hello\rBcc: victim@example.net", Body: "b"},
		"to CRLF":      {To: "a@example.org\r\nBcc: victim@example.net", Subject: "s", Body: "b"},
		"to bad":       {To: "not an address", Subject: "s", Body: "b"},
		"to list":      {To: "a@example.org, victim@example.net", Subject: "s", Body: "b"},
		"to empty":     {To: "", Subject: "s", Body: "b"},
	} {
		t.Run(name, func(t *testing.T) {
			err := (&mail.Sender{}).Send(t.Context(), set, m)
			if !errors.Is(err, mail.ErrInvalidMessage) {
				t.Errorf("error = %v, want ErrInvalidMessage", err)
			}
		})
	}
	bad := set
	bad.From = "wicket@example.com\r\nBcc: victim@example.net"
	if err := (&mail.Sender{}).Send(t.Context(), bad, mail.Message{To: "a@example.org", Subject: "s", Body: "b"}); err == nil || !strings.Contains(err.Error(), "From address") {
		t.Errorf("From with CRLF: error = %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestSendInvalidSettings(t *testing.T) {
	err := (&mail.Sender{}).Send(t.Context(), mail.Settings{}, mail.Message{To: "a@example.org"})
	if err == nil || !strings.Contains(err.Error(), "SMTP host is not set") {
		t.Errorf("error = %v", err)
	}
}

func TestSendConcurrent(t *testing.T) {
	srv := mailtest.New(t, mailtest.WithTLS(mail.TLSStartTLS), mailtest.WithAuth("u", "p"))
	sender := &mail.Sender{TLSConfig: srv.ClientTLS()}
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			to := fmt.Sprintf("user%d@example.org", i)
			if err := sender.Send(t.Context(), srv.Settings("wicket@example.com"), mail.Message{To: to, Subject: "s", Body: fmt.Sprintf("code %06d\n", i)}); err != nil {
				t.Errorf("Send to %s: %v", to, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		got, err := srv.WaitFor(waitCtx(t), fmt.Sprintf("USER%d@example.org", i), 1)
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := mailtest.CodeIn(got.Body); code != fmt.Sprintf("%06d", i) {
			t.Errorf("message %d has code %q", i, code)
		}
	}
}
