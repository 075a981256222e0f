// Package wickettest lets tests outside server/ — the desktop client's —
// run a real wicketd in process. It re-exports the harness of
// server/internal/servertest and starts the embedded netstack gateway,
// which Go's internal-package rule would otherwise keep from them.
package wickettest

import (
	"context"
	"net"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// Server is a running in-process wicketd (see servertest.Server).
type Server = servertest.Server

// User is a user made through the API.
type User = servertest.User

// Option changes the harness.
type Option = servertest.Option

// Harness options.
var (
	WithoutSMTP      = servertest.WithoutSMTP
	WithMinThreshold = servertest.WithMinThreshold
	WithDataDir      = servertest.WithDataDir
)

// New starts a server and stops it when the test ends.
func New(t testing.TB, opts ...Option) *Server { return servertest.New(t, opts...) }

// Ctx returns a context that ends with the test.
func Ctx(t testing.TB) context.Context { return servertest.Ctx(t) }

// Req wraps a message in a request carrying a bearer token ("" for none).
func Req[T any](token string, msg *T) *connect.Request[T] { return servertest.Req(token, msg) }

// FreeUDPPort returns a UDP port free on loopback now.
func FreeUDPPort(t testing.TB) int { return gatewaytest.FreeUDPPort(t) }

// EchoServer is gatewaytest.EchoServer: a loopback TCP echo server, returning its port.
func EchoServer(t testing.TB) int { return gatewaytest.EchoServer(t) }

// Gateway is the embedded netstack gateway of a server, as `wicketd serve`
// runs it.
type Gateway struct {
	emb     *follow.Embedded
	applied chan struct{}
}

// StartGateway runs the embedded netstack gateway for every location of s
// until the test ends. dial opens the host connections of flows clients
// send through the tunnel (so tests can map tunnel addresses to loopback);
// nil uses net.Dialer.
func StartGateway(t testing.TB, s *Server, dial func(ctx context.Context, network, address string) (net.Conn, error)) *Gateway {
	t.Helper()
	g := &Gateway{applied: make(chan struct{}, 1)}
	hook := func(peers.Change) {
		select {
		case g.applied <- struct{}{}:
		default:
		}
	}
	g.emb = follow.NewEmbedded(s.Svc, gateway.Options{Mode: gateway.Netstack, Dial: dial, OnApplied: hook}, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.emb.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return g
}

// HasPeer reports whether the location's gateway has the peer with the
// public key (base64).
func (g *Gateway) HasPeer(locationID, publicKey string) bool {
	gw := g.emb.Gateway(locationID)
	if gw == nil {
		return false
	}
	for _, k := range gw.Peers() {
		if k.String() == publicKey {
			return true
		}
	}
	return false
}

// WaitPeer waits until the location's gateway has (present) or lacks the
// peer, or ctx ends.
func (g *Gateway) WaitPeer(ctx context.Context, locationID, publicKey string, present bool) bool {
	for {
		if g.HasPeer(locationID, publicKey) == present {
			return true
		}
		select {
		case <-g.applied:
		case <-ctx.Done():
			return false
		}
	}
}
