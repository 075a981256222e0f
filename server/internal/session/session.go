// Package session owns session state: it opens sessions after a successful
// second factor (or Connect on a location without MFA), ends them (client,
// admin, idle, replaced, MFA turned off, maximum age) and publishes each
// location's desired peer set to the gateways that serve it.
package session

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/clock"
	"github.com/wicket-vpn/wicket/server/internal/ipam"
	"github.com/wicket-vpn/wicket/server/internal/notify"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/seal"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/shared/humantime"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// End reasons share their numbers with the API's SessionEndReason.
const (
	ReasonIdle            = 1
	ReasonClient          = 2
	ReasonAdmin           = 3
	ReasonReplaced        = 4
	ReasonMFADisabled     = 5
	ReasonLocationChanged = 6
	ReasonMaxDuration     = 7
)

// Manager owns sessions and peer sets.
type Manager struct {
	store  *store.Store
	sealer *seal.Sealer
	clock  clock.Clock
	log    *slog.Logger
	hub    *notify.Hub

	mu   sync.Mutex
	subs map[string]map[*PeerSub]struct{}
	gen  map[string]uint64 // publications per location
	acks chan struct{}     // closed and replaced whenever a subscriber acknowledges
	// What other replicas of the database said; see replicas.go.
	relay   Relay
	remote  map[string]*remoteView // by location
	heardAt map[string][]heard     // other replicas' publications awaiting a local gateway's ack
}

// NewManager returns a manager over the store.
func NewManager(st *store.Store, sealer *seal.Sealer, clk clock.Clock, log *slog.Logger, hub *notify.Hub) *Manager {
	return &Manager{store: st, sealer: sealer, clock: clk, log: log, hub: hub, subs: map[string]map[*PeerSub]struct{}{},
		gen: map[string]uint64{}, acks: make(chan struct{}), relay: noRelay{}, remote: map[string]*remoteView{}, heardAt: map[string][]heard{}}
}

// PSKAAD binds a sealed pre-shared key to its session.
func PSKAAD(sessionID string) []byte { return []byte("psk:" + sessionID) }

// LocationKeyAAD binds a sealed location private key to its location.
func LocationKeyAAD(locationID string) []byte { return []byte("location-key:" + locationID) }

// SealString seals a secret for a TEXT column.
func SealString(s *seal.Sealer, plain, aad []byte) string {
	return base64.StdEncoding.EncodeToString(s.Seal(plain, aad))
}

// OpenString opens what SealString sealed.
func OpenString(s *seal.Sealer, sealed string, aad []byte) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("sealed value is damaged: %w", err)
	}
	return s.Open(raw, aad)
}

// Message explains an end reason to the person whose session ended.
func Message(reason int, loc store.Location) string {
	switch reason {
	case ReasonIdle:
		return fmt.Sprintf("Disconnected: no traffic from your device for %s; connecting again needs MFA.", human(peerDisconnectThreshold(loc)))
	case ReasonClient:
		return "Disconnected."
	case ReasonAdmin:
		return "An admin ended this connection."
	case ReasonReplaced:
		return "This connection was replaced by a newer one from this device."
	case ReasonMFADisabled:
		return "This location no longer asks for MFA; connect again without it."
	case ReasonLocationChanged:
		return "This location's settings changed; connect again."
	case ReasonMaxDuration:
		return fmt.Sprintf("The connection reached its maximum length of %s; connecting again needs MFA.", human(time.Duration(loc.MaxSessionSeconds)*time.Second))
	}
	return "The connection ended."
}

func human(d time.Duration) string { return humantime.Duration(d) }

// ReasonName is the audit name of an end reason.
func ReasonName(reason int) string {
	switch reason {
	case ReasonIdle:
		return "idle"
	case ReasonClient:
		return "client"
	case ReasonAdmin:
		return "admin"
	case ReasonReplaced:
		return "replaced"
	case ReasonMFADisabled:
		return "mfa_disabled"
	case ReasonLocationChanged:
		return "location_changed"
	case ReasonMaxDuration:
		return "max_duration"
	}
	return "unknown"
}

// Ended is a session that was ended by a call, to announce after commit.
type Ended struct {
	Session  store.Session
	Location store.Location
	Reason   int
}

