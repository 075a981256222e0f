package session

import (
	"context"
	"errors"
	"slices"

	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// ErrLocationDeleted ends a peer subscription whose location is gone.
var ErrLocationDeleted = errors.New("location deleted")

// PeerSub follows a location's desired peer set. It is level-triggered: a
// publication marks what may have changed — the whole set, or the peers of
// some devices — and the next Next reads that part again from the store
// and returns the difference from what it delivered last. A slow
// subscriber coalesces publications and never misses one, and never needs
// a queue: its dirty marks are a set, which falls back to the whole peer
// set when it grows past maxDirty.
//
// Reading a device's peer again, rather than carrying the peer in the
// publication, keeps publications in any order right: whatever order two
// sessions of one device are published in, the store says which is live.
type PeerSub struct {
	m          *Manager
	LocationID string
	signal     chan struct{}
	iface      *peers.Interface
	last       peers.Set
	// loc is the location as last read whole; devices maps each device
	// with a delivered peer to its key.
	loc     store.Location
	devices map[string]wgkey.Key
	// What publications marked since the last read, guarded by m.mu.
	full  bool
	dirty map[string]struct{}
	// pending is the publication the last returned change reflects; it is
	// acknowledged when the subscriber asks for the next change, which it
	// does only after applying the last one.
	pending uint64
	acked   uint64 // guarded by m.mu
	gateway bool   // counted by WaitApplied
}

// SubscribePeers follows a location's peer set; the first Next returns a snapshot.
func (m *Manager) SubscribePeers(locationID string) *PeerSub {
	return m.subscribe(locationID, false)
}

// FollowPeers subscribes a gateway: new sessions wait (briefly) until it has
// taken their peer, see WaitApplied.
func (m *Manager) FollowPeers(locationID string) *PeerSub {
	return m.subscribe(locationID, true)
}

func (m *Manager) subscribe(locationID string, gateway bool) *PeerSub {
	s := &PeerSub{m: m, LocationID: locationID, signal: make(chan struct{}, 1), gateway: gateway, full: true}
	s.signal <- struct{}{}
	m.mu.Lock()
	if m.subs[locationID] == nil {
		m.subs[locationID] = map[*PeerSub]struct{}{}
	}
	m.subs[locationID][s] = struct{}{}
	if gateway {
		m.relay.Following(locationID, m.localGateways(locationID))
	}
	m.mu.Unlock()
	return s
}

// Followers reports how many gateways (embedded or remote) follow the
// location's peer set: those of this process and those other replicas
// announced.
func (m *Manager) Followers(locationID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.localGateways(locationID) + m.remoteGateways(locationID)
}

// localGateways counts this process's gateway subscribers of a location;
// m.mu is held.
func (m *Manager) localGateways(locationID string) int {
	n := 0
	for s := range m.subs[locationID] {
		if s.gateway {
			n++
		}
	}
	return n
}

// Close stops following.
func (s *PeerSub) Close() {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.subs[s.LocationID][s]; !ok {
		return
	}
	delete(m.subs[s.LocationID], s)
	if len(m.subs[s.LocationID]) == 0 {
		delete(m.subs, s.LocationID)
	}
	if s.gateway {
		m.relay.Following(s.LocationID, m.localGateways(s.LocationID))
		if m.localGateways(s.LocationID) == 0 {
			delete(m.heardAt, s.LocationID) // nobody here will apply them
		}
	}
}

// Publish tells a location's subscribers that its peer set may have
// changed and returns the publication's number, for WaitApplied.
func (m *Manager) Publish(locationID string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen[locationID]++
	for s := range m.subs[locationID] {
		s.markFull()
	}
	m.relay.PeersChanged(locationID, m.gen[locationID], nil)
	return m.gen[locationID]
}

// PublishDevices tells a location's subscribers that the peers of these
// devices may have changed (a session started or ended) and returns the
// publication's number, for WaitApplied. Subscribers read those devices
// again, not the whole set: the cost grows with the change, not with the
// location.
func (m *Manager) PublishDevices(locationID string, deviceIDs ...string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen[locationID]++
	for s := range m.subs[locationID] {
		s.markDevices(deviceIDs)
	}
	m.relay.PeersChanged(locationID, m.gen[locationID], deviceIDs)
	return m.gen[locationID]
}

// maxDirty is how many devices a subscriber reads again one by one;
// beyond, it reads the whole set.
const maxDirty = 4096

// markFull and markDevices record a publication for the next read and
// wake the subscriber; m.mu is held.
func (s *PeerSub) markFull() {
	s.full, s.dirty = true, nil
	s.poke()
}

func (s *PeerSub) markDevices(ids []string) {
	if !s.full {
		if s.dirty == nil {
			s.dirty = make(map[string]struct{}, len(ids))
		}
		for _, id := range ids {
			s.dirty[id] = struct{}{}
		}
		if len(s.dirty) > maxDirty {
			s.full, s.dirty = true, nil
		}
	}
	s.poke()
}

// PublishAll tells every subscriber to look again (a user's groups or
// devices changed, which can touch any location).
func (m *Manager) PublishAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pokeAll()
	m.relay.AllPeersChanged()
}

// pokeAll makes every subscriber read its whole set again; m.mu is held.
func (m *Manager) pokeAll() {
	for id, set := range m.subs {
		m.gen[id]++
		for s := range set {
			s.markFull()
		}
	}
}

