package follow_test

// Benchmarks for the design's tunnel targets, each measured beside a bare
// pair of wireguard-go netstack devices in the same run (the yardstick):
//
//	go test -run '^$' -bench . ./server/internal/follow/
//
// Both pin their sample counts instead of following b.N, so one run gives
// percentiles over enough samples; their ns/op is per sample.

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/gateway/gatewaytest"
	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/shared/uapi"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

const (
	// firstPingSamples is how many sessions each side of
	// BenchmarkFinishMfaToFirstPing brings up (more with -benchtime=Nx).
	firstPingSamples = 100
	// firstPingTimeout bounds one sample; a lost handshake initiation
	// costs wireguard-go's 5 s retry, which the sample then shows.
	firstPingTimeout = 8 * time.Second
	// throughputRounds × throughputBytes go each way through each pair.
	throughputRounds = 5
	throughputBytes  = 24 << 20
)

// appliedLog records when the embedded gateway applied each pre-shared key.
type appliedLog struct {
	mu       sync.Mutex
	snapshot chan struct{} // closed by the first snapshot
	at       map[string]time.Time
}

func (a *appliedLog) hook(c peers.Change) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.Snapshot {
		select {
		case <-a.snapshot:
		default:
			close(a.snapshot)
		}
	}
	for _, p := range append(c.Peers, c.Upserts...) {
		if _, ok := a.at[p.PresharedKey.String()]; !ok {
			a.at[p.PresharedKey.String()] = now
		}
	}
}

func (a *appliedLog) when(psk string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[psk]
	return t, ok
}

// benchEnv is a harness server with one MFA location served by the embedded
// netstack gateway, and one user with TOTP and an enrolled device.
type benchEnv struct {
	s       *servertest.Server
	loc     *v1.Location
	emb     *follow.Embedded
	applied *appliedLog
	u       *servertest.User
	d       *servertest.Device
}

// sinkAddr is the address inside the location's allowed IPs that the
// gateway's dialer maps to loopback.
const sinkAddr = "10.99.0.5"

// loopbackDial is the gateway's host dialer: sinkAddr reaches loopback.
func loopbackDial(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil || host != sinkAddr {
		return nil, fmt.Errorf("bench dialer reaches only %s, not %s", sinkAddr, address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
}

func newBenchEnv(b *testing.B, labels context.Context) *benchEnv {
	b.Helper()
	s := servertest.New(b)
	// Handshake times come from the real clock.
	s.Clock.Set(time.Now())
	port := gatewaytest.FreeUDPPort(b)
	loc := s.CreateLocation(&v1.Location{Name: "Office", ListenPort: uint32(port), Endpoint: "127.0.0.1:" + strconv.Itoa(port),
		MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, AllowedIps: []string{"10.10.0.0/24", "10.99.0.0/24"}, PeerDisconnectThresholdSeconds: 300})
	e := &benchEnv{s: s, loc: loc, applied: &appliedLog{snapshot: make(chan struct{}), at: map[string]time.Time{}}}
	e.emb = follow.NewEmbedded(s.Svc, gateway.Options{Mode: gateway.Netstack, Log: slog.New(slog.DiscardHandler), Dial: loopbackDial, OnApplied: e.applied.hook}, time.Hour)
	ctx, cancel := context.WithCancel(labels) // the gateway's goroutines inherit the profile labels
	done := make(chan struct{})
	go func() { e.emb.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	e.u = s.CreateUser("alice")
	s.EnableTOTP(e.u)
	e.d = s.Enroll(e.u, "laptop")
	select {
	case <-e.applied.snapshot:
	case <-time.After(10 * time.Second):
		b.Fatal("the gateway never applied its first snapshot")
	}
	return e
}

// startMFA begins a TOTP challenge and moves the clock to a fresh TOTP step;
// it returns the challenge token and the code to finish it with.
func (e *benchEnv) startMFA(ctx context.Context) (string, string, error) {
	st, err := e.s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: e.d.Token, LocationId: e.loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		return "", "", err
	}
	e.s.Clock.Advance(30 * time.Second)
	return st.Msg.ChallengeToken, e.s.TOTPCode(e.u.TOTPSecret), nil
}

func (e *benchEnv) finishMFA(ctx context.Context, challenge, code string) (*v1.FinishMfaResponse, error) {
	fin, err := e.s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: challenge, Code: code}))
	if err != nil {
		return nil, err
	}
	return fin.Msg, nil
}

