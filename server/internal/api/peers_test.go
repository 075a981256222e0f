package api_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// wantPeer is a peer a gateway should have.
type wantPeer struct {
	key, addr, psk string
}

func peerOf(d *servertest.Device, addr, psk string) wantPeer {
	return wantPeer{key: d.PublicKey, addr: addr, psk: psk}
}

func sortedPeers(ps []wantPeer) []wantPeer {
	ps = slices.Clone(ps)
	sort.Slice(ps, func(i, j int) bool { return ps[i].key < ps[j].key })
	return ps
}

func fromSession(ps []peers.Peer) []wantPeer {
	var out []wantPeer
	for _, p := range ps {
		var addrs []string
		for _, a := range p.AllowedIPs {
			addrs = append(addrs, a.String())
		}
		out = append(out, wantPeer{key: p.PublicKey.String(), addr: strings.Join(addrs, ","), psk: pskString(p.PresharedKey)})
	}
	return sortedPeers(out)
}

// pskString is a pre-shared key as the API gives it: "" for none.
func pskString(k wgkey.Key) string {
	if k.IsZero() {
		return ""
	}
	return k.String()
}

func fromProto(ps []*v1.Peer) []wantPeer {
	var out []wantPeer
	for _, p := range ps {
		out = append(out, wantPeer{key: p.PublicKey, addr: strings.Join(p.AllowedIps, ","), psk: p.PresharedKey})
	}
	return sortedPeers(out)
}

// nextPeers waits for the next change of a peer subscription.
func nextPeers(t *testing.T, ctx context.Context, sub *session.PeerSub) peers.Change {
	t.Helper()
	ch, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("peer change: %v", err)
	}
	return ch
}

// wantUpserts checks a change that only adds or changes peers.
func wantUpserts(t *testing.T, ch peers.Change, want ...wantPeer) {
	t.Helper()
	if ch.Snapshot || len(ch.Removes) != 0 || !slices.Equal(fromSession(ch.Upserts), sortedPeers(want)) {
		t.Fatalf("change = %+v, want upserts %+v", ch, want)
	}
}

// wantRemoves checks a change that only removes peers.
func wantRemoves(t *testing.T, ch peers.Change, keys ...string) {
	t.Helper()
	keys = slices.Clone(keys)
	slices.Sort(keys)
	var removes []string
	for _, k := range ch.Removes {
		removes = append(removes, k.String())
	}
	slices.Sort(removes)
	if ch.Snapshot || len(ch.Upserts) != 0 || !slices.Equal(removes, keys) {
		t.Fatalf("change = %+v, want removes %v", ch, keys)
	}
}

// peerSync is an open GatewayService.SyncPeers stream.
type peerSync struct {
	t      *testing.T
	stream *connect.ServerStreamForClient[v1.SyncPeersResponse]
}

func openPeerSync(t *testing.T, s *servertest.Server, gatewayToken string) *peerSync {
	t.Helper()
	stream, err := s.Gateway.SyncPeers(servertest.Ctx(t), servertest.Req(gatewayToken, &v1.SyncPeersRequest{GatewayToken: gatewayToken}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Close() })
	return &peerSync{t: t, stream: stream}
}

func (g *peerSync) next() *v1.SyncPeersResponse {
	g.t.Helper()
	if !g.stream.Receive() {
		g.t.Fatalf("SyncPeers ended: %v", g.stream.Err())
	}
	return g.stream.Msg()
}

// upserts reads n messages that must all be upserts.
func (g *peerSync) upserts(n int) []wantPeer {
	g.t.Helper()
	var got []*v1.Peer
	for range n {
		m := g.next()
		if m.Upsert == nil {
			g.t.Fatalf("want an upsert, got %v", m)
		}
		got = append(got, m.Upsert)
	}
	return fromProto(got)
}

// removes reads n messages that must all be removes.
func (g *peerSync) removes(n int) []string {
	g.t.Helper()
	var keys []string
	for range n {
		m := g.next()
		if m.Remove == nil {
			g.t.Fatalf("want a remove, got %v", m)
		}
		keys = append(keys, m.Remove.PublicKey)
	}
	slices.Sort(keys)
	return keys
}

