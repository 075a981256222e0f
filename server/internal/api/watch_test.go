package api_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
	"github.com/wicket-vpn/wicket/server/internal/notify"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// instanceWatch is an open WatchInstance stream of one device.
type instanceWatch struct {
	t      *testing.T
	stream *connect.ServerStreamForClient[v1.WatchInstanceResponse]
}

// openWatch opens a device's WatchInstance stream; it closes when the test ends.
func openWatch(t *testing.T, s *servertest.Server, deviceToken string, known uint64) *instanceWatch {
	t.Helper()
	stream, err := s.Client.WatchInstance(servertest.Ctx(t), servertest.Req("", &v1.WatchInstanceRequest{DeviceToken: deviceToken, KnownConfigVersion: known}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Close() })
	return &instanceWatch{t: t, stream: stream}
}

// next blocks for the next message (the stream's context bounds the wait).
func (w *instanceWatch) next() *v1.WatchInstanceResponse {
	w.t.Helper()
	if !w.stream.Receive() {
		w.t.Fatalf("watch stream ended: %v", w.stream.Err())
	}
	return w.stream.Msg()
}

// nextInstance returns the next message, which must be an instance.
func (w *instanceWatch) nextInstance() *v1.InstanceInfo {
	w.t.Helper()
	m := w.next()
	if m.Instance == nil {
		w.t.Fatalf("want an instance, got %v", m)
	}
	return m.Instance
}

// nextEnded returns the next session end, passing over instance updates.
func (w *instanceWatch) nextEnded() *v1.SessionEnded {
	w.t.Helper()
	for {
		m := w.next()
		if m.SessionEnded != nil {
			return m.SessionEnded
		}
		w.t.Logf("instance update while waiting for a session end: version %d", m.Instance.GetConfigVersion())
	}
}

// checkWatchers checks that the server has n watch streams subscribed: the
// WatchInstance call returns only once its stream is, so a change made next
// is pushed to it rather than read when it starts.
func checkWatchers(t *testing.T, s *servertest.Server, n int) {
	t.Helper()
	if got := s.Svc.Watchers(); got != n {
		t.Fatalf("%d watchers subscribed, want %d", got, n)
	}
}

func instanceLocation(inst *v1.InstanceInfo, id string) *v1.LocationInfo {
	for _, l := range inst.GetLocations() {
		if l.Id == id {
			return l
		}
	}
	return nil
}

func TestWatchInstancePushesLocationUpdate(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.CreateLocation(&v1.Location{Name: "Office", PeerDisconnectThresholdSeconds: 900})
	u := s.CreateUser("alice")
	d := s.Enroll(u, "laptop")
	known := d.Instance.ConfigVersion
	if li := instanceLocation(d.Instance, loc.Id); li == nil || li.MfaMode != v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED || li.PeerDisconnectThresholdSeconds != 900 {
		t.Fatalf("before: %v", li)
	}

	w := openWatch(t, s, d.Token, known)
	checkWatchers(t, s, 1)

	// The admin turns Internal MFA on with the recommended threshold.
	loc.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	loc.PeerDisconnectThresholdSeconds = 300
	up, err := s.Admin.UpdateLocation(ctx, servertest.Req(s.AdminToken(), &v1.UpdateLocationRequest{Location: loc}))
	if err != nil {
		t.Fatal(err)
	}
	if up.Msg.Location.ConfigVersion <= loc.ConfigVersion {
		t.Fatalf("location version %d after update, was %d", up.Msg.Location.ConfigVersion, loc.ConfigVersion)
	}

	inst := w.nextInstance()
	if inst.ConfigVersion <= known {
		t.Fatalf("pushed version %d, known %d", inst.ConfigVersion, known)
	}
	li := instanceLocation(inst, loc.Id)
	if li == nil || li.MfaMode != v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL || li.PeerDisconnectThresholdSeconds != 300 {
		t.Fatalf("pushed location %v", li)
	}
	if li.Tunnel.GetAddress() != d.Instance.Locations[0].Tunnel.GetAddress() || li.Tunnel.GetPresharedKey() != "" {
		t.Fatalf("pushed tunnel %v", li.Tunnel)
	}

	// The stream stays open: a second change arrives the same way.
	loc = up.Msg.Location
	loc.PeerDisconnectThresholdSeconds = 450
	if _, err := s.Admin.UpdateLocation(ctx, servertest.Req(s.AdminToken(), &v1.UpdateLocationRequest{Location: loc})); err != nil {
		t.Fatal(err)
	}
	second := w.nextInstance()
	if second.ConfigVersion <= inst.ConfigVersion {
		t.Fatalf("second push version %d, first %d", second.ConfigVersion, inst.ConfigVersion)
	}
	if li := instanceLocation(second, loc.Id); li.GetPeerDisconnectThresholdSeconds() != 450 || li.GetMfaMode() != v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL {
		t.Fatalf("second push location %v", li)
	}
	gi, err := s.Client.GetInstance(ctx, servertest.Req("", &v1.GetInstanceRequest{DeviceToken: d.Token}))
	if err != nil {
		t.Fatal(err)
	}
	if gi.Msg.Instance.ConfigVersion != second.ConfigVersion {
		t.Fatalf("GetInstance version %d, pushed %d", gi.Msg.Instance.ConfigVersion, second.ConfigVersion)
	}
}

