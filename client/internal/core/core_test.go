package core_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/wicket-vpn/wicket/client/internal/core"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

func ctx(t *testing.T) context.Context { return wickettest.Ctx(t) }

func TestEnrollStoresSecretsInTheKeyringOnly(t *testing.T) {
	e := newEnv(t, nil)
	office := e.s.MFALocation("Office")
	v := e.enroll()
	if v.Name != "Test Wicket" || v.Username != "alice" || v.DeviceName != "laptop" || v.ID == "" {
		t.Fatalf("instance = %+v", v)
	}
	if len(v.Locations) != 1 || v.Locations[0].ID != office.Id || !v.Locations[0].MFA || v.Locations[0].State != core.Disconnected {
		t.Fatalf("locations = %+v", v.Locations)
	}
	if e.sec.Len() != 2 {
		t.Fatalf("keyring holds %d secrets, want the private key and the device token", e.sec.Len())
	}
	key, err := e.sec.Get("instance/" + v.ID + "/private-key")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.sec.Get("instance/" + v.ID + "/device-token")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(e.dir, "instances.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), key) || strings.Contains(string(raw), tok) {
		t.Fatal("instances.json holds a secret")
	}
	if st, _ := os.Stat(filepath.Join(e.dir, "instances.json")); st.Mode().Perm() != 0o600 {
		t.Fatalf("instances.json mode %v", st.Mode())
	}

	// A new process finds the instance and its locations without the
	// network.
	again := e.newCore()
	got := again.Instances()
	if len(got) != 1 || got[0].ID != v.ID || len(got[0].Locations) != 1 || got[0].Locations[0].Name != "Office" {
		t.Fatalf("reloaded = %+v", got)
	}
	if err := again.Update(ctx(t), v.ID); err != nil {
		t.Fatalf("update with the stored token: %v", err)
	}

	// The enrollment token works once.
	code := e.code("second")
	if _, err := e.c.Enroll(ctx(t), code, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Enroll(ctx(t), code, ""); err == nil {
		t.Fatal("an enrollment token worked twice")
	}
	if _, err := e.c.Enroll(ctx(t), "not a code", ""); err == nil || !strings.Contains(err.Error(), "wicket1.") {
		t.Fatalf("bad code: %v", err)
	}

	if err := e.c.RemoveInstance(ctx(t), v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sec.Get("instance/" + v.ID + "/private-key"); err == nil {
		t.Fatal("removing the instance left its key in the keyring")
	}
	if len(e.c.Instances()) != 1 {
		t.Fatalf("instances after remove = %d", len(e.c.Instances()))
	}
}

func TestEnrollRefusesAWrongFingerprint(t *testing.T) {
	e := newEnv(t, nil)
	code := e.code("laptop")
	// Another server's certificate: the pin must refuse this one.
	other := wickettest.New(t)
	otherUser := other.CreateUser("bob")
	resp, err := other.Account.CreateEnrollmentToken(ctx(t), wickettest.Req(otherUser.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "x"}))
	if err != nil {
		t.Fatal(err)
	}
	// The first server's URL and token with the other server's fingerprint.
	forged := swapFingerprint(t, code, resp.Msg.EnrollmentCode)
	_, err = e.c.Enroll(ctx(t), forged, "laptop")
	if err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("enroll with a wrong pin = %v", err)
	}
	if e.sec.Len() != 0 {
		t.Fatal("a failed enrollment left secrets behind")
	}
}

