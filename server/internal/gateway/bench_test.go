package gateway_test

// Gateway capacity: one netstack gateway holding capacityPeers peers.
//
//	go test -run '^$' -bench . -benchtime 2x ./server/internal/gateway/
//
// Each benchmark reports the process's CPU time per operation (cpu-ms/op or
// cpu-µs/handshake) beside the wall time, so that other work on a shared
// machine does not distort the comparison.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// capacityPeers is how many peers the gateway holds.
const capacityPeers = 10_000

// fleet is capacityPeers clients: their private keys and the peers the
// gateway lets in for them.
type fleet struct {
	server  wgkey.Key
	private []wgkey.Key
	peers   []peers.Peer
}

var (
	fleetOnce sync.Once
	theFleet  fleet
)

func benchFleet(b *testing.B) fleet {
	fleetOnce.Do(func() {
		theFleet.server = benchKey(b, wgkey.NewPrivate)
		for i := range capacityPeers {
			k := benchKey(b, wgkey.NewPrivate)
			theFleet.private = append(theFleet.private, k)
			theFleet.peers = append(theFleet.peers, peers.Peer{
				PublicKey:    k.Public(),
				PresharedKey: benchKey(b, wgkey.NewPreshared),
				AllowedIPs:   []netip.Prefix{netip.PrefixFrom(peerAddr(i), 32)},
			})
		}
	})
	return theFleet
}

