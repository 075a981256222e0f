package follow_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// mfaLocation makes a location that asks for MFA, on a free UDP port of
// loopback, routing 10.10.0.0/24.
func mfaLocation(t testing.TB, s *servertest.Server, name string, threshold time.Duration) *v1.Location {
	t.Helper()
	port := gatewaytest.FreeUDPPort(t)
	return s.CreateLocation(&v1.Location{Name: name, ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port),
		MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, AllowedIps: []string{"10.10.0.0/24"},
		PeerDisconnectThresholdSeconds: uint32(threshold / time.Second)})
}

// connectWithTOTP gives a new user with an authenticator app a session on
// the MFA location and returns the device and FinishMfa's answer.
func connectWithTOTP(t testing.TB, s *servertest.Server, username, locationID string) (*servertest.Device, *v1.FinishMfaResponse) {
	t.Helper()
	ctx := servertest.Ctx(t)
	u := s.CreateUser(username)
	s.EnableTOTP(u)
	d := s.Enroll(u, "laptop")
	st, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: locationID, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: s.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	return d, fin.Msg
}

// reportNow sends the embedded gateway's statistics of the location to the
// service now, as its timer would.
func reportNow(t testing.TB, s *servertest.Server, emb *follow.Embedded, locationID string) {
	t.Helper()
	err := emb.Gateway(locationID).ReportNow(servertest.Ctx(t), func(ctx context.Context, st []gateway.PeerStats) error {
		var ps []service.PeerStat
		for _, p := range st {
			ps = append(ps, service.PeerStat{PublicKey: p.PublicKey.String(), LatestHandshake: p.LatestHandshake, RxBytes: p.RxBytes, TxBytes: p.TxBytes, Endpoint: p.Endpoint})
		}
		return s.Svc.ReportStats(ctx, s.Location(locationID), ps)
	})
	if err != nil {
		t.Fatal(err)
	}
}
