package gateway_test

import (
	"context"
	"go/build"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

func pingCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newKey(t *testing.T) wgkey.Key {
	k, err := wgkey.NewPrivate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newPSK(t *testing.T) wgkey.Key {
	k, err := wgkey.NewPreshared()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hasPeer(g *gateway.Gateway, k wgkey.Key) bool { return slices.Contains(g.Peers(), k) }

// TestNetstackGatewayFollowsChanges drives a netstack gateway with peer
// changes alone, as both followers do, and talks to it through real
// WireGuard client tunnels.
func TestNetstackGatewayFollowsChanges(t *testing.T) {
	server, alice, bob := newKey(t), newKey(t), newKey(t)
	psk := newPSK(t)
	port := gatewaytest.FreeUDPPort(t)
	var applied []peers.Change
	g := gateway.New(gateway.Options{Mode: gateway.Netstack, Log: gatewaytest.Log(t), OnApplied: func(c peers.Change) { applied = append(applied, c) }})
	defer g.Close()

	if err := g.Apply(peers.Change{Upserts: []peers.Peer{{PublicKey: alice.Public()}}}); err == nil {
		t.Fatal("a peer change before the first snapshot was applied")
	}
	iface := peers.Interface{LocationID: "office", PrivateKey: server, Address: netip.MustParsePrefix("10.20.0.1/24"), ListenPort: port,
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24")}}
	aliceAt := []netip.Prefix{netip.MustParsePrefix("10.20.0.2/32")}
	if err := g.Apply(peers.Change{Snapshot: true, Interface: iface, Peers: []peers.Peer{{PublicKey: alice.Public(), AllowedIPs: aliceAt, PresharedKey: psk}}}); err != nil {
		t.Fatal(err)
	}
	if len(applied) != 1 || !applied[0].Snapshot {
		t.Fatalf("OnApplied saw %+v, want the snapshot only", applied)
	}
	tunnel := func(addr string, psk wgkey.Key) *v1.TunnelConfig {
		tc := &v1.TunnelConfig{Address: addr, ServerPublicKey: server.Public().String(), Endpoint: "127.0.0.1:" + strconv.Itoa(port), AllowedIps: []string{"10.20.0.0/24"}}
		if !psk.IsZero() {
			tc.PresharedKey = psk.String()
		}
		return tc
	}
	a := gatewaytest.NewClient(t, alice.String(), tunnel("10.20.0.2/32", psk))
	if err := a.PingUntil(pingCtx(t, 15*time.Second), "10.20.0.1"); err != nil {
		t.Fatal(err)
	}
	stats, err := g.ChangedStats()
	if err != nil || len(stats) != 1 || stats[0].PublicKey != alice.Public() || stats[0].LatestHandshake.IsZero() || stats[0].RxBytes == 0 || stats[0].Endpoint == "" {
		t.Fatalf("stats after a ping = %+v, %v", stats, err)
	}

	// A snapshot of the same interface keeps the device and the peers it
	// still holds: alice's tunnel carries on without a new handshake.
	hs := a.Handshake()
	if err := g.Apply(peers.Change{Snapshot: true, Interface: iface, Peers: []peers.Peer{
		{PublicKey: alice.Public(), AllowedIPs: aliceAt, PresharedKey: psk},
		{PublicKey: bob.Public(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.20.0.3/32")}},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := a.PingUntil(pingCtx(t, 5*time.Second), "10.20.0.1"); err != nil || !a.Handshake().Equal(hs) {
		t.Fatalf("alice after a snapshot: %v, handshake %v then %v", err, hs, a.Handshake())
	}
	b := gatewaytest.NewClient(t, bob.String(), tunnel("10.20.0.3/32", wgkey.Key{}))
	if err := b.PingUntil(pingCtx(t, 15*time.Second), "10.20.0.1"); err != nil {
		t.Fatalf("bob, who has no pre-shared key: %v", err)
	}

	// A new pre-shared key for alice: a tunnel with it gets through.
	fresh := newPSK(t)
	if err := g.Apply(peers.Change{Upserts: []peers.Peer{{PublicKey: alice.Public(), AllowedIPs: aliceAt, PresharedKey: fresh}}}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	a2 := gatewaytest.NewClient(t, alice.String(), tunnel("10.20.0.2/32", fresh))
	if err := a2.PingUntil(pingCtx(t, 15*time.Second), "10.20.0.1"); err != nil {
		t.Fatalf("alice with the new pre-shared key: %v", err)
	}

	// Removing bob leaves alice.
	if err := g.Apply(peers.Change{Removes: []wgkey.Key{bob.Public()}}); err != nil {
		t.Fatal(err)
	}
	if hasPeer(g, bob.Public()) || !hasPeer(g, alice.Public()) {
		t.Fatalf("peers after removing bob: %v", g.Peers())
	}
	if err := b.Ping(pingCtx(t, time.Second), "10.20.0.1"); err == nil {
		t.Fatal("bob still gets through after his removal")
	}
	if len(applied) != 4 {
		t.Fatalf("OnApplied saw %d changes, want 4", len(applied))
	}
}

// TestDriverKnowsNoDomain keeps the driver a driver: it, and what it
// imports from this module, import keys, netip, the configuration codec,
// wireguard-go and what that needs, but no sessions, services, stores,
// API or generated code.
func TestDriverKnowsNoDomain(t *testing.T) {
	const module = "github.com/wicket-vpn/wicket/"
	allowed := []string{module + "server/internal/gateway", module + "server/internal/peers", module + "shared/wgkey", module + "shared/uapi"}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(path string)
	walk = func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		if !slices.Contains(allowed, path) {
			t.Errorf("the driver depends on %s", path)
			return
		}
		pkg, err := build.ImportDir(filepath.Join(root, strings.TrimPrefix(path, module)), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			if strings.HasPrefix(imp, module) {
				walk(imp)
			}
		}
	}
	walk(module + "server/internal/gateway")
}