// barePair is the yardstick: a wireguard-go netstack device standing in for
// the gateway, whose one peer is re-created with a fresh pre-shared key per
// session, as a new MFA session does at the gateway; clients come from
// gatewaytest like Wicket's.
type barePair struct {
	dev        *device.Device
	net        *netstack.Net
	serverPub  string
	clientPriv string
	clientPub  wgkey.Key
	port       int
	mtu        int
}

const (
	bareServer = "10.30.0.1"
	bareClient = "10.30.0.2"
)

func newBarePair(b *testing.B, mtu int) *barePair {
	b.Helper()
	serverKey, err := wgkey.NewPrivate()
	if err != nil {
		b.Fatal(err)
	}
	clientKey, err := wgkey.NewPrivate()
	if err != nil {
		b.Fatal(err)
	}
	td, tnet, err := netstack.CreateNetTUN([]netip.Addr{netip.MustParseAddr(bareServer)}, nil, mtu)
	if err != nil {
		b.Fatal(err)
	}
	dev := device.NewDevice(td, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	b.Cleanup(dev.Close)
	port := gatewaytest.FreeUDPPort(b)
	if err := dev.IpcSet(uapi.Config{PrivateKey: serverKey, ListenPort: port}.Encode()); err != nil {
		b.Fatal(err)
	}
	if err := dev.Up(); err != nil {
		b.Fatal(err)
	}
	return &barePair{dev: dev, net: tnet, serverPub: serverKey.Public().String(), clientPriv: clientKey.String(), clientPub: clientKey.Public(), port: port, mtu: mtu}
}

// newSession replaces the server's peer with one holding a fresh pre-shared
// key and returns the tunnel config a client needs for it.
func (p *barePair) newSession() (*v1.TunnelConfig, error) {
	psk, err := wgkey.NewPreshared()
	if err != nil {
		return nil, err
	}
	cfg := uapi.Config{Peers: []uapi.PeerConfig{
		{PublicKey: p.clientPub, Remove: true},
		{PublicKey: p.clientPub, PresharedKey: psk, ReplaceAllowedIPs: true, AllowedIPs: []netip.Prefix{netip.MustParsePrefix(bareClient + "/32")}},
	}}
	if err := p.dev.IpcSet(cfg.Encode()); err != nil {
		return nil, err
	}
	return &v1.TunnelConfig{Address: bareClient + "/32", ServerPublicKey: p.serverPub, Endpoint: "127.0.0.1:" + strconv.Itoa(p.port),
		AllowedIps: []string{"10.30.0.0/24"}, PresharedKey: psk.String(), Mtu: uint32(p.mtu)}, nil
}

// pingThrough brings a client tunnel up and pings addr until the first reply.
func pingThrough(ctx context.Context, priv string, tc *v1.TunnelConfig, addr string) error {
	c, err := gatewaytest.Start(priv, tc)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.PingUntil(ctx, addr)
}

// BenchmarkFinishMfaToFirstPing measures, per new MFA session, the time from
// sending FinishMfa until the first ping reply from the gateway through a
// fresh client tunnel built from the returned TunnelConfig; the gateway
// applies the new peer on its own meanwhile, nothing waits for it. Beside
// it, a bare wireguard-go pair: re-create the server's peer with a fresh
// pre-shared key, bring a fresh client device up, ping until the reply.
// Samples alternate between the two.
func BenchmarkFinishMfaToFirstPing(b *testing.B) {
	e := newBenchEnv(b, context.Background())
	bare := newBarePair(b, 1420)
	n := max(b.N, firstPingSamples)

	var wicket, afterFinish, finishRPC, applied, yard []time.Duration
	stalls := 0
	wicketSample := func(record bool) {
		ctx, cancel := context.WithTimeout(context.Background(), firstPingTimeout+5*time.Second)
		defer cancel()
		challenge, code, err := e.startMFA(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		fin, err := e.finishMFA(ctx, challenge, code)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		pctx, pcancel := context.WithTimeout(ctx, firstPingTimeout)
		err = pingThrough(pctx, e.d.PrivateKey, fin.Tunnel, "10.10.0.1")
		pcancel()
		t2 := time.Now()
		if err != nil {
			b.Fatalf("wicket session: %v", err)
		}
		if !record {
			return
		}
		wicket = append(wicket, t2.Sub(t0))
		afterFinish = append(afterFinish, t2.Sub(t1))
		finishRPC = append(finishRPC, t1.Sub(t0))
		if at, ok := e.applied.when(fin.Tunnel.PresharedKey); ok {
			applied = append(applied, at.Sub(t0))
		}
		if t2.Sub(t0) > time.Second {
			stalls++
			at, _ := e.applied.when(fin.Tunnel.PresharedKey)
			b.Logf("stalled session: first ping after %v; FinishMfa answered after %v, the gateway had the peer after %v", t2.Sub(t0), t1.Sub(t0), at.Sub(t0))
		}
	}
	bareSample := func(record bool) {
		ctx, cancel := context.WithTimeout(context.Background(), firstPingTimeout)
		defer cancel()
		t0 := time.Now()
		tc, err := bare.newSession()
		if err != nil {
			b.Fatal(err)
		}
		if err := pingThrough(ctx, bare.clientPriv, tc, bareServer); err != nil {
			b.Fatalf("bare pair: %v", err)
		}
		if record {
			yard = append(yard, time.Since(t0))
		}
	}
	// Warm up: the first HTTPS call pays the TLS handshake.
	wicketSample(false)
	bareSample(false)

	b.ResetTimer()
	for range n {
		wicketSample(true)
		bareSample(true)
	}
	b.StopTimer()

	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(ms(pct(wicket, 50)), "wicket-p50-ms")
	b.ReportMetric(ms(pct(wicket, 99)), "wicket-p99-ms")
	b.ReportMetric(ms(pct(yard, 50)), "bare-p50-ms")
	b.ReportMetric(ms(pct(yard, 99)), "bare-p99-ms")
	b.ReportMetric(ms(pct(wicket, 50))/ms(pct(yard, 50)), "wicket/bare-p50")
	// Where Wicket's time goes: the FinishMfa call itself, the moment the
	// gateway had the new peer (from sending FinishMfa), and the tunnel
	// from FinishMfa's answer on.
	b.ReportMetric(ms(pct(finishRPC, 50)), "finish-rpc-p50-ms")
	b.ReportMetric(ms(pct(applied, 50)), "applied-p50-ms")
	b.ReportMetric(ms(pct(applied, 99)), "applied-p99-ms")
	b.ReportMetric(ms(pct(afterFinish, 50)), "after-finish-p50-ms")
	b.ReportMetric(ms(pct(afterFinish, 50))/ms(pct(yard, 50)), "after-finish/bare-p50")
	b.ReportMetric(float64(stalls), "stalls>1s")
	b.ReportMetric(float64(n), "samples")
}

// pct is the p-th percentile (nearest rank) of d.
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// The transfer protocol of BenchmarkTCPThroughput's sinks: the client sends
// 'U' or 'D' and a length. For 'U' it then sends that many bytes and the
// sink answers one byte when it has them all; for 'D' the sink sends that
// many bytes and closes.
func serveSink(c net.Conn) {
	defer c.Close()
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	n := int64(binary.BigEndian.Uint64(hdr[1:]))
	switch hdr[0] {
	case 'U':
		if got, err := io.CopyN(io.Discard, c, n); err != nil || got != n {
			return
		}
		c.Write([]byte{1})
	case 'D':
		io.CopyN(c, zeros{}, n)
	}
}

func acceptSinks(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serveSink(c)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// transfer moves n bytes through c in direction 'U' (client to sink) or 'D'
// and returns MB/s (10^6 bytes) from the first byte to the last.
func transfer(c net.Conn, dir byte, n int64) (float64, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	var hdr [9]byte
	hdr[0] = dir
	binary.BigEndian.PutUint64(hdr[1:], uint64(n))
	t0 := time.Now()
	if _, err := c.Write(hdr[:]); err != nil {
		return 0, err
	}
	switch dir {
	case 'U':
		if _, err := io.CopyN(c, zeros{}, n); err != nil {
			return 0, err
		}
		var ack [1]byte
		if _, err := io.ReadFull(c, ack[:]); err != nil {
			return 0, fmt.Errorf("no acknowledgement: %w", err)
		}
	case 'D':
		got, err := io.Copy(io.Discard, c)
		if err != nil {
			return 0, err
		}
		if got != n {
			return 0, fmt.Errorf("received %d of %d bytes", got, n)
		}
	}
	return float64(n) / time.Since(t0).Seconds() / 1e6, nil
}

// BenchmarkTCPThroughput measures TCP throughput both ways through a Wicket
// client tunnel and the netstack gateway, which forwards to a loopback sink
// through a host socket, against a bare wireguard-go pair whose server
// netstack runs the sink itself. Rounds alternate between the paths; each
// figure is the median round. The paths run under the pprof labels
// path=wicket and path=bare (go tool pprof -tagfocus).
func BenchmarkTCPThroughput(b *testing.B) {
	wicketLabels := pprof.Labels("path", "wicket")
	bareLabels := pprof.Labels("path", "bare")

	var e *benchEnv
	var wc *gatewaytest.Client
	var sinkPort string
	pprof.Do(context.Background(), wicketLabels, func(ctx context.Context) {
		e = newBenchEnv(b, ctx)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		go acceptSinks(ln)
		sinkPort = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		challenge, code, err := e.startMFA(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fin, err := e.finishMFA(ctx, challenge, code)
		if err != nil {
			b.Fatal(err)
		}
		wc = gatewaytest.NewClient(b, e.d.PrivateKey, fin.Tunnel)
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := wc.PingUntil(pctx, "10.10.0.1"); err != nil {
			b.Fatal(err)
		}
	})
	var bare *barePair
	var bc *gatewaytest.Client
	pprof.Do(context.Background(), bareLabels, func(ctx context.Context) {
		bare = newBarePair(b, 1420)
		ln, err := bare.net.ListenTCP(&net.TCPAddr{Port: 9000})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		go acceptSinks(ln)
		tc, err := bare.newSession()
		if err != nil {
			b.Fatal(err)
		}
		bc = gatewaytest.NewClient(b, bare.clientPriv, tc)
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := bc.PingUntil(pctx, bareServer); err != nil {
			b.Fatal(err)
		}
	})

	// run moves throughputBytes and returns MB/s and the process's CPU
	// time per MB meanwhile (only one path runs at a time).
	type sample struct{ rate, cpu float64 }
	run := func(labels pprof.LabelSet, c *gatewaytest.Client, addr string, dir byte) (out sample) {
		pprof.Do(context.Background(), labels, func(ctx context.Context) {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			conn, err := c.DialTCP(dctx, addr)
			if err != nil {
				b.Fatalf("dial %s: %v", addr, err)
			}
			c0 := gatewaytest.ProcessCPU()
			if out.rate, err = transfer(conn, dir, throughputBytes); err != nil {
				b.Fatalf("transfer through %s: %v", addr, err)
			}
			out.cpu = ms(gatewaytest.ProcessCPU()-c0) / (throughputBytes / 1e6)
		})
		return out
	}
	wicketAddr := sinkAddr + ":" + sinkPort
	bareAddr := bareServer + ":9000"
	// Warm up both paths (the gateway's first forwarded dial, TCP windows).
	for _, dir := range []byte{'U', 'D'} {
		run(wicketLabels, wc, wicketAddr, dir)
		run(bareLabels, bc, bareAddr, dir)
	}

	type figures struct{ rate, cpu []float64 }
	var wUp, wDown, bUp, bDown figures
	add := func(f *figures, s sample) {
		f.rate = append(f.rate, s.rate)
		f.cpu = append(f.cpu, s.cpu)
	}
	b.ResetTimer()
	for range throughputRounds {
		add(&wUp, run(wicketLabels, wc, wicketAddr, 'U'))
		add(&bUp, run(bareLabels, bc, bareAddr, 'U'))
		add(&wDown, run(wicketLabels, wc, wicketAddr, 'D'))
		add(&bDown, run(bareLabels, bc, bareAddr, 'D'))
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median(wUp.rate), "wicket-up-MB/s")
	b.ReportMetric(median(bUp.rate), "bare-up-MB/s")
	b.ReportMetric(100*median(wUp.rate)/median(bUp.rate), "up-wicket/bare-%")
	b.ReportMetric(median(wDown.rate), "wicket-down-MB/s")
	b.ReportMetric(median(bDown.rate), "bare-down-MB/s")
	b.ReportMetric(100*median(wDown.rate)/median(bDown.rate), "down-wicket/bare-%")
	// CPU per MB does not depend on what else the machine runs; with both
	// ends in one process on two cores it bounds the throughput.
	if median(wUp.cpu) > 0 {
		b.ReportMetric(median(wUp.cpu), "wicket-up-cpu-ms/MB")
		b.ReportMetric(median(bUp.cpu), "bare-up-cpu-ms/MB")
		b.ReportMetric(median(wDown.cpu), "wicket-down-cpu-ms/MB")
		b.ReportMetric(median(bDown.cpu), "bare-down-cpu-ms/MB")
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
