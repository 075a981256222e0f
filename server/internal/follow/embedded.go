// Package follow feeds gateway drivers the peer changes of their location:
// Embedded runs a gateway per location inside wicketd, wired to the session
// manager in process; Remote is the standalone `wicketd gateway`, following
// GatewayService over the network. Both report the peers' statistics back.
package follow

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/session"
)

// Embedded runs a gateway for every location inside wicketd, wired to the
// session manager in process instead of over GatewayService.
type Embedded struct {
	svc   *service.Service
	opts  gateway.Options
	stats time.Duration

	mu       sync.Mutex
	running  map[string]*embeddedLoc
	gateways map[string]*gateway.Gateway
}

type embeddedLoc struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// NewEmbedded prepares embedded gateways reporting stats every interval.
func NewEmbedded(svc *service.Service, opts gateway.Options, statsInterval time.Duration) *Embedded {
	if statsInterval <= 0 {
		statsInterval = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Embedded{svc: svc, opts: opts, stats: statsInterval, running: map[string]*embeddedLoc{}, gateways: map[string]*gateway.Gateway{}}
}

// Gateway returns the running gateway of a location, or nil.
func (e *Embedded) Gateway(locationID string) *gateway.Gateway {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gateways[locationID]
}

// Run serves every location until ctx ends, starting gateways for new
// locations and stopping those of deleted ones.
func (e *Embedded) Run(ctx context.Context) error {
	// Location changes are announced to every watcher; the supervisor
	// watches as nobody in particular.
	sub := e.svc.Watch("", "")
	defer sub.Close()
	defer e.stopAll()
	for {
		if err := e.reconcile(ctx); err != nil {
			e.opts.Log.Error("start location gateways", "err", err)
		}
		if _, _, err := sub.Next(ctx); err != nil {
			return nil
		}
	}
}

func (e *Embedded) reconcile(ctx context.Context) error {
	locs, err := e.svc.Locations(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	want := map[string]service.Location{}
	for _, l := range locs {
		want[l.ID] = l
	}
	for id, r := range e.running {
		select {
		case <-r.done:
			delete(e.running, id) // ended (location deleted or failed); restart below if still wanted
		default:
		}
	}
	for id, l := range want {
		if _, ok := e.running[id]; ok {
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		r := &embeddedLoc{cancel: cancel, done: make(chan struct{})}
		e.running[id] = r
		g := gateway.New(e.opts)
		e.gateways[id] = g
		go func() {
			defer close(r.done)
			e.serve(lctx, l, g)
		}()
	}
	return nil
}

func (e *Embedded) stopAll() {
	e.mu.Lock()
	runs := e.running
	e.running = map[string]*embeddedLoc{}
	e.mu.Unlock()
	for _, r := range runs {
		r.cancel()
		<-r.done
	}
}

// serve follows one location's peer set and reports its statistics.
func (e *Embedded) serve(ctx context.Context, loc service.Location, g *gateway.Gateway) {
	log := e.opts.Log.With("location", loc.Name)
	defer func() {
		g.Close()
		e.mu.Lock()
		if e.gateways[loc.ID] == g {
			delete(e.gateways, loc.ID)
		}
		e.mu.Unlock()
	}()
	sub := e.svc.Sessions.FollowPeers(loc.ID)
	defer sub.Close()
	statsDone := make(chan struct{})
	sctx, stopStats := context.WithCancel(ctx)
	go func() {
		defer close(statsDone)
		reportLoop(sctx, g, e.stats, func(ctx context.Context, stats []gateway.PeerStats) error {
			return e.svc.ReportStats(ctx, loc, toServiceStats(stats))
		}, log)
	}()
	defer func() { stopStats(); <-statsDone }()
	for {
		ch, err := sub.Next(ctx)
		if errors.Is(err, session.ErrLocationDeleted) || ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Error("read peer set", "err", err)
			return
		}
		if err := g.Apply(ch); err != nil {
			log.Error("apply peer set", "err", err)
		}
	}
}

func toServiceStats(stats []gateway.PeerStats) []service.PeerStat {
	out := make([]service.PeerStat, 0, len(stats))
	for _, s := range stats {
		out = append(out, service.PeerStat{PublicKey: s.PublicKey.String(), Endpoint: s.Endpoint, RxBytes: s.RxBytes, TxBytes: s.TxBytes, LatestHandshake: s.LatestHandshake})
	}
	return out
}

// reportLoop sends the changed peer statistics every interval until ctx ends.
func reportLoop(ctx context.Context, g *gateway.Gateway, interval time.Duration, report func(context.Context, []gateway.PeerStats) error, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := g.ReportNow(ctx, report); err != nil {
			log.Warn("report peer statistics", "err", err)
		}
	}
}
