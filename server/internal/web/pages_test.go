package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// TestFormWithoutCSRFRefused: every POST needs the page's token, before and
// after sign-in; a form without it changes nothing.
func TestFormWithoutCSRFRefused(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.AdminToken()
	c := newClient(t, s)

	c.get("/signin")
	code, body := c.postRaw("/signin", url.Values{"username": {"admin"}, "password": {"admin-password"}})
	if code != http.StatusForbidden {
		t.Fatalf("sign-in without token: %d", code)
	}
	mustContain(t, body, "Form refused", "did not carry this page's security token")

	c.signIn("admin", "admin-password")
	form := url.Values{"name": {"Sneaky"}, "address": {"10.30.0.1/24"}, "endpoint": {"vpn.example.com:51820"}}
	code, body = c.postRaw("/locations/new", form)
	if code != http.StatusForbidden {
		t.Fatalf("create location without token: %d", code)
	}
	mustContain(t, body, "Form refused")
	form.Set("csrf", "forged")
	if code, _ = c.postRaw("/locations/new", form); code != http.StatusForbidden {
		t.Fatalf("create location with a forged token: %d", code)
	}
	// A token of another session does not fit either.
	other := newClient(t, s)
	other.signIn("admin", "admin-password")
	form.Set("csrf", other.csrf())
	if code, _ = c.postRaw("/locations/new", form); code != http.StatusForbidden {
		t.Fatalf("create location with another session's token: %d", code)
	}
	if locs, _ := s.Store().ListLocations(servertest.Ctx(t)); len(locs) != 0 {
		t.Fatalf("a refused form created %v", locs)
	}

	// With the token it works.
	c.get("/locations/new")
	form.Del("csrf")
	if code, body = c.post("/locations/new", form); code != http.StatusOK {
		t.Fatalf("create location: %d\n%s", code, text(body))
	}
	mustContain(t, body, "Created Sneaky")
}

// TestSessionCookie: the cookie holds the sign-in's bearer token and is
// HttpOnly, Secure, SameSite=Strict and for the whole site; signing out
// revokes the token.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.AdminToken()
	c := newClient(t, s)
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.get("/signin")
	form := url.Values{"username": {"admin"}, "password": {"admin-password"}, "csrf": {c.csrf()}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin/code" {
		t.Fatalf("sign in: %d to %q, want the code step", resp.StatusCode, resp.Header.Get("Location"))
	}
	c.get("/signin/code")
	form = url.Values{"code": {adminCode(s)}, "csrf": {c.csrf()}}
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/signin/code", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in with the code: %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-wicket_session" {
			session = ck
		}
	}
	if session == nil {
		t.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	}
	if !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteStrictMode || session.Path != "/" || session.Domain != "" {
		t.Fatalf("session cookie = %+v", session)
	}
	if session.MaxAge < int((11 * time.Hour).Seconds()) {
		t.Fatalf("session cookie lasts %d s", session.MaxAge)
	}
	// It is the API's bearer token.
	if _, err := s.Account.GetProfile(servertest.Ctx(t), servertest.Req(session.Value, &v1.GetProfileRequest{})); err != nil {
		t.Fatalf("the cookie is not a bearer token: %v", err)
	}

	c.http.CheckRedirect = nil
	c.get("/profile")
	code, body := c.post("/signout", nil)
	if code != http.StatusOK {
		t.Fatalf("sign out: %d", code)
	}
	mustContain(t, body, "You are signed out.")
	if _, err := s.Account.GetProfile(servertest.Ctx(t), servertest.Req(session.Value, &v1.GetProfileRequest{})); err == nil {
		t.Fatal("the token still works after signing out")
	}
}

