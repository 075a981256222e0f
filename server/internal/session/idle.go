package session

import (
	"context"
	"fmt"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/store"
)

// The idle policy. A session of an MFA location whose last activity (its
// latest handshake, or the last report in which the bytes received from
// its client grew; before any, its authorization) is older than the
// location's peer disconnect threshold is idle and ends; so does any
// session older than the location's maximum duration, in use or not. The
// store only answers for a given cutoff; the cutoffs are decided here.

// DefaultPeerDisconnectThresholdSeconds is the threshold of a location
// whose admin sets none, and the recommended minimum: with the gateway
// reporting every 30 s, a tunnel in use is seen well before it.
const DefaultPeerDisconnectThresholdSeconds = 300

// MinPeerDisconnectThreshold is the smallest threshold an MFA location
// accepts unless the server is configured lower (for tests and demos).
const MinPeerDisconnectThreshold = 120 * time.Second

// peerDisconnectThreshold is how long a session of loc may go without
// activity.
func peerDisconnectThreshold(loc store.Location) time.Duration {
	return time.Duration(loc.PeerDisconnectThresholdSeconds) * time.Second
}

// limits are the cutoffs a location's sessions are held to at one moment.
type limits struct {
	// idleBefore: a session without activity since before it is idle.
	// Zero when the location ends no session as idle (it has no MFA).
	idleBefore time.Time
	// authorizedBy: a session authorized at or before it has reached the
	// location's maximum duration. Zero when there is no maximum.
	authorizedBy time.Time
}

func limitsAt(loc store.Location, now time.Time) limits {
	var l limits
	if loc.MFA {
		l.idleBefore = now.Add(-peerDisconnectThreshold(loc))
	}
	if loc.MaxSessionSeconds > 0 {
		l.authorizedBy = now.Add(-time.Duration(loc.MaxSessionSeconds) * time.Second)
	}
	return l
}

// tooOld reports whether s has reached the maximum duration.
func (l limits) tooOld(s store.Session) bool {
	return !l.authorizedBy.IsZero() && !s.AuthorizedAt.After(l.authorizedBy)
}

// dueAt lists the sessions of loc that the limits end: those past the
// maximum duration, then those idle.
func (m *Manager) dueAt(ctx context.Context, loc store.Location, l limits) ([]store.Session, error) {
	var due []store.Session
	if !l.authorizedBy.IsZero() {
		list, err := m.store.SessionsAuthorizedBy(ctx, loc.ID, l.authorizedBy)
		if err != nil {
			return nil, err
		}
		due = append(due, list...)
	}
	if !l.idleBefore.IsZero() {
		list, err := m.store.IdleSessions(ctx, loc.ID, l.idleBefore)
		if err != nil {
			return nil, err
		}
		due = append(due, list...)
	}
	return due, nil
}

// Sweep ends every session of an MFA location that has been idle longer
// than the location's threshold, and every session past the location's
// maximum duration. Several replicas may sweep at once: a session ends once.
func (m *Manager) Sweep(ctx context.Context) (int, error) {
	now := m.clock.Now()
	locs, err := m.store.ListLocations(ctx)
	if err != nil {
		return 0, fmt.Errorf("find idle sessions: %w", err)
	}
	seen := map[string]bool{}
	var list []store.Session
	for _, loc := range locs {
		due, err := m.dueAt(ctx, loc, limitsAt(loc, now))
		if err != nil {
			return 0, fmt.Errorf("find idle sessions: %w", err)
		}
		for _, s := range due {
			if !seen[s.ID] {
				seen[s.ID] = true
				list = append(list, s)
			}
		}
	}
	if len(list) == 0 {
		return 0, nil
	}
	var ended []*Ended
	err = m.store.InTx(ctx, func(q *store.Q) error {
		ended = ended[:0]
		// The location is read again: an admin may have changed its limits
		// since the sessions were listed.
		locs := map[string]store.Location{}
		for _, s := range list {
			loc, ok := locs[s.LocationID]
			if !ok {
				l, err := q.LocationByID(ctx, s.LocationID)
				if err != nil {
					continue
				}
				loc, locs[s.LocationID] = l, l
			}
			l := limitsAt(loc, now)
			var e *Ended
			var err error
			switch {
			case l.tooOld(s):
				e, err = m.endAt(ctx, q, s, loc, ReasonMaxDuration, "system", time.Time{})
			case !l.idleBefore.IsZero():
				// The store ends it only if it is still idle then.
				e, err = m.endAt(ctx, q, s, loc, ReasonIdle, "system", l.idleBefore)
			}
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
		return 0, fmt.Errorf("end idle sessions: %w", err)
	}
	m.Announce(ended...)
	return len(ended), nil
}