func benchKey(b *testing.B, gen func() (wgkey.Key, error)) wgkey.Key {
	k, err := gen()
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// peerAddr is the i-th client's address in 10.0.0.0/8 (10.0.0.1 is the
// gateway's).
func peerAddr(i int) netip.Addr {
	n := i + 2
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

func benchInterface(f fleet, port int) peers.Interface {
	return peers.Interface{LocationID: "capacity", PrivateKey: f.server, Address: netip.MustParsePrefix("10.0.0.1/8"), ListenPort: port,
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
}

// fullGateway is a netstack gateway that holds the whole fleet.
func fullGateway(b *testing.B) (*gateway.Gateway, peers.Interface) {
	f := benchFleet(b)
	iface := benchInterface(f, gatewaytest.FreeUDPPort(b))
	g := gateway.New(gateway.Options{Mode: gateway.Netstack, Log: gatewaytest.Log(b)})
	b.Cleanup(g.Close)
	if err := g.Apply(peers.Change{Snapshot: true, Interface: iface, Peers: f.peers}); err != nil {
		b.Fatal(err)
	}
	return g, iface
}

// measure reports the CPU time per op beside the wall time b keeps.
func measure(b *testing.B, ops int, unit string, scale time.Duration, run func()) {
	b.Helper()
	cpu := gatewaytest.ProcessCPU()
	b.ResetTimer()
	run()
	b.StopTimer()
	b.ReportMetric(float64(gatewaytest.ProcessCPU()-cpu)/float64(scale)/float64(ops), unit)
}

// BenchmarkGatewaySnapshot applies a snapshot of capacityPeers peers to a
// new gateway: the device comes up and takes every peer (target ≤ 1 s).
func BenchmarkGatewaySnapshot(b *testing.B) {
	f := benchFleet(b)
	iface := benchInterface(f, gatewaytest.FreeUDPPort(b))
	var wall, cpu time.Duration
	for range b.N {
		g := gateway.New(gateway.Options{Mode: gateway.Netstack, Log: gatewaytest.Log(b)})
		start, c := time.Now(), gatewaytest.ProcessCPU()
		if err := g.Apply(peers.Change{Snapshot: true, Interface: iface, Peers: f.peers}); err != nil {
			b.Fatal(err)
		}
		wall, cpu = wall+time.Since(start), cpu+gatewaytest.ProcessCPU()-c
		b.StopTimer()
		g.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(wall)/float64(time.Millisecond)/float64(b.N), "wall-ms/op")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// oneInHundred is a second peer set that changes 1% of the fleet's: a
// third of those peers leave, a third are new clients and a third got a new
// pre-shared key (a new MFA session).
func oneInHundred(b *testing.B, f fleet) []peers.Peer {
	next := make([]peers.Peer, 0, len(f.peers))
	changed := capacityPeers / 100
	for i, p := range f.peers {
		switch {
		case i < changed/3: // leaves
			continue
		case i < 2*changed/3:
			p.PresharedKey = benchKey(b, wgkey.NewPreshared)
		}
		next = append(next, p)
	}
	for i := range changed - 2*(changed/3) {
		next = append(next, peers.Peer{PublicKey: benchKey(b, wgkey.NewPrivate).Public(), PresharedKey: benchKey(b, wgkey.NewPreshared),
			AllowedIPs: []netip.Prefix{netip.PrefixFrom(peerAddr(capacityPeers+i), 32)}})
	}
	return next
}

// BenchmarkGatewayChange takes a full gateway to a peer set that differs in
// 1% of its peers and back, as a snapshot (a resubscription: the gateway
// diffs) and as upserts and removes (an incremental change). Its cost
// should follow the change, not the size.
func BenchmarkGatewayChange(b *testing.B) {
	f := benchFleet(b)
	next := oneInHundred(b, f)
	b.Run("snapshot", func(b *testing.B) {
		g, iface := fullGateway(b)
		sets := [2][]peers.Peer{next, f.peers}
		measure(b, b.N, "cpu-ms/op", time.Millisecond, func() {
			for i := range b.N {
				if err := g.Apply(peers.Change{Snapshot: true, Interface: iface, Peers: sets[i%2]}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("incremental", func(b *testing.B) {
		g, _ := fullGateway(b)
		var changes [2]peers.Change
		changes[0].Upserts, changes[0].Removes = peers.NewSet(f.peers).Diff(peers.NewSet(next))
		changes[1].Upserts, changes[1].Removes = peers.NewSet(next).Diff(peers.NewSet(f.peers))
		measure(b, b.N, "cpu-ms/op", time.Millisecond, func() {
			for i := range b.N {
				if err := g.Apply(changes[i%2]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkGatewayStats is one stats interval of a full gateway: read every
// peer's counters from the device, parse them, diff them with the last
// report. "steady" has nothing new to report (the common interval),
// "all" reports every peer (the first interval, or one after a failed
// report).
func BenchmarkGatewayStats(b *testing.B) {
	for _, tc := range []struct {
		name string
		fail bool
	}{{"steady", false}, {"all", true}} {
		b.Run(tc.name, func(b *testing.B) {
			g, _ := fullGateway(b)
			ctx := context.Background()
			var reported int
			report := func(_ context.Context, s []gateway.PeerStats) error {
				reported = len(s)
				if tc.fail {
					return fmt.Errorf("report refused")
				}
				return nil
			}
			if err := g.ReportNow(ctx, report); err != nil && !tc.fail {
				b.Fatal(err)
			}
			measure(b, b.N, "cpu-ms/op", time.Millisecond, func() {
				for range b.N {
					reported = 0
					if err := g.ReportNow(ctx, report); err != nil && !tc.fail {
						b.Fatal(err)
					}
				}
			})
			if want := map[bool]int{false: 0, true: capacityPeers}[tc.fail]; reported != want {
				b.Fatalf("an interval reported %d peers, want %d", reported, want)
			}
		})
	}
}

// BenchmarkGatewayMemoryPerPeer is the heap a full gateway holds beyond an
// empty one, per peer: Wicket's own records and wireguard-go's.
func BenchmarkGatewayMemoryPerPeer(b *testing.B) {
	f := benchFleet(b)
	var perPeer float64
	for range b.N {
		iface := benchInterface(f, gatewaytest.FreeUDPPort(b))
		g := gateway.New(gateway.Options{Mode: gateway.Netstack, Log: gatewaytest.Log(b)})
		if err := g.Apply(peers.Change{Snapshot: true, Interface: iface}); err != nil {
			b.Fatal(err)
		}
		empty := heap()
		if err := g.Apply(peers.Change{Snapshot: true, Interface: iface, Peers: f.peers}); err != nil {
			b.Fatal(err)
		}
		perPeer += float64(heap()-empty) / capacityPeers
		runtime.KeepAlive(f)
		g.Close()
	}
	b.ReportMetric(perPeer/float64(b.N), "heap-B/peer")
}

func heap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// handshakeWindow is how many initiations are in flight at once: below the
// load (a queue of 128) at which wireguard-go answers with cookies instead.
const handshakeWindow = 32

// BenchmarkGatewayHandshakes sends real handshake initiations from the
// fleet's keys, each key in turn (so no key comes back within wireguard-go's
// 20 ms flood limit), and counts the responses the gateway completes
// (target ≥ 1,000/s). Making the initiations and confirming the sessions
// is the clients' work and stays outside the timing; every session is
// confirmed, and the gateway must then report a handshake for its peer.
func BenchmarkGatewayHandshakes(b *testing.B) {
	f := benchFleet(b)
	g, iface := fullGateway(b)
	sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sock.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: iface.ListenPort}
	ins := make([]initiator, capacityPeers)
	for i := range ins {
		ins[i] = initiator{static: f.private[i], server: f.server.Public(), psk: f.peers[i].PresharedKey}
	}
	var wall, cpu time.Duration
	var index uint32
	buf := make([]byte, 2048)
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		batch := min(b.N-done, capacityPeers)
		msgs := make([][]byte, batch)
		byIndex := make(map[uint32]int, batch)
		now := time.Now()
		for i := range batch {
			index++
			ins[i].index = index
			byIndex[index] = i
			msgs[i] = ins[i].initiation(now)
		}
		resps := make([][]byte, batch)
		start, c := time.Now(), gatewaytest.ProcessCPU()
		b.StartTimer()
		sent := 0
		for ; sent < min(batch, handshakeWindow); sent++ {
			if _, err := sock.WriteToUDP(msgs[sent], to); err != nil {
				b.Fatal(err)
			}
		}
		for got := 0; got < batch; got++ {
			sock.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := sock.ReadFromUDP(buf)
			if err != nil {
				b.Fatalf("after %d of %d responses: %v", got, batch, err)
			}
			i, ok := byIndex[le32(buf[8:n])]
			if n != responseSize || !ok || resps[i] != nil {
				b.Fatalf("an unexpected %d-byte answer (type %d)", n, buf[0])
			}
			resps[i] = append([]byte(nil), buf[:n]...)
			if sent < batch {
				if _, err := sock.WriteToUDP(msgs[sent], to); err != nil {
					b.Fatal(err)
				}
				sent++
			}
		}
		b.StopTimer()
		wall, cpu = wall+time.Since(start), cpu+gatewaytest.ProcessCPU()-c
		for i, r := range resps {
			ka, err := ins[i].confirm(r)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := sock.WriteToUDP(ka, to); err != nil {
				b.Fatal(err)
			}
		}
		done += batch
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/wall.Seconds(), "handshakes/s")
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(b.N), "cpu-µs/handshake")
	// The gateway counts a handshake once the client's first packet comes.
	want := min(b.N, capacityPeers)
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats, err := g.Stats()
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, s := range stats {
			if !s.LatestHandshake.IsZero() {
				n++
			}
		}
		if n >= want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the gateway completed %d handshakes, want %d", n, want)
		}
		runtime.Gosched()
	}
}

func le32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
