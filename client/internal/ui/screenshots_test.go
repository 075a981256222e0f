//go:build cgo

package ui

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/test"
	"golang.org/x/net/proxy"

	"github.com/wicket-vpn/wicket/client/internal/core"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// TestMain runs the tests as usual. With WICKET_SCREENSHOTS=DIR it runs
// only TestScreenshots, on the real GL driver (under Xvfb in CI): GLFW's
// event loop must own the main goroutine, so the test runs beside it.
func TestMain(m *testing.M) {
	dir := os.Getenv("WICKET_SCREENSHOTS")
	if dir == "" {
		os.Exit(m.Run())
	}
	if runtime.GOOS == "linux" && os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		fmt.Fprintln(os.Stderr, "WICKET_SCREENSHOTS needs a display: start Xvfb :99 -screen 0 1280x800x24 and set DISPLAY=:99")
		os.Exit(2)
	}
	flag.Parse()
	if err := flag.Set("test.run", "^(TestScreenshots|TestPasskeyScreenshots)$"); err != nil {
		panic(err)
	}
	glApp = app.NewWithID(AppID)
	glApp.SetIcon(Icon)
	done := make(chan int, 1)
	go func() {
		done <- m.Run()
		fyne.Do(glApp.Quit)
	}()
	glApp.Run()
	os.Exit(<-done)
}

