package service

import (
	"context"

	"github.com/wicket-vpn/wicket/server/internal/store"
)

// ReportStats records a gateway's peer statistics on the active sessions
// of its location: the whole report in one statement, so that a
// session's handshake and activity, which the idle sweep of every
// replica reads, are in the store as soon as the report is answered.
// Keys without an active session (a peer removed since the gateway
// looked) are skipped; an ended session stays ended.
func (s *Service) ReportStats(ctx context.Context, l Location, stats []PeerStat) error {
	if len(stats) == 0 {
		return nil
	}
	batch := make([]store.PeerStats, len(stats))
	for i, st := range stats {
		batch[i] = store.PeerStats{PublicKey: st.PublicKey, Handshake: st.LatestHandshake, Rx: st.RxBytes, Tx: st.TxBytes, Endpoint: st.Endpoint}
	}
	_, err := s.store.RecordStatsBatch(ctx, l.ID, batch, s.clock.Now())
	return err
}
