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
}

// SubscribePeers follows a location's peer set; the first Next returns a snapshot.
func (m *Manager) SubscribePeers(locationID string) *PeerSub {
	s := &PeerSub{m: m, LocationID: locationID, signal: make(chan struct{}, 1)}
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

// Publish tells a location's subscribers that its peer set may have changed.
func (m *Manager) Publish(locationID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range m.subs[locationID] {
		s.poke()
	}
}

// PublishAll tells every subscriber to look again (a user's groups or
// devices changed, which can touch any location).
func (m *Manager) PublishAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, set := range m.subs {
		for s := range set {
			s.poke()
		}
	}
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
	for {
		select {
		case <-ctx.Done():
			return PeerChange{}, ctx.Err()
		case <-s.signal:
		}
		iface, peers, err := s.m.DesiredPeers(ctx, s.LocationID)
		if errors.Is(err, store.ErrNotFound) {
			return PeerChange{}, ErrLocationDeleted
		}
		if err != nil {
			return PeerChange{}, err
		}
		ch := s.diff(iface, peers)
		if !ch.Empty() {
			return ch, nil
		}
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
