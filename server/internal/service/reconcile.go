package service

import (
	"context"
	"errors"
	"slices"

	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// maxKnownSessions bounds how many session ids one report looks up; a
// client holds one tunnel at a time, so a handful is already generous.
const maxKnownSessions = 32

// EndedSession says how a session a device held ended.
type EndedSession struct {
	SessionID  string
	LocationID string
	Reason     int
	Message    string
}

// SessionReport reconciles a device's view of its sessions with the
// store's: the ids of its active sessions, and how each session the device
// named that is no longer active ended.
type SessionReport struct {
	Active []string
	Ended  []EndedSession
}

// SessionReport answers a device that holds the sessions known as active.
// The message of an ended session is written from its stored reason and
// the location as it is now.
func (s *Service) SessionReport(ctx context.Context, d Client, known []string) (SessionReport, error) {
	list, err := s.store.ListSessions(ctx, store.SessionFilter{DeviceID: d.ID, ActiveOnly: true, Limit: 100})
	if err != nil {
		return SessionReport{}, err
	}
	var r SessionReport
	for _, sess := range list {
		r.Active = append(r.Active, sess.ID)
	}
	if len(known) > maxKnownSessions {
		known = known[:maxKnownSessions]
	}
	for _, id := range known {
		if id == "" || slices.Contains(r.Active, id) {
			continue
		}
		sess, err := s.store.SessionByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && sess.DeviceID != d.ID) {
			// Another device's session reads as unknown, so ids tell nothing.
			r.Ended = append(r.Ended, EndedSession{SessionID: id, Message: "The server has no such connection any more; connect again."})
			continue
		}
		if err != nil {
			return SessionReport{}, err
		}
		loc, err := s.store.LocationByID(ctx, sess.LocationID)
		if errors.Is(err, store.ErrNotFound) {
			loc = store.Location{ID: sess.LocationID}
		} else if err != nil {
			return SessionReport{}, err
		}
		r.Ended = append(r.Ended, EndedSession{SessionID: sess.ID, LocationID: sess.LocationID, Reason: sess.EndReason, Message: session.Message(sess.EndReason, loc)})
	}
	return r, nil
}
