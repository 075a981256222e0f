package session

import (
	"context"

	"github.com/wicket-vpn/wicket/server/internal/peers"
)

// NextIfPending is Next for a publication already made: it reads it and
// returns its change (perhaps empty), or false when none waits, instead of
// waiting for one.
func (s *PeerSub) NextIfPending(ctx context.Context) (peers.Change, bool, error) {
	s.ack(s.pending)
	select {
	case <-s.signal:
	default:
		return peers.Change{}, false, nil
	}
	ch, err := s.read(ctx)
	return ch, true, err
}
