package web_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/wickettest"
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
		chromedp.WaitVisible(chromedp.CSS(`form.signout`)), // signed in, not still on the way
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

// captureAnswer makes the page keep the passkey answer it sends in the
// tab's session storage, so the test can send it again elsewhere.
const captureAnswer = `(() => {
  const send = HTMLFormElement.prototype.submit;
  HTMLFormElement.prototype.submit = function () {
    if (this.elements.credential) { sessionStorage.setItem("answer", this.elements.credential.value); }
    send.call(this);
  };
  return true;
})()`

type awaited struct {
	msg *v1.FinishMfaResponse
	err error
}

// await calls AwaitMfa for a challenge in the background.
func await(t *testing.T, s *servertest.Server, challenge string) <-chan awaited {
	ch := make(chan awaited, 1)
	go func() {
		r, err := s.Client.AwaitMfa(servertest.Ctx(t), servertest.Req("", &v1.AwaitMfaRequest{ChallengeToken: challenge}))
		if err != nil {
			ch <- awaited{err: err}
			return
		}
		ch <- awaited{msg: r.Msg}
	}()
	return ch
}

func startPasskeyMfa(t *testing.T, s *servertest.Server, d *servertest.Device, loc *v1.Location) *v1.StartMfaResponse {
	t.Helper()
	st, err := s.Client.StartMfa(servertest.Ctx(t), servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_WEBAUTHN}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.Msg.BrowserUrl, s.URL+service.PasskeyApprovalPath+"?challenge=") {
		t.Fatalf("browser_url = %q", st.Msg.BrowserUrl)
	}
	return st.Msg
}

// postAnswer sends a passkey answer to a challenge's approval page as a
// browser's form would, and returns the page's text.
func postAnswer(t *testing.T, s *servertest.Server, challenge, answer string) string {
	t.Helper()
	c := newClient(t, s)
	c.get("/signin") // the form token of anonymous pages
	_, body := c.post(service.PasskeyApprovalPath, url.Values{"challenge": {challenge}, "credential": {answer}})
	return text(body)
}

func approvalPending(t *testing.T, s *servertest.Server, challenge string) bool {
	t.Helper()
	_, err := s.Svc.PasskeyApproval(servertest.Ctx(t), challenge)
	return err == nil
}

