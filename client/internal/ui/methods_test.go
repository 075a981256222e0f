package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/wicket-vpn/wicket/client/internal/core"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// limitOffice makes Office accept only the given factors.
func (e *env) limitOffice(methods ...v1.MfaMethod) {
	e.t.Helper()
	e.loc.AllowedMfaMethods = methods
	r, err := e.s.Admin.UpdateLocation(wickettest.Ctx(e.t), wickettest.Req(e.s.AdminToken(), &v1.UpdateLocationRequest{Location: e.loc}))
	if err != nil {
		e.t.Fatal(err)
	}
	e.loc = r.Msg.Location
}

// TestMFAModalOffersOnlyAllowedMethods: of the account's two methods the
// modal offers the one Office accepts, follows the admin's change while it
// is open, and the accepted method's code connects.
func TestMFAModalOffersOnlyAllowedMethods(t *testing.T) {
	e := newEnv(t, envOptions{email: true})
	e.limitOffice(v1.MfaMethod_MFA_METHOD_EMAIL)
	inst := e.enroll()
	card := e.card(inst)
	e.ui(func() { test.Tap(card.action) })
	e.waitUI("the MFA modal", func() bool { return e.v.mfa != nil && e.v.mfa.step == core.AwaitingMethod })
	m := e.mfa()
	e.ui(func() {
		if got := strings.Join(m.methods.Options, ","); got != "Email code" {
			t.Errorf("methods offered = %q, want only Email code", got)
		}
		if m.methods.Selected != "Email code" || m.continueBtn.Disabled() {
			t.Errorf("selected %q, Continue disabled %v", m.methods.Selected, m.continueBtn.Disabled())
		}
		if m.noMethod.Visible() {
			t.Errorf("a problem is shown: %q", m.noMethod.Text)
		}
	})

	// The admin switches Office to the authenticator app: the open modal
	// follows, through the watch stream.
	e.limitOffice(v1.MfaMethod_MFA_METHOD_TOTP)
	e.waitUI("the modal offering the authenticator app", func() bool {
		return strings.Join(m.methods.Options, ",") == "Authenticator app"
	})
	e.ui(func() {
		if m.methods.Selected != "Authenticator app" {
			t.Errorf("selected %q after the change", m.methods.Selected)
		}
		test.Tap(m.continueBtn)
	})
	e.waitUI("the code entry", func() bool { return m.step == core.AwaitingCode && !m.busy })
	e.s.Clock.Advance(30 * time.Second) // a fresh TOTP step
	code := e.s.TOTPCode(e.u.TOTPSecret)
	e.ui(func() { test.Type(m.code, code) })
	e.waitUI("Connected", func() bool { return e.v.mfa == nil && card.state == core.Connected })
}

// TestMFAModalSaysWhatToSetUp: when Office accepts none of the account's
// methods, the modal offers nothing to pick, names the method to set up and
// where, and Continue stays off.
func TestMFAModalSaysWhatToSetUp(t *testing.T) {
	e := newEnv(t, envOptions{email: true, noTOTP: true})
	e.limitOffice(v1.MfaMethod_MFA_METHOD_TOTP)
	inst := e.enroll()
	card := e.card(inst)
	e.ui(func() { test.Tap(card.action) })
	e.waitUI("the MFA modal", func() bool { return e.v.mfa != nil && e.v.mfa.step == core.AwaitingMethod })
	m := e.mfa()
	want := "Office accepts only an authenticator app code, which your account does not have. Set up an authenticator app in your profile (" + e.s.URL + "/profile) first."
	e.ui(func() {
		if m.methods.Visible() || len(m.methods.Options) != 0 {
			t.Errorf("methods offered: %v (visible %v)", m.methods.Options, m.methods.Visible())
		}
		if !m.noMethod.Visible() || m.noMethod.Text != want {
			t.Errorf("the modal says %q (visible %v), want %q", m.noMethod.Text, m.noMethod.Visible(), want)
		}
		if !m.continueBtn.Disabled() {
			t.Error("Continue is enabled with nothing to choose")
		}
	})
}