func adminUpdateLocation(t *testing.T, s *servertest.Server, loc *v1.Location) *v1.Location {
	t.Helper()
	r, err := s.Admin.UpdateLocation(servertest.Ctx(t), servertest.Req(s.AdminToken(), &v1.UpdateLocationRequest{Location: loc}))
	if err != nil {
		t.Fatal(err)
	}
	return r.Msg.Location
}

// sessionByTOTP signs a device in to an MFA location with the user's TOTP.
func sessionByTOTP(t *testing.T, s *servertest.Server, u *servertest.User, d *servertest.Device, locationID string) *v1.FinishMfaResponse {
	t.Helper()
	ctx := servertest.Ctx(t)
	st, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: locationID, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(mfa.Period) // a fresh TOTP step
	fin, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: s.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	if fin.Msg.Tunnel.GetPresharedKey() == "" {
		t.Fatal("an MFA session without a pre-shared key")
	}
	return fin.Msg
}

func tunnelAddressIn(t *testing.T, d *servertest.Device, locationID string) string {
	t.Helper()
	for _, l := range d.Instance.GetLocations() {
		if l.Id == locationID && l.Tunnel.GetAddress() != "" {
			return l.Tunnel.Address
		}
	}
	t.Fatalf("device %s has no address in %s", d.ID, locationID)
	return ""
}

