package follow

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
)

// RemoteOptions configure a standalone gateway talking to wicketd over
// GatewayService.
type RemoteOptions struct {
	gateway.Options
	HTTP *http.Client
	// ServerURL and ServerURLs are the addresses of the server's replicas
	// (ServerURL first when both are set). The gateway follows one; when
	// it cannot be reached, or the stream breaks, the next attempt goes
	// to the next address, round the list, keeping the peers meanwhile.
	ServerURL     string
	ServerURLs    []string
	Token         string
	StatsInterval time.Duration // default 30 s
	// While the server is away the gateway probes it, first after
	// MinBackoff (default 250 ms), doubling up to MaxBackoff (default
	// 1 s), each wait with ±20 % jitter so that many gateways do not
	// arrive together: a server that returns is followed again within
	// about 2 s. A server that answers (even with an error) resets it.
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// Remote is a standalone gateway: it follows the SyncPeers stream,
// reconnecting with backoff (every reconnect starts from a snapshot), keeps
// its peers while the server is away, and reports statistics.
type Remote struct {
	opts RemoteOptions
	gw   *gateway.Gateway
	urls []string
	rpcs []wicketv1connect.GatewayServiceClient
	// cur is the index of the server followed now; the stats reports go
	// to it too.
	cur atomic.Int32
}

// NewRemote prepares a standalone gateway.
func NewRemote(o RemoteOptions) *Remote {
	if o.StatsInterval <= 0 {
		o.StatsInterval = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Second
	}
	if o.HTTP == nil {
		o.HTTP = http.DefaultClient
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	r := &Remote{opts: o, gw: gateway.New(o.Options)}
	for _, u := range append([]string{o.ServerURL}, o.ServerURLs...) {
		if u != "" && !slices.Contains(r.urls, u) {
			r.urls = append(r.urls, u)
			r.rpcs = append(r.rpcs, wicketv1connect.NewGatewayServiceClient(o.HTTP, u))
		}
	}
	return r
}

// rpc is the client of the server followed now, and its address.
func (r *Remote) rpc() (wicketv1connect.GatewayServiceClient, string) {
	i := int(r.cur.Load())
	return r.rpcs[i], r.urls[i]
}

// Server returns the address of the server the gateway follows now.
func (r *Remote) Server() string {
	_, u := r.rpc()
	return u
}

// failOver moves on to the next server address.
func (r *Remote) failOver() {
	r.cur.Store(int32((int(r.cur.Load()) + 1) % len(r.urls)))
}

// Gateway returns the device manager.
func (r *Remote) Gateway() *gateway.Gateway { return r.gw }

// Run serves until ctx ends or the server says the token is not valid.
func (r *Remote) Run(ctx context.Context) error {
	defer r.gw.Close()
	if len(r.urls) == 0 {
		return errors.New("no server address: give the gateway at least one --server")
	}
	ctx, cancel := context.WithCancel(ctx)
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		reportLoop(ctx, r.gw, r.opts.StatsInterval, r.report, r.opts.Log)
	}()
	defer func() { cancel(); <-statsDone }()
	backoff := r.opts.MinBackoff
	for {
		synced, err := r.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch connect.CodeOf(err) {
		case connect.CodeUnauthenticated, connect.CodeNotFound:
			// A wrong token or a deleted location does not heal by retrying.
			return err
		}
		if synced || answered(err) {
			backoff = r.opts.MinBackoff
		}
		wait := jitter(backoff)
		lost := r.Server()
		// Replicas are alike: whatever went wrong with this one (gone,
		// unreachable, a stream cut mid-message), the next may serve.
		if len(r.urls) > 1 {
			r.failOver()
		}
		r.opts.Log.Warn("lost the server; keeping the current peers and reconnecting", "server", lost, "next", r.Server(), "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, r.opts.MaxBackoff)
	}
}

// follow reads one SyncPeers stream; synced reports whether a snapshot came.
func (r *Remote) follow(ctx context.Context) (synced bool, err error) {
	rpc, url := r.rpc()
	stream, err := rpc.SyncPeers(ctx, connect.NewRequest(&v1.SyncPeersRequest{GatewayToken: r.opts.Token}))
	if err != nil {
		return false, err
	}
	defer stream.Close()
	for stream.Receive() {
		ch, err := changeFromProto(stream.Msg())
		if err != nil {
			r.opts.Log.Error("bad peer change from the server", "err", err)
			continue
		}
		if err := r.gw.Apply(ch); err != nil {
			r.opts.Log.Error("apply peer change", "err", err)
			continue
		}
		if ch.Snapshot {
			synced = true
			r.opts.Log.Info("peer set synchronised", "peers", len(ch.Peers), "server", url)
		}
	}
	if err := stream.Err(); err != nil {
		return synced, err
	}
	return synced, errors.New("the server closed the peer stream")
}

// reportBatch is how many peers one ReportStats call carries: 2,000 peers
// are about 200 kB, well inside the server's 1 MiB limit on a message even
// with long IPv6 endpoints, while a gateway of 10,000 busy peers reports in
// five calls.
const reportBatch = 2000

func (r *Remote) report(ctx context.Context, stats []gateway.PeerStats) error {
	for len(stats) > 0 {
		n := min(len(stats), reportBatch)
		req := &v1.ReportStatsRequest{GatewayToken: r.opts.Token, Stats: statsToProto(stats[:n])}
		rpc, _ := r.rpc()
		if _, err := rpc.ReportStats(ctx, connect.NewRequest(req)); err != nil {
			return err
		}
		stats = stats[n:]
	}
	return nil
}

// ReportNow sends the changed statistics at once.
func (r *Remote) ReportNow(ctx context.Context) error { return r.gw.ReportNow(ctx, r.report) }

// answered reports whether err came from the server itself (an error code
// it sent), not from failing to reach it.
func answered(err error) bool {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.Code() {
	case connect.CodeUnavailable, connect.CodeUnknown, connect.CodeDeadlineExceeded, connect.CodeCanceled:
		return false
	}
	return true
}

// jitter spreads d by ±20 %.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
