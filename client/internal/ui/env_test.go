package ui

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/client/internal/secrets"
	"github.com/wicket-vpn/wicket/client/internal/tunnel"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// glApp is the real app on the GL driver while screenshots are taken (see
// screenshots_test.go); nil in ordinary test runs, which use Fyne's
// headless test app.
var glApp fyne.App

// failsafe bounds every wait so a broken test fails instead of hanging; no
// test relies on it for timing.
const failsafe = 20 * time.Second

// env is a real wicketd (in process, with its embedded netstack gateway), a
// real core in userspace tunnel mode, and the window on Fyne's test app.
type env struct {
	t   *testing.T
	s   *wickettest.Server
	gw  *wickettest.Gateway
	loc *v1.Location
	u   *wickettest.User
	c   *core.Core
	// opened receives the pages core asked the browser to open.
	opened chan string
	code   string // an enrollment code made before the account had a factor
	app    *recordingApp
	v      *View
	// gl is set when the window runs on the real GL driver (screenshots):
	// then widgets are touched on Fyne's main goroutine only.
	gl bool
}

type envOptions struct {
	email  bool // the user also sets up email codes
	noTOTP bool // the user has no TOTP
	// after, when set, makes core's timers (reconnect backoff).
	after func(time.Duration) <-chan time.Time
	// passkey: the user's only factor is a passkey, added in browser
	// (which then confirms connections as the person would).
	passkey bool
	browser *wickettest.Browser
}