func TestAdminChangeArrivesThroughTheStream(t *testing.T) {
	e := newEnv(t, nil)
	loc := e.s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED})
	v := e.enroll()
	e.run(v.ID)

	loc.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	loc.PeerDisconnectThresholdSeconds = 600
	if _, err := e.s.Admin.UpdateLocation(ctx(t), wickettest.Req(e.s.AdminToken(), &v1.UpdateLocationRequest{Location: loc})); err != nil {
		t.Fatal(err)
	}
	// The poll interval is an hour: only the stream can bring this.
	ev := e.waitFor("the instance update", func(ev core.Event) bool {
		return ev.Kind == core.EventInstanceUpdated && len(ev.Changes) > 0
	})
	if !slices.Contains(ev.Changes, "Office now asks for MFA on every connection") {
		t.Fatalf("changes = %q", ev.Changes)
	}
	if !slices.Contains(ev.Changes, "Office now disconnects after 10 min without traffic") {
		t.Fatalf("changes = %q", ev.Changes)
	}
	got := e.loc(v.ID, loc.Id)
	if !got.MFA || got.IdleThreshold != 10*time.Minute {
		t.Fatalf("location after the change = %+v", got)
	}
	iv, _ := e.c.Instance(v.ID)
	if len(iv.Changes) == 0 || iv.ChangedAt.IsZero() {
		t.Fatalf("no banner: %+v", iv)
	}
	e.c.AcknowledgeChanges(v.ID)
	if iv, _ := e.c.Instance(v.ID); len(iv.Changes) != 0 {
		t.Fatal("the banner stayed after AcknowledgeChanges")
	}

	// A new location shows up too.
	e.s.MFALocation("Lab")
	ev = e.waitFor("the new location", func(ev core.Event) bool {
		return ev.Kind == core.EventInstanceUpdated && slices.Contains(ev.Changes, "New location: Lab")
	})
	if iv, _ := e.c.Instance(v.ID); len(iv.Locations) != 2 {
		t.Fatalf("locations = %+v", iv.Locations)
	}
}

func TestStreamReconnectsAfterServerRestart(t *testing.T) {
	var afters = make(chan chan time.Time, 16)
	after := func(d time.Duration) <-chan time.Time {
		if d >= time.Hour { // poll and stats: never in this test
			return nil
		}
		ch := make(chan time.Time, 1)
		afters <- ch
		return ch
	}
	e := newEnv(t, nil, func(o *core.Options) { o.After = after })
	e.s.MFALocation("Office")
	v := e.enroll()
	e.run(v.ID)
	e.s.Restart()
	e.waitFor("the stream to drop", func(core.Event) bool {
		iv, _ := e.c.Instance(v.ID)
		return !iv.Live
	})
	// The backoff timer fires when the test says so, not after a sleep.
	select {
	case ch := <-afters:
		ch <- time.Now()
	case <-time.After(failsafe):
		t.Fatal("no backoff timer")
	}
	e.waitFor("the stream to reopen", func(core.Event) bool {
		iv, _ := e.c.Instance(v.ID)
		return iv.Live
	})
	e.s.MFALocation("Lab")
	e.waitFor("a change through the new stream", func(ev core.Event) bool {
		return ev.Kind == core.EventInstanceUpdated && slices.Contains(ev.Changes, "New location: Lab")
	})
}

func TestConnectWithoutMFA(t *testing.T) {
	e := newEnv(t, nil)
	loc := e.s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED, Dns: []string{"10.10.0.1"}})
	v := e.enroll()
	if err := e.c.Connect(ctx(t), v.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	got := e.wantState(v.ID, loc.Id, core.Connected)
	tun := e.tunnels.last(t)
	if !tun.cfg.PresharedKey.IsZero() {
		t.Fatal("a location without MFA got a pre-shared key")
	}
	if got.TunnelAddress == "" || got.TunnelAddress != tun.cfg.Address.String() || got.Offers != "fake tunnel" || !got.IdleDisconnectAt.IsZero() {
		t.Fatalf("view = %+v", got)
	}
	if err := e.c.Disconnect(ctx(t), v.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	e.wantState(v.ID, loc.Id, core.Disconnected)
	if !tun.isClosed() {
		t.Fatal("Disconnect left the tunnel up")
	}
}

func TestOneTunnelAtATime(t *testing.T) {
	e := newEnv(t, nil)
	office := e.s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED})
	lab := e.s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.20.0.1/24", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL})
	v := e.enroll()
	if err := e.c.Connect(ctx(t), v.ID, office.Id); err != nil {
		t.Fatal(err)
	}
	e.wantState(v.ID, office.Id, core.Connected)
	err := e.c.Connect(ctx(t), v.ID, lab.Id)
	if !errors.Is(err, core.ErrBusy) || !strings.Contains(err.Error(), "disconnect Office first") {
		t.Fatalf("second tunnel: %v", err)
	}
	if got := e.loc(v.ID, lab.Id); got.State != core.Disconnected {
		t.Fatalf("Lab = %v", got.State)
	}
	if err := e.c.Disconnect(ctx(t), v.ID, office.Id); err != nil {
		t.Fatal(err)
	}
	e.wantState(v.ID, office.Id, core.Disconnected)
	if err := e.c.Connect(ctx(t), v.ID, lab.Id); err != nil {
		t.Fatal(err)
	}
	e.wantState(v.ID, lab.Id, core.AwaitingMethod)
}