// WaitApplied waits until the gateways following the location have taken
// publication gen (embedded gateways have applied it, remote ones have
// been sent it), or until ctx ends: a client told to connect must not
// reach the gateway before its peer does, since WireGuard retries a
// dropped handshake only after 5 s. Taken means by every gateway of this
// process, or by one following another replica. A dead gateway only
// costs the wait.
func (m *Manager) WaitApplied(ctx context.Context, locationID string, gen uint64) bool {
	for {
		m.mu.Lock()
		local, behind := 0, 0
		for s := range m.subs[locationID] {
			if s.gateway {
				local++
				if s.acked < gen {
					behind++
				}
			}
		}
		done := local > 0 && behind == 0
		if !done {
			r := m.remote[locationID]
			switch {
			case r != nil && r.acked >= gen:
				done = true // a gateway of another replica has it
			case local == 0 && m.remoteGateways(locationID) == 0:
				done = true // nobody to wait for
			}
		}
		ch := m.acks
		m.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

func (s *PeerSub) ack(gen uint64) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if gen > s.acked {
		s.acked = gen
		close(s.m.acks)
		s.m.acks = make(chan struct{})
		if s.gateway {
			s.m.ackHeard(s.LocationID, gen)
		}
	}
}

// take returns the current publication and what was marked since the
// last take, clearing the marks.
func (s *PeerSub) take() (gen uint64, full bool, dirty map[string]struct{}) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	gen, full, dirty = s.m.gen[s.LocationID], s.full, s.dirty
	s.full, s.dirty = false, nil
	return gen, full, dirty
}

// remark puts marks back after a failed read, so the next one retries.
func (s *PeerSub) remark(full bool, dirty map[string]struct{}) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if full {
		s.markFull()
		return
	}
	ids := make([]string, 0, len(dirty))
	for id := range dirty {
		ids = append(ids, id)
	}
	s.markDevices(ids)
}

func (s *PeerSub) poke() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Next waits until the desired peer set differs from what was delivered and
// returns the difference.
func (s *PeerSub) Next(ctx context.Context) (peers.Change, error) {
	s.ack(s.pending)
	for {
		select {
		case <-ctx.Done():
			return peers.Change{}, ctx.Err()
		case <-s.signal:
		}
		ch, err := s.read(ctx)
		if err != nil || !ch.Empty() {
			return ch, err
		}
	}
}

// read reads what publications marked; a change that is not empty is
// pending until the next call, an empty one acknowledged at once.
func (s *PeerSub) read(ctx context.Context) (peers.Change, error) {
	gen, full, dirty := s.take()
	var ch peers.Change
	var err error
	if full || s.iface == nil || !s.loc.MFA {
		// Without MFA every allowed device is a peer, whatever its
		// sessions: such locations are read whole.
		ch, err = s.readAll(ctx)
	} else {
		ch, err = s.readDevices(ctx, dirty)
	}
	if errors.Is(err, store.ErrNotFound) {
		return peers.Change{}, ErrLocationDeleted
	}
	if err != nil {
		s.remark(full || s.iface == nil, dirty)
		return peers.Change{}, err
	}
	if !ch.Empty() {
		s.pending = gen
		return ch, nil
	}
	s.ack(gen)
	return ch, nil
}

// readAll reads the whole peer set and returns the change from what was
// delivered last: a snapshot when the interface is new, else the peers
// that changed.
func (s *PeerSub) readAll(ctx context.Context) (peers.Change, error) {
	loc, iface, list, devices, err := s.m.desiredPeers(ctx, s.LocationID)
	if err != nil {
		return peers.Change{}, err
	}
	want := peers.NewSet(list)
	byDevice := make(map[string]wgkey.Key, len(list))
	for i, p := range list {
		byDevice[devices[i]] = p.PublicKey
	}
	defer func() { s.iface, s.last, s.loc, s.devices = &iface, want, loc, byDevice }()
	if s.iface == nil || !s.iface.Equal(iface) {
		return peers.Change{Snapshot: true, Interface: iface, Peers: list}, nil
	}
	ch := peers.Change{Interface: iface}
	ch.Upserts, ch.Removes = s.last.Diff(want)
	return ch, nil
}

// readDevices reads the peers of the marked devices of an MFA location
// and returns how they differ from what was delivered.
func (s *PeerSub) readDevices(ctx context.Context, dirty map[string]struct{}) (peers.Change, error) {
	ch := peers.Change{Interface: *s.iface}
	ids := make([]string, 0, len(dirty))
	for id := range dirty {
		ids = append(ids, id)
	}
	slices.Sort(ids) // the change lists peers in a stable order
	type found struct {
		p  peers.Peer
		ok bool
	}
	read := make([]found, len(ids))
	for i, id := range ids {
		p, ok, err := s.m.desiredPeerOf(ctx, s.loc, id)
		if err != nil {
			return peers.Change{}, err
		}
		read[i] = found{p, ok}
	}
	// Only now, with every read done, is the delivered state changed.
	for i, id := range ids {
		old, had := s.devices[id]
		p, ok := read[i].p, read[i].ok
		if had && (!ok || old != p.PublicKey) {
			delete(s.last, old)
			delete(s.devices, id)
			ch.Removes = append(ch.Removes, old)
		}
		if !ok {
			continue
		}
		if cur, present := s.last[p.PublicKey]; present && cur.Equal(p) {
			continue
		}
		s.last[p.PublicKey] = p
		s.devices[id] = p.PublicKey
		ch.Upserts = append(ch.Upserts, p)
	}
	return ch, nil
}
