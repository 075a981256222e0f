package web_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/web"
)

// TestMailOutbox: with the development outbox, mail the server sends shows
// on the admin's "Mail outbox" page, newest first, and the Email page says
// that nothing is sent; users cannot open the page, and servers without the
// outbox have no such page.
func TestMailOutbox(t *testing.T) {
	t.Parallel()
	outbox := mail.NewOutbox(10, nil)
	s := servertest.New(t, servertest.WithMailer(outbox), servertest.WithWeb(func(d *daemon.Daemon) http.Handler {
		return web.New(d.Service, slog.New(slog.NewTextHandler(testLog{t}, nil)), web.WithServer(d.Opts.URL, d.Fingerprint), web.WithOutbox(outbox))
	}))
	s.AdminToken()
	c := newClient(t, s)
	c.signIn("admin", "admin-password")
	mustContain(t, c.last, `href="/outbox"`, "Mail outbox")

	_, body := c.get("/outbox")
	mustContain(t, body, `id="no-mail"`)
	_, body = c.get("/smtp")
	mustContain(t, body, `id="outbox-note"`, "not sent")

	for _, to := range []string{"first@example.com", "second@example.com"} {
		_, body = c.post("/smtp/test", url.Values{"to": {to}})
		mustContain(t, body, "Sent a test email to "+to)
	}
	_, body = c.get("/outbox")
	mustContain(t, body, `id="mail-1"`, `id="mail-2"`, "Your SMTP settings work", "Test Wicket test email")
	if strings.Index(body, "second@example.com") > strings.Index(body, "first@example.com") {
		t.Fatal("the outbox does not show the newest message first")
	}
	if n := len(s.Mail.Messages()); n != 0 {
		t.Fatalf("the SMTP server received %d messages; the outbox should have kept them", n)
	}

	u := s.CreateUser("olga")
	uc := newClient(t, s)
	uc.signIn(u.Username, u.Password)
	if strings.Contains(uc.last, `href="/outbox"`) {
		t.Fatal("a user sees the outbox in the menu")
	}
	if code, _ := uc.get("/outbox"); code != http.StatusForbidden {
		t.Fatalf("/outbox for a user: %d", code)
	}
}

func TestNoOutboxPageWithoutOutbox(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.AdminToken()
	c := newClient(t, s)
	c.signIn("admin", "admin-password")
	if strings.Contains(c.last, `href="/outbox"`) {
		t.Fatal("the menu offers an outbox the server does not have")
	}
	if code, _ := c.get("/outbox"); code != http.StatusNotFound {
		t.Fatalf("/outbox without an outbox: %d", code)
	}
	_, body := c.get("/smtp")
	if strings.Contains(body, `id="outbox-note"`) {
		t.Fatal("the Email page mentions an outbox")
	}
}
