package session

import "time"

// Replicas of one database each have their own Manager. A Relay carries
// what one Manager does to the others (see package replica); what the
// others did arrives through the Remote* methods. Publication numbers are
// each replica's own: an acknowledgement names the replica whose
// publication it answers.

// Relay tells other replicas of a Manager's publications. Its methods are
// called with the Manager's lock held and must not block.
type Relay interface {
	// PeersChanged: the location's peer set may have changed, only for
	// the devices named unless devices is nil; gen is this replica's
	// publication number.
	PeersChanged(locationID string, gen uint64, devices []string)
	// AllPeersChanged: any location's peer set may have changed.
	AllPeersChanged()
	// PeersAcked: a gateway following this replica has taken publication
	// gen of replica origin.
	PeersAcked(locationID, origin string, gen uint64)
	// Following: this many gateways follow the location here now.
	Following(locationID string, gateways int)
}

type noRelay struct{}

func (noRelay) PeersChanged(string, uint64, []string) {}
func (noRelay) AllPeersChanged()                      {}
func (noRelay) PeersAcked(string, string, uint64)     {}
func (noRelay) Following(string, int)                 {}

// FollowerTTL is how long another replica's announcement of its gateways
// counts; replicas repeat it well within (replica.AnnounceEvery). It is
// measured on the process's own monotonic clock, not the domain's: it is
// about other processes being alive.
const FollowerTTL = 30 * time.Second

// remoteView is what other replicas said of one location.
type remoteView struct {
	// acked is the highest of this replica's publications a gateway on
	// another replica has taken.
	acked uint64
	// gateways are the other replicas' follower counts, by replica.
	gateways map[string]announced
}

type announced struct {
	n    int
	seen time.Time
}

// heard is another replica's publication, made known to this replica's
// subscribers as local publication gen.
type heard struct {
	gen    uint64
	origin string
	theirs uint64
}

// SetRelay connects the Manager to the other replicas. Call it before
// serving.
func (m *Manager) SetRelay(r Relay) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.relay = r
}

func (m *Manager) view(locationID string) *remoteView {
	r := m.remote[locationID]
	if r == nil {
		r = &remoteView{gateways: map[string]announced{}}
		m.remote[locationID] = r
	}
	return r
}

// remoteGateways counts the gateways other replicas announced for a
// location recently; m.mu is held.
func (m *Manager) remoteGateways(locationID string) int {
	r := m.remote[locationID]
	if r == nil {
		return 0
	}
	now, n := time.Now(), 0
	for id, a := range r.gateways {
		if now.Sub(a.seen) > FollowerTTL {
			delete(r.gateways, id)
			continue
		}
		n += a.n
	}
	return n
}

// RemotePublished is replica origin's publication theirs of a location's
// peer set (of the devices named, or all of it when devices is nil): the
// subscribers here read it again, and once a gateway here has taken it,
// origin hears so.
func (m *Manager) RemotePublished(origin, locationID string, theirs uint64, devices []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen[locationID]++
	gen := m.gen[locationID]
	for s := range m.subs[locationID] {
		if devices == nil {
			s.markFull()
		} else {
			s.markDevices(devices)
		}
	}
	if m.localGateways(locationID) > 0 {
		m.heardAt[locationID] = append(m.heardAt[locationID], heard{gen: gen, origin: origin, theirs: theirs})
	}
}

// RemoteAllPublished is another replica's PublishAll, or notifications
// that may have been missed: every subscriber here looks again.
func (m *Manager) RemoteAllPublished() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pokeAll()
}

// RemoteAcked is another replica's word that its gateway took this
// replica's publication gen.
func (m *Manager) RemoteAcked(locationID string, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.view(locationID)
	if gen > r.acked {
		r.acked = gen
		close(m.acks)
		m.acks = make(chan struct{})
	}
}

// RemoteFollowing records that replica follows the location with this
// many gateways.
func (m *Manager) RemoteFollowing(replica, locationID string, gateways int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.view(locationID)
	if gateways <= 0 {
		delete(r.gateways, replica)
		return
	}
	r.gateways[replica] = announced{n: gateways, seen: time.Now()}
}

// RemoteGone forgets everything a replica announced (it shut down).
func (m *Manager) RemoteGone(replica string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.remote {
		delete(r.gateways, replica)
	}
}

// LocalFollowing lists the locations gateways follow here, with their
// counts, for announcing to other replicas.
func (m *Manager) LocalFollowing() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for id := range m.subs {
		if n := m.localGateways(id); n > 0 {
			out[id] = n
		}
	}
	return out
}

// ackHeard answers the other replicas' publications that local
// publication gen covers; m.mu is held.
func (m *Manager) ackHeard(locationID string, gen uint64) {
	list := m.heardAt[locationID]
	if len(list) == 0 {
		return
	}
	// Answer each origin's latest covered publication once.
	latest := map[string]uint64{}
	i := 0
	for ; i < len(list) && list[i].gen <= gen; i++ {
		if list[i].theirs > latest[list[i].origin] {
			latest[list[i].origin] = list[i].theirs
		}
	}
	for origin, theirs := range latest {
		m.relay.PeersAcked(locationID, origin, theirs)
	}
	if i == len(list) {
		delete(m.heardAt, locationID)
	} else {
		m.heardAt[locationID] = list[i:]
	}
}