// newEnv starts the server, a gateway for an MFA location "Office", the
// user alice, and the window over a running core. Nothing is enrolled yet.
func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	var sopts []wickettest.Option
	if o.passkey {
		sopts = append(sopts, wickettest.WithHostName("localhost"), wickettest.WithPages())
		o.noTOTP = true
	}
	e := &env{t: t, s: wickettest.New(t, sopts...), opened: make(chan string, 4)}
	// Handshake times come from the real clock; the harness clock starts
	// at it so idle deadlines compare like with like.
	e.s.Clock.Set(time.Now())
	e.gw = wickettest.StartGateway(t, e.s, dialBehindGateway)
	port := wickettest.FreeUDPPort(t)
	e.loc = e.s.CreateLocation(&v1.Location{Name: "Office", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port),
		MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, AllowedIps: []string{"10.10.0.0/24", "10.99.0.0/24"}, PeerDisconnectThresholdSeconds: 300})
	e.u = e.s.CreateUser("alice")
	if !o.noTOTP {
		e.s.EnableTOTP(e.u)
	}
	if o.email {
		e.s.EnableEmail(e.u)
	}
	if o.passkey {
		// Enrollment codes need a proved factor once the account has
		// one, which the harness's password sign-in is not.
		e.code = e.enrollmentCode()
		o.browser.AddPasskey(e.s, e.u)
	}

	copts := core.Options{ConfigDir: t.TempDir(), Secrets: &secrets.Memory{}, Log: testLog(t), Tunnels: tunnel.Default, PollInterval: time.Hour, After: o.after,
		OpenURL: func(url string) error { e.opened <- url; return nil }}
	if o.after != nil {
		copts.StatsInterval = time.Hour // the test's timers are reconnects only
	}
	c, err := core.New(copts)
	if err != nil {
		t.Fatal(err)
	}
	// Userspace mode needs no privileges; port 0 picks a free one.
	if err := c.UseSettings(core.Settings{TunnelMode: core.TunnelModeUserspace, SOCKSAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	e.c = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	if glApp != nil {
		e.gl = true
		e.app = &recordingApp{App: glApp}
		fyne.DoAndWait(func() {
			e.v = NewWindow(e.app, c)
			e.v.Window().Show()
		})
		return e
	}
	e.app = &recordingApp{App: test.NewTempApp(t)}
	e.v = NewWindow(e.app, c)
	e.v.Window().Show()
	t.Cleanup(func() { e.v.Window().Close() })
	return e
}

// newOfflineEnv is the window over a core with no instance and no server,
// for what needs neither.
func newOfflineEnv(t *testing.T) *env {
	t.Helper()
	c, err := core.New(core.Options{ConfigDir: t.TempDir(), Secrets: &secrets.Memory{}, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, app: &recordingApp{App: test.NewTempApp(t)}}
	e.v = NewWindow(e.app, c)
	t.Cleanup(func() { e.v.Window().Close() })
	return e
}

// dialBehindGateway is the gateway's host dialer: 10.99.0.5 is a host
// behind it, reached on loopback.
func dialBehindGateway(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, _ := net.SplitHostPort(address)
	if host != "10.99.0.5" {
		return nil, errors.New("test gateway reaches only 10.99.0.5")
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
}

// enrollmentCode makes a code for alice, as her profile page shows it.
func (e *env) enrollmentCode() string {
	e.t.Helper()
	if e.code != "" {
		code := e.code
		e.code = ""
		return code
	}
	resp, err := e.s.Account.CreateEnrollmentToken(wickettest.Ctx(e.t), wickettest.Req(e.u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "laptop"}))
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.Msg.EnrollmentCode
}

// enroll adds the instance through the Add instance dialog and returns it.
func (e *env) enroll() core.InstanceView {
	e.t.Helper()
	code := e.enrollmentCode()
	e.ui(func() { test.Tap(findButton(e.t, e.v.empty, "Add instance")) })
	e.waitUI("the Add instance dialog", func() bool { return e.v.addDialog != nil })
	e.ui(func() {
		d := e.v.addDialog
		d.code.SetText(code)
		d.name.SetText("laptop")
		test.Tap(d.add)
	})
	e.waitUI("the instance to be added", func() bool { return e.v.addDialog == nil && len(e.v.instances) == 1 })
	var inst core.InstanceView
	e.ui(func() { inst = e.v.instances[0] })
	e.waitUI("the watch stream to open", func() bool {
		i, _ := e.c.Instance(inst.ID)
		return i.Live
	})
	return inst
}

// card returns the card of the Office location.
func (e *env) card(inst core.InstanceView) *locationCard {
	e.t.Helper()
	var c *locationCard
	e.ui(func() {
		if p := e.v.pages[inst.ID]; p != nil {
			c = p.cards[e.loc.Id]
		}
	})
	if c == nil {
		e.t.Fatal("no card for the location")
	}
	return c
}

// ui runs f with the widgets to itself (see View.Sync); on the GL driver
// that is on Fyne's main goroutine. f must not call t.Fatal there.
func (e *env) ui(f func()) {
	if e.gl {
		fyne.DoAndWait(func() { e.v.Sync(f) })
		return
	}
	e.v.Sync(f)
}

// waitUI polls cond with the widgets to itself until it holds.
func (e *env) waitUI(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(failsafe)
	for {
		var ok bool
		e.ui(func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mfa returns the open MFA modal.
func (e *env) mfa() *mfaModal {
	e.t.Helper()
	var m *mfaModal
	e.ui(func() { m = e.v.mfa })
	if m == nil {
		e.t.Fatal("no MFA modal is open")
	}
	return m
}

// connectAndSignIn taps Connect and signs in with TOTP, returning once the
// card shows Connected.
func (e *env) connectAndSignIn(inst core.InstanceView) *locationCard {
	e.t.Helper()
	card := e.card(inst)
	e.ui(func() { test.Tap(card.action) })
	e.waitUI("the MFA modal", func() bool { return e.v.mfa != nil && e.v.mfa.step == core.AwaitingMethod })
	m := e.mfa()
	e.ui(func() {
		m.methods.SetSelected(core.MethodTOTP.Label())
		test.Tap(m.continueBtn)
	})
	e.waitUI("the code entry", func() bool { return m.step == core.AwaitingCode && !m.busy })
	e.s.Clock.Advance(30 * time.Second) // a fresh TOTP step, never a replay
	code := e.s.TOTPCode(e.u.TOTPSecret)
	e.ui(func() { test.Type(m.code, code) })
	e.waitUI("Connected", func() bool { return e.v.mfa == nil && card.state == core.Connected })
	return card
}

// recordingApp is the test app, keeping the notifications sent.
type recordingApp struct {
	fyne.App
	mu       sync.Mutex
	sent     []*fyne.Notification
	trayMenu *fyne.Menu
}

func (a *recordingApp) SendNotification(n *fyne.Notification) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sent = append(a.sent, n)
	a.App.SendNotification(n)
}

// SetSystemTrayMenu records the tray menu (desktop.App).
func (a *recordingApp) SetSystemTrayMenu(m *fyne.Menu) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.trayMenu = m
}

// SetSystemTrayIcon implements desktop.App.
func (a *recordingApp) SetSystemTrayIcon(fyne.Resource) {}

// SetSystemTrayWindow implements desktop.App.
func (a *recordingApp) SetSystemTrayWindow(fyne.Window) {}

// trayItem finds a tray menu item by its label.
func (a *recordingApp) trayItem(label string) *fyne.MenuItem {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.trayMenu == nil {
		return nil
	}
	for _, it := range a.trayMenu.Items {
		if it.Label == label {
			return it
		}
	}
	return nil
}

func (a *recordingApp) notifications() []*fyne.Notification {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*fyne.Notification(nil), a.sent...)
}

// findButton finds a button by its text among o's descendants.
func findButton(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	var found *widget.Button
	walk(o, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == text && found == nil {
			found = b
		}
	})
	if found == nil {
		t.Errorf("no button %q", text)
		return &widget.Button{} // tapping it does nothing
	}
	return found
}

// walk visits o and every object inside containers below it.
func walk(o fyne.CanvasObject, f func(fyne.CanvasObject)) {
	f(o)
	if c, ok := o.(*fyne.Container); ok {
		for _, child := range c.Objects {
			walk(child, f)
		}
	}
}

func testLog(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("WICKET_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
