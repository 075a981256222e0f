package core_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/client/internal/tunnel"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
	"github.com/wicket-vpn/wicket/shared/enrollment"
)

// wicketd is built once per test binary, into a directory TestMain
// removes.
var wicketd struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if wicketd.dir != "" {
		os.RemoveAll(wicketd.dir)
	}
	os.Exit(code)
}

// buildWicketd builds wicketd from this tree, once.
func buildWicketd(t *testing.T) string {
	t.Helper()
	wicketd.once.Do(func() {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			goCmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		if wicketd.dir, wicketd.err = os.MkdirTemp("", "wicketd-build-"); wicketd.err != nil {
			return
		}
		wicketd.path = filepath.Join(wicketd.dir, "wicketd")
		start := time.Now()
		out, err := exec.Command(goCmd, "build", "-o", wicketd.path, "github.com/wicket-vpn/wicket/server").CombinedOutput()
		if err != nil {
			wicketd.err = fmt.Errorf("go build wicketd: %v\n%s", err, out)
			return
		}
		t.Logf("built wicketd in %s", time.Since(start).Round(time.Millisecond))
	})
	if wicketd.err != nil {
		t.Fatal(wicketd.err)
	}
	return wicketd.path
}

// proc is a wicketd process whose log lines the test reads.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd

	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced on every new line
	done  chan struct{}
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, more: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(buildWicketd(t), args...)
	p.cmd.Env = append(os.Environ(), "WICKET_MASTER_KEY=") // the data directory's key
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		w.Close()
	}()
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			t.Logf("%s: %s", name, sc.Text())
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitLine waits for a log line after the first from ones that holds
// every part, and returns its index.
func (p *proc) waitLine(from int, parts ...string) int {
	p.t.Helper()
	timeout := time.After(failsafe)
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			ok := true
			for _, s := range parts {
				ok = ok && strings.Contains(p.lines[i], s)
			}
			if ok {
				p.mu.Unlock()
				return i
			}
		}
		more := p.more
		p.mu.Unlock()
		select {
		case <-more:
		case <-p.done:
			p.t.Fatalf("%s ended without logging %q", p.name, parts)
		case <-timeout:
			p.t.Fatalf("%s never logged %q", p.name, parts)
		}
	}
}

func (p *proc) lineCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// freeTCP returns a loopback address free now.
func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// recordingTunnels brings up real tunnels and keeps the last one.
type recordingTunnels struct {
	mu   sync.Mutex
	last tunnel.Tunnel
}

func (r *recordingTunnels) Up(ctx context.Context, cfg tunnel.Config, opts tunnel.Options) (tunnel.Tunnel, error) {
	t, err := tunnel.Default.Up(ctx, cfg, opts)
	if err == nil {
		r.mu.Lock()
		r.last = t
		r.mu.Unlock()
	}
	return t, err
}

func (r *recordingTunnels) net(t *testing.T) *netstack.Net {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.last.(interface{ Net() *netstack.Net })
	if !ok {
		t.Fatalf("the tunnel %T is not a userspace one", r.last)
	}
	return n.Net()
}