// EndIn ends a session inside a transaction; the caller announces the
// returned Ended after commit with Announce. It returns nil when the session
// had already ended.
func (m *Manager) EndIn(ctx context.Context, q *store.Q, s store.Session, reason int, actor string) (*Ended, error) {
	loc, err := q.LocationByID(ctx, s.LocationID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return m.endAt(ctx, q, s, loc, reason, actor, time.Time{})
}

// endAt is EndIn with the session's location already at hand; a non-zero
// idleCutoff ends the session only if it is still idle then.
func (m *Manager) endAt(ctx context.Context, q *store.Q, s store.Session, loc store.Location, reason int, actor string, idleCutoff time.Time) (*Ended, error) {
	now := m.clock.Now()
	var ok bool
	var err error
	if idleCutoff.IsZero() {
		ok, err = q.EndSession(ctx, s.ID, reason, now)
	} else {
		ok, err = q.EndIdleSession(ctx, s.ID, reason, now, idleCutoff)
	}
	if err != nil || !ok {
		return nil, err
	}
	s.EndedAt, s.EndReason, s.State = now, reason, store.StateEnded
	if err := q.AddAuditEvent(ctx, store.AuditEvent{Time: now, Actor: actor, Action: "session.ended", Subject: s.ID,
		Detail: fmt.Sprintf("location=%s device=%s reason=%s", loc.Name, s.DeviceID, ReasonName(reason))}); err != nil {
		return nil, err
	}
	return &Ended{Session: s, Location: loc, Reason: reason}, nil
}

// Announce removes ended sessions' peers and tells their devices why.
func (m *Manager) Announce(ended ...*Ended) {
	// An MFA location's peers are its sessions': only the devices whose
	// session ended are read again. Elsewhere sessions do not make peers
	// (only their endpoints), and the location is read whole.
	devices := map[string][]string{}
	whole := map[string]bool{}
	for _, e := range ended {
		if e == nil {
			continue
		}
		if id := e.Session.LocationID; e.Location.MFA && e.Location.ID == id {
			devices[id] = append(devices[id], e.Session.DeviceID)
		} else {
			whole[id] = true
		}
		m.log.Info("session ended", "session", e.Session.ID, "location", e.Location.Name, "device", e.Session.DeviceID, "reason", ReasonName(e.Reason))
		m.hub.SessionEnded(e.Session.DeviceID, notify.SessionEnded{
			SessionID: e.Session.ID, LocationID: e.Session.LocationID, Reason: e.Reason, Message: Message(e.Reason, e.Location),
		})
	}
	for id := range whole {
		m.Publish(id)
	}
	for id, list := range devices {
		if !whole[id] {
			m.PublishDevices(id, list...)
		}
	}
}

// End ends one session now.
func (m *Manager) End(ctx context.Context, sessionID string, reason int, actor string) (bool, error) {
	var ended *Ended
	err := m.store.InTx(ctx, func(q *store.Q) error {
		s, err := q.SessionByID(ctx, sessionID)
		if err != nil {
			return err
		}
		ended, err = m.EndIn(ctx, q, s, reason, actor)
		return err
	})
	if err != nil {
		return false, err
	}
	m.Announce(ended)
	return ended != nil, nil
}

// EndWhere ends every active session matching f.
func (m *Manager) EndWhere(ctx context.Context, f store.SessionFilter, reason int, actor string) (int, error) {
	f.ActiveOnly = true
	var ended []*Ended
	err := m.store.InTx(ctx, func(q *store.Q) error {
		ended = nil
		list, err := q.ListSessions(ctx, f)
		if err != nil {
			return err
		}
		for _, s := range list {
			e, err := m.EndIn(ctx, q, s, reason, actor)
			if err != nil {
				return err
			}
			if e != nil {
				ended = append(ended, e)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	m.Announce(ended...)
	return len(ended), nil
}

// Run sweeps every interval until ctx ends.
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := m.Sweep(ctx); err != nil {
				m.log.Error("idle sweep failed", "err", err)
			} else if n > 0 {
				m.log.Info("idle sweep", "ended", n)
			}
			// Spent tokens and challenges, kept a day for the record.
			if _, err := m.store.DeleteExpired(ctx, m.clock.Now(), 24*time.Hour); err != nil {
				m.log.Error("clean up expired tokens", "err", err)
			}
			// Wrong passwords, once the password throttle no longer looks at them.
			if _, err := m.store.DeleteOldPasswordFailures(ctx, m.clock.Now()); err != nil {
				m.log.Error("clean up wrong passwords", "err", err)
			}
		}
	}
}

// Allowed reports whether a user with groups may use a location.
func Allowed(loc store.Location, groups []string) bool {
	if len(loc.AllowedGroups) == 0 {
		return true
	}
	for _, g := range groups {
		if slices.Contains(loc.AllowedGroups, g) {
			return true
		}
	}
	return false
}

// DesiredPeers computes a location's peer set from the store: for an MFA
// location, the devices with an active session, each with its session's
// pre-shared key; otherwise every device whose user may use the location.
func (m *Manager) DesiredPeers(ctx context.Context, locationID string) (peers.Interface, []peers.Peer, error) {
	_, iface, list, _, err := m.desiredPeers(ctx, locationID)
	return iface, list, err
}

// desiredPeers is DesiredPeers with the location as read and the device
// of each peer.
func (m *Manager) desiredPeers(ctx context.Context, locationID string) (store.Location, peers.Interface, []peers.Peer, []string, error) {
	loc, err := m.store.LocationByID(ctx, locationID)
	if err != nil {
		return loc, peers.Interface{}, nil, nil, err
	}
	iface, err := m.gatewayInterface(loc)
	if err != nil {
		return loc, iface, nil, nil, err
	}
	var list []peers.Peer
	var ids []string
	if loc.MFA {
		active, err := m.store.ListSessions(ctx, store.SessionFilter{LocationID: loc.ID, ActiveOnly: true})
		if err != nil {
			return loc, iface, nil, nil, err
		}
		devices, err := m.store.ListDevices(ctx)
		if err != nil {
			return loc, iface, nil, nil, err
		}
		byID := make(map[string]store.Device, len(devices))
		for _, d := range devices {
			byID[d.ID] = d
		}
		addrs, err := m.store.AddressesOfLocation(ctx, loc.ID)
		if err != nil {
			return loc, iface, nil, nil, err
		}
		for _, s := range active {
			d, ok := byID[s.DeviceID]
			if !ok {
				continue
			}
			if p, ok := m.sessionPeer(loc, d, s, addrs[s.DeviceID]); ok {
				list, ids = append(list, p), append(ids, d.ID)
			}
		}
		return loc, iface, list, ids, nil
	}
	devices, err := m.store.ListDevices(ctx)
	if err != nil {
		return loc, iface, nil, nil, err
	}
	// A device made as a standard WireGuard config serves only its own
	// location (and, having no token, never holds an MFA session).
	devices = slices.DeleteFunc(devices, func(d store.Device) bool {
		return d.ConfigLocationID != "" && d.ConfigLocationID != loc.ID
	})
	addrs, err := m.store.AddressesOfLocation(ctx, loc.ID)
	if err != nil {
		return loc, iface, nil, nil, err
	}
	// Where each device's session was last heard from: a gateway that
	// creates the peer afresh starts the handshake there.
	active, err := m.store.ListSessions(ctx, store.SessionFilter{LocationID: loc.ID, ActiveOnly: true})
	if err != nil {
		return loc, iface, nil, nil, err
	}
	endpoints := map[string]netip.AddrPort{}
	for _, s := range active {
		if ap, err := netip.ParseAddrPort(s.Endpoint); err == nil {
			endpoints[s.DeviceID] = ap
		}
	}
	users, err := m.store.ListUsers(ctx)
	if err != nil {
		return loc, iface, nil, nil, err
	}
	allowed := map[string]bool{}
	for _, u := range users {
		allowed[u.ID] = Allowed(loc, u.Groups)
	}
	now := m.clock.Now()
	for _, d := range devices {
		if !allowed[d.UserID] {
			continue
		}
		addr := addrs[d.ID]
		if addr == "" {
			addr, err = ipam.AddressFor(ctx, m.store.Q, loc, d.ID, now)
			if err != nil {
				m.log.Warn("device left out of the location's peers", "location", loc.Name, "device", d.ID, "err", err)
				continue
			}
		}
		p, err := peerOf(d, addr, wgkey.Key{})
		if err != nil {
			m.log.Error("device left out of the location's peers", "location", loc.Name, "device", d.ID, "err", err)
			continue
		}
		p.Endpoint = endpoints[d.ID]
		list, ids = append(list, p), append(ids, d.ID)
	}
	return loc, iface, list, ids, nil
}

// sessionPeer is the peer an active session of an MFA location gives its
// device, false when it gives none (no address, a key that cannot be
// opened).
func (m *Manager) sessionPeer(loc store.Location, d store.Device, s store.Session, addr string) (peers.Peer, bool) {
	if addr == "" || s.PresharedKey == "" {
		return peers.Peer{}, false
	}
	raw, err := OpenString(m.sealer, s.PresharedKey, PSKAAD(s.ID))
	if err != nil || len(raw) != wgkey.KeyLen {
		m.log.Error("cannot open a session's pre-shared key; leaving its peer out", "session", s.ID, "err", err)
		return peers.Peer{}, false
	}
	p, err := peerOf(d, addr, wgkey.Key(raw))
	if err != nil {
		m.log.Error("device left out of the location's peers", "location", loc.Name, "device", d.ID, "err", err)
		return peers.Peer{}, false
	}
	p.Endpoint, _ = netip.ParseAddrPort(s.Endpoint)
	return p, true
}

// desiredPeerOf reads the peer one device should have at an MFA location:
// its active session's, if it has one. A few indexed reads, whatever the
// location's size.
func (m *Manager) desiredPeerOf(ctx context.Context, loc store.Location, deviceID string) (peers.Peer, bool, error) {
	active, err := m.store.ListSessions(ctx, store.SessionFilter{LocationID: loc.ID, DeviceID: deviceID, ActiveOnly: true, Limit: 1})
	if err != nil || len(active) == 0 {
		return peers.Peer{}, false, err
	}
	d, err := m.store.DeviceByID(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return peers.Peer{}, false, nil
	}
	if err != nil {
		return peers.Peer{}, false, err
	}
	addr, err := m.store.AddressOf(ctx, loc.ID, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return peers.Peer{}, false, nil
	}
	if err != nil {
		return peers.Peer{}, false, err
	}
	p, ok := m.sessionPeer(loc, d, active[0], addr)
	return p, ok, nil
}

// gatewayInterface is the WireGuard interface a location's gateway runs.
func (m *Manager) gatewayInterface(loc store.Location) (peers.Interface, error) {
	priv, err := OpenString(m.sealer, loc.PrivateKey, LocationKeyAAD(loc.ID))
	if err == nil && len(priv) != wgkey.KeyLen {
		err = fmt.Errorf("%d bytes, not %d", len(priv), wgkey.KeyLen)
	}
	if err != nil {
		return peers.Interface{}, fmt.Errorf("open key of location %s: %w", loc.Name, err)
	}
	addr, err := netip.ParsePrefix(loc.Address)
	if err != nil {
		return peers.Interface{}, fmt.Errorf("address of location %s: %w", loc.Name, err)
	}
	allowed, err := prefixes(loc.AllowedIPs)
	if err != nil {
		return peers.Interface{}, fmt.Errorf("allowed IPs of location %s: %w", loc.Name, err)
	}
	return peers.Interface{LocationID: loc.ID, PrivateKey: wgkey.Key(priv), Address: addr,
		ListenPort: loc.ListenPort, MTU: loc.MTU, AllowedIPs: allowed}, nil
}

// peerOf is a device's peer at its tunnel address.
func peerOf(d store.Device, addr string, psk wgkey.Key) (peers.Peer, error) {
	pub, err := wgkey.Parse(d.PublicKey)
	if err != nil {
		return peers.Peer{}, fmt.Errorf("public key: %w", err)
	}
	a, err := netip.ParsePrefix(addr)
	if err != nil {
		return peers.Peer{}, fmt.Errorf("tunnel address: %w", err)
	}
	return peers.Peer{PublicKey: pub, AllowedIPs: []netip.Prefix{a}, PresharedKey: psk}, nil
}

func prefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
