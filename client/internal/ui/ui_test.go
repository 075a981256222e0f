package ui

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"golang.org/x/net/proxy"

	"github.com/wicket-vpn/wicket/client/internal/core"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// TestConnectWithMFA is the flow of the design's "What a user sees", with
// real parts throughout: Connect on an MFA location opens the modal with
// the account's methods; a method the server refuses (email codes without
// SMTP settings) shows the server's message and the modal stays; a wrong
// code says how many tries are left; the right code closes the modal and
// the userspace tunnel carries traffic.
func TestConnectWithMFA(t *testing.T) {
	e := newEnv(t, envOptions{email: true})
	inst := e.enroll()
	card := e.card(inst)

	if it := e.app.trayItem("Connect Office"); it == nil || it.Checked {
		t.Errorf("tray menu before connecting: %+v", it)
	}
	e.ui(func() {
		if !card.mfa.root.Visible() {
			t.Error("the MFA badge is hidden on an MFA location")
		}
		if card.status.Text != "Disconnected" || card.action.Text != "Connect" {
			t.Errorf("card = %q / %q", card.status.Text, card.action.Text)
		}
		test.Tap(card.action)
	})
	e.waitUI("the MFA modal", func() bool { return e.v.mfa != nil && e.v.mfa.step == core.AwaitingMethod })
	m := e.mfa()
	e.ui(func() {
		if got := m.methods.Options; strings.Join(got, ",") != "Authenticator app,Email code" {
			t.Errorf("methods = %v", got)
		}
		if m.methods.Selected != "Authenticator app" {
			t.Errorf("preselected %q, want the account's first method", m.methods.Selected)
		}
	})
	// The server loses its SMTP settings: email codes are refused.
	if _, err := e.s.Admin.UpdateSmtpSettings(wickettest.Ctx(t), wickettest.Req(e.s.AdminToken(), &v1.UpdateSmtpSettingsRequest{})); err != nil {
		t.Fatal(err)
	}
	e.ui(func() {
		m.methods.SetSelected("Email code")
		test.Tap(m.continueBtn)
	})
	const notEnabled = "Email codes are unavailable: the server has no SMTP settings."
	e.waitUI("the server's refusal", func() bool { return !m.busy && m.err.Visible() })
	e.ui(func() {
		if m.err.Text != notEnabled {
			t.Errorf("error = %q, want %q", m.err.Text, notEnabled)
		}
		if e.v.mfa != m || m.step != core.AwaitingMethod || !m.methodStep.Visible() {
			t.Fatalf("the modal did not stay on the method picker (step %v)", m.step)
		}
		if card.state != core.AwaitingMethod {
			t.Errorf("card state = %v", card.state)
		}
		// Picking another method answers the error.
		m.methods.SetSelected("Authenticator app")
		if m.err.Visible() {
			t.Error("the error stayed after choosing another method")
		}
		test.Tap(m.continueBtn)
	})
	e.waitUI("the code entry", func() bool { return m.step == core.AwaitingCode && !m.busy })
	e.ui(func() {
		if !m.codeStep.Visible() || m.methodStep.Visible() {
			t.Error("the code step is not what the modal shows")
		}
		if e.v.win.Canvas().Focused() != m.code {
			t.Error("the code entry has no focus")
		}
		if !strings.Contains(m.codeIntro.Text, "authenticator app") {
			t.Errorf("code intro = %q", m.codeIntro.Text)
		}
		if m.offers(m.resendBtn) {
			t.Error("Resend is offered for an authenticator code")
		}
		// Letters are refused; six digits submit by themselves.
		test.Type(m.code, "ab00000")
		if m.code.Text != "00000" || m.busy {
			t.Errorf("code = %q busy = %v after five digits", m.code.Text, m.busy)
		}
		test.Type(m.code, "0")
	})
	e.waitUI("the wrong code's error", func() bool { return !m.busy && m.err.Visible() })
	e.ui(func() {
		if !strings.HasPrefix(m.err.Text, "Invalid code (") || !strings.Contains(m.err.Text, "tries left") {
			t.Errorf("error = %q", m.err.Text)
		}
		if m.code.Text != "" || e.v.mfa != m {
			t.Errorf("after a wrong code: entry %q, modal open %v", m.code.Text, e.v.mfa == m)
		}
	})

	e.s.Clock.Advance(30 * time.Second) // a fresh TOTP step, never a replay
	code := e.s.TOTPCode(e.u.TOTPSecret)
	e.ui(func() { test.Type(m.code, code) })
	e.waitUI("Connected", func() bool { return e.v.mfa == nil && card.state == core.Connected })

	var socks string
	e.ui(func() {
		if e.v.win.Canvas().Overlays().Top() != nil {
			t.Error("the modal is still on screen")
		}
		if !card.details.Visible() || card.action.Text != "Disconnect" || card.status.Text != "Connected" {
			t.Errorf("card after connecting: details %v, %q, %q", card.details.Visible(), card.action.Text, card.status.Text)
		}
		if card.address.Text != "10.10.0.2/32" {
			t.Errorf("tunnel address = %q", card.address.Text)
		}
		socks = proxyAddr(card.offers.Text)
		if socks == "" || !card.copyProxy.Visible() || card.command.Text != "curl --proxy socks5h://"+socks+" http://10.10.0.1/" {
			t.Errorf("offers %q, hint %q %q", card.offers.Text, card.hint.Text, card.command.Text)
		}
		if head := card.idleKey.String(); head != "Idle disconnect after 5 min without traffic" || !strings.HasPrefix(card.idle.Text, "In ") {
			t.Errorf("idle disconnect = %q: %q", head, card.idle.Text)
		}
	})

	// The tunnel is real: bytes go through the SOCKS5 proxy to a host
	// behind the gateway, and the card's statistics follow.
	echo := wickettest.EchoServer(t)
	dialer, err := proxy.SOCKS5("tcp", socks, nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), failsafe)
	defer cancel()
	conn, err := dialer.(proxy.ContextDialer).DialContext(ctx, "tcp", "10.99.0.5:"+strconv.Itoa(echo))
	if err != nil {
		t.Fatalf("dial through the tunnel: %v", err)
	}
	msg := []byte("hello from the window")
	conn.SetDeadline(time.Now().Add(failsafe))
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	e.c.RefreshStats()
	e.waitUI("the handshake and traffic on the card", func() bool {
		return (card.handshake.Text == "Just now" || strings.HasSuffix(card.handshake.Text, " ago")) && !strings.Contains(card.traffic.Text, "↓ 0 B")
	})

	// The tray menu follows: Office is ticked, and its item disconnects.
	var item *fyne.MenuItem
	e.ui(func() { item = e.app.trayItem("Disconnect Office") })
	if item == nil || !item.Checked || e.app.trayItem("Connect Office") != nil {
		t.Fatalf("tray menu while connected: %+v", item)
	}

	// Disconnect takes the tunnel down.
	e.ui(func() { test.Tap(card.action) })
	e.waitUI("Disconnected", func() bool { return card.state == core.Disconnected })
	e.ui(func() {
		if card.details.Visible() || card.action.Text != "Connect" {
			t.Errorf("after disconnect: details %v, %q", card.details.Visible(), card.action.Text)
		}
	})
}

