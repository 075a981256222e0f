package session_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// gatewayModel is what a gateway holds after applying the changes it read.
type gatewayModel struct {
	iface *peers.Interface
	set   peers.Set
}

func (g *gatewayModel) apply(ch peers.Change) {
	if ch.Empty() {
		return
	}
	if ch.Snapshot {
		g.iface, g.set = &ch.Interface, peers.NewSet(ch.Peers)
		return
	}
	for _, k := range ch.Removes {
		delete(g.set, k)
	}
	for _, p := range ch.Upserts {
		g.set[p.PublicKey] = p
	}
}

// TestIncrementalPeersMatchFullRecomputation applies random sequences of
// what changes a location's peers — sessions starting, ending, replacing
// each other, ended by an admin or the idle sweep, the location's MFA
// turned on and off, users moved in and out of its group, devices deleted
// — while a gateway reads the changes slowly (often several publications
// between two reads). Whatever it read must add up to the peer set a full
// recomputation from the store gives, for every seed.
func TestIncrementalPeersMatchFullRecomputation(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for seed := range seeds {
		t.Run("seed="+string(rune('a'+seed)), func(t *testing.T) { incrementalRun(t, uint64(seed)) })
	}
}

type rdevice struct {
	user  *servertest.User
	dev   *servertest.Device
	gone  bool
	token string
}

func incrementalRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	admin := s.AdminToken()
	loc := s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL,
		AllowedGroups: []string{"staff"}, PeerDisconnectThresholdSeconds: 300})
	var devices []*rdevice
	users := map[string]*servertest.User{}
	for i := range 5 {
		u := s.CreateUser("user"+string(rune('a'+i)), "staff")
		s.EnableTOTP(u)
		users[u.ID] = u
		for j := range 2 {
			d := s.Enroll(u, "device"+string(rune('a'+j)))
			devices = append(devices, &rdevice{user: u, dev: d, token: d.Token})
		}
	}
	inGroup := map[string]bool{}
	for id := range users {
		inGroup[id] = true
	}
	sub := s.Svc.Sessions.SubscribePeers(loc.Id)
	defer sub.Close()
	g := &gatewayModel{}
	// read takes what publications wait, if any, as a gateway would.
	read := func() bool {
		ch, ok, err := sub.NextIfPending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		g.apply(ch)
		return ok
	}
	if !read() || g.iface == nil {
		t.Fatal("no first snapshot")
	}
	mfaOn := true
	pick := func() *rdevice {
		for {
			if d := devices[rng.IntN(len(devices))]; !d.gone {
				return d
			}
		}
	}
	for step := range 80 {
		switch op := rng.IntN(10); {
		case op < 4: // connect (a second time: the session replaces the first)
			d := pick()
			if mfaOn {
				s.Clock.Advance(mfa.Period) // a fresh TOTP step
				st, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
				if err != nil {
					continue // not allowed (out of the group)
				}
				if _, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: s.TOTPCode(d.user.TOTPSecret)})); err != nil {
					t.Fatalf("step %d: FinishMfa: %v", step, err)
				}
			} else {
				s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: d.token, LocationId: loc.Id}))
			}
		case op < 6: // the client or an admin ends the session
			ls, err := s.Admin.ListSessions(ctx, servertest.Req(admin, &v1.ListSessionsRequest{LocationId: loc.Id, ActiveOnly: true}))
			if err != nil {
				t.Fatal(err)
			}
			if len(ls.Msg.Sessions) > 0 {
				sess := ls.Msg.Sessions[rng.IntN(len(ls.Msg.Sessions))]
				if _, err := s.Admin.DisconnectSession(ctx, servertest.Req(admin, &v1.DisconnectSessionRequest{SessionId: sess.Id})); err != nil {
					t.Fatal(err)
				}
			}
		case op < 7: // time passes and the sweep ends the idle ones
			s.Clock.Advance(time.Duration(rng.IntN(400)) * time.Second)
			if _, err := s.Svc.Sessions.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		case op < 8: // MFA turned off or on
			mfaOn = !mfaOn
			l := loc
			l.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED
			if mfaOn {
				l.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
			}
			up, err := s.Admin.UpdateLocation(ctx, servertest.Req(admin, &v1.UpdateLocationRequest{Location: l}))
			if err != nil {
				t.Fatal(err)
			}
			loc = up.Msg.Location
		case op < 9: // a user leaves or joins the location's group
			d := pick()
			inGroup[d.user.ID] = !inGroup[d.user.ID]
			groups := []string{"other"}
			if inGroup[d.user.ID] {
				groups = append(groups, "staff")
			}
			if _, err := s.Admin.UpdateUser(ctx, servertest.Req(admin, &v1.UpdateUserRequest{Id: d.user.ID, Groups: groups})); err != nil {
				t.Fatal(err)
			}
		default: // a device is deleted by its owner
			d := pick()
			if len(slices.DeleteFunc(slices.Clone(devices), func(x *rdevice) bool { return x.gone })) <= 3 {
				continue
			}
			if _, err := s.Account.DeleteDevice(ctx, servertest.Req(d.user.Token, &v1.DeleteDeviceRequest{DeviceId: d.dev.ID})); err != nil {
				t.Fatalf("step %d: delete device: %v", step, err)
			}
			d.gone = true
		}
		// The gateway reads now and then: publications pile up between.
		if rng.IntN(3) == 0 {
			read()
		}
	}
	for read() {
	}
	iface, want, err := s.Svc.Sessions.DesiredPeers(ctx, loc.Id)
	if err != nil {
		t.Fatal(err)
	}
	if g.iface == nil || !g.iface.Equal(iface) {
		t.Fatalf("the gateway's interface %+v, want %+v", g.iface, iface)
	}
	wantSet := peers.NewSet(want)
	if up, rm := g.set.Diff(wantSet); len(up) > 0 || len(rm) > 0 {
		t.Fatalf("the gateway's peers differ from a full recomputation: missing or stale %d, extra %d\n%s", len(up), len(rm), describe(g.set, wantSet))
	}
}

func describe(have, want peers.Set) string {
	out := ""
	for k, p := range want {
		if q, ok := have[k]; !ok {
			out += "missing " + k.String() + "\n"
		} else if !q.Equal(p) {
			out += "stale " + k.String() + "\n"
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			out += "extra " + k.String() + "\n"
		}
	}
	return out
}