func TestWatchInstancePushesUserMFAChange(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.MFALocation("Office")
	alice := s.CreateUser("alice")
	bob := s.CreateUser("bob")
	da := s.Enroll(alice, "alice-laptop")
	db := s.Enroll(bob, "bob-laptop")
	if len(da.Instance.EnabledMfaMethods) != 0 {
		t.Fatalf("methods before setup: %v", da.Instance.EnabledMfaMethods)
	}

	// Bob's stream sends his instance at once (he knows no version), so
	// everything after that first message is pushed.
	wb := openWatch(t, s, db.Token, 0)
	if first := wb.nextInstance(); first.Username != "bob" {
		t.Fatalf("bob's first instance: %v", first)
	}
	wa := openWatch(t, s, da.Token, da.Instance.ConfigVersion)
	checkWatchers(t, s, 2)

	s.EnableEmail(alice)
	inst := wa.nextInstance()
	if inst.Username != "alice" || !slices.Equal(inst.EnabledMfaMethods, []v1.MfaMethod{v1.MfaMethod_MFA_METHOD_EMAIL}) || inst.ConfigVersion <= da.Instance.ConfigVersion {
		t.Fatalf("after email setup: version %d (was %d), methods %v", inst.ConfigVersion, da.Instance.ConfigVersion, inst.EnabledMfaMethods)
	}

	s.EnableTOTP(alice)
	inst2 := wa.nextInstance()
	if !slices.Equal(inst2.EnabledMfaMethods, []v1.MfaMethod{v1.MfaMethod_MFA_METHOD_TOTP, v1.MfaMethod_MFA_METHOD_EMAIL}) || inst2.ConfigVersion <= inst.ConfigVersion {
		t.Fatalf("after TOTP setup: version %d (was %d), methods %v", inst2.ConfigVersion, inst.ConfigVersion, inst2.EnabledMfaMethods)
	}

	// Alice's changes are hers: bob's next message is the location change
	// that follows them, not one of alice's versions.
	loc.PeerDisconnectThresholdSeconds = 600
	up, err := s.Admin.UpdateLocation(ctx, servertest.Req(s.AdminToken(), &v1.UpdateLocationRequest{Location: loc}))
	if err != nil {
		t.Fatal(err)
	}
	bi := wb.nextInstance()
	if bi.Username != "bob" || len(bi.EnabledMfaMethods) != 0 || bi.ConfigVersion != up.Msg.Location.ConfigVersion {
		t.Fatalf("bob got %s's instance version %d with methods %v; the location change is version %d", bi.Username, bi.ConfigVersion, bi.EnabledMfaMethods, up.Msg.Location.ConfigVersion)
	}
	if got := wa.nextInstance(); got.ConfigVersion != up.Msg.Location.ConfigVersion || instanceLocation(got, loc.Id).GetPeerDisconnectThresholdSeconds() != 600 {
		t.Fatalf("alice after the location change: %v", got)
	}

	// An admin resetting alice's MFA reaches her stream too.
	if _, err := s.Admin.ResetUserMfa(ctx, servertest.Req(s.AdminToken(), &v1.ResetUserMfaRequest{Id: alice.ID})); err != nil {
		t.Fatal(err)
	}
	if got := wa.nextInstance(); len(got.EnabledMfaMethods) != 0 {
		t.Fatalf("after reset: methods %v", got.EnabledMfaMethods)
	}
}

func TestWatchInstanceSessionEndedByAdmin(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.MFALocation("Office")
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")

	w := openWatch(t, s, d.Token, 0)
	w.nextInstance()

	st, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: s.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admin.DisconnectSession(ctx, servertest.Req(s.AdminToken(), &v1.DisconnectSessionRequest{SessionId: fin.Msg.SessionId})); err != nil {
		t.Fatal(err)
	}

	ended := w.nextEnded()
	if ended.SessionId != fin.Msg.SessionId || ended.LocationId != loc.Id || ended.Reason != v1.SessionEndReason_SESSION_END_REASON_ADMIN || ended.Message == "" {
		t.Fatalf("session ended = %v", ended)
	}

	// The admin's list agrees, and the device cannot end the session again.
	ls, err := s.Admin.ListSessions(ctx, servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Msg.Sessions) != 1 || ls.Msg.Sessions[0].EndReason != v1.SessionEndReason_SESSION_END_REASON_ADMIN || ls.Msg.Sessions[0].State != v1.SessionState_SESSION_STATE_ENDED {
		t.Fatalf("sessions = %v", ls.Msg.Sessions)
	}
	_, err = s.Admin.DisconnectSession(ctx, servertest.Req(s.AdminToken(), &v1.DisconnectSessionRequest{SessionId: fin.Msg.SessionId}))
	wantCode(t, err, connect.CodeFailedPrecondition, "")
}