// TestEmailCodeResendAndThrottle covers the email method: the code step
// names the masked address, Resend shows the server's throttle while it
// lasts, and the mailed code connects.
func TestEmailCodeResendAndThrottle(t *testing.T) {
	e := newEnv(t, envOptions{email: true, noTOTP: true})
	inst := e.enroll()
	card := e.card(inst)
	mails := len(e.s.MailTo(e.u.Email))

	e.ui(func() { test.Tap(card.action) })
	e.waitUI("the MFA modal", func() bool { return e.v.mfa != nil && e.v.mfa.step == core.AwaitingMethod })
	m := e.mfa()
	e.ui(func() {
		if m.methods.Selected != "Email code" {
			t.Errorf("preselected %q, want the account's only method", m.methods.Selected)
		}
		test.Tap(m.continueBtn)
	})
	e.waitUI("the code entry", func() bool { return m.step == core.AwaitingCode && !m.busy })
	e.ui(func() {
		if !strings.Contains(m.codeIntro.Text, "@") || !strings.Contains(m.codeIntro.Text, "***") {
			t.Errorf("code intro = %q, want the masked address", m.codeIntro.Text)
		}
		if !m.offers(m.resendBtn) {
			t.Error("no Resend for an email code")
		}
		test.Tap(m.resendBtn)
	})
	// The server sends at most one mail per user per 30 s (the harness
	// clock stands still), so it refuses and says how long to wait.
	e.waitUI("the throttle message", func() bool { return !m.busy && (m.err.Visible() || m.info.Visible()) })
	e.ui(func() {
		if !m.err.Visible() || m.err.Text == "" {
			t.Fatalf("resend within 30 s: error %q, info %q", m.err.Text, m.info.Text)
		}
		if e.v.mfa != m || m.step != core.AwaitingCode {
			t.Error("the throttle closed the prompt")
		}
	})
	t.Logf("throttle message: %q", m.err.Text)

	code := e.s.WaitCode(e.u.Email, mails+1)
	e.ui(func() { test.Type(m.code, code) })
	e.waitUI("Connected", func() bool { return e.v.mfa == nil && card.state == core.Connected })
}

