package wickettest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/web"
)

// WithHostName serves the harness under a host name; passkeys need one
// ("localhost"), browsers refuse them for IP addresses.
var WithHostName = servertest.WithHostName

// WithPages serves the web pages beside the API, as wicketd serve does.
func WithPages() Option {
	return servertest.WithWeb(func(d *daemon.Daemon) http.Handler {
		return web.New(d.Service, nil, web.WithServer(d.Opts.URL, d.Fingerprint))
	})
}

// Browser is headless Chromium with a virtual platform authenticator (as
// Touch ID or Windows Hello would be), for tests that confirm a
// connection with a passkey as a person does.
type Browser struct {
	t   testing.TB
	ctx context.Context
}

// NewBrowser starts Chromium until the test ends; the test is skipped
// where there is none (Debian's chromium, or WICKET_CHROMIUM).
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	bin := os.Getenv("WICKET_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if bin != "" {
			break
		}
		bin, _ = exec.LookPath(name)
	}
	if bin == "" {
		t.Skip("no chromium binary found (install Debian's chromium, or set WICKET_CHROMIUM)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("headless", true), chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	base, cancelBase := context.WithTimeout(context.Background(), 90*time.Second)
	alloc, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelBase() })
	if err := chromedp.Do(ctx); err != nil { // the browser lives as long as ctx
		t.Fatalf("start chromium (%s): %v", bin, err)
	}
	b := &Browser{t: t, ctx: ctx}
	b.do("add a virtual authenticator", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		return err
	}))
	return b
}

func (b *Browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// AddPasskey signs u in on the server's pages with the password (u has
// no other factor yet) and adds a passkey on the profile page.
func (b *Browser) AddPasskey(s *Server, u *User) {
	b.t.Helper()
	b.do("sign in and add a passkey",
		chromedp.Navigate(s.URL+"/signin"),
		chromedp.WaitVisible(chromedp.ID("signin-form")),
		chromedp.SendKeys(chromedp.ID("username"), u.Username),
		chromedp.SendKeys(chromedp.ID("password"), u.Password),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.signout`)),
		chromedp.Navigate(s.URL+"/profile"),
		chromedp.WaitVisible(chromedp.ID("add-passkey")),
		chromedp.Click(chromedp.ID("add-passkey")),
		chromedp.WaitVisible(chromedp.ID("passkey-button")),
		chromedp.Click(chromedp.ID("passkey-button")),
		chromedp.WaitVisible(chromedp.ID("passkey-list")),
	)
}

// Approve opens a passkey page (StartMfa's browser_url), confirms with
// the passkey and returns what the page then says.
func (b *Browser) Approve(url string) string {
	b.t.Helper()
	b.do("confirm "+url,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("approval")),
		chromedp.Click(chromedp.ID("passkey-button")),
		chromedp.WaitVisible(chromedp.ID("approval-done")),
	)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	txt, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("approval-done")))
	if err != nil {
		b.t.Fatal(fmt.Errorf("browser: read the outcome: %w", err))
	}
	return strings.TrimSpace(txt)
}
