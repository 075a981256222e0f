package session

import (
	"context"
	"errors"

	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// ErrLocationDeleted ends a peer subscription whose location is gone.
var ErrLocationDeleted = errors.New("location deleted")

// PeerSub follows a location's desired peer set. It is level-triggered: on
// every signal it recomputes the set from the store and returns the
// difference from what it delivered last, so a slow subscriber never misses
// a change and never needs a queue.
type PeerSub struct {
	m          *Manager
	LocationID string
	signal     chan struct{}
	iface      *peers.Interface
	last       peers.Set
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
	s := &PeerSub{m: m, LocationID: locationID, signal: make(chan struct{}, 1), gateway: gateway}
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
		s.poke()
	}
	m.relay.PeersChanged(locationID, m.gen[locationID])
	return m.gen[locationID]
}

// PublishAll tells every subscriber to look again (a user's groups or
// devices changed, which can touch any location).
func (m *Manager) PublishAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pokeAll()
	m.relay.AllPeersChanged()
}

// pokeAll makes every subscriber look again; m.mu is held.
func (m *Manager) pokeAll() {
	for id, set := range m.subs {
		m.gen[id]++
		for s := range set {
			s.poke()
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

func (s *PeerSub) generation() uint64 {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.gen[s.LocationID]
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
		gen := s.generation()
		iface, list, err := s.m.DesiredPeers(ctx, s.LocationID)
		if errors.Is(err, store.ErrNotFound) {
			return peers.Change{}, ErrLocationDeleted
		}
		if err != nil {
			return peers.Change{}, err
		}
		ch := s.diff(iface, list)
		if !ch.Empty() {
			s.pending = gen
			return ch, nil
		}
		s.ack(gen)
	}
}

// diff is the change from what was delivered last: a snapshot when the
// interface is new, else the peers that changed.
func (s *PeerSub) diff(iface peers.Interface, list []peers.Peer) peers.Change {
	want := peers.NewSet(list)
	defer func() { s.iface, s.last = &iface, want }()
	if s.iface == nil || !s.iface.Equal(iface) {
		return peers.Change{Snapshot: true, Interface: iface, Peers: list}
	}
	ch := peers.Change{Interface: iface}
	ch.Upserts, ch.Removes = s.last.Diff(want)
	return ch
}