// TestServerEndsSessionAndConfigChanges: an admin's disconnect reaches the
// card with the server's reason and a desktop notification, the location
// stays disconnected (MFA locations never reconnect by themselves), and a
// configuration change shows a banner until dismissed.
func TestServerEndsSessionAndConfigChanges(t *testing.T) {
	e := newEnv(t, envOptions{})
	inst := e.enroll()
	card := e.connectAndSignIn(inst)

	ls, err := e.s.Admin.ListSessions(wickettest.Ctx(t), wickettest.Req(e.s.AdminToken(), &v1.ListSessionsRequest{LocationId: e.loc.Id, ActiveOnly: true}))
	if err != nil || len(ls.Msg.Sessions) != 1 {
		t.Fatalf("sessions = %v, %v", ls, err)
	}
	if _, err := e.s.Admin.DisconnectSession(wickettest.Ctx(t), wickettest.Req(e.s.AdminToken(), &v1.DisconnectSessionRequest{SessionId: ls.Msg.Sessions[0].Id})); err != nil {
		t.Fatal(err)
	}
	e.waitUI("the session's end", func() bool { return card.state == core.Disconnected && card.note.Visible() })
	e.ui(func() {
		if card.note.Text == "" || card.details.Visible() || card.action.Text != "Connect" {
			t.Errorf("after the admin's disconnect: note %q, details %v, button %q", card.note.Text, card.details.Visible(), card.action.Text)
		}
		if e.v.mfa != nil {
			t.Error("an MFA prompt opened by itself")
		}
	})
	// The notification comes with the session's end event, which may
	// follow the location's own change.
	e.waitUI("the notification", func() bool { return len(e.app.notifications()) > 0 })
	n := e.app.notifications()
	if len(n) != 1 || n[0].Title != "Office disconnected" || n[0].Content == "" {
		t.Fatalf("notifications = %+v", n)
	}
	t.Logf("card: %q; notification: %q", card.note.Text, n[0].Content)

	// Nothing reconnects by itself.
	time.Sleep(300 * time.Millisecond)
	e.ui(func() {
		if card.state != core.Disconnected || e.v.mfa != nil {
			t.Errorf("state %v after the server ended the session", card.state)
		}
	})

	// An admin changes the location; the banner says what changed.
	loc := e.loc
	loc.PeerDisconnectThresholdSeconds = 600
	loc.AllowedIps = append(loc.AllowedIps, "10.98.0.0/24")
	if _, err := e.s.Admin.UpdateLocation(wickettest.Ctx(t), wickettest.Req(e.s.AdminToken(), &v1.UpdateLocationRequest{Location: loc})); err != nil {
		t.Fatal(err)
	}
	page := e.v.pages[inst.ID]
	e.waitUI("the banner", func() bool { return page.banner.Visible() })
	e.ui(func() {
		if page.bannerText.Text == "" {
			t.Error("the banner says nothing")
		}
		t.Logf("banner: %q", page.bannerText.Text)
		if !strings.Contains(card.networks.Text, "10.98.0.0/24") {
			t.Errorf("networks = %q", card.networks.Text)
		}
		test.Tap(findButton(t, page.root, "Dismiss"))
	})
	e.waitUI("the banner to go", func() bool { return !page.banner.Visible() })

	// Update instance works by hand too.
	e.ui(func() { test.Tap(page.updateBtn) })
	e.waitUI("the update", func() bool { return !page.updating })
	e.ui(func() {
		if !strings.HasPrefix(page.status.Text, "Up to date") {
			t.Errorf("status = %q", page.status.Text)
		}
	})
}

