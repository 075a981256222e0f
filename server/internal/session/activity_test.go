package session_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// TestTrafficKeepsSessionWithoutHandshakes is the busy tunnel ended as
// idle: WireGuard renews a handshake only every two minutes or so, so a
// client fetching pages has a handshake older than an 8 s threshold most
// of the time. The gateway's reports show the bytes from the client
// growing; the session lives for five thresholds of such traffic, and ends
// within threshold + report interval + check interval once the client is
// silent.
func TestTrafficKeepsSessionWithoutHandshakes(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	const threshold = 8 * time.Second
	const statsInterval = 2 * time.Second // at most half the threshold
	const checkInterval = time.Second
	l := s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, PeerDisconnectThresholdSeconds: uint32(threshold / time.Second)})
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")
	gt, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: l.Id}))
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(30 * time.Second)
	st, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: l.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: s.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	handshake := s.Clock.Now()
	var rx uint64
	report := func(grow bool) {
		t.Helper()
		if grow {
			rx += 1500
		}
		if _, err := s.Gateway.ReportStats(ctx, servertest.Req("", &v1.ReportStatsRequest{GatewayToken: gt.Msg.GatewayToken, Stats: []*v1.PeerStats{{
			PublicKey: d.PublicKey, Endpoint: "127.0.0.1:40000", RxBytes: rx, TxBytes: rx * 2, LatestHandshake: timestamppb.New(handshake),
		}}})); err != nil {
			t.Fatal(err)
		}
	}
	active := func() bool {
		t.Helper()
		sess, err := s.Store().SessionByID(ctx, fin.Msg.SessionId)
		if err != nil {
			t.Fatal(err)
		}
		return sess.Active()
	}
	report(true)
	// Five thresholds of traffic, the handshake never renewed: reports and
	// sweeps interleave as the gateway's and the server's timers would.
	for elapsed := time.Duration(0); elapsed < 5*threshold; elapsed += checkInterval {
		s.Clock.Advance(checkInterval)
		if elapsed%statsInterval == 0 {
			report(true)
		}
		if _, err := s.Svc.Sessions.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if !active() {
			t.Fatalf("a tunnel in use was ended as idle after %s (handshake %s old)", elapsed+checkInterval, s.Clock.Now().Sub(handshake))
		}
	}
	// The client goes quiet: reports keep coming, the bytes stay.
	quiet := s.Clock.Now()
	for active() {
		s.Clock.Advance(checkInterval)
		if s.Clock.Now().Sub(quiet)%statsInterval == 0 {
			report(false)
		}
		if _, err := s.Svc.Sessions.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if s.Clock.Now().Sub(quiet) > threshold+statsInterval+checkInterval {
			t.Fatalf("a silent client still has its session %s after its last traffic", s.Clock.Now().Sub(quiet))
		}
	}
	if gone := s.Clock.Now().Sub(quiet); gone < threshold {
		t.Fatalf("ended %s after the last traffic, before the %s threshold", gone, threshold)
	}
	sess, err := s.Store().SessionByID(ctx, fin.Msg.SessionId)
	if err != nil || sess.EndReason != 1 {
		t.Fatalf("session = %+v, %v", sess, err)
	}
}

// TestReportOnOneReplicaKeepsSessionOnAnother: a gateway reports to
// replica A while replica B sweeps. The traffic A hears keeps the session
// on B past the threshold, with the handshake never renewed; once the
// client is silent, B ends it after the threshold.
func TestReportOnOneReplicaKeepsSessionOnAnother(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres())
	b := a.Replica()
	ctx := servertest.Ctx(t)
	const threshold = 8 * time.Second
	const statsInterval = 2 * time.Second
	l := a.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, PeerDisconnectThresholdSeconds: uint32(threshold / time.Second)})
	u := a.CreateUser("alice")
	a.EnableTOTP(u)
	d := a.Enroll(u, "laptop")
	gt, err := a.Admin.CreateGatewayToken(ctx, servertest.Req(a.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: l.Id}))
	if err != nil {
		t.Fatal(err)
	}
	a.Clock.Advance(30 * time.Second)
	st, err := a.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: l.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := a.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: a.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	handshake := a.Clock.Now()
	var rx uint64
	report := func(grow bool) {
		t.Helper()
		if grow {
			rx += 1500
		}
		if _, err := a.Gateway.ReportStats(ctx, servertest.Req("", &v1.ReportStatsRequest{GatewayToken: gt.Msg.GatewayToken, Stats: []*v1.PeerStats{{
			PublicKey: d.PublicKey, Endpoint: "127.0.0.1:40000", RxBytes: rx, TxBytes: rx, LatestHandshake: timestamppb.New(handshake),
		}}})); err != nil {
			t.Fatal(err)
		}
	}
	sweepOnB := func() bool {
		t.Helper()
		if _, err := b.Svc.Sessions.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		sess, err := b.Store().SessionByID(ctx, fin.Msg.SessionId)
		if err != nil {
			t.Fatal(err)
		}
		return sess.Active()
	}
	for elapsed := time.Duration(0); elapsed < 3*threshold; elapsed += statsInterval {
		report(true)
		a.Clock.Advance(statsInterval)
		if !sweepOnB() {
			t.Fatalf("B ended a tunnel in use after %s: the activity reported to A did not reach it", elapsed+statsInterval)
		}
	}
	sess, err := b.Store().SessionByID(ctx, fin.Msg.SessionId)
	if err != nil || sess.State != store.StateConnected || sess.RxBytes != rx || !sess.LatestHandshake.Equal(handshake.Truncate(time.Millisecond)) {
		t.Fatalf("B reads the session as %+v, %v", sess, err)
	}
	quiet := a.Clock.Now().Add(-statsInterval) // the last report with traffic
	for sweepOnB() {
		report(false)
		a.Clock.Advance(statsInterval)
		if a.Clock.Now().Sub(quiet) > threshold+2*statsInterval {
			t.Fatalf("a silent client still has its session %s after its last traffic", a.Clock.Now().Sub(quiet))
		}
	}
	if gone := a.Clock.Now().Sub(quiet); gone <= threshold {
		t.Fatalf("B ended the session %s after the last traffic, within the %s threshold", gone, threshold)
	}
}