// TestBrowserPasskeyApprovesOneConnection: a device starts MFA with a
// passkey; the page at browser_url names the device, location, time and
// address, and the user's passkey approves it while the device waits in
// AwaitMfa, which then answers the session and tunnel: a real handshake
// through the netstack gateway follows. The same answer is refused for the
// finished challenge and for another one; a browser with only another
// user's passkey cannot approve; "This wasn't me" refuses.
func TestBrowserPasskeyApprovesOneConnection(t *testing.T) {
	t.Parallel()
	s := newPasskeyServer(t)
	port := wickettest.FreeUDPPort(t)
	wickettest.StartGateway(t, s, nil)
	loc := s.CreateLocation(&v1.Location{Name: "Office", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port), MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL})
	alice := s.CreateUser("alice")
	d := s.Enroll(alice, "laptop")
	ctx := newBrowser(t)
	addAuthenticator(t, ctx)
	browserSignIn(t, ctx, s, "alice", alice.Password)
	browserAddPasskey(t, ctx, s, "Laptop")

	st := startPasskeyMfa(t, s, d, loc)
	done := await(t, s, st.ChallengeToken)
	s.Clock.Advance(7 * time.Second)
	run(t, ctx, chromedp.Navigate(st.BrowserUrl), chromedp.WaitVisible(chromedp.ID("approval")))
	for id, want := range map[string]string{"approval-device": "laptop", "approval-location": "Office", "approval-remote": "127.0.0.1", "approval-time": "1 Jun 2026 12:00 UTC"} {
		if got := value(t, ctx, chromedp.Text(chromedp.ID(id))); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	value(t, ctx, chromedp.Evaluate[bool](captureAnswer))
	run(t, ctx, chromedp.Click(chromedp.ID("passkey-button")), chromedp.WaitVisible(chromedp.ID("approval-done")))
	if got := value(t, ctx, chromedp.Text(chromedp.ID("approval-done"))); !strings.HasPrefix(got, "Confirmed.") {
		t.Fatalf("after approving: %q", got)
	}
	answer := value(t, ctx, chromedp.Evaluate[string](`sessionStorage.getItem("answer")`))
	if answer == "" {
		t.Fatal("the page sent no answer")
	}
	var got awaited
	select {
	case got = <-done:
	case <-servertest.Ctx(t).Done():
		t.Fatal("AwaitMfa did not answer after the approval")
	}
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.msg.SessionId == "" || got.msg.Tunnel.GetPresharedKey() == "" {
		t.Fatalf("AwaitMfa = %v", got.msg)
	}
	cl := gatewaytest.NewClient(t, d.PrivateKey, got.msg.Tunnel)
	pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.PingUntil(pctx, "10.10.0.1"); err != nil {
		t.Fatalf("ping the gateway through the tunnel: %v", err)
	}
	if cl.Handshake().IsZero() {
		t.Fatal("no handshake")
	}

	// The finished challenge is not approved again, by the same answer.
	if page := postAnswer(t, s, st.ChallengeToken, answer); !strings.Contains(page, "already approved or refused") {
		t.Fatalf("the answer sent again: %s", page)
	}
	if _, err := s.Client.AwaitMfa(servertest.Ctx(t), servertest.Req("", &v1.AwaitMfaRequest{ChallengeToken: st.ChallengeToken})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("AwaitMfa of the used challenge: %v", err)
	}

	// Another connection's challenge: the captured answer signed another
	// WebAuthn challenge and is refused, counted as a wrong try.
	st2 := startPasskeyMfa(t, s, d, loc)
	done2 := await(t, s, st2.ChallengeToken)
	if page := postAnswer(t, s, st2.ChallengeToken, answer); !strings.Contains(page, "was not accepted for this request (4 tries left)") {
		t.Fatalf("the first answer sent for the second challenge: %s", page)
	}
	if !approvalPending(t, s, st2.ChallengeToken) {
		t.Fatal("a replayed answer decided the second challenge")
	}

	// Bob's browser has a passkey for this server, not alice's: it cannot
	// approve her connection.
	bob := s.CreateUser("bob")
	bctx := newBrowser(t)
	addAuthenticator(t, bctx)
	browserSignIn(t, bctx, s, "bob", bob.Password)
	browserAddPasskey(t, bctx, s, "Bob's laptop")
	run(t, bctx, chromedp.Navigate(st2.BrowserUrl), chromedp.WaitVisible(chromedp.ID("approval")),
		chromedp.Click(chromedp.ID("passkey-button")), chromedp.WaitVisible(chromedp.ID("passkey-error")))
	if msg := value(t, bctx, chromedp.Text(chromedp.ID("passkey-error"))); !strings.Contains(msg, "No passkey was used") {
		t.Fatalf("bob's browser shows %q", msg)
	}
	if !approvalPending(t, s, st2.ChallengeToken) {
		t.Fatal("a browser without alice's passkey decided her challenge")
	}

	// "This wasn't me" refuses; the waiting device is told.
	run(t, ctx, chromedp.Navigate(st2.BrowserUrl), chromedp.WaitVisible(chromedp.ID("approval")),
		chromedp.Click(chromedp.ID("refuse")), chromedp.WaitVisible(chromedp.ID("approval-done")))
	select {
	case got = <-done2:
	case <-servertest.Ctx(t).Done():
		t.Fatal("AwaitMfa did not answer after the refusal")
	}
	if connect.CodeOf(got.err) != connect.CodePermissionDenied {
		t.Fatalf("AwaitMfa after a refusal: %v", got.err)
	}

	events, err := s.Svc.ListAudit(servertest.Ctx(t), service.Actor{Admin: true}, service.AuditFilter{Limit: 200, Action: "mfa."})
	if err != nil {
		t.Fatal(err)
	}
	var succeeded, failed, refused bool
	for _, e := range events {
		succeeded = succeeded || (e.Action == "mfa.succeeded" && strings.Contains(e.Detail, "method=webauthn location=Office device=laptop"))
		failed = failed || (e.Action == "mfa.failed" && strings.Contains(e.Detail, "method=webauthn"))
		refused = refused || (e.Action == "mfa.refused" && strings.Contains(e.Detail, "reason=refused_in_browser"))
	}
	if !succeeded || !failed || !refused {
		t.Fatalf("audit: succeeded %t failed %t refused %t", succeeded, failed, refused)
	}
}