// TestCardShowsSessionEndedWhileStreamDown: the server restarts and an
// admin ends the session before the client's stream is back, so no event
// reaches the client. Once the stream reconnects and the client reconciles
// its sessions, the card shows Disconnected with the server's reason.
func TestCardShowsSessionEndedWhileStreamDown(t *testing.T) {
	afters := make(chan chan time.Time, 64)
	after := func(d time.Duration) <-chan time.Time {
		if d >= time.Minute { // polls and stats: not in this test
			return nil
		}
		ch := make(chan time.Time, 1)
		afters <- ch
		return ch
	}
	e := newEnv(t, envOptions{after: after})
	inst := e.enroll()
	card := e.connectAndSignIn(inst)
	for len(afters) > 0 { // timers of before the restart
		<-afters
	}
	e.s.Restart()
	e.waitUI("the stream to drop", func() bool {
		iv, _ := e.c.Instance(inst.ID)
		return !iv.Live
	})
	ls, err := e.s.Admin.ListSessions(wickettest.Ctx(t), wickettest.Req(e.s.AdminToken(), &v1.ListSessionsRequest{LocationId: e.loc.Id, ActiveOnly: true}))
	if err != nil || len(ls.Msg.Sessions) != 1 {
		t.Fatalf("sessions = %v, %v", ls, err)
	}
	if _, err := e.s.Admin.DisconnectSession(wickettest.Ctx(t), wickettest.Req(e.s.AdminToken(), &v1.DisconnectSessionRequest{SessionId: ls.Msg.Sessions[0].Id})); err != nil {
		t.Fatal(err)
	}
	e.ui(func() {
		if card.state != core.Connected {
			t.Fatalf("the card changed before the stream was back: %v", card.state)
		}
	})
	// Let the client reconnect now.
	select {
	case ch := <-afters:
		ch <- time.Now()
	case <-time.After(failsafe):
		t.Fatal("no reconnect timer")
	}
	e.waitUI("the reconciled end", func() bool { return card.state == core.Disconnected && card.note.Visible() })
	e.ui(func() {
		if !strings.Contains(card.note.Text, "An admin ended this connection.") || card.action.Text != "Connect" {
			t.Errorf("card after reconciling: note %q, button %q", card.note.Text, card.action.Text)
		}
	})
	e.waitUI("the notification", func() bool { return len(e.app.notifications()) > 0 })
}

// TestAddInstanceShowsErrorsInTheDialog: a damaged code leaves the dialog
// open with the reason in red, and no instance is added.
func TestAddInstanceShowsErrorsInTheDialog(t *testing.T) {
	e := newEnv(t, envOptions{})
	code := e.enrollmentCode()
	var d *addInstanceDialog
	e.ui(func() {
		test.Tap(findButton(t, e.v.empty, "Add instance"))
		d = e.v.addDialog
		if d.add.Disabled() == false {
			t.Error("Add is enabled before a code is pasted")
		}
		d.code.SetText(code[:len(code)-10])
		test.Tap(d.add)
	})
	e.waitUI("the error", func() bool { return d.err.Visible() && !d.progress.Visible() })
	e.ui(func() {
		if e.v.addDialog != d || len(e.v.instances) != 0 {
			t.Error("a damaged code closed the dialog or added an instance")
		}
		t.Logf("error: %q", d.err.Text)
		// Fixing the code works in the same dialog.
		d.code.SetText("  " + code + "\n")
		test.Tap(d.add)
	})
	e.waitUI("the instance", func() bool { return e.v.addDialog == nil && len(e.v.instances) == 1 })
	e.ui(func() {
		if e.v.selected != e.v.instances[0].ID || e.v.page.Objects[0] != e.v.pages[e.v.selected].root {
			t.Error("the new instance's page is not shown")
		}
		if e.v.pages[e.v.selected].title.Text != "Test Wicket" {
			t.Errorf("title = %q", e.v.pages[e.v.selected].title.Text)
		}
	})
}

