package service

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/store"
)

// ReportStats records a gateway's peer statistics on the active sessions
// of its location. A session's handshake, activity, state, endpoint and
// byte counters are in the store when the report is answered, so that
// the idle sweep of every replica reads them; keys without an active
// session (a peer removed since the gateway looked) are skipped; an ended
// session stays ended; a key reported twice counts once, as last
// reported.
//
// The replica remembers, per location, where each reported session's row
// is and what it last wrote there, so that a report addresses the rows
// directly instead of finding each from its key, and writes the columns
// the idle sweep's index covers only for the sessions whose handshake,
// activity, state or endpoint changed. The store stays the judge: a write
// lands only on a session still active, and a session found ended (on
// any replica) or replaced is looked up again by its key.
func (s *Service) ReportStats(ctx context.Context, l Location, stats []PeerStat) error {
	if len(stats) == 0 {
		return nil
	}
	batch := make([]store.PeerStats, len(stats))
	for i, st := range stats {
		batch[i] = store.PeerStats{PublicKey: st.PublicKey, Handshake: st.LatestHandshake, Rx: st.RxBytes, Tx: st.TxBytes, Endpoint: st.Endpoint}
	}
	return s.stats.location(l.ID).report(ctx, s.store, l.ID, store.LastOfEachKey(batch), s.clock.Now())
}

// statsCache is what a replica remembers of the sessions gateways report
// on, by location.
type statsCache struct {
	mu   sync.Mutex
	locs map[string]*locationStats
}

func (c *statsCache) location(id string) *locationStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locs == nil {
		c.locs = map[string]*locationStats{}
	}
	l := c.locs[id]
	if l == nil {
		l = &locationStats{peers: map[string]*peerRow{}}
		c.locs[id] = l
	}
	return l
}

// forgetAfter is how long a key no report names stays remembered.
const forgetAfter = 10 * time.Minute

// locationStats is the memory of one location's reported sessions. Its
// reports take turns, so that each is computed against the last.
type locationStats struct {
	mu        sync.Mutex
	peers     map[string]*peerRow // by public key
	lastPrune time.Time
}

// peerRow is a session as this replica last wrote it, and the previous
// report about its peer.
type peerRow struct {
	row       int64
	id        string
	handshake int64 // ms, as written
	activity  int64 // ms, as written
	state     int
	endpoint  string
	rx, tx    uint64 // the previous report's
	seen      time.Time
}

// next is the session after a report of st at now (ms): the activity rule
// is the store's (see store.Q.RecordStats), computed against the previous
// report rather than the stored counters.
func (p *peerRow) next(st store.PeerStats, now int64) peerRow {
	n := *p
	hs := msOf(st.Handshake)
	if hs > n.handshake {
		n.handshake = hs
	}
	switch {
	case st.Rx > p.rx && now > p.activity:
		n.activity = now
	case hs > p.activity:
		n.activity = hs
	}
	if hs != 0 {
		n.state = store.StateConnected
	}
	n.endpoint, n.rx, n.tx = st.Endpoint, st.Rx, st.Tx
	return n
}

// moved reports whether n changes more of the session than its counters.
func (p *peerRow) moved(n *peerRow) bool {
	return n.handshake != p.handshake || n.activity != p.activity || n.state != p.state || n.endpoint != p.endpoint
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// pending is one session's change in a report, before the store takes
// it: the report's entry i and the session after it.
type pending struct {
	i    int
	next peerRow
}

func (p *pending) write() store.StatsWrite {
	n := &p.next
	return store.StatsWrite{Row: n.row, ID: n.id, Handshake: n.handshake, Activity: n.activity, Connected: n.state == store.StateConnected,
		Rx: n.rx, Tx: n.tx, Endpoint: n.endpoint}
}

func (l *locationStats) report(ctx context.Context, st *store.Store, locationID string, stats []store.PeerStats, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	nowMS := now.UnixMilli()
	// The report's entries by what their sessions need: a whole write, the
	// counters alone, or first a look-up by key.
	var full, counters []pending
	var unknown []int
	for i, ps := range stats {
		p := l.peers[ps.PublicKey]
		if p == nil {
			unknown = append(unknown, i)
			continue
		}
		n := p.next(ps, nowMS)
		switch {
		case p.moved(&n):
			full = append(full, pending{i, n})
		case n.rx != p.rx || n.tx != p.tx:
			counters = append(counters, pending{i, n})
		default:
			// Nothing moved (an idle peer): the row already says it all.
			p.seen = now
		}
	}
	var written []pending
	var gone []int
	tx := st.StatsWriter()
	err := func() error {
		// A remembered session that is no longer active was ended or
		// replaced: its key is looked up again, once.
		for round := 0; ; round++ {
			if len(unknown) > 0 {
				keys := make([]string, len(unknown))
				for j, i := range unknown {
					keys[j] = stats[i].PublicKey
				}
				found, err := tx.SessionsByKey(ctx, locationID, keys)
				if err != nil {
					return err
				}
				full = slices.Clip(full)
				for _, f := range found {
					i, _ := slices.BinarySearchFunc(stats, f.PublicKey, func(ps store.PeerStats, k string) int { return strings.Compare(ps.PublicKey, k) })
					p := peerRow{row: f.Row, id: f.ID, handshake: f.Handshake, activity: f.Activity, state: f.State, endpoint: f.Endpoint, rx: f.Rx, tx: f.Tx}
					// Written whole, so that the row is as remembered.
					full = append(full, pending{i, p.next(stats[i], nowMS)})
				}
			}
			unknown = nil
			for k, set := range [...][]pending{full, counters} {
				if len(set) == 0 {
					continue
				}
				w := make([]store.StatsWrite, len(set))
				for j := range set {
					w[j] = set[j].write()
				}
				missed, err := tx.Write(ctx, w, k == 1)
				if err != nil {
					return err
				}
				m := 0
				for j := range set {
					if m < len(missed) && missed[m] == j {
						m++
						gone = append(gone, set[j].i)
						if round == 0 {
							unknown = append(unknown, set[j].i)
						}
						continue
					}
					written = append(written, set[j])
				}
			}
			full, counters = nil, nil
			if len(unknown) == 0 {
				return nil
			}
		}
	}()
	if err != nil {
		// What the store holds is no longer known here.
		clear(l.peers)
		return err
	}
	for _, i := range gone {
		delete(l.peers, stats[i].PublicKey)
	}
	for j := range written {
		n, k := &written[j].next, stats[written[j].i].PublicKey
		n.seen = now
		if p := l.peers[k]; p != nil {
			*p = *n
		} else {
			p := *n
			l.peers[k] = &p
		}
	}
	if now.Sub(l.lastPrune) > forgetAfter {
		for k, p := range l.peers {
			if now.Sub(p.seen) > forgetAfter {
				delete(l.peers, k)
			}
		}
		l.lastPrune = now
	}
	return nil
}
