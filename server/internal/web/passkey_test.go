package web_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// newPasskeyServer is the harness under the host name "localhost":
// browsers bind passkeys to a host name, never to an IP address.
func newPasskeyServer(t *testing.T, opts ...servertest.Option) *servertest.Server {
	t.Helper()
	return newServer(t, append(opts, servertest.WithHostName("localhost"))...)
}

// addAuthenticator gives the browser's tab a virtual platform
// authenticator (as Touch ID or Windows Hello would be) that verifies the
// user and confirms presence by itself.
func addAuthenticator(t *testing.T, ctx context.Context) webauthn.AuthenticatorID {
	t.Helper()
	return value(t, ctx, func(ctx context.Context, _ *chromedp.Target) (webauthn.AuthenticatorID, error) {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return "", err
		}
		r, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		return r.AuthenticatorID, err
	})
}

// credentials lists what the virtual authenticator holds.
func credentials(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	return value(t, ctx, func(ctx context.Context, _ *chromedp.Target) ([]*webauthn.Credential, error) {
		r, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		return r.Credentials, err
	})
}

// browserAddPasskey adds a passkey named name on the profile page of the
// signed-in browser.
func browserAddPasskey(t *testing.T, ctx context.Context, s *servertest.Server, name string) {
	t.Helper()
	run(t, ctx,
		chromedp.Navigate(s.URL+"/profile"),
		chromedp.WaitVisible(chromedp.ID("passkey-add")),
		chromedp.SendKeys(chromedp.CSS(`#passkey-add input[name="name"]`), name),
		chromedp.Click(chromedp.ID("add-passkey")),
		chromedp.WaitVisible(chromedp.ID("passkey-button")),
		chromedp.Click(chromedp.ID("passkey-button")),
		chromedp.WaitVisible(chromedp.ID("passkey-list")),
	)
}

func methodsOf(t *testing.T, s *servertest.Server, u *servertest.User) []v1.MfaMethod {
	t.Helper()
	p, err := s.Account.GetProfile(servertest.Ctx(t), servertest.Req(u.Token, &v1.GetProfileRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return p.Msg.EnabledMfaMethods
}

// TestBrowserPasskeyProfileAndSignIn: a user without a second factor adds
// a passkey on the profile page; from then on the password alone no
// longer signs in (on the page or through the API), and the passkey does.
func TestBrowserPasskeyProfileAndSignIn(t *testing.T) {
	t.Parallel()
	s := newPasskeyServer(t)
	alice := s.CreateUser("alice")
	ctx := newBrowser(t)
	auth := addAuthenticator(t, ctx)

	browserSignIn(t, ctx, s, "alice", alice.Password)
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("passkeys")))
	if got := value(t, ctx, chromedp.Text(chromedp.ID("passkeys-state"))); got != "Off" {
		t.Fatalf("passkeys before: %q", got)
	}
	browserAddPasskey(t, ctx, s, "Laptop")
	if got := value(t, ctx, chromedp.Text(chromedp.ID("flash"))); !strings.Contains(got, "Added the passkey Laptop") {
		t.Fatalf("flash after adding: %q", got)
	}
	if got := value(t, ctx, chromedp.Text(chromedp.CSS(`#passkey-list .passkey-name`))); got != "Laptop" {
		t.Fatalf("listed passkey: %q", got)
	}
	if got := value(t, ctx, chromedp.Text(chromedp.CSS(`#passkey-list .passkey-used`))); got != "never" {
		t.Fatalf("last use before any: %q", got)
	}
	if n := len(credentials(t, ctx, auth)); n != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", n)
	}
	if m := methodsOf(t, s, alice); !slices.Contains(m, v1.MfaMethod_MFA_METHOD_WEBAUTHN) {
		t.Fatalf("methods after adding a passkey: %v", m)
	}
	list, err := s.Account.ListPasskeys(servertest.Ctx(t), servertest.Req(alice.Token, &v1.ListPasskeysRequest{}))
	if err != nil || len(list.Msg.Passkeys) != 1 || list.Msg.Passkeys[0].Name != "Laptop" {
		t.Fatalf("ListPasskeys: %v %v", list, err)
	}

	// The password alone: the API answers a challenge, no token.
	lr, err := s.Account.Login(servertest.Ctx(t), servertest.Req("", &v1.LoginRequest{Username: "alice", Password: alice.Password}))
	if err != nil {
		t.Fatal(err)
	}
	if lr.Msg.Token != "" || lr.Msg.MfaChallenge == "" || !slices.Equal(lr.Msg.MfaMethods, []v1.MfaMethod{v1.MfaMethod_MFA_METHOD_WEBAUTHN}) {
		t.Fatalf("password-only Login of a passkey account: %v", lr.Msg)
	}

	// The page: signed out, the password leads to the passkey step only.
	run(t, ctx, chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.ID("signin-form")))
	run(t, ctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), alice.Password),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("passkey-choice")),
	)
	if value(t, ctx, chromedp.Evaluate[bool](`document.getElementById("code-form") !== null || document.querySelector("form.signout") !== null`)) {
		t.Fatal("the passkey step offers a code field, or the password alone signed in")
	}
	code, body := newClient(t, s).get("/profile")
	if code != 200 || strings.Contains(body, "Sign out") {
		t.Fatalf("a browser without a session sees the profile")
	}

	run(t, ctx,
		chromedp.Click(chromedp.ID("passkey-button")),
		chromedp.WaitVisible(chromedp.CSS(`form.signout`)),
		chromedp.Navigate(s.URL+"/profile"),
		chromedp.WaitVisible(chromedp.ID("passkey-list")),
	)
	if got := value(t, ctx, chromedp.Text(chromedp.CSS(`#passkey-list .passkey-used`))); got != "just now" {
		t.Fatalf("last use after signing in with it: %q", got)
	}
	events, err := s.Svc.ListAudit(servertest.Ctx(t), service.Actor{Admin: true}, service.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var added, signedIn bool
	for _, e := range events {
		added = added || (e.Action == "mfa.passkey_added" && e.Subject == "alice")
		signedIn = signedIn || (e.Action == "login.succeeded" && e.Subject == "alice" && strings.Contains(e.Detail, "method=webauthn"))
	}
	if !added || !signedIn {
		t.Fatalf("audit: passkey added %t, signed in with it %t", added, signedIn)
	}
}