// TestSettingsDialog saves the tunnel mode and SOCKS port through core and
// refuses a port that is not one.
func TestSettingsDialog(t *testing.T) {
	e := newOfflineEnv(t)
	var d *settingsDialog
	e.ui(func() {
		e.v.showSettings()
		d = e.v.settingsDialog
		d.mode.SetSelected(modeUserspaceLabel)
		if d.port.Disabled() {
			t.Error("the port is disabled in userspace mode")
		}
		d.port.SetText("99999")
		d.save()
		if !d.err.Visible() || e.v.settingsDialog != d {
			t.Error("a bad port was accepted")
		}
		d.port.SetText("1081")
		d.save()
		if e.v.settingsDialog != nil {
			t.Errorf("the dialog stayed open: %q", d.err.Text)
		}
	})
	if s := e.c.Settings(); s.TunnelMode != core.TunnelModeUserspace || s.SOCKSAddr != "127.0.0.1:1081" {
		t.Fatalf("settings = %+v", s)
	}
	e.ui(func() {
		e.v.showSettings()
		d = e.v.settingsDialog
		if d.mode.Selected != modeUserspaceLabel || d.port.Text != "1081" {
			t.Errorf("reopened settings: %q %q", d.mode.Selected, d.port.Text)
		}
		d.mode.SetSelected(modeSystemLabel)
		if !d.port.Disabled() {
			t.Error("the port is editable in system mode")
		}
	})
}

// TestCodeEntry accepts digits only, at most six, from typing and pasting.
func TestCodeEntry(t *testing.T) {
	a := test.NewTempApp(t)
	w := a.NewWindow("")
	e := newCodeEntry()
	w.SetContent(e)
	test.Type(e, "1a2 3-4")
	if e.Text != "1234" {
		t.Fatalf("typed = %q", e.Text)
	}
	test.Type(e, "5678")
	if e.Text != "123456" {
		t.Fatalf("typed past six = %q", e.Text)
	}
	e.SetText("")
	cb := a.Clipboard()
	cb.SetContent(" 987-654 ")
	e.TypedShortcut(&fyne.ShortcutPaste{Clipboard: cb})
	if e.Text != "987654" {
		t.Fatalf("pasted = %q", e.Text)
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 999: "999 B", 1000: "1.0 KB", 1234567: "1.2 MB", 5e9: "5.0 GB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	// Durations are shared/humantime's; the handshake's age is elapsed
	// time, so it is never rounded up.
	for age, want := range map[time.Duration]string{
		1500 * time.Millisecond: "Just now", 12700 * time.Millisecond: "12 s ago", 4*time.Minute + 5*time.Second: "4 min 5 s ago", 2*time.Hour + 10*time.Minute: "2 h 10 min ago",
	} {
		l := core.LocationView{LatestHandshake: time.Now(), HandshakeAge: age}
		if got := handshakeText(l); got != want {
			t.Errorf("handshakeText(age %v) = %q, want %q", age, got, want)
		}
	}
	now := time.Date(2026, 3, 4, 14, 0, 4, 0, time.Local)
	l := core.LocationView{IdleThreshold: 5 * time.Minute, IdleDisconnectAt: now.Add(4*time.Minute + 56*time.Second + 200*time.Millisecond)}
	if head, value := idleText(l, now); head != "Idle disconnect after 5 min without traffic" || value != "In 4 min 57 s, at 14:05" {
		t.Errorf("idleText = %q, %q", head, value)
	}
	for offers, want := range map[string]string{
		"SOCKS5 proxy on 127.0.0.1:1080":       "127.0.0.1:1080",
		"SOCKS5 proxy on [::1]:1080":           "[::1]:1080",
		"routes 10.10.0.0/24 through wicket0":  "",
		"SOCKS5 proxy on localhost:9050 (tcp)": "localhost:9050",
	} {
		if got := proxyAddr(offers); got != want {
			t.Errorf("proxyAddr(%q) = %q, want %q", offers, got, want)
		}
	}
	if got := exampleHost("10.99.0.0/24"); got != "10.99.0.1" {
		t.Errorf("exampleHost = %q", got)
	}
	if got := onlyDigits("12 34-56 78", 6); got != "123456" {
		t.Errorf("onlyDigits = %q", got)
	}
}