func TestPeersFollowLocationMFA(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.CreateLocation(&v1.Location{Name: "Office"})
	alice := s.CreateUser("alice")
	s.EnableTOTP(alice)
	bob := s.CreateUser("bob")
	da := s.Enroll(alice, "alice-laptop")
	db := s.Enroll(bob, "bob-laptop")
	addrA, addrB := tunnelAddressIn(t, da, loc.Id), tunnelAddressIn(t, db, loc.Id)
	static := []wantPeer{peerOf(da, addrA, ""), peerOf(db, addrB, "")}

	// Without MFA every allowed device is a static peer without a pre-shared key.
	sub := s.Svc.Sessions.SubscribePeers(loc.Id)
	defer sub.Close()
	snap := nextPeers(t, ctx, sub)
	if !snap.Snapshot || !slices.Equal(fromSession(snap.Peers), sortedPeers(static)) {
		t.Fatalf("snapshot = %+v, want %+v", snap, static)
	}

	// A gateway sees the same: a snapshot first, with its interface.
	gt, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	gw := openPeerSync(t, s, gt.Msg.GatewayToken)
	first := gw.next()
	if first.Snapshot == nil || !slices.Equal(fromProto(first.Snapshot.Peers), sortedPeers(static)) {
		t.Fatalf("gateway's first message = %v, want a snapshot of %+v", first, static)
	}
	iface := first.Snapshot.Interface
	priv, err := wgkey.Parse(iface.GetPrivateKey())
	if err != nil || priv.Public().String() != loc.PublicKey || iface.LocationId != loc.Id || iface.Address != loc.Address || iface.ListenPort != loc.ListenPort {
		t.Fatalf("gateway interface = %v (%v), location %v", iface, err, loc)
	}

	w := openWatch(t, s, da.Token, 0)
	w.nextInstance()

	// A connection without MFA has no pre-shared key and changes no peer.
	conn, err := s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: da.Token, LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	if conn.Msg.Tunnel.PresharedKey != "" {
		t.Fatalf("static connection with a pre-shared key: %v", conn.Msg.Tunnel)
	}

	// MFA on: every static peer leaves the gateway, and the connection without MFA ends.
	loc.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	loc = adminUpdateLocation(t, s, loc)
	wantRemoves(t, nextPeers(t, ctx, sub), da.PublicKey, db.PublicKey)
	if got := gw.removes(2); !slices.Equal(got, sortedKeys(da, db)) {
		t.Fatalf("gateway removes = %v", got)
	}
	if e := w.nextEnded(); e.SessionId != conn.Msg.SessionId || e.Reason != v1.SessionEndReason_SESSION_END_REASON_LOCATION_CHANGED || e.Message == "" {
		t.Fatalf("static session end = %v", e)
	}

	// MFA succeeds: the device's peer comes back with its session's pre-shared key.
	fin := sessionByTOTP(t, s, alice, da, loc.Id)
	withPSK := peerOf(da, addrA, fin.Tunnel.PresharedKey)
	wantUpserts(t, nextPeers(t, ctx, sub), withPSK)
	if got := gw.upserts(1); !slices.Equal(got, []wantPeer{withPSK}) {
		t.Fatalf("gateway upserts = %+v, want %+v", got, withPSK)
	}

	// MFA off: the MFA session ends and every allowed device becomes a static
	// peer with an empty pre-shared key.
	loc.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED
	loc = adminUpdateLocation(t, s, loc)
	wantUpserts(t, nextPeers(t, ctx, sub), static...)
	if got := gw.upserts(2); !slices.Equal(got, sortedPeers(static)) {
		t.Fatalf("gateway upserts = %+v, want %+v", got, static)
	}
	e := w.nextEnded()
	if e.SessionId != fin.SessionId || e.LocationId != loc.Id || e.Reason != v1.SessionEndReason_SESSION_END_REASON_MFA_DISABLED || e.Message == "" {
		t.Fatalf("MFA session end = %v", e)
	}
	ls, err := s.Admin.ListSessions(ctx, servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, sess := range ls.Msg.Sessions {
		if sess.EndedAt == nil || sess.State != v1.SessionState_SESSION_STATE_ENDED {
			t.Fatalf("session still active after MFA off: %v", sess)
		}
		if sess.Id == fin.SessionId {
			found = true
			if sess.EndReason != v1.SessionEndReason_SESSION_END_REASON_MFA_DISABLED {
				t.Fatalf("MFA session ended with %v", sess.EndReason)
			}
		}
	}
	if !found {
		t.Fatalf("MFA session %s not listed: %v", fin.SessionId, ls.Msg.Sessions)
	}

	// No stale pre-shared key anywhere: not in the store, not for a new
	// subscriber or gateway, not in the device's view.
	stored, err := s.Store().SessionByID(ctx, fin.SessionId)
	if err != nil || stored.PresharedKey != "" {
		t.Fatalf("ended session keeps a pre-shared key %q (%v)", stored.PresharedKey, err)
	}
	fresh := s.Svc.Sessions.SubscribePeers(loc.Id)
	defer fresh.Close()
	if snap := nextPeers(t, ctx, fresh); !slices.Equal(fromSession(snap.Peers), sortedPeers(static)) {
		t.Fatalf("fresh snapshot = %+v, want %+v", snap.Peers, static)
	}
	gw2 := openPeerSync(t, s, gt.Msg.GatewayToken)
	if m := gw2.next(); m.Snapshot == nil || !slices.Equal(fromProto(m.Snapshot.Peers), sortedPeers(static)) {
		t.Fatalf("fresh gateway snapshot = %v, want %+v", m, static)
	}
	gi, err := s.Client.GetInstance(ctx, servertest.Req("", &v1.GetInstanceRequest{DeviceToken: da.Token}))
	if err != nil {
		t.Fatal(err)
	}
	if li := instanceLocation(gi.Msg.Instance, loc.Id); li.GetMfaMode() != v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED || li.GetTunnel().GetPresharedKey() != "" {
		t.Fatalf("device's view after MFA off: %v", li)
	}

	// MFA back on: the static peers leave again.
	loc.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	adminUpdateLocation(t, s, loc)
	wantRemoves(t, nextPeers(t, ctx, sub), da.PublicKey, db.PublicKey)
	if got := gw.removes(2); !slices.Equal(got, sortedKeys(da, db)) {
		t.Fatalf("gateway removes = %v", got)
	}
	if got := gw2.removes(2); !slices.Equal(got, sortedKeys(da, db)) {
		t.Fatalf("second gateway removes = %v", got)
	}
}

func sortedKeys(ds ...*servertest.Device) []string {
	var keys []string
	for _, d := range ds {
		keys = append(keys, d.PublicKey)
	}
	slices.Sort(keys)
	return keys
}

func TestPeersFollowAllowedGroups(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	loc := s.CreateLocation(&v1.Location{Name: "Office"})
	alice := s.CreateUser("alice", "eng")
	s.EnableTOTP(alice)
	bob := s.CreateUser("bob")
	da := s.Enroll(alice, "alice-laptop")
	db := s.Enroll(bob, "bob-laptop")
	addrA, addrB := tunnelAddressIn(t, da, loc.Id), tunnelAddressIn(t, db, loc.Id)

	sub := s.Svc.Sessions.SubscribePeers(loc.Id)
	defer sub.Close()
	if snap := nextPeers(t, ctx, sub); len(snap.Peers) != 2 {
		t.Fatalf("snapshot = %+v", snap)
	}

	// Only "eng" may use the location: bob's device leaves.
	loc.AllowedGroups = []string{"eng"}
	loc = adminUpdateLocation(t, s, loc)
	wantRemoves(t, nextPeers(t, ctx, sub), db.PublicKey)

	// Bob joins "eng": his device comes back; he leaves it: it goes again.
	up := func(groups ...string) {
		t.Helper()
		if _, err := s.Admin.UpdateUser(ctx, servertest.Req(s.AdminToken(), &v1.UpdateUserRequest{Id: bob.ID, Email: bob.Email, Groups: groups})); err != nil {
			t.Fatal(err)
		}
	}
	up("eng")
	wantUpserts(t, nextPeers(t, ctx, sub), peerOf(db, addrB, ""))
	up()
	wantRemoves(t, nextPeers(t, ctx, sub), db.PublicKey)

	// Every user again: bob's device is back, still without a pre-shared key,
	// and alice's was never touched.
	loc.AllowedGroups = nil
	adminUpdateLocation(t, s, loc)
	wantUpserts(t, nextPeers(t, ctx, sub), peerOf(db, addrB, ""))
	if _, peers, err := s.Svc.Sessions.DesiredPeers(ctx, loc.Id); err != nil || !slices.Equal(fromSession(peers), sortedPeers([]wantPeer{peerOf(da, addrA, ""), peerOf(db, addrB, "")})) {
		t.Fatalf("peers = %+v (%v)", peers, err)
	}

	// On an MFA location, a session whose user the groups no longer allow
	// ends, and its peer leaves the gateway.
	lab := s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.30.0.1/24", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, AllowedGroups: []string{"eng"}})
	labSub := s.Svc.Sessions.SubscribePeers(lab.Id)
	defer labSub.Close()
	if snap := nextPeers(t, ctx, labSub); !snap.Snapshot || len(snap.Peers) != 0 {
		t.Fatalf("lab snapshot = %+v", snap)
	}
	w := openWatch(t, s, da.Token, 0)
	w.nextInstance()
	fin := sessionByTOTP(t, s, alice, da, lab.Id)
	gi, err := s.Client.GetInstance(ctx, servertest.Req("", &v1.GetInstanceRequest{DeviceToken: da.Token}))
	if err != nil {
		t.Fatal(err)
	}
	wantUpserts(t, nextPeers(t, ctx, labSub), wantPeer{key: da.PublicKey, addr: instanceLocation(gi.Msg.Instance, lab.Id).GetTunnel().GetAddress(), psk: fin.Tunnel.PresharedKey})

	lab.AllowedGroups = []string{"ops"}
	adminUpdateLocation(t, s, lab)
	wantRemoves(t, nextPeers(t, ctx, labSub), da.PublicKey)
	if e := w.nextEnded(); e.SessionId != fin.SessionId || e.Reason != v1.SessionEndReason_SESSION_END_REASON_ADMIN || e.Message == "" {
		t.Fatalf("session end = %v", e)
	}
	ls, err := s.Admin.ListSessions(ctx, servertest.Req(s.AdminToken(), &v1.ListSessionsRequest{LocationId: lab.Id, ActiveOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Msg.Sessions) != 0 {
		t.Fatalf("sessions still active: %v", ls.Msg.Sessions)
	}
}