// TestKilledReplicaProcess is replicas as an admin runs them: two wicketd
// processes on one PostgreSQL database sharing the first one's master key
// and certificate, a standalone `wicketd gateway` given both, and a client
// connected through A with a real tunnel. A is killed with SIGKILL: the
// client's next call and its watch stream go to B, the gateway follows B,
// and the client's next connection (a new MFA session, made by B) carries
// a real WireGuard handshake and ping through the gateway.
func TestKilledReplicaProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wicketd and runs three processes; not in -short")
	}
	buildWicketd(t)

	// The instance is set up by an in-process server on the database,
	// whose data directory the replicas copy. Its clock runs an hour
	// behind so that the authenticator steps it spends are not the ones
	// the processes, on the real clock, are asked for.
	h := wickettest.New(t, wickettest.WithPostgres(), wickettest.WithoutSMTP())
	h.Clock.Set(time.Now().Add(-time.Hour))
	u := h.CreateUser("alice")
	h.EnableTOTP(u)
	wgPort := wickettest.FreeUDPPort(t)
	loc := h.CreateLocation(&v1.Location{Name: "Office", ListenPort: uint32(wgPort), Endpoint: fmt.Sprintf("127.0.0.1:%d", wgPort),
		MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, AllowedIps: []string{"10.10.0.0/24"}, PeerDisconnectThresholdSeconds: 300})
	gwTok, err := h.Admin.CreateGatewayToken(ctx(t), wickettest.Req(h.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: loc.Id}))
	if err != nil {
		t.Fatal(err)
	}
	et, err := h.Account.CreateEnrollmentToken(ctx(t), wickettest.Req(u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "laptop"}))
	if err != nil {
		t.Fatal(err)
	}
	fingerprint, database := h.Daemon.Fingerprint, h.Database
	h.Close()

	replica := func(name string) (*proc, string) {
		dir := t.TempDir()
		for _, f := range wickettest.SharedFiles {
			b, err := os.ReadFile(filepath.Join(h.DataDir, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		addr := freeTCP(t)
		url := "https://" + addr
		p := startProc(t, name, "serve", "--data-dir", dir, "--database", database, "--listen", addr, "--public-url", url,
			"--metrics-listen", "", "--gateway", "off")
		p.waitLine(0, "wicketd listening", fingerprint)
		return p, url
	}
	a, aURL := replica("A")
	b, bURL := replica("B")
	_ = b
	gw := startProc(t, "gateway", "gateway", "--server", aURL+","+bURL, "--token", gwTok.Msg.GatewayToken,
		"--fingerprint", fingerprint, "--mode", "netstack", "--stats-interval", "1s")
	gw.waitLine(0, "peer set synchronised", "server="+aURL)

	tuns := &recordingTunnels{}
	c, err := core.New(core.Options{ConfigDir: t.TempDir(), Secrets: newMemory(), Log: testLog(t), Tunnels: tuns, PollInterval: time.Hour, StatsInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UseSettings(core.Settings{TunnelMode: core.TunnelModeUserspace, SOCKSAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	events, unsub := c.Subscribe()
	defer unsub()
	code := enrollment.Code{URL: aURL, Token: et.Msg.EnrollmentToken, Fingerprint: fingerprint}.String()
	inst, err := c.Enroll(ctx(t), code, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if len(inst.Servers) != 2 || inst.Servers[0] != aURL || inst.Servers[1] != bURL {
		t.Fatalf("the client knows %v, want [%s %s]", inst.Servers, aURL, bURL)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { c.Run(runCtx); close(runDone) }()
	defer func() { stopRun(); <-runDone }()
	waitInstance := func(what string, ok func(core.InstanceView) bool) {
		t.Helper()
		timeout := time.After(failsafe)
		for {
			if v, _ := c.Instance(inst.ID); ok(v) {
				return
			}
			select {
			case <-events:
			case <-timeout:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitInstance("the watch stream on A", func(v core.InstanceView) bool { return v.Live && v.Server == aURL })

	connect := func(at time.Time) core.LocationView {
		t.Helper()
		if err := c.Connect(ctx(t), inst.ID, loc.Id); err != nil {
			t.Fatal(err)
		}
		if err := c.ChooseMethod(ctx(t), inst.ID, loc.Id, core.MethodTOTP); err != nil {
			t.Fatal(err)
		}
		totp, err := wickettest.TOTPCode(u.TOTPSecret, at)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SubmitCode(ctx(t), inst.ID, loc.Id, totp); err != nil {
			t.Fatal(err)
		}
		v, _ := c.Location(inst.ID, loc.Id)
		if v.State != core.Connected {
			t.Fatalf("state %v (%s)", v.State, v.Error)
		}
		return v
	}
	ping := func(what string) {
		t.Helper()
		pctx, cancel := context.WithTimeout(context.Background(), failsafe)
		defer cancel()
		if err := wickettest.PingUntil(pctx, tuns.net(t), "10.10.0.1"); err != nil {
			t.Fatalf("ping through the tunnel %s: %v", what, err)
		}
	}
	// One authenticator step per connection, the second one ahead: the
	// server allows a step of skew, and each step is used once.
	now := time.Now()
	first := connect(now)
	ping("through A's session")

	gwFrom := gw.lineCount()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-a.done
	if err := c.Update(ctx(t), inst.ID); err != nil {
		t.Fatalf("the first call after A was killed: %v", err)
	}
	callAfter := time.Since(killed)
	waitInstance("the watch stream on B", func(v core.InstanceView) bool { return v.Live && v.Server == bURL })
	watchAfter := time.Since(killed)
	gw.waitLine(gwFrom, "peer set synchronised", "server="+bURL)
	gwAfter := time.Since(killed)
	t.Logf("after A was killed: the next call answered in %s, the watch stream on B after %s, the gateway following B after %s",
		callAfter.Round(time.Millisecond), watchAfter.Round(time.Millisecond), gwAfter.Round(time.Millisecond))

	// The session made by A goes on: the gateway kept its peer.
	if v, _ := c.Location(inst.ID, loc.Id); v.State != core.Connected || v.SessionID != first.SessionID {
		t.Fatalf("after the failover the location is %v (session %s, was %s)", v.State, v.SessionID, first.SessionID)
	}
	ping("after A was killed")

	if err := c.Disconnect(ctx(t), inst.ID, loc.Id); err != nil {
		t.Fatalf("disconnect through B: %v", err)
	}
	second := connect(now.Add(wickettest.TOTPPeriod))
	if second.SessionID == first.SessionID {
		t.Fatal("the second connection has the first one's session")
	}
	ping("through B's session")
	c.RefreshStats()
	if v, _ := c.Location(inst.ID, loc.Id); v.LatestHandshake.IsZero() {
		t.Fatal("no WireGuard handshake on the second connection")
	}
	if err := c.Disconnect(ctx(t), inst.ID, loc.Id); err != nil {
		t.Fatal(err)
	}
}