// TestSignInErrorsAndLockout: wrong passwords say so, the TOTP step takes
// a code, and five wrong tries lock the account as for the API.
func TestSignInErrorsAndLockout(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	u := s.CreateUser("bob")
	s.EnableTOTP(u)
	c := newClient(t, s)

	// Not signed in: pages send to sign-in and back.
	code, body := c.get("/profile")
	if code != http.StatusOK || !strings.Contains(body, `id="signin-form"`) || !strings.Contains(body, `value="/profile"`) {
		t.Fatalf("profile while signed out: %d\n%s", code, text(body))
	}

	code, body = c.post("/signin", url.Values{"username": {"bob"}, "password": {"wrong-password"}})
	if code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	mustContain(t, body, "Wrong username or password.")
	if !strings.Contains(body, `value="bob"`) {
		t.Fatal("the username was not kept")
	}

	// The right password leads to the code step; a wrong code stays there.
	code, body = c.post("/signin", url.Values{"username": {"bob"}, "password": {u.Password}, "next": {"/profile"}})
	if code != http.StatusOK || !strings.Contains(body, `id="code-form"`) {
		t.Fatalf("password step: %d\n%s", code, text(body))
	}
	if strings.Contains(body, u.Password) {
		t.Fatal("the code page holds the password")
	}
	code, body = c.post("/signin/code", url.Values{"code": {"12345"}})
	if code != http.StatusBadRequest || !strings.Contains(body, `id="code-form"`) {
		t.Fatalf("short code: %d\n%s", code, text(body))
	}
	s.Clock.Advance(mfa.Period)
	good := s.TOTPCode(u.TOTPSecret)
	bad := fmt.Sprintf("%06d", (atoi(good)+1)%1000000)
	code, body = c.post("/signin/code", url.Values{"code": {bad}})
	if code != http.StatusUnauthorized || !strings.Contains(body, `id="code-form"`) {
		t.Fatalf("wrong code: %d\n%s", code, text(body))
	}
	mustContain(t, body, "Invalid code (4 tries left)")
	code, body = c.post("/signin/code", url.Values{"code": {good}})
	if code != http.StatusOK || !strings.Contains(body, `id="totp-disable"`) {
		t.Fatalf("right code: %d\n%s", code, text(body))
	}
	c.post("/signout", nil)

	// The code step expires with the harness clock.
	c.get("/signin")
	c.post("/signin", url.Values{"username": {"bob"}, "password": {u.Password}})
	s.Clock.Advance(6 * time.Minute)
	code, body = c.get("/signin/code")
	if code != http.StatusOK || !strings.Contains(body, `id="signin-form"`) {
		t.Fatalf("stale code step: %d\n%s", code, text(body))
	}
	mustContain(t, body, "Your sign-in took too long")

	// Lockout: wrong codes lock bob out (wrong passwords do not count, or
	// anyone knowing his username could lock him out).
	for i := 0; i < 5; i++ {
		c.post("/signin", url.Values{"username": {"bob"}, "password": {"wrong-password"}})
	}
	code, body = c.post("/signin", url.Values{"username": {"bob"}, "password": {u.Password}})
	if code != http.StatusOK || !strings.Contains(body, `id="code-form"`) {
		t.Fatalf("wrong passwords locked bob out: %d\n%s", code, text(body))
	}
	wrong := fmt.Sprintf("%06d", (atoi(s.TOTPCode(u.TOTPSecret))+1)%1000000)
	for i := 0; i < 5; i++ {
		c.post("/signin", url.Values{"username": {"bob"}, "password": {u.Password}})
		c.post("/signin/code", url.Values{"code": {wrong}})
	}
	code, body = c.post("/signin", url.Values{"username": {"bob"}, "password": {u.Password}})
	if code != http.StatusTooManyRequests {
		t.Fatalf("locked out: %d\n%s", code, text(body))
	}
	mustContain(t, body, "Try again in")
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestAdminPagesNeedAdmin: users see their profile; admin pages refuse them.
func TestAdminPagesNeedAdmin(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	u := s.CreateUser("carol")
	c := newClient(t, s)
	c.signIn(u.Username, u.Password)
	if !strings.Contains(c.last, `id="devices"`) {
		t.Fatalf("a user's start page is not the profile:\n%s", text(c.last))
	}
	if strings.Contains(c.last, `href="/overview"`) {
		t.Fatal("a user sees the admin menu")
	}
	for _, p := range []string{"/overview", "/users", "/smtp", "/audit", "/gateways", "/locations/new"} {
		code, body := c.get(p)
		if code != http.StatusForbidden {
			t.Fatalf("%s for a user: %d", p, code)
		}
		mustContain(t, body, "This page is for admins.")
	}
	code, body := c.get("/no/such/page")
	if code != http.StatusNotFound {
		t.Fatalf("unknown page: %d", code)
	}
	mustContain(t, body, "Page not found")
}

// TestOverviewSessionsAndDisconnect: the overview lists a location's
// connected sessions with their details and ends one on request.
func TestOverviewSessionsAndDisconnect(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := servertest.Ctx(t)
	loc := s.CreateLocation(&v1.Location{Name: "Plant", AllowedIps: []string{"10.10.0.0/24", "192.168.5.0/24"}})
	u := s.CreateUser("dave")
	d := s.Enroll(u, "workstation")
	conn, err := s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: d.Token, LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Svc.ReportStats(ctx, mustLocation(t, s, loc.Id), []service.PeerStat{{PublicKey: d.PublicKey, RxBytes: 2_500_000, TxBytes: 730, LatestHandshake: s.Clock.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(3 * time.Minute)

	c := newClient(t, s)
	c.signIn("admin", "admin-password")
	code, body := c.get("/overview?location=" + loc.Id)
	if code != http.StatusOK {
		t.Fatalf("overview: %d", code)
	}
	mustContain(t, body, "Plant", "10.10.0.0/24, 192.168.5.0/24", "dave", "workstation", conn.Msg.Tunnel.Address, "3 min ago", "2.5 MB / 730 B", "1 active", "Edit location")

	code, body = c.post("/sessions/"+conn.Msg.SessionId+"/disconnect", url.Values{"location": {loc.Id}, "who": {"dave's workstation"}})
	if code != http.StatusOK {
		t.Fatalf("disconnect: %d", code)
	}
	mustContain(t, body, "dave's workstation was disconnected", "Nobody is connected to Plant right now.")
	active, _ := s.Store().ListSessions(ctx, store.SessionFilter{ActiveOnly: true})
	if len(active) != 0 {
		t.Fatalf("sessions still active: %v", active)
	}
	// Disconnecting again explains itself.
	_, body = c.post("/sessions/"+conn.Msg.SessionId+"/disconnect", url.Values{"location": {loc.Id}})
	mustContain(t, body, "The session has already ended.")

	if code, body = c.get("/overview?location=nope"); code != http.StatusNotFound {
		t.Fatalf("unknown location: %d", code)
	}
	mustContain(t, body, "Location not found")
}

func mustLocation(t *testing.T, s *servertest.Server, id string) service.Location {
	t.Helper()
	return s.Location(id)
}

// TestLocationCreateEditDelete covers the location form without a browser:
// every field, errors beside their fields, and deletion after confirming.
func TestLocationCreateEditDelete(t *testing.T) {
	t.Parallel()
	s := newServer(t, servertest.WithMinThreshold(120*time.Second))
	s.AdminToken()
	c := newClient(t, s)
	c.signIn("admin", "admin-password")

	code, body := c.get("/overview")
	if code != http.StatusOK {
		t.Fatal(code)
	}
	mustContain(t, body, "No locations yet")

	c.get("/locations/new")
	form := url.Values{
		"name": {"Branch"}, "address": {"10.40.0.1/24"}, "listen_port": {"51900"}, "endpoint": {"branch.example.com:51900"},
		"allowed_ips": {"10.40.0.0/24, 172.16.0.0/16"}, "dns": {"10.40.0.1"}, "mtu": {"1380"}, "keepalive_interval_seconds": {"20"},
		"mfa": {"on"}, "peer_disconnect_threshold_seconds": {"600"}, "max_session_seconds": {"28800"}, "allowed_groups": {"staff, ops"},
	}
	// A bad endpoint and a word for a number come back beside their fields.
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("endpoint", "branch.example.com")
	code, body = c.post("/locations/new", bad)
	if code != http.StatusBadRequest {
		t.Fatalf("bad endpoint: %d", code)
	}
	if !regexp.MustCompile(`id="endpoint"[^>]*aria-invalid="true"`).MatchString(body) || !strings.Contains(body, `id="endpoint-error"`) {
		t.Fatalf("no error beside the endpoint:\n%s", body)
	}
	mustContain(t, body, "needs a host and a port")
	if !strings.Contains(body, `value="staff, ops"`) {
		t.Fatal("the groups typed were lost")
	}
	bad.Set("endpoint", form.Get("endpoint"))
	bad.Set("mtu", "big")
	_, body = c.post("/locations/new", bad)
	if !strings.Contains(body, `id="mtu-error"`) {
		t.Fatalf("no error beside the MTU:\n%s", text(body))
	}
	mustContain(t, body, "Enter a whole number")

	code, body = c.post("/locations/new", form)
	if code != http.StatusOK {
		t.Fatalf("create: %d\n%s", code, text(body))
	}
	mustContain(t, body, "Created Branch", "branch.example.com:51900", "10.40.0.0/24, 172.16.0.0/16", "1380", "20 s", "600 s (10 min)", "28800 s (8 h)", "staff, ops", "Internal MFA")
	locs, _ := s.Store().ListLocations(servertest.Ctx(t))
	if len(locs) != 1 {
		t.Fatal(locs)
	}
	l := locs[0]
	if l.ListenPort != 51900 || !l.MFA || l.PeerDisconnectThresholdSeconds != 600 || l.MaxSessionSeconds != 28800 || l.MTU != 1380 || l.KeepaliveSeconds != 20 ||
		strings.Join(l.DNS, ",") != "10.40.0.1" || strings.Join(l.AllowedGroups, ",") != "staff,ops" {
		t.Fatalf("stored %+v", l)
	}

	// The edit page holds every stored value.
	_, body = c.get("/locations/" + l.ID + "/edit")
	for _, want := range []string{`value="Branch"`, `value="10.40.0.1/24"`, `value="51900"`, `value="10.40.0.0/24, 172.16.0.0/16"`, `value="600"`, `value="28800"`, `id="mfa" name="mfa" value="on" checked`} {
		if !strings.Contains(body, want) {
			t.Fatalf("edit page lacks %s", want)
		}
	}
	mustContain(t, body, l.PublicKey, "300 s is the recommended minimum", "the gateway should send statistics every 30 s")

	// Turning MFA off says clients are updated.
	form.Del("mfa")
	_, body = c.post("/locations/"+l.ID+"/edit", form)
	mustContain(t, body, "Internal MFA is now off. Clients are updated automatically", "No MFA")
	// A change without an MFA change has no such note.
	c.get("/locations/" + l.ID + "/edit")
	form.Set("name", "Branch office")
	_, body = c.post("/locations/"+l.ID+"/edit", form)
	mustContain(t, body, "Saved the changes to Branch office.")
	if strings.Contains(text(body), "Clients are updated") {
		t.Fatal("a note about MFA without an MFA change")
	}

	code, body = c.get("/locations/" + l.ID + "/delete")
	if code != http.StatusOK {
		t.Fatal(code)
	}
	mustContain(t, body, "Delete Branch office?", "cannot be undone")
	if locs, _ := s.Store().ListLocations(servertest.Ctx(t)); len(locs) != 1 {
		t.Fatal("the confirmation page deleted the location")
	}
	_, body = c.post("/locations/"+l.ID+"/delete", nil)
	mustContain(t, body, "Deleted Branch office.", "No locations yet")
}

// TestUsersPages: create (with errors beside fields), edit groups and the
// admin flag, reset MFA and delete after confirming.
func TestUsersPages(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.AdminToken()
	c := newClient(t, s)
	c.signIn("admin", "admin-password")

	c.get("/users/new")
	code, body := c.post("/users/new", url.Values{"username": {"Eve Smith"}, "email": {"eve@example.com"}, "password": {"eve-password-1"}})
	if code != http.StatusBadRequest || !strings.Contains(body, `id="username-error"`) {
		t.Fatalf("bad username: %d\n%s", code, text(body))
	}
	_, body = c.post("/users/new", url.Values{"username": {"eve"}, "email": {"not-mail"}, "password": {"eve-password-1"}})
	if !strings.Contains(body, `id="email-error"`) {
		t.Fatalf("bad email not beside its field:\n%s", text(body))
	}
	code, body = c.post("/users/new", url.Values{"username": {"eve"}, "email": {"eve@example.com"}, "password": {"eve-password-1"}, "groups": {"staff"}})
	if code != http.StatusOK {
		t.Fatalf("create: %d\n%s", code, text(body))
	}
	mustContain(t, body, "Created eve", "eve@example.com", "staff")
	eve, err := s.Store().UserByUsername(servertest.Ctx(t), "eve")
	if err != nil {
		t.Fatal(err)
	}

	c.get("/users/" + eve.ID)
	_, body = c.post("/users/"+eve.ID, url.Values{"email": {"eve@example.com"}, "groups": {"staff, ops"}, "admin": {"on"}})
	mustContain(t, body, "Saved eve")
	eve, _ = s.Store().UserByID(servertest.Ctx(t), eve.ID)
	if !eve.Admin || strings.Join(eve.Groups, ",") != "staff,ops" {
		t.Fatalf("eve = %+v", eve)
	}

	// The last admin cannot drop their own flag: the message says why.
	admin, _ := s.Store().UserByUsername(servertest.Ctx(t), "admin")
	c.get("/users/" + eve.ID)
	c.post("/users/"+eve.ID, url.Values{"email": {"eve@example.com"}})
	c.get("/users/" + admin.ID)
	code, body = c.post("/users/"+admin.ID, url.Values{"email": {"admin@example.com"}})
	if code != http.StatusConflict {
		t.Fatalf("dropping the last admin: %d", code)
	}
	mustContain(t, body, "is the last admin")

	// Reset MFA after confirming.
	eveU := &servertest.User{ID: eve.ID, Username: "eve", Password: "eve-password-1"}
	s.Login(eveU)
	s.EnableTOTP(eveU)
	_, body = c.get("/users/" + eve.ID + "/reset-mfa")
	mustContain(t, body, "Reset MFA of eve?")
	_, body = c.post("/users/"+eve.ID+"/reset-mfa", nil)
	mustContain(t, body, "Reset the MFA of eve")
	if eve, _ = s.Store().UserByID(servertest.Ctx(t), eve.ID); eve.TOTPEnabled {
		t.Fatal("TOTP still on after the reset")
	}

	_, body = c.get("/users/" + eve.ID + "/delete")
	mustContain(t, body, "Delete eve?")
	_, body = c.post("/users/"+eve.ID+"/delete", nil)
	mustContain(t, body, "Deleted eve.")
	if _, err := s.Store().UserByID(servertest.Ctx(t), eve.ID); err == nil {
		t.Fatal("eve still exists")
	}
}

// TestAuditFiltersAndPaging: filter by action prefix and actor, page back.
func TestAuditFiltersAndPaging(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.AdminToken()
	ctx := servertest.Ctx(t)
	for i := range 70 {
		action, actor := "mfa.failed", "frank"
		if i%2 == 1 {
			action, actor = "session.started", "grace"
		}
		if err := s.Store().AddAuditEvent(ctx, store.AuditEvent{Time: s.Clock.Now(), Actor: actor, Action: action, Subject: fmt.Sprintf("event-%02d", i), Detail: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, s)
	c.signIn("admin", "admin-password")

	_, body := c.get("/audit")
	if n := strings.Count(body, `data-label="Action"`); n != 50 {
		t.Fatalf("first page has %d events", n)
	}
	mustContain(t, body, "event-69", "Older")

	_, body = c.get("/audit?action=mfa.&actor=frank")
	if n := strings.Count(body, `<code class="action">mfa.failed</code>`); n != 35 {
		t.Fatalf("mfa. by frank: %d events", n)
	}
	if strings.Contains(body, "session.started") || strings.Contains(body, `id="older"`) {
		t.Fatal("filtered page shows other events or a next page")
	}

	_, body = c.get("/audit?action=session.")
	m := regexp.MustCompile(`href="(/audit\?[^"]+)" id="older"`).FindStringSubmatch(body)
	if m != nil {
		t.Fatalf("35 events fit one page, yet there is a next page %s", m[1])
	}
	_, body = c.get("/audit")
	m = regexp.MustCompile(`href="(/audit\?before=\d+)" id="older"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no link to older events")
	}
	_, body = c.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	mustContain(t, body, "event-00", "Newest")
	if strings.Contains(body, "event-69") {
		t.Fatal("the older page repeats the newest events")
	}
	code, _ := c.get("/audit?before=x")
	if code != http.StatusBadRequest {
		t.Fatalf("bad page address: %d", code)
	}
}

// TestGatewayToken: the token is shown once with the command to run, it
// works for GatewayService, and the page then counts the gateway.
func TestGatewayToken(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	loc := s.CreateLocation(&v1.Location{Name: "Depot"})
	c := newClient(t, s)
	c.signIn("admin", "admin-password")

	_, body := c.get("/gateways")
	mustContain(t, body, "Depot", "none")
	code, body := c.post("/gateways/token", url.Values{"location": {loc.Id}})
	if code != http.StatusOK {
		t.Fatalf("token: %d", code)
	}
	tok := regexp.MustCompile(`wgt_[A-Za-z0-9_-]+`).FindString(body)
	if tok == "" {
		t.Fatalf("no token on the page:\n%s", text(body))
	}
	mustContain(t, body, "wicketd gateway --server "+s.URL+" --fingerprint "+s.Daemon.Fingerprint+" --token "+tok, "shown only now")

	ctx, cancel := context.WithCancel(servertest.Ctx(t))
	defer cancel()
	stream, err := s.Gateway.SyncPeers(ctx, servertest.Req("", &v1.SyncPeersRequest{GatewayToken: tok}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() || stream.Msg().Snapshot == nil {
		t.Fatalf("no snapshot for the token: %v", stream.Err())
	}
	_, body = c.get("/gateways")
	mustContain(t, body, "1 gateway")
	_, body = c.get("/overview")
	mustContain(t, body, "Connected")

	_, body = c.post("/gateways/token", url.Values{"location": {"nope"}})
	mustContain(t, body, "location not found")
}

// TestSMTPSettings: save with errors beside fields, then a test email
// arrives at the harness's SMTP server; the password is never shown.
func TestSMTPSettings(t *testing.T) {
	t.Parallel()
	s := newServer(t, servertest.WithoutSMTP())
	s.AdminToken()
	c := newClient(t, s)
	c.signIn("admin", "admin-password")

	_, body := c.get("/smtp")
	mustContain(t, body, "Save the settings first")
	set := s.Mail.Settings("wicket@example.com")
	form := url.Values{"host": {set.Host}, "port": {fmt.Sprint(set.Port)}, "tls": {set.TLS.String()}, "username": {set.Username}, "password": {"smtp-secret-pw"}, "from": {"not an address"}}
	code, body := c.post("/smtp", form)
	if code != http.StatusBadRequest || !strings.Contains(body, `id="from-error"`) {
		t.Fatalf("bad from: %d\n%s", code, text(body))
	}
	form.Set("from", "Wicket <wicket@example.com>")
	_, body = c.post("/smtp", form)
	mustContain(t, body, "Saved the SMTP settings")
	if strings.Contains(body, "smtp-secret-pw") {
		t.Fatal("the SMTP password is on the page")
	}

	_, body = c.post("/smtp/test", url.Values{"to": {"admin@example.com"}})
	mustContain(t, body, "Sent a test email to admin@example.com")
	if _, err := s.Mail.WaitFor(servertest.Ctx(t), "admin@example.com", 1); err != nil {
		t.Fatal(err)
	}
	_, body = c.post("/smtp/test", url.Values{"to": {"nobody"}})
	mustContain(t, body, "is not an email address")
}

// TestProfileWithoutBrowser: disabling TOTP needs a right code, email
// codes need SMTP, and a device can be removed after confirming.
func TestProfileWithoutBrowser(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	u := s.CreateUser("henry")
	s.EnableTOTP(u)
	d := s.Enroll(u, "phone")
	c := newClient(t, s)
	c.get("/signin")
	c.post("/signin", url.Values{"username": {u.Username}, "password": {u.Password}})
	s.Clock.Advance(mfa.Period)
	_, body := c.post("/signin/code", url.Values{"code": {s.TOTPCode(u.TOTPSecret)}})
	mustContain(t, body, "phone", "On")

	code, body := c.post("/profile/totp/disable", url.Values{"disable_code": {"12"}})
	if code != http.StatusBadRequest || !strings.Contains(body, `id="disable_code-error"`) {
		t.Fatalf("short code: %d\n%s", code, text(body))
	}
	s.Clock.Advance(mfa.Period)
	_, body = c.post("/profile/totp/disable", url.Values{"disable_code": {s.TOTPCode(u.TOTPSecret)}})
	mustContain(t, body, "The authenticator app is off.")

	// Starting TOTP setup twice is fine; the page never shows an old secret.
	_, first := c.post("/profile/totp", nil)
	c.get("/profile")
	_, second := c.post("/profile/totp", nil)
	re := regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`)
	if a, b := re.FindStringSubmatch(first), re.FindStringSubmatch(second); a == nil || b == nil || a[1] == b[1] {
		t.Fatal("a new setup did not make a new secret")
	}

	_, body = c.get("/profile/devices/" + d.ID + "/remove")
	mustContain(t, body, "Remove phone?")
	_, body = c.post("/profile/devices/"+d.ID+"/remove", nil)
	mustContain(t, body, "Removed phone.", "No devices yet")
	if _, err := s.Client.GetInstance(servertest.Ctx(t), servertest.Req("", &v1.GetInstanceRequest{DeviceToken: d.Token})); err == nil {
		t.Fatal("the removed device still works")
	}

	// Another user's device is not found.
	other := s.CreateUser("ida")
	od := s.Enroll(other, "tablet")
	code, _ = c.get("/profile/devices/" + od.ID + "/remove")
	if code != http.StatusNotFound {
		t.Fatalf("another user's device: %d", code)
	}
}

// TestEmailCodesNeedSMTP: without SMTP settings the profile says so.
func TestEmailCodesNeedSMTP(t *testing.T) {
	t.Parallel()
	s := newServer(t, servertest.WithoutSMTP())
	u := s.CreateUser("ivy")
	c := newClient(t, s)
	c.signIn(u.Username, u.Password)
	mustContain(t, c.last, "Email codes are unavailable: the server has no SMTP settings.")
	_, body := c.post("/profile/email", nil)
	mustContain(t, body, "Email codes are unavailable")
}
