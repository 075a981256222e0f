package demo

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// TestSeedIsIdempotent: the first Seed makes the admin, the user with
// TOTP and email codes (confirmed through the outbox), SMTP settings and
// the location; a second one on the same data finds them all and changes
// nothing, and a user whose TOTP was turned off gets it back.
func TestSeedIsIdempotent(t *testing.T) {
	outbox := mail.NewOutbox(10, nil)
	s := servertest.New(t, servertest.WithMailer(outbox), servertest.WithoutSMTP())
	ctx := servertest.Ctx(t)
	dir := t.TempDir()

	first, err := Seed(ctx, s.Svc, outbox, dir, 51999)
	if err != nil {
		t.Fatal(err)
	}
	if first.AdminPassword == "" || first.UserPassword == "" || first.TOTPSecret == "" || !strings.HasPrefix(first.OtpauthURL, "otpauth://totp/") {
		t.Fatalf("credentials: %+v", first.Credentials)
	}
	if !first.User.TOTPEnabled || !first.User.EmailMFA || first.User.Admin {
		t.Fatalf("demo user: TOTP %t, email %t, admin %t", first.User.TOTPEnabled, first.User.EmailMFA, first.User.Admin)
	}
	admin, err := s.Store().UserByUsername(ctx, AdminName)
	if err != nil || !admin.Admin {
		t.Fatalf("admin: %+v, %v", admin, err)
	}
	if first.AdminTOTPSecret == "" || !admin.TOTPEnabled {
		t.Fatalf("the admin has no authenticator app (secret %q)", first.AdminTOTPSecret)
	}
	code, err := mfa.TOTPCode(first.AdminTOTPSecret, s.Svc.Now())
	if err != nil {
		t.Fatal(err)
	}
	if in, err := s.Svc.Login(ctx, AdminName, first.AdminPassword, code, "test"); err != nil || in.Token == "" {
		t.Fatalf("the admin cannot sign in with the printed password and secret: %v", err)
	}
	l := first.Location
	if l.Name != LocationName || !l.MFA || l.PeerDisconnectThresholdSeconds != 300 || l.ListenPort != 51999 || l.Endpoint != "127.0.0.1:51999" ||
		strings.Join(l.AllowedIPs, ",") != OfficeNetwork+","+TunnelNetwork {
		t.Fatalf("location: %+v", l)
	}
	if !s.Svc.SMTPConfigured(ctx) {
		t.Fatal("email codes are not available")
	}
	if n := len(outbox.Messages()); n != 1 {
		t.Fatalf("the outbox has %d messages, want the email setup code", n)
	}
	// The code an app shows now is unspent: the setup used the previous one.
	if now := mfa.Step(s.Svc.Now()); first.LastTOTPStep != now-1 {
		t.Fatalf("the setup spent step %d; now is %d", first.LastTOTPStep, now)
	}

	second, err := Seed(ctx, s.Svc, outbox, dir, 52000)
	if err != nil {
		t.Fatal(err)
	}
	if second.Credentials != first.Credentials || second.Location.ID != l.ID || second.Location.ListenPort != 51999 || second.User.ID != first.User.ID {
		t.Fatalf("the second seed changed things:\n%+v\n%+v", first, second)
	}
	users, _ := s.Store().ListUsers(ctx)
	locs, _ := s.Store().ListLocations(ctx)
	if len(users) != 2 || len(locs) != 1 {
		t.Fatalf("%d users and %d locations after two seeds", len(users), len(locs))
	}

	// An admin turned the user's TOTP off in the web pages: the demo
	// sets it up again, with a new secret.
	u, err := s.Store().UserByID(ctx, second.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	u.TOTPEnabled, u.TOTPSecret = false, ""
	if err := s.Store().UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	third, err := Seed(ctx, s.Svc, outbox, dir, 51999)
	if err != nil {
		t.Fatal(err)
	}
	if !third.User.TOTPEnabled || third.TOTPSecret == first.TOTPSecret || third.AdminPassword != first.AdminPassword {
		t.Fatalf("TOTP not set up again: %+v", third.Credentials)
	}
}

func TestSeedRefusesDataWithoutCredentials(t *testing.T) {
	outbox := mail.NewOutbox(10, nil)
	s := servertest.New(t, servertest.WithMailer(outbox))
	ctx := servertest.Ctx(t)
	if _, err := Seed(ctx, s.Svc, outbox, t.TempDir(), 51999); err != nil {
		t.Fatal(err)
	}
	// Same server, a data directory without demo.json: the passwords
	// cannot be shown, so the demo says how to start over.
	_, err := Seed(ctx, s.Svc, outbox, t.TempDir(), 51999)
	if err == nil || !strings.Contains(err.Error(), "demo-reset") {
		t.Fatalf("Seed = %v, want a hint to start over", err)
	}
}

func TestIntranetDialsThePageForItsAddressOnly(t *testing.T) {
	in, err := StartIntranet(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dial := in.Dial()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dial(ctx, network, addr)
	}}}
	resp, err := hc.Get(URL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<title>"+PageTitle+"</title>") || !strings.Contains(string(body), "Visit 1") {
		t.Fatalf("%s: %d\n%s", URL(), resp.StatusCode, body)
	}
	// Other addresses are dialled as addressed: nothing listens on this
	// one (a TEST-NET address), so it fails rather than reaching the page.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if c, err := dial(ctx, "tcp", "192.0.2.1:80"); err == nil {
		c.Close()
		t.Fatal("an address outside the demo reached something")
	}
}

func TestTerminalQR(t *testing.T) {
	qr, err := TerminalQR("otpauth://totp/Wicket%20demo:demo?secret=JBSWY3DPEHPK3PXP&issuer=Wicket%20demo")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(qr, "\n"), "\n")
	// A QR code has 21+4k modules a side; with a quiet zone of 2 on
	// each side, two rows a line.
	width := len([]rune(strings.TrimSuffix(strings.TrimPrefix(lines[1], "\x1b[97;40m"), "\x1b[0m")))
	if modules := width - 4; modules < 21 || (modules-21)%4 != 0 || len(lines) != (width+1)/2 {
		t.Fatalf("QR of %d lines, %d columns:\n%s", len(lines), width, qr)
	}
	// The quiet zone is light all round.
	if !strings.Contains(lines[0], strings.Repeat("█", width)) {
		t.Fatalf("first line is not light: %q", lines[0])
	}
}
