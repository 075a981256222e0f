package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/shared/enrollment"
)

// TestBrowserAdminTurnsOnMFA: an admin signs in, picks a location on the
// VPN Overview, edits it, is refused a threshold of 60 s beside the field,
// saves Internal MFA with 300 s and sees it; a client watching its instance
// receives the new configuration.
func TestBrowserAdminTurnsOnMFA(t *testing.T) {
	t.Parallel()
	s := newServer(t, servertest.WithMinThreshold(120*time.Second))
	ctx := newBrowser(t)
	s.AdminToken() // makes the admin account
	s.CreateLocation(&v1.Location{Name: "Office"})
	// Listed by name, so Office is shown first and Warehouse must be picked.
	lab := s.CreateLocation(&v1.Location{Name: "Warehouse", Address: "10.20.0.1/24", Endpoint: "127.0.0.1:51821"})

	// A user's device watches its instance, as the desktop client does.
	alice := s.CreateUser("alice")
	dev := s.Enroll(alice, "laptop")
	stream, err := s.Client.WatchInstance(servertest.Ctx(t), servertest.Req("", &v1.WatchInstanceRequest{DeviceToken: dev.Token, KnownConfigVersion: dev.Instance.ConfigVersion}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Close() })

	browserSignIn(t, ctx, s, "admin", "admin-password")
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("location-name")))
	if got := value(t, ctx, chromedp.Text(chromedp.ID("location-name"))); got != "Office" {
		t.Fatalf("overview shows %q first, want Office", got)
	}

	// Pick Warehouse: SetValue fires the change event, and the picker
	// submits itself on change.
	value(t, ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.SetValue(chromedp.ID("location"), lab.Id)))
	if got := value(t, ctx, chromedp.Text(chromedp.ID("location-name"))); got != "Warehouse" {
		t.Fatalf("picked Warehouse, the overview shows %q", got)
	}
	if got := value(t, ctx, chromedp.Text(chromedp.ID("mfa-state"))); got != "No MFA" {
		t.Fatalf("Warehouse's MFA state before: %q", got)
	}

	run(t, ctx,
		chromedp.Click(chromedp.ID("edit-location")),
		chromedp.WaitVisible(chromedp.ID("location-form")),
		chromedp.Click(chromedp.ID("mfa")),
		chromedp.SetValue(chromedp.ID("peer_disconnect_threshold_seconds"), "60"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("peer_disconnect_threshold_seconds-error")),
	)
	msg := value(t, ctx, chromedp.Text(chromedp.ID("peer_disconnect_threshold_seconds-error")))
	if !strings.Contains(msg, "at least 120 s while Internal MFA is on") || !strings.Contains(msg, "300 s is the recommended minimum") {
		t.Fatalf("error beside the threshold: %q", msg)
	}
	// The error sits inside the threshold's own field, and the admin's input is kept.
	inField := value(t, ctx, chromedp.Evaluate[bool](`document.getElementById("peer_disconnect_threshold_seconds-error").parentElement.contains(document.getElementById("peer_disconnect_threshold_seconds"))`))
	if !inField {
		t.Fatal("the threshold error is not next to the threshold field")
	}
	if v := value(t, ctx, chromedp.Value(chromedp.ID("peer_disconnect_threshold_seconds"))); v != "60" {
		t.Fatalf("threshold after the error = %q, want the typed 60", v)
	}
	if checked := value(t, ctx, chromedp.Evaluate[bool](`document.getElementById("mfa").checked`)); !checked {
		t.Fatal("Internal MFA was unticked by the error")
	}
	if v := value(t, ctx, chromedp.Value(chromedp.ID("name"))); v != "Warehouse" {
		t.Fatalf("name after the error = %q", v)
	}

	run(t, ctx,
		chromedp.SetValue(chromedp.ID("peer_disconnect_threshold_seconds"), "300"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("flash")),
	)
	if got := value(t, ctx, chromedp.Text(chromedp.ID("mfa-state"))); got != "Internal MFA" {
		t.Fatalf("MFA state after saving: %q", got)
	}
	if got := value(t, ctx, chromedp.Text(chromedp.ID("threshold"))); !strings.HasPrefix(got, "300 s") {
		t.Fatalf("threshold after saving: %q", got)
	}
	if got := value(t, ctx, chromedp.Text(chromedp.ID("flash"))); !strings.Contains(got, "Clients are updated automatically") {
		t.Fatalf("note after saving: %q", got)
	}

	// The watching client gets the new configuration.
	var lab2 *v1.LocationInfo
	for lab2 == nil || lab2.MfaMode != v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL {
		if !stream.Receive() {
			t.Fatalf("watch ended: %v", stream.Err())
		}
		for _, l := range stream.Msg().GetInstance().GetLocations() {
			if l.Id == lab.Id {
				lab2 = l
			}
		}
	}
	if lab2.PeerDisconnectThresholdSeconds != 300 {
		t.Fatalf("client sees threshold %d", lab2.PeerDisconnectThresholdSeconds)
	}
}

