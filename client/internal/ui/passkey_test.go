package ui

import (
	"os"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// TestPasskeyModal: for an account with a passkey the modal offers
// "Passkey or security key" (preselected, as the only factor); choosing it
// opens the server's page in the browser and shows the wait with Cancel.
// Cancel closes the modal and leaves the location disconnected; the next
// Connect preselects the passkey again, and a confirmation in the browser
// closes the modal and brings the tunnel up as a code does.
func TestPasskeyModal(t *testing.T) {
	browser := wickettest.NewBrowser(t)
	e := newEnv(t, envOptions{passkey: true, browser: browser})
	inst := e.enroll()
	card := e.card(inst)

	e.ui(func() { test.Tap(card.action) })
	e.waitUI("the MFA modal", func() bool { return e.v.mfa != nil && e.v.mfa.step == core.AwaitingMethod })
	m := e.mfa()
	e.ui(func() {
		if got := strings.Join(m.methods.Options, ","); got != "Passkey or security key" { // only the factors the account has
			t.Errorf("methods = %s", got)
		}
		if m.methods.Selected != "Passkey or security key" {
			t.Errorf("preselected %q, want the account's passkey", m.methods.Selected)
		}
		test.Tap(m.continueBtn)
	})
	e.waitUI("the passkey wait", func() bool { return m.step == passkeyStep && !m.busy })
	url := e.openedPage()
	e.ui(func() {
		if !m.passkeyStep.Visible() || m.codeStep.Visible() || m.methodStep.Visible() {
			t.Error("the modal does not show the passkey wait alone")
		}
		if !m.offers(m.cancelBtn) || !m.offers(m.openBtn) || m.offers(m.verifyBtn) {
			t.Error("the wait's buttons are not Cancel and Open the page again")
		}
		if m.passkeyURL.URL == nil || m.passkeyURL.URL.String() != url || !strings.Contains(m.passkeyIntro.Text, "Office") {
			t.Errorf("the wait shows %v / %q, core opened %q", m.passkeyURL.URL, m.passkeyIntro.Text, url)
		}
		test.Tap(m.cancelBtn)
	})
	e.waitUI("the modal to close", func() bool { return e.v.mfa == nil && card.state == core.Disconnected })

	// Again: the passkey is remembered, and the browser confirms.
	e.ui(func() { test.Tap(card.action) })
	e.waitUI("the MFA modal again", func() bool { return e.v.mfa != nil && e.v.mfa.step == core.AwaitingMethod })
	m = e.mfa()
	e.ui(func() {
		if m.methods.Selected != "Passkey or security key" {
			t.Errorf("preselected %q after using the passkey", m.methods.Selected)
		}
		test.Tap(m.continueBtn)
	})
	e.waitUI("the passkey wait", func() bool { return m.step == passkeyStep && !m.busy })
	url = e.openedPage()
	if got := browser.Approve(url); !strings.HasPrefix(got, "Confirmed.") {
		t.Fatalf("the page says %q", got)
	}
	e.waitUI("Connected", func() bool { return e.v.mfa == nil && card.state == core.Connected })
}

// openedPage is the next page core asked the browser to open.
func (e *env) openedPage() string {
	e.t.Helper()
	select {
	case u := <-e.opened:
		return u
	case <-time.After(failsafe):
		e.t.Fatal("core opened no page in the browser")
		return ""
	}
}

// TestPasskeyScreenshots writes the modal's passkey choice and its wait in
// a real window (see TestScreenshots).
func TestPasskeyScreenshots(t *testing.T) {
	dir := os.Getenv("WICKET_SCREENSHOTS")
	if dir == "" || glApp == nil {
		t.Skip("set WICKET_SCREENSHOTS=DIR (and DISPLAY) to take screenshots")
	}
	browser := wickettest.NewBrowser(t)
	e := newEnv(t, envOptions{passkey: true, browser: browser})
	sh := &shooter{t: t, e: e, dir: dir, start: time.Now()}
	inst := e.enroll()
	card := e.card(inst)
	sh.click(card.action)
	e.waitUI("the MFA modal", func() bool { return e.v.mfa != nil && e.v.mfa.step == core.AwaitingMethod })
	m := e.mfa()
	sh.shoot("20-mfa-passkey-method")
	sh.click(m.continueBtn)
	e.waitUI("the passkey wait", func() bool { return m.step == passkeyStep && !m.busy })
	e.openedPage()
	sh.shoot("21-mfa-passkey-waiting")
	sh.click(m.cancelBtn)
	e.waitUI("the modal to close", func() bool { return e.v.mfa == nil })
}