// TestWatchInstanceOpensUpToDate opens the watch of an up-to-date client over
// each protocol wicketd speaks: the call returns with the stream open (no
// message yet), and the next change is pushed.
func TestWatchInstanceOpensUpToDate(t *testing.T) {
	s := servertest.New(t)
	loc := s.CreateLocation(&v1.Location{Name: "Office"})
	d := s.Enroll(s.CreateUser("alice"), "laptop")
	protocols := []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"connect-json", []connect.ClientOption{connect.WithProtoJSON()}},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	}
	for i, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			ctx := servertest.Ctx(t)
			client := wicketv1connect.NewClientServiceClient(s.HTTP, s.URL, p.opts...)
			known, err := s.Store().ConfigVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			stream, err := client.WatchInstance(ctx, servertest.Req("", &v1.WatchInstanceRequest{DeviceToken: d.Token, KnownConfigVersion: known}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			loc.PeerDisconnectThresholdSeconds = uint32(600 + i)
			loc = adminUpdateLocation(t, s, loc)
			if !stream.Receive() {
				t.Fatalf("stream ended: %v", stream.Err())
			}
			inst := stream.Msg().Instance
			if inst.GetConfigVersion() != loc.ConfigVersion || instanceLocation(inst, loc.Id).GetPeerDisconnectThresholdSeconds() != uint32(600+i) {
				t.Fatalf("pushed %v, want version %d", inst, loc.ConfigVersion)
			}
		})
	}
}

// TestWatchStreamsCappedPerDevice opens more WatchInstance streams with one
// device token than a device may hold: each one past the cap closes the
// oldest, with a reason, the server never holds more than the cap, and the
// streams left still get changes. Another device is not affected.
func TestWatchStreamsCappedPerDevice(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	u := s.CreateUser("alice")
	d := s.Enroll(u, "laptop")
	other := s.Enroll(u, "phone")
	openWatch(t, s, other.Token, other.Instance.ConfigVersion)

	var ws []*instanceWatch
	for i := range notify.MaxPerDevice + 2 {
		ws = append(ws, openWatch(t, s, d.Token, d.Instance.ConfigVersion))
		checkWatchers(t, s, 1+min(i+1, notify.MaxPerDevice))
	}
	for i, w := range ws[:2] {
		if w.stream.Receive() {
			t.Fatalf("watch %d: a message instead of the end: %v", i, w.stream.Msg())
		}
		err := w.stream.Err()
		if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "newer") {
			t.Fatalf("watch %d ended with %v, want ResourceExhausted saying a newer watch replaced it", i, err)
		}
	}

	if _, err := s.Admin.CreateLocation(ctx, servertest.Req(s.AdminToken(), &v1.CreateLocationRequest{Location: &v1.Location{Name: "Office", Address: "10.10.0.1/24", Endpoint: "127.0.0.1:51820"}})); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws[2:] {
		if inst := w.nextInstance(); inst.ConfigVersion <= d.Instance.ConfigVersion {
			t.Fatalf("pushed version %d, had %d", inst.ConfigVersion, d.Instance.ConfigVersion)
		}
	}
	checkWatchers(t, s, 1+notify.MaxPerDevice)
}

// TestWatchInstanceHeartbeat: a quiet stream carries a heartbeat, so a
// client whose connection died without a word notices within two of them.
func TestWatchInstanceHeartbeat(t *testing.T) {
	s := servertest.New(t, servertest.WithHeartbeat(50*time.Millisecond))
	u := s.CreateUser("alice")
	d := s.Enroll(u, "laptop")
	ctx := servertest.Ctx(t)
	stream, err := s.Client.WatchInstance(ctx, servertest.Req("", &v1.WatchInstanceRequest{DeviceToken: d.Token, KnownConfigVersion: d.Instance.ConfigVersion}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	for i := 0; i < 2; i++ {
		if !stream.Receive() {
			t.Fatalf("stream ended: %v", stream.Err())
		}
		if m := stream.Msg(); m.Heartbeat == nil || m.Instance != nil {
			t.Fatalf("message %d = %v, want a heartbeat alone", i, m)
		}
	}
}