// TestScreenshots walks the real window through the MFA flow against an
// in-process server and writes a PNG of each step to $WICKET_SCREENSHOTS.
// The mouse clicks and the typed code are real X input (xdotool) when it
// is installed, so the shots show what a user's input produces.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("WICKET_SCREENSHOTS")
	if dir == "" || glApp == nil {
		t.Skip("set WICKET_SCREENSHOTS=DIR (and DISPLAY) to take screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{})
	// A second location without MFA, for contrast with the badge.
	lab := wickettest.FreeUDPPort(t)
	e.s.CreateLocation(&v1.Location{Name: "Lab", ListenPort: uint32(lab), Endpoint: "127.0.0.1:" + strconv.Itoa(lab),
		Address: "10.20.0.1/24", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED, AllowedIps: []string{"10.20.0.0/24"}})
	sh := &shooter{t: t, e: e, dir: dir, start: time.Now()}

	sh.settle()
	sh.shoot("01-empty")

	code := e.enrollmentCode()
	e.ui(func() { test.Tap(findButton(t, e.v.empty, "Add instance")) })
	e.waitUI("the Add instance dialog", func() bool { return e.v.addDialog != nil })
	e.ui(func() {
		e.v.addDialog.code.SetText(code)
		e.v.addDialog.name.SetText("laptop")
	})
	sh.shoot("02-add-instance")
	e.ui(func() { test.Tap(e.v.addDialog.add) })
	e.waitUI("the instance", func() bool { return e.v.addDialog == nil && len(e.v.instances) == 1 })
	var inst core.InstanceView
	e.ui(func() { inst = e.v.instances[0] })
	e.waitUI("the watch stream", func() bool { i, _ := e.c.Instance(inst.ID); return i.Live })
	sh.shoot("03-main")

	card := e.card(inst)
	sh.click(card.action)
	e.waitUI("the MFA modal", func() bool { return e.v.mfa != nil && e.v.mfa.step == core.AwaitingMethod })
	m := e.mfa()
	sh.shoot("04-mfa-method")

	sh.clickRadio(m, "Email code")
	sh.click(m.continueBtn)
	e.waitUI("the refusal", func() bool { return !m.busy && m.err.Visible() })
	sh.shoot("05-mfa-not-enabled")

	sh.clickRadio(m, "Authenticator app")
	sh.click(m.continueBtn)
	e.waitUI("the code entry", func() bool { return m.step == core.AwaitingCode && !m.busy })
	sh.shoot("06-mfa-code")

	sh.typeCode(m, "123")
	sh.shoot("06b-mfa-code-typing")
	sh.typeCode(m, "456") // the sixth digit submits: a wrong code
	e.waitUI("the wrong code's error", func() bool { return !m.busy && m.err.Visible() })
	sh.shoot("07-mfa-wrong-code")

	e.s.Clock.Advance(30 * time.Second)
	sh.typeCode(m, e.s.TOTPCode(e.u.TOTPSecret))
	e.waitUI("Connected", func() bool { return e.v.mfa == nil && card.state == core.Connected })

	// Some traffic, so the statistics show something.
	var socks string
	e.ui(func() { socks = proxyAddr(card.offers.Text) })
	sendThroughTunnel(t, socks, 64<<10)
	e.c.RefreshStats()
	time.Sleep(1200 * time.Millisecond) // a stats tick, so the handshake age reads "1 s ago"
	sh.shoot("08-connected")

	// An admin changes the location: the banner says what changed.
	loc := e.loc
	loc.PeerDisconnectThresholdSeconds = 600
	if _, err := e.s.Admin.UpdateLocation(wickettest.Ctx(t), wickettest.Req(e.s.AdminToken(), &v1.UpdateLocationRequest{Location: loc})); err != nil {
		t.Fatal(err)
	}
	page := e.v.pages[inst.ID]
	e.waitUI("the banner", func() bool { return page.banner.Visible() })
	sh.shoot("09-config-changed")

	// An admin ends the session: the card says why.
	ls, err := e.s.Admin.ListSessions(wickettest.Ctx(t), wickettest.Req(e.s.AdminToken(), &v1.ListSessionsRequest{LocationId: e.loc.Id, ActiveOnly: true}))
	if err != nil || len(ls.Msg.Sessions) == 0 {
		t.Fatalf("sessions: %v", err)
	}
	if _, err := e.s.Admin.DisconnectSession(wickettest.Ctx(t), wickettest.Req(e.s.AdminToken(), &v1.DisconnectSessionRequest{SessionId: ls.Msg.Sessions[0].Id})); err != nil {
		t.Fatal(err)
	}
	e.waitUI("the session's end", func() bool { return card.state == core.Disconnected && card.note.Visible() })
	sh.shoot("10-session-ended")

	e.ui(e.v.showSettings)
	sh.shoot("11-settings")
	e.ui(func() { e.v.settingsDialog.dlg.Hide() })
	e.ui(e.v.showAbout)
	sh.shoot("12-about")
	sh.screen("13-screen")
}

// shooter captures the window.
type shooter struct {
	t     *testing.T
	e     *env
	dir   string
	start time.Time
}

// settle gives the GL loop a few frames to lay out and draw.
func (s *shooter) settle() { time.Sleep(400 * time.Millisecond) }

// shoot writes the window, as the X server shows it, to NAME.png. The GL
// canvas's own Capture reads the front buffer, which Mesa under Xvfb
// leaves empty, so ImageMagick grabs the window from the display instead;
// Capture is the fallback where import is missing.
func (s *shooter) shoot(name string) {
	s.t.Helper()
	s.settle()
	path := filepath.Join(s.dir, name+".png")
	if id := s.windowID(); id != "" {
		if _, err := exec.LookPath("import"); err == nil {
			out, err := exec.Command("import", "-window", id, path).CombinedOutput()
			if err != nil {
				s.t.Fatalf("import: %v: %s", err, out)
			}
			s.t.Logf("%5.1fs wrote %s", time.Since(s.start).Seconds(), path)
			return
		}
	}
	var img image.Image
	fyne.DoAndWait(func() { img = s.e.v.win.Canvas().Capture() })
	f, err := os.Create(path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("wrote %s (%dx%d, from the canvas)", path, img.Bounds().Dx(), img.Bounds().Dy())
}

// windowID is the X window of the main window, "" without xdotool.
func (s *shooter) windowID() string {
	if _, err := exec.LookPath("xdotool"); err != nil {
		return ""
	}
	out, err := exec.Command("xdotool", "search", "--onlyvisible", "--name", "^Wicket$").Output()
	if err != nil {
		return ""
	}
	if id := strings.Fields(string(out)); len(id) > 0 {
		return id[0]
	}
	return ""
}

// screen grabs the whole X screen with ImageMagick, as a cross-check that
// the window is really on the display.
func (s *shooter) screen(name string) {
	if _, err := exec.LookPath("import"); err != nil {
		s.t.Log("no ImageMagick import; skipping the whole-screen shot")
		return
	}
	s.settle()
	out, err := exec.Command("import", "-window", "root", filepath.Join(s.dir, name+".png")).CombinedOutput()
	if err != nil {
		s.t.Errorf("import: %v: %s", err, out)
	}
}

// windowOrigin is where the window's canvas starts on the X screen.
func (s *shooter) windowOrigin() (x, y int, ok bool) {
	id := s.windowID()
	if id == "" {
		return 0, 0, false
	}
	geo, err := exec.Command("xdotool", "getwindowgeometry", "--shell", id).Output()
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Fields(string(geo)) {
		if v, ok := strings.CutPrefix(line, "X="); ok {
			x, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(line, "Y="); ok {
			y, _ = strconv.Atoi(v)
		}
	}
	return x, y, true
}

// clickAt moves the real pointer to a canvas position and clicks; it
// reports false when there is no xdotool.
func (s *shooter) clickAt(pos fyne.Position) bool {
	x, y, ok := s.windowOrigin()
	if !ok {
		return false
	}
	var scale float32
	fyne.DoAndWait(func() { scale = s.e.v.win.Canvas().Scale() })
	px := x + int(pos.X*scale)
	py := y + int(pos.Y*scale)
	out, err := exec.Command("xdotool", "mousemove", strconv.Itoa(px), strconv.Itoa(py), "sleep", "0.05", "click", "1").CombinedOutput()
	if err != nil {
		s.t.Logf("xdotool: %v: %s", err, out)
		return false
	}
	time.Sleep(150 * time.Millisecond)
	return true
}

// click presses a widget with the real pointer (at its centre), or taps
// it through Fyne when X input is unavailable.
func (s *shooter) click(o interface {
	fyne.Tappable
	fyne.CanvasObject
}) {
	var pos fyne.Position
	s.e.ui(func() {
		pos = fyne.CurrentApp().Driver().AbsolutePositionForObject(o).Add(fyne.NewPos(o.Size().Width/2, o.Size().Height/2))
	})
	if !s.clickAt(pos) {
		s.e.ui(func() { test.Tap(o) })
	}
}

// clickRadio picks a method in the modal with the real pointer.
func (s *shooter) clickRadio(m *mfaModal, label string) {
	var pos fyne.Position
	var idx int
	s.e.ui(func() {
		for i, opt := range m.methods.Options {
			if opt == label {
				idx = i
			}
		}
		sz := m.methods.Size()
		n := float32(len(m.methods.Options))
		pos = fyne.CurrentApp().Driver().AbsolutePositionForObject(m.methods).Add(fyne.NewPos(24, sz.Height/n*(float32(idx)+0.5)))
	})
	s.clickAt(pos)
	var got string
	s.e.ui(func() { got = m.methods.Selected })
	if got != label {
		s.t.Logf("the click missed %q; selecting it through Fyne", label)
		s.e.ui(func() { m.methods.SetSelected(label) })
	}
}

// typeCode types digits with the real keyboard into the code entry (or
// through Fyne without xdotool) and, once six are in, waits until the
// modal has taken them.
func (s *shooter) typeCode(m *mfaModal, digits string) {
	typed := false
	if _, err := exec.LookPath("xdotool"); err == nil {
		var pos fyne.Position
		s.e.ui(func() {
			pos = fyne.CurrentApp().Driver().AbsolutePositionForObject(m.code).Add(fyne.NewPos(20, m.code.Size().Height/2))
		})
		if s.clickAt(pos) {
			out, err := exec.Command("xdotool", "type", "--delay", "40", digits).CombinedOutput()
			typed = err == nil
			if err != nil {
				s.t.Logf("xdotool type: %v: %s", err, out)
			}
		}
	}
	if !typed {
		s.e.ui(func() { test.Type(m.code, digits) })
	}
	full := false
	s.e.ui(func() { full = len(m.code.Text) == codeLen })
	s.t.Logf("%5.1fs typed %q: entry %q", time.Since(s.start).Seconds(), digits, m.code.Text)
	if !full {
		return
	}
	s.e.waitUI("the code to be taken", func() bool { return m.busy || m.step != core.AwaitingCode || m.err.Visible() || s.e.v.mfa != m })
}

// sendThroughTunnel pushes n bytes to an echo server behind the gateway
// through the SOCKS5 proxy.
func sendThroughTunnel(t *testing.T, socks string, n int) {
	t.Helper()
	echo := wickettest.EchoServer(t)
	d, err := proxy.SOCKS5("tcp", socks, nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), failsafe)
	defer cancel()
	conn, err := d.(proxy.ContextDialer).DialContext(ctx, "tcp", "10.99.0.5:"+strconv.Itoa(echo))
	if err != nil {
		t.Fatalf("dial through the tunnel: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(failsafe))
	buf := []byte(strings.Repeat("x", n))
	go conn.Write(buf)
	if _, err := io.ReadFull(conn, make([]byte, n)); err != nil {
		t.Fatal(fmt.Errorf("echo: %w", err))
	}
}
