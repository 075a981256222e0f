package session

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/wicket-vpn/wicket/server/internal/store"
)

// ErrLocationDeleted ends a peer subscription whose location is gone.
var ErrLocationDeleted = errors.New("location deleted")

// PeerChange is what a gateway must do to match the desired peer set. A
// snapshot replaces everything: the interface and the full peer set.
type PeerChange struct {
	Snapshot  bool
	Interface Interface
	Peers     []Peer // the full set, for a snapshot
	Upserts   []Peer
	Removes   []string // public keys
}

// Empty reports whether the change does nothing.
func (c PeerChange) Empty() bool {
	return !c.Snapshot && len(c.Upserts) == 0 && len(c.Removes) == 0
}

// PeerSub follows a location's desired peer set. It is level-triggered: on
// every signal it recomputes the set from the store and returns the
// difference from what it delivered last, so a slow subscriber never misses
// a change and never needs a queue.
type PeerSub struct {
	m          *Manager
	LocationID string
	signal     chan struct{}
	iface      *Interface
	last       map[string]Peer
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
	m.mu.Unlock()
	return s
}

// Followers reports how many subscribers (gateways, embedded or remote)
// follow the location's peer set in this process.
func (m *Manager) Followers(locationID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.subs[locationID])
}

// Close stops following.
func (s *PeerSub) Close() {
	s.m.mu.Lock()
	delete(s.m.subs[s.LocationID], s)
	if len(s.m.subs[s.LocationID]) == 0 {
		delete(s.m.subs, s.LocationID)
	}
	s.m.mu.Unlock()
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
	return m.gen[locationID]
}

// PublishAll tells every subscriber to look again (a user's groups or
// devices changed, which can touch any location).
func (m *Manager) PublishAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, set := range m.subs {
		m.gen[id]++
		for s := range set {
			s.poke()
		}
	}
}

// WaitApplied waits until every gateway following the location in this
// process has taken publication gen (embedded gateways have applied it,
// remote ones have been sent it), or until ctx ends: a client told to
// connect must not reach the gateway before its peer does, since
// WireGuard retries a dropped handshake only after 5 s. A dead gateway
// only costs the wait.
func (m *Manager) WaitApplied(ctx context.Context, locationID string, gen uint64) bool {
	for {
		m.mu.Lock()
		done := true
		for s := range m.subs[locationID] {
			if s.gateway && s.acked < gen {
				done = false
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
func (s *PeerSub) Next(ctx context.Context) (PeerChange, error) {
	s.ack(s.pending)
	for {
		select {
		case <-ctx.Done():
			return PeerChange{}, ctx.Err()
		case <-s.signal:
		}
		gen := s.generation()
		iface, peers, err := s.m.DesiredPeers(ctx, s.LocationID)
		if errors.Is(err, store.ErrNotFound) {
			return PeerChange{}, ErrLocationDeleted
		}
		if err != nil {
			return PeerChange{}, err
		}
		ch := s.diff(iface, peers)
		if !ch.Empty() {
			s.pending = gen
			return ch, nil
		}
		s.ack(gen)
	}
}

func (s *PeerSub) diff(iface Interface, peers []Peer) PeerChange {
	want := make(map[string]Peer, len(peers))
	for _, p := range peers {
		want[p.PublicKey] = p
	}
	defer func() { s.iface, s.last = &iface, want }()
	if s.iface == nil || !sameInterface(*s.iface, iface) {
		return PeerChange{Snapshot: true, Interface: iface, Peers: peers}
	}
	var ch PeerChange
	ch.Interface = iface
	for k, p := range want {
		if old, ok := s.last[k]; !ok || !samePeer(old, p) {
			ch.Upserts = append(ch.Upserts, p)
		}
	}
	for k := range s.last {
		if _, ok := want[k]; !ok {
			ch.Removes = append(ch.Removes, k)
		}
	}
	slices.SortFunc(ch.Upserts, func(a, b Peer) int { return strings.Compare(a.PublicKey, b.PublicKey) })
	slices.Sort(ch.Removes)
	return ch
}

func sameInterface(a, b Interface) bool {
	return a.LocationID == b.LocationID && a.PrivateKey == b.PrivateKey && a.Address == b.Address &&
		a.ListenPort == b.ListenPort && a.MTU == b.MTU && slices.Equal(a.AllowedIPs, b.AllowedIPs)
}

func samePeer(a, b Peer) bool {
	return a.PublicKey == b.PublicKey && a.PresharedKey == b.PresharedKey && slices.Equal(a.AllowedIPs, b.AllowedIPs)
}