// TestBrowserUserSetsUpMFAAndDevice: a user sets up the authenticator app
// from the secret on the page, signs in again with a code, sets up email
// codes with the mailed code, and adds a device whose enrollment code the
// API accepts.
func TestBrowserUserSetsUpMFAAndDevice(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := newBrowser(t)
	u := s.CreateUser("alice")

	browserSignIn(t, ctx, s, u.Username, u.Password)
	run(t, ctx,
		chromedp.WaitVisible(chromedp.ID("totp-begin")),
		chromedp.Click(chromedp.ID("totp-begin")),
		chromedp.WaitVisible(chromedp.ID("totp-secret")),
	)
	secret := strings.ReplaceAll(value(t, ctx, chromedp.Text(chromedp.ID("totp-secret"))), " ", "")
	if len(secret) < 16 {
		t.Fatalf("secret on the page: %q", secret)
	}
	if src := value(t, ctx, chromedp.Evaluate[string](`document.querySelector("img.qr").src`)); !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Fatalf("QR code image: %.40q", src)
	}
	if loaded := value(t, ctx, chromedp.Evaluate[bool](`document.querySelector("img.qr").naturalWidth > 0`)); !loaded {
		t.Fatal("the QR code image did not load")
	}

	// A wrong code first: the error is shown beside the field and the same
	// secret stays on the page.
	run(t, ctx,
		chromedp.SendKeys(chromedp.ID("code"), "000000"),
		chromedp.Click(chromedp.CSS(`#totp-confirm button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("code-error")),
	)
	if again := strings.ReplaceAll(value(t, ctx, chromedp.Text(chromedp.ID("totp-secret"))), " ", ""); again != secret {
		t.Fatalf("secret changed after a wrong code: %q, was %q", again, secret)
	}
	code, err := mfa.TOTPCode(secret, s.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code == "000000" {
		t.Skip("the harness clock's code happens to be 000000")
	}
	run(t, ctx,
		chromedp.SetValue(chromedp.ID("code"), code),
		chromedp.Click(chromedp.CSS(`#totp-confirm button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("totp-disable")),
	)
	if got := value(t, ctx, chromedp.Text(chromedp.ID("totp-state"))); got != "On" {
		t.Fatalf("TOTP state: %q", got)
	}
	if page := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(page, secret) || strings.Contains(page, secret[:8]) {
		t.Fatal("the profile shows the secret after setup")
	}

	// Sign out and in again: the second step asks for a code.
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`.signout button`)),
		chromedp.WaitVisible(chromedp.ID("signin-form")),
	)
	browserSignIn(t, ctx, s, u.Username, u.Password)
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("code-form")))
	s.Clock.Advance(mfa.Period) // the setup's code is spent
	code, _ = mfa.TOTPCode(secret, s.Clock.Now())
	run(t, ctx,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.CSS(`#code-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("totp-disable")),
	)

	// Email codes, confirmed with the code from the SMTP server.
	run(t, ctx,
		chromedp.Click(chromedp.ID("email-begin")),
		chromedp.WaitVisible(chromedp.ID("email-confirm")),
	)
	mailed := s.WaitCode(u.Email, 1)
	run(t, ctx,
		chromedp.SendKeys(chromedp.ID("code"), mailed),
		chromedp.Click(chromedp.CSS(`#email-confirm button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("email-disable")),
	)
	if got := value(t, ctx, chromedp.Text(chromedp.ID("email-state"))); got != "On" {
		t.Fatalf("email state: %q", got)
	}

	// Add a device; the code on the page enrolls a device through the API.
	run(t, ctx,
		chromedp.Click(chromedp.ID("add-device")),
		chromedp.WaitVisible(chromedp.ID("device-form")),
		chromedp.SendKeys(chromedp.ID("name"), "laptop"),
		chromedp.Click(chromedp.CSS(`#device-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("enrollment-code")),
		chromedp.WaitVisible(chromedp.CSS(`button[data-copy="enrollment-code"]`)), // the script shows the copy button
	)
	mustContain(t, value(t, ctx, chromedp.Text(chromedp.CSS("main"))), "Open Wicket", "Add instance", "Paste this code")
	raw := value(t, ctx, chromedp.Value(chromedp.ID("enrollment-code")))
	c, err := enrollment.Parse(raw)
	if err != nil {
		t.Fatalf("enrollment code %q: %v", raw, err)
	}
	if c.URL != s.URL || c.Fingerprint != s.Daemon.Fingerprint {
		t.Fatalf("code = %+v, want URL %s and the server's fingerprint", c, s.URL)
	}
	_, pub := servertest.NewKeyPair(t)
	resp, err := s.Client.Enroll(servertest.Ctx(t), servertest.Req("", &v1.EnrollRequest{EnrollmentToken: c.Token, PublicKey: pub}))
	if err != nil {
		t.Fatal(err)
	}
	inst := resp.Msg.Instance
	if inst.Username != "alice" || inst.DeviceName != "laptop" || len(inst.EnabledMfaMethods) != 2 {
		t.Fatalf("enrolled instance = %v", inst)
	}

	run(t, ctx,
		chromedp.Navigate(s.URL+"/profile"),
		chromedp.WaitVisible(chromedp.ID("device-list")),
	)
	if got := value(t, ctx, chromedp.Text(chromedp.ID("device-list"))); !strings.Contains(got, "laptop") {
		t.Fatalf("device list: %q", got)
	}
}
