package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/mail/mailtest"
)

func send(t *testing.T, srv *mailtest.Server, to, subject, body string) {
	t.Helper()
	err := (&mail.Sender{TLSConfig: srv.ClientTLS()}).Send(t.Context(), srv.Settings("wicket@example.com"), mail.Message{To: to, Subject: subject, Body: body})
	if err != nil {
		t.Fatalf("Send to %s: %v", to, err)
	}
}

func TestWaitFor(t *testing.T) {
	srv := mailtest.New(t, mailtest.WithTLS(mail.TLSStartTLS), mailtest.WithAuth("u", "p"))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	// Wait before anything is sent: WaitFor must block until it arrives.
	type result struct {
		r   mailtest.Received
		err error
	}
	second := make(chan result, 1)
	go func() {
		r, err := srv.WaitFor(ctx, "Alice@Example.org", 2)
		second <- result{r, err}
	}()

	send(t, srv, "alice@example.org", "first for alice", "code 111111\n")
	send(t, srv, "bob@example.org", "first for bob", "code 222222\n")
	select {
	case res := <-second:
		t.Fatalf("WaitFor returned early: %+v", res)
	default:
	}
	send(t, srv, "alice@example.org", "second for alice", "code 333333\n")

	res := <-second
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.r.Subject != "second for alice" {
		t.Errorf("WaitFor(alice, 2) gave %q", res.r.Subject)
	}
	if code, err := mailtest.CodeIn(res.r.Body); err != nil || code != "333333" {
		t.Errorf("CodeIn = %q, %v", code, err)
	}

	r, err := srv.WaitFor(ctx, "alice@example.org", 1)
	if err != nil || r.Subject != "first for alice" {
		t.Errorf("WaitFor(alice, 1) = %q, %v", r.Subject, err)
	}
	r, err = srv.WaitFor(ctx, "Bob <bob@example.org>", 1)
	if err != nil || r.Subject != "first for bob" {
		t.Errorf("WaitFor(bob, 1) = %q, %v", r.Subject, err)
	}

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := srv.WaitFor(short, "bob@example.org", 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor without a message: %v", err)
	}
	if _, err := srv.WaitFor(ctx, "bob@example.org", 0); err == nil {
		t.Error("WaitFor accepted n = 0")
	}

	msgs := srv.Messages()
	if len(msgs) != 3 {
		t.Fatalf("Messages() has %d messages", len(msgs))
	}
	msgs[0].Subject = "changed"
	msgs[0].Data[0] = 'X'
	if again := srv.Messages(); again[0].Subject != "first for alice" || again[0].Data[0] == 'X' {
		t.Error("Messages() does not return a copy")
	}
}

func TestCodeIn(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"Your code is 123456.", "123456"},
		{"Code:042917\nIt expires in 10 minutes.", "042917"},
		{"Order 1234567 shipped; your code is 654321", "654321"},
		{"ref abc123456 then 987654", "987654"},
		{"123456", "123456"},
		{"codes 111111 and 222222", "111111"},
		{"no code here, only 12345 and 1234567", ""},
	} {
		got, err := mailtest.CodeIn(tc.body)
		if tc.want == "" {
			if err == nil {
				t.Errorf("CodeIn(%q) = %q, want an error", tc.body, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CodeIn(%q) = %q, %v, want %q", tc.body, got, err, tc.want)
		}
	}
}

// dial opens a raw go-smtp client to srv, to check the server's protocol
// behaviour independently of mail.Sender.
func dial(t *testing.T, srv *mailtest.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(fmt.Sprintf("%s:%d", srv.Host(), srv.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestAuthProtocol(t *testing.T) {
	srv := mailtest.New(t, mailtest.WithAuth("user", "pass"))

	c := dial(t, srv)
	var se *smtp.SMTPError
	err := c.Auth(sasl.NewPlainClient("", "user", "nope"))
	if !errors.As(err, &se) || se.Code != 535 {
		t.Errorf("wrong password: %v, want 535", err)
	}
	if err := c.Mail("wicket@example.com", nil); !errors.As(err, &se) || se.Code/100 != 5 {
		t.Errorf("MAIL FROM without login: %v, want a 5xx refusal", err)
	}

	c = dial(t, srv)
	if err := c.Auth(sasl.NewPlainClient("", "user", "pass")); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := c.SendMail("wicket@example.com", []string{"a@example.org"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatalf("SendMail after login: %v", err)
	}
	if r := srv.Messages(); len(r) != 1 || r[0].Body != "hello\n" || r[0].Subject != "hi" {
		t.Errorf("Messages() = %+v", r)
	}
}

func TestStartTLSOnlyWhenConfigured(t *testing.T) {
	plain := dial(t, mailtest.New(t))
	if err := plain.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := plain.Extension("STARTTLS"); ok {
		t.Error("plain server offers STARTTLS")
	}

	srv := mailtest.New(t, mailtest.WithTLS(mail.TLSStartTLS), mailtest.WithAuth("u", "p"))
	c := dial(t, srv)
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS server does not offer STARTTLS")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("STARTTLS server offers AUTH before TLS")
	}
	if s := srv.Settings("w@example.com"); s.TLS != mail.TLSStartTLS || s.Username != "u" || s.Password != "p" || s.Host != "127.0.0.1" || s.Port != srv.Port() {
		t.Errorf("Settings() = %+v", s)
	}
}

func TestDecodesTransferEncodings(t *testing.T) {
	srv := mailtest.New(t)
	c := dial(t, srv)
	msg := "From: a@example.org\r\n" +
		"Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" +
		"Q29kZTogOTg3NjU0Ckdyw7zDn2UK\r\n"
	if err := c.SendMail("a@example.org", []string{"b@example.org"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	r, err := srv.WaitFor(t.Context(), "b@example.org", 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Grüße" || r.Body != "Code: 987654\nGrüße\n" || r.From != "a@example.org" {
		t.Errorf("got %+v", r)
	}

	bad := "Subject: x\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nbody\r\n"
	var se *smtp.SMTPError
	if err := c.SendMail("a@example.org", []string{"b@example.org"}, strings.NewReader(bad)); !errors.As(err, &se) || se.Code != 554 {
		t.Errorf("malformed message: %v, want 554", err)
	}
}
