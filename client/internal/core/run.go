package core

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
)

// Backoff between watch stream attempts.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
	// DefaultStreamSilence is how long a watch stream may carry nothing
	// before it counts as dead: the server sends a heartbeat every 15 s.
	DefaultStreamSilence = 35 * time.Second
)

func (c *core) run(ctx context.Context) error {
	c.mu.Lock()
	if c.runCtx != nil {
		c.mu.Unlock()
		return errors.New("core: Run is already running")
	}
	c.runCtx = ctx
	c.closing = false
	for _, in := range c.insts {
		c.startInstanceLocked(in)
	}
	c.mu.Unlock()

	c.runWG.Add(1)
	go func() {
		defer c.runWG.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.opts.After(c.opts.StatsInterval):
				c.refreshStats()
			}
		}
	}()

	<-ctx.Done()
	// Closing first: a connection finishing meanwhile then takes its own
	// tunnel down instead of outliving Run.
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	// Take every tunnel down and tell the servers, with a deadline of its
	// own since ctx is already done.
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := c.disconnectAll(dctx); err != nil {
		c.log.Warn("disconnect on exit", "err", err)
	}
	cancel()
	c.runWG.Wait()
	c.mu.Lock()
	c.runCtx = nil
	for _, in := range c.insts {
		in.live, in.stopWatch = false, nil
	}
	c.mu.Unlock()
	return ctx.Err()
}

// startInstanceLocked starts the watch stream and the poll of an instance
// when Run is running.
func (c *core) startInstanceLocked(in *instance) {
	if c.runCtx == nil || c.runCtx.Err() != nil || in.stopWatch != nil {
		return
	}
	ctx, cancel := context.WithCancel(c.runCtx)
	in.stopWatch = cancel
	c.runWG.Add(2)
	go func() {
		defer c.runWG.Done()
		c.watchLoop(ctx, in)
	}()
	go func() {
		defer c.runWG.Done()
		c.pollLoop(ctx, in)
	}()
}

// watchLoop keeps a WatchInstance stream open, reconnecting with
// exponential backoff. A stream lost on one replica is opened on the next
// at once; only when every address failed in a row does the loop wait.
func (c *core) watchLoop(ctx context.Context, in *instance) {
	backoff := minBackoff
	failovers := 0
	for ctx.Err() == nil {
		start := time.Now()
		url, opened, err := c.watchOnce(ctx, in)
		c.setLive(in, false)
		if ctx.Err() != nil {
			return
		}
		if opened {
			backoff = minBackoff
			// Replicas that drop every stream at once must not be
			// cycled through without a pause.
			if time.Since(start) >= minBackoff {
				failovers = 0
			}
		}
		if streamLost(ctx, err) && in.servers.failed(url) {
			next, _ := in.servers.current()
			c.log.Info("watch stream lost; failing over", "instance", in.saved.ID, "server", url, "next", next, "err", err)
			if failovers < in.servers.count()-1 {
				failovers++
				continue
			}
			failovers = 0
		}
		if err != nil {
			c.log.Debug("watch stream ended", "instance", in.saved.ID, "err", err)
			c.setUpdateError(in, err)
			var ce *Error
			if errors.As(err, &ce) && ce.Code == connect.CodeUnauthenticated {
				// The device is gone; retrying quickly would only hammer
				// the server.
				backoff = maxBackoff
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-c.opts.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// errSilent ends a stream that carried nothing, not even a heartbeat, for
// too long.
var errSilent = errors.New("the server stopped answering; reconnecting")

// watchOnce runs one stream on the address in use (url) until it ends.
// opened reports whether the server accepted it.
func (c *core) watchOnce(ctx context.Context, in *instance) (url string, opened bool, err error) {
	url, client := in.servers.current()
	opened, err = c.watchOn(ctx, in, client)
	return url, opened, err
}

func (c *core) watchOn(ctx context.Context, in *instance, client wicketv1connect.ClientServiceClient) (opened bool, err error) {
	tok, err := c.deviceToken(in)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	var known uint64
	if in.info != nil {
		known = in.info.ConfigVersion
	}
	sessions := in.sessionIDsLocked()
	c.mu.Unlock()
	// A stream that stays silent past two heartbeats is dead (a laptop
	// that slept, a proxy that dropped it): end it and reconnect.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	alive := make(chan struct{}, 1)
	go func() {
		// Real time, not opts.After: silence is about the connection.
		t := time.NewTimer(c.opts.StreamSilence)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-alive:
				t.Reset(c.opts.StreamSilence)
			case <-t.C:
				c.log.Debug("watch stream silent; reconnecting", "instance", in.saved.ID)
				cancel()
				return
			}
		}
	}()
	stream, err := client.WatchInstance(sctx, connect.NewRequest(&v1.WatchInstanceRequest{DeviceToken: tok, KnownConfigVersion: known, KnownSessionIds: sessions}))
	if err != nil {
		return false, c.rpcError("watch", in.servers.describe(), err)
	}
	defer stream.Close()
	// The server sends its headers as soon as it has subscribed, so the
	// stream is live from here on.
	stream.ResponseHeader()
	if ctx.Err() != nil {
		return false, nil
	}
	c.setLive(in, true)
	for stream.Receive() {
		opened = true
		select {
		case alive <- struct{}{}:
		default:
		}
		m := stream.Msg()
		if m.Instance != nil {
			c.apply(in, m.Instance)
		}
		if m.SessionEnded != nil {
			c.sessionEnded(in, m.SessionEnded)
		}
		if m.Sessions != nil {
			c.reconcile(in, sessions, m.Sessions)
		}
	}
	if ctx.Err() == nil && sctx.Err() != nil {
		return opened, errSilent
	}
	if err := stream.Err(); err != nil {
		return opened, c.rpcError("watch", in.servers.describe(), err)
	}
	return true, nil
}

// pollLoop fetches the configuration every PollInterval, for when the
// stream is cut without the client noticing (a proxy that buffers, a
// suspended laptop).
func (c *core) pollLoop(ctx context.Context, in *instance) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.opts.After(c.opts.PollInterval):
		}
		if err := c.fetch(ctx, in); err != nil && ctx.Err() == nil {
			c.log.Debug("poll failed", "instance", in.saved.ID, "err", err)
		}
	}
}