func TestDeletedLocationEndsItsSession(t *testing.T) {
	e := newEnv(t, nil)
	office := e.s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED})
	v := e.enroll()
	e.run(v.ID)
	if err := e.c.Connect(ctx(t), v.ID, office.Id); err != nil {
		t.Fatal(err)
	}
	e.wantState(v.ID, office.Id, core.Connected)
	tun := e.tunnels.last(t)
	if _, err := e.s.Admin.DeleteLocation(ctx(t), wickettest.Req(e.s.AdminToken(), &v1.DeleteLocationRequest{Id: office.Id})); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor("the session's end", func(ev core.Event) bool {
		return ev.Kind == core.EventSessionEnded && ev.LocationID == office.Id
	})
	if ev.Reason != "location_changed" || ev.Message == "" {
		t.Fatalf("event = %+v", ev)
	}
	e.waitFor("the tunnel to close", func(core.Event) bool { return tun.isClosed() })
}

func TestMFAWithTOTP(t *testing.T) {
	e := newEnv(t, nil)
	e.s.EnableTOTP(e.u)
	loc := e.s.MFALocation("Office")
	v := e.enroll()
	e.run(v.ID)
	ch, cancel := e.c.Subscribe()
	defer cancel()

	if err := e.c.Connect(ctx(t), v.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	if got := e.wantState(v.ID, loc.Id, core.AwaitingMethod); got.Method != core.MethodTOTP {
		t.Fatalf("preselected method = %q", got.Method)
	}
	if err := e.c.ChooseMethod(ctx(t), v.ID, loc.Id, core.MethodTOTP); err != nil {
		t.Fatal(err)
	}
	e.wantState(v.ID, loc.Id, core.AwaitingCode)
	if err := e.c.SubmitCode(ctx(t), v.ID, loc.Id, e.s.TOTPCode(e.u.TOTPSecret)); err != nil {
		t.Fatal(err)
	}
	got := e.wantState(v.ID, loc.Id, core.Connected)
	tun := e.tunnels.last(t)
	if tun.cfg.PresharedKey.IsZero() {
		t.Fatal("an MFA session came without a pre-shared key")
	}
	if got.ConnectedSince.IsZero() || got.IdleDisconnectAt.IsZero() || got.TxBytes != 2 {
		t.Fatalf("connected view = %+v", got)
	}
	// The view went through every state, in order.
	var states []core.State
	for len(states) == 0 || states[len(states)-1] != core.Connected {
		select {
		case ev := <-ch:
			if ev.Kind == core.EventLocationChanged && (len(states) == 0 || states[len(states)-1] != ev.Location.State) {
				states = append(states, ev.Location.State)
			}
		case <-time.After(failsafe):
			t.Fatalf("states so far %v", states)
		}
	}
	want := []core.State{core.AwaitingMethod, core.AwaitingCode, core.Connecting, core.Connected}
	if !slices.Equal(states, want) {
		t.Fatalf("states = %v, want %v", states, want)
	}

	// Asking again: the last method is remembered for the location.
	if err := e.c.Disconnect(ctx(t), v.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	if !tun.isClosed() {
		t.Fatal("tunnel still up")
	}
	if err := e.c.Connect(ctx(t), v.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	if got := e.wantState(v.ID, loc.Id, core.AwaitingMethod); got.Method != core.MethodTOTP {
		t.Fatalf("remembered method = %q", got.Method)
	}
	e.c.Cancel(v.ID, loc.Id)
	e.wantState(v.ID, loc.Id, core.Disconnected)
}

func TestMFAWithEmailAndResend(t *testing.T) {
	e := newEnv(t, nil)
	e.s.EnableEmail(e.u)
	loc := e.s.MFALocation("Office")
	v := e.enroll()
	if err := e.c.Connect(ctx(t), v.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	if got := e.wantState(v.ID, loc.Id, core.AwaitingMethod); got.Method != core.MethodEmail {
		t.Fatalf("preselected = %q (the only method the account has)", got.Method)
	}
	n := len(e.s.MailTo(e.u.Email))
	if err := e.c.ChooseMethod(ctx(t), v.ID, loc.Id, core.MethodEmail); err != nil {
		t.Fatal(err)
	}
	got := e.wantState(v.ID, loc.Id, core.AwaitingCode)
	if got.SentTo == "" || got.SentTo == e.u.Email || got.CodeExpires.IsZero() {
		t.Fatalf("sent to %q (should be masked), expires %v", got.SentTo, got.CodeExpires)
	}
	first := e.s.WaitCode(e.u.Email, n+1)

	// Resending at once is throttled; the server's message says how long.
	err := e.c.Resend(ctx(t), v.ID, loc.Id)
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Code != connect.CodeResourceExhausted {
		t.Fatalf("immediate resend = %v", err)
	}
	got = e.wantState(v.ID, loc.Id, core.AwaitingCode)
	if got.Error != ce.Msg || got.Error == "" {
		t.Fatalf("error shown = %q", got.Error)
	}
	t.Logf("throttled: %s", got.Error)
	e.s.Clock.Advance(31 * time.Second)
	if err := e.c.Resend(ctx(t), v.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	got = e.wantState(v.ID, loc.Id, core.AwaitingCode)
	if got.Error != "" || !strings.Contains(got.Message, got.SentTo) {
		t.Fatalf("after resend: error %q, message %q", got.Error, got.Message)
	}
	second := e.s.WaitCode(e.u.Email, n+2)
	if second == first {
		t.Log("the two codes happen to be equal")
	}
	if err := e.c.SubmitCode(ctx(t), v.ID, loc.Id, second[:3]+" "+second[3:]); err != nil {
		t.Fatal(err)
	}
	e.wantState(v.ID, loc.Id, core.Connected)
	if e.tunnels.last(t).cfg.PresharedKey.IsZero() {
		t.Fatal("no pre-shared key")
	}
}

func TestMethodNotEnabledStaysInThePicker(t *testing.T) {
	e := newEnv(t, nil)
	e.s.EnableEmail(e.u) // TOTP is not set up
	loc := e.s.MFALocation("Office")
	v := e.enroll()
	if err := e.c.Connect(ctx(t), v.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
	err := e.c.ChooseMethod(ctx(t), v.ID, loc.Id, core.MethodTOTP)
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Code != connect.CodeFailedPrecondition {
		t.Fatalf("choose TOTP = %v", err)
	}
	got := e.wantState(v.ID, loc.Id, core.AwaitingMethod)
	if !strings.HasPrefix(got.Error, "TOTP is not enabled for your account") {
		t.Fatalf("error shown = %q", got.Error)
	}
	// Choosing again works and clears the error.
	if err := e.c.ChooseMethod(ctx(t), v.ID, loc.Id, core.MethodEmail); err != nil {
		t.Fatal(err)
	}
	if got := e.wantState(v.ID, loc.Id, core.AwaitingCode); got.Error != "" {
		t.Fatalf("error after choosing again = %q", got.Error)
	}
}

func TestEmailWithoutSMTP(t *testing.T) {
	e := newEnv(t, []wickettest.Option{wickettest.WithoutSMTP()})
	e.s.EnableTOTP(e.u)
	loc := e.s.MFALocation("Office")
	v := e.enroll()
	e.c.Connect(ctx(t), v.ID, loc.Id)
	if err := e.c.ChooseMethod(ctx(t), v.ID, loc.Id, core.MethodEmail); err == nil {
		t.Fatal("email without SMTP worked")
	}
	got := e.wantState(v.ID, loc.Id, core.AwaitingMethod)
	if !strings.Contains(got.Error, "Email codes") {
		t.Fatalf("error shown = %q", got.Error)
	}
}

func TestWrongCodeThenLockout(t *testing.T) {
	e := newEnv(t, nil)
	e.s.EnableTOTP(e.u)
	loc := e.s.MFALocation("Office")
	v := e.enroll()
	e.c.Connect(ctx(t), v.ID, loc.Id)
	if err := e.c.ChooseMethod(ctx(t), v.ID, loc.Id, core.MethodTOTP); err != nil {
		t.Fatal(err)
	}
	right := e.s.TOTPCode(e.u.TOTPSecret)
	wrong := "000000"
	if wrong == right {
		wrong = "111111"
	}
	triesLeft := regexp.MustCompile(`^Invalid code \((\d+) (tries|try) left\)`)
	var locked *core.Error
	for i := 0; i < 10 && locked == nil; i++ {
		err := e.c.SubmitCode(ctx(t), v.ID, loc.Id, wrong)
		var ce *core.Error
		if !errors.As(err, &ce) {
			t.Fatalf("wrong code #%d = %v", i+1, err)
		}
		got := e.loc(v.ID, loc.Id)
		switch ce.Code {
		case connect.CodeUnauthenticated:
			if got.State == core.AwaitingMethod {
				// The challenge ran out of tries: start another one.
				if err := e.c.ChooseMethod(ctx(t), v.ID, loc.Id, core.MethodTOTP); err != nil {
					var ce2 *core.Error
					if errors.As(err, &ce2) && ce2.Code == connect.CodeResourceExhausted {
						locked = ce2
					} else {
						t.Fatal(err)
					}
				}
				continue
			}
			if got.State != core.AwaitingCode || !triesLeft.MatchString(got.Error) {
				t.Fatalf("after wrong code #%d: %v %q", i+1, got.State, got.Error)
			}
		case connect.CodeResourceExhausted:
			locked = ce
		default:
			t.Fatalf("wrong code #%d = %v", i+1, err)
		}
	}
	if locked == nil {
		t.Fatal("never locked out")
	}
	got := e.loc(v.ID, loc.Id)
	if got.Error != locked.Msg || !strings.Contains(got.Error, "min") && !strings.Contains(got.Error, "s") {
		t.Fatalf("lockout shown as %q (%v)", got.Error, got.State)
	}
	t.Logf("lockout: %s", got.Error)
	if got.State != core.AwaitingCode && got.State != core.AwaitingMethod {
		t.Fatalf("state during lockout = %v", got.State)
	}
	// Even the right code is refused while locked.
	if got.State == core.AwaitingCode {
		if err := e.c.SubmitCode(ctx(t), v.ID, loc.Id, right); err == nil {
			t.Fatal("the right code worked during a lockout")
		}
	}
	if e.tunnels.count() != 0 {
		t.Fatal("a tunnel came up")
	}
}

func TestIdleDisconnectArrivesAsAnEvent(t *testing.T) {
	e := newEnv(t, nil)
	e.s.EnableTOTP(e.u)
	loc := e.s.MFALocation("Office")
	v := e.enroll()
	e.run(v.ID)
	e.c.Connect(ctx(t), v.ID, loc.Id)
	if err := e.c.ChooseMethod(ctx(t), v.ID, loc.Id, core.MethodTOTP); err != nil {
		t.Fatal(err)
	}
	if err := e.c.SubmitCode(ctx(t), v.ID, loc.Id, e.s.TOTPCode(e.u.TOTPSecret)); err != nil {
		t.Fatal(err)
	}
	e.wantState(v.ID, loc.Id, core.Connected)
	tun := e.tunnels.last(t)

	// No handshake ever reaches the server: after the threshold the
	// sweeper ends the session.
	e.s.Clock.Advance(time.Duration(loc.PeerDisconnectThresholdSeconds+1) * time.Second)
	if n, err := e.s.Svc.Sessions.Sweep(ctx(t)); err != nil || n != 1 {
		t.Fatalf("sweep ended %d sessions (%v)", n, err)
	}
	ev := e.waitFor("session ended", func(ev core.Event) bool { return ev.Kind == core.EventSessionEnded })
	if ev.Reason != "idle" || ev.Message == "" || ev.LocationID != loc.Id || ev.Location.State != core.Disconnected {
		t.Fatalf("event = %+v", ev)
	}
	t.Logf("notification: %s", ev.Message)
	got := e.wantState(v.ID, loc.Id, core.Disconnected)
	if got.Message != ev.Message || got.EndReason != "idle" {
		t.Fatalf("view = %+v", got)
	}
	if !tun.isClosed() {
		t.Fatal("the tunnel stayed up after the server ended the session")
	}
	// MFA locations never reconnect by themselves: nothing more happens
	// until the user connects again, even after a poll.
	if err := e.c.Update(ctx(t), v.ID); err != nil {
		t.Fatal(err)
	}
	if e.tunnels.count() != 1 {
		t.Fatal("the client reconnected by itself")
	}
	e.wantState(v.ID, loc.Id, core.Disconnected)
}

func TestAdminTurningMFAOffEndsTheSession(t *testing.T) {
	e := newEnv(t, nil)
	e.s.EnableTOTP(e.u)
	loc := e.s.MFALocation("Office")
	v := e.enroll()
	e.run(v.ID)
	e.c.Connect(ctx(t), v.ID, loc.Id)
	e.c.ChooseMethod(ctx(t), v.ID, loc.Id, core.MethodTOTP)
	if err := e.c.SubmitCode(ctx(t), v.ID, loc.Id, e.s.TOTPCode(e.u.TOTPSecret)); err != nil {
		t.Fatal(err)
	}
	loc.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED
	if _, err := e.s.Admin.UpdateLocation(ctx(t), wickettest.Req(e.s.AdminToken(), &v1.UpdateLocationRequest{Location: loc})); err != nil {
		t.Fatal(err)
	}
	ev := e.waitFor("session ended", func(ev core.Event) bool { return ev.Kind == core.EventSessionEnded })
	if ev.Reason != "mfa_disabled" {
		t.Fatalf("event = %+v", ev)
	}
	e.waitFor("the change", func(core.Event) bool { return !e.loc(v.ID, loc.Id).MFA })
	e.wantState(v.ID, loc.Id, core.Disconnected)
}

func TestTunnelFailureEndsTheSession(t *testing.T) {
	e := newEnv(t, nil)
	e.s.EnableTOTP(e.u)
	loc := e.s.MFALocation("Office")
	v := e.enroll()
	e.tunnels.fail = errFake
	e.c.Connect(ctx(t), v.ID, loc.Id)
	e.c.ChooseMethod(ctx(t), v.ID, loc.Id, core.MethodTOTP)
	if err := e.c.SubmitCode(ctx(t), v.ID, loc.Id, e.s.TOTPCode(e.u.TOTPSecret)); !errors.Is(err, errFake) {
		t.Fatalf("submit = %v", err)
	}
	got := e.wantState(v.ID, loc.Id, core.Failed)
	if got.Error != errFake.Error() {
		t.Fatalf("error = %q", got.Error)
	}
	resp, err := e.s.Admin.ListSessions(ctx(t), wickettest.Req(e.s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Msg.Sessions) != 0 {
		t.Fatalf("the server still has %d active sessions", len(resp.Msg.Sessions))
	}
}

func TestSettings(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.c.SetSettings(core.Settings{TunnelMode: "userspace", SOCKSAddr: "0.0.0.0:1080"}); err == nil {
		t.Fatal("a SOCKS proxy off loopback was accepted")
	}
	if err := e.c.SetSettings(core.Settings{TunnelMode: "bogus"}); err == nil {
		t.Fatal("a bogus mode was accepted")
	}
	want := core.Settings{TunnelMode: "userspace", SOCKSAddr: "127.0.0.1:1090"}
	if err := e.c.SetSettings(want); err != nil {
		t.Fatal(err)
	}
	if got := e.newCore().Settings(); got != want {
		t.Fatalf("reloaded settings = %+v", got)
	}
	e.c.UseSettings(core.Settings{TunnelMode: "system"})
	if got := e.newCore().Settings(); got != want {
		t.Fatal("UseSettings saved")
	}
}