// TestPasskeyScreenshots writes PNGs of the passkey pages (see
// TestScreenshots): the profile's section with a passkey, the add page,
// the sign-in step and the approval page of a connection.
func TestPasskeyScreenshots(t *testing.T) {
	dir := os.Getenv("WICKET_SCREENSHOTS")
	if dir == "" {
		t.Skip("set WICKET_SCREENSHOTS=dir to write screenshots of the pages")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newPasskeyServer(t)
	loc := s.MFALocation("Office")
	carol := s.CreateUser("carol")
	d := s.Enroll(carol, "Carol's laptop")
	ctx := newBrowser(t)
	addAuthenticator(t, ctx)
	browserSignIn(t, ctx, s, "carol", carol.Password)
	take := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		for _, w := range []struct {
			name string
			w, h int64
			opts []chromedp.EmulateViewportOption
		}{{"laptop", 1280, 800, nil}, {"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulatePortrait, chromedp.EmulateMobile}}} {
			run(t, ctx, chromedp.EmulateViewport(w.w, w.h, w.opts...))
			run(t, ctx, steps...)
			png := value(t, ctx, chromedp.FullScreenshot(100))
			file := filepath.Join(dir, name+"-"+w.name+".png")
			if err := os.WriteFile(file, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", file)
		}
	}
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS(`form.signout`)))
	take("passkeys-none", chromedp.Navigate(s.URL+"/profile#passkeys"), chromedp.WaitVisible(chromedp.ID("passkey-add")), chromedp.ScrollIntoView(chromedp.ID("passkeys")))
	take("passkey-add", chromedp.Navigate(s.URL+"/profile"), chromedp.WaitVisible(chromedp.ID("passkey-add")),
		chromedp.SendKeys(chromedp.CSS(`#passkey-add input[name="name"]`), "MacBook Touch ID"),
		chromedp.Click(chromedp.ID("add-passkey")), chromedp.WaitVisible(chromedp.ID("passkey-button")))
	run(t, ctx, chromedp.Click(chromedp.ID("passkey-button")), chromedp.WaitVisible(chromedp.ID("flash")))
	t.Logf("flash: %s", value(t, ctx, chromedp.Text(chromedp.ID("flash"))))
	take("passkeys-profile", chromedp.Navigate(s.URL+"/profile#passkeys"), chromedp.WaitVisible(chromedp.ID("passkey-list")), chromedp.ScrollIntoView(chromedp.ID("passkeys")))

	s.Clock.Advance(3 * time.Minute)
	st := startPasskeyMfa(t, s, d, loc)
	take("passkey-approve", chromedp.Navigate(st.BrowserUrl), chromedp.WaitVisible(chromedp.ID("approval")))
	run(t, ctx, chromedp.Click(chromedp.ID("passkey-button")), chromedp.WaitVisible(chromedp.ID("approval-done")))
	take("passkey-approved", chromedp.WaitVisible(chromedp.ID("approval-done")))

	run(t, ctx, chromedp.Navigate(s.URL+"/profile"), chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.ID("signin-form")),
		chromedp.SendKeys(chromedp.ID("username"), "carol"), chromedp.SendKeys(chromedp.ID("password"), carol.Password),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.ID("passkey-choice")))
	take("signin-passkey", chromedp.WaitVisible(chromedp.ID("passkey-choice")))
}
