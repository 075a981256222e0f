package web_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// between returns the unescaped text of body between from and to.
func between(body, from, to string) string {
	_, rest, ok := strings.Cut(body, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return html.UnescapeString(v)
}

// TestBrowserEmailCodeSignIn: the web sign-in of an account whose only
// factor is email codes mails a code and asks for it; the password alone
// signs nobody in (the bypass through the web).
func TestBrowserEmailCodeSignIn(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := newBrowser(t)
	u := s.CreateUser("carol")
	s.EnableEmail(u)
	s.Clock.Advance(mfa.MailInterval)
	mails := len(s.MailTo(u.Email))

	browserSignIn(t, ctx, s, u.Username, u.Password)
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("code-sent")))
	if got := value(t, ctx, chromedp.Text(chromedp.ID("code-sent"))); !strings.Contains(got, "We emailed a 6-digit code to c***l@e******.com") {
		t.Fatalf("code page says %q", got)
	}
	// Not signed in yet: the profile still asks for a sign-in.
	c := newClient(t, s)
	if code, body := c.get("/profile"); code != http.StatusOK || !strings.Contains(body, `id="signin-form"`) {
		t.Fatalf("profile without the code: %d", code)
	}
	code := s.WaitCode(u.Email, mails+1)
	run(t, ctx,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.CSS(`#code-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("email-disable")),
	)
}

// TestStepUpAsksInPlace: a web sign-in older than the step-up window that
// adds a device is asked for its factor on the spot, then may go on.
func TestStepUpAsksInPlace(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	u := s.CreateUser("dave")
	s.EnableTOTP(u)
	c := newClient(t, s)
	c.get("/signin")
	code, body := c.post("/signin", url.Values{"username": {u.Username}, "password": {u.Password}})
	if code != http.StatusOK || !strings.Contains(body, `id="code-form"`) {
		t.Fatalf("sign in: %d\n%s", code, text(body))
	}
	s.Clock.Advance(mfa.Period)
	if code, body = c.post("/signin/code", url.Values{"code": {s.TOTPCode(u.TOTPSecret)}}); code != http.StatusOK {
		t.Fatalf("code: %d\n%s", code, text(body))
	}

	s.Clock.Advance(service.StepUpWindow + time.Minute)
	c.get("/profile/devices/new")
	code, body = c.post("/profile/devices/new", url.Values{"name": {"phone"}})
	if code != http.StatusOK || !strings.Contains(body, `id="code-form"`) || !strings.Contains(body, "confirm it's you") {
		t.Fatalf("adding a device with a stale sign-in: %d\n%s", code, text(body))
	}
	if strings.Contains(body, "enrollment-code") {
		t.Fatal("an enrollment code was made without the step-up")
	}
	s.Clock.Advance(mfa.Period)
	code, body = c.post("/confirm/code", url.Values{"code": {s.TOTPCode(u.TOTPSecret)}})
	if code != http.StatusOK || !strings.Contains(body, `id="device-form"`) {
		t.Fatalf("confirm: %d\n%s", code, text(body))
	}
	mustContain(t, body, "Thanks, that's you.")
	code, body = c.post("/profile/devices/new", url.Values{"name": {"phone"}})
	if code != http.StatusOK || !strings.Contains(body, `id="enrollment-code"`) {
		t.Fatalf("add device after the step-up: %d\n%s", code, text(body))
	}
}

// TestAdminWithoutFactorHeldToProfile: an admin who signs in with a
// password alone sees no admin page until a second factor is set up.
func TestAdminWithoutFactorHeldToProfile(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := servertest.Ctx(t)
	if _, err := s.Svc.CreateUser(ctx, service.Actor{Username: "test", Admin: true}, service.NewUser{Username: "root", Email: "root@example.com", Password: "root-password", Admin: true}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s)
	c.signIn("root", "root-password")
	for _, path := range []string{"/overview", "/users", "/gateways", "/audit"} {
		code, body := c.get(path)
		if code != http.StatusOK || !strings.Contains(body, `id="totp-begin"`) {
			t.Fatalf("%s: %d, want the profile's setup\n%s", path, code, text(body))
		}
		mustContain(t, body, "Set up a second factor before using the admin pages")
	}
	// Setting one up is allowed with the password sign-in, and opens them.
	code, body := c.post("/profile/totp", nil)
	if code != http.StatusOK {
		t.Fatalf("begin TOTP: %d\n%s", code, text(body))
	}
	secret := between(body, `id="totp-secret">`, "<")
	if secret == "" {
		t.Fatalf("no secret on the setup page\n%s", body)
	}
	totp, err := mfa.TOTPCode(strings.ReplaceAll(secret, " ", ""), s.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, body = c.post("/profile/totp/confirm", url.Values{"code": {totp}, "otpauth": {between(body, `name="otpauth" value="`, `"`)}}); code != http.StatusOK {
		t.Fatalf("confirm TOTP: %d\n%s", code, text(body))
	}
	if code, body = c.get("/overview"); code != http.StatusOK || strings.Contains(body, `id="totp-begin"`) {
		t.Fatalf("overview after setting up TOTP: %d\n%s", code, text(body))
	}
}
