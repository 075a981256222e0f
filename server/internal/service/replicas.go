package service

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/store"
)

// Replica addresses: every server announces its public URL (and the
// addresses its admin fixed) when it starts and every ReplicaRefresh while
// it runs; clients are told of those seen within ReplicaWindow, and rows
// older than replicaForget are deleted.
const (
	ReplicaRefresh = time.Minute
	ReplicaWindow  = 10 * time.Minute
	replicaForget  = 24 * time.Hour
)

// AnnounceReplica records that this server answers at its URL, and that
// fixed (the admin's addresses for the instance: a load balancer, DNS
// names) are served too. On SQLite the server is alone on its database,
// so whatever an earlier run announced and this one does not is forgotten
// at once.
func (s *Service) AnnounceReplica(ctx context.Context, fixed []string) error {
	now := s.clock.Now()
	var rs []store.Replica
	if s.cfg.URL != "" {
		rs = append(rs, store.Replica{URL: s.cfg.URL})
	}
	for _, u := range fixed {
		if u != s.cfg.URL {
			rs = append(rs, store.Replica{URL: u, Fixed: true})
		}
	}
	forget := now.Add(-replicaForget)
	if s.store.Dialect() == store.SQLite {
		forget = now
	}
	err := s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.SeenReplicas(ctx, rs, now); err != nil {
			return err
		}
		return q.ForgetReplicas(ctx, forget)
	})
	if err != nil {
		return fmt.Errorf("announce this server's address: %w", err)
	}
	return nil
}

// RunReplicaAnnouncer announces the server every interval until ctx ends
// (ReplicaRefresh when interval is zero), so that it stays in the lists
// clients fail over with.
func (s *Service) RunReplicaAnnouncer(ctx context.Context, fixed []string, interval time.Duration) {
	if interval <= 0 {
		interval = ReplicaRefresh
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.AnnounceReplica(ctx, fixed); err != nil && ctx.Err() == nil {
				s.log.Warn("cannot announce this server's address; clients may stop failing over to it", "err", err)
			}
		}
	}
}

// ReplicaURLs lists the addresses of the instance's servers for clients:
// this server's own first, then the other replicas seen within
// ReplicaWindow, then the admin's fixed addresses, without repeats.
func (s *Service) ReplicaURLs(ctx context.Context) ([]string, error) {
	rs, err := s.store.Replicas(ctx, s.clock.Now().Add(-ReplicaWindow))
	if err != nil {
		return nil, err
	}
	var out []string
	if s.cfg.URL != "" {
		out = append(out, s.cfg.URL)
	}
	for _, r := range rs {
		if !slices.Contains(out, r.URL) {
			out = append(out, r.URL)
		}
	}
	return out, nil
}
