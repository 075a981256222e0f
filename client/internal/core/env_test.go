package core_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/client/internal/secrets"
	"github.com/wicket-vpn/wicket/client/internal/tunnel"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// failsafe bounds every wait so a broken test fails instead of hanging; no
// test relies on it for timing.
const failsafe = 20 * time.Second

type env struct {
	t       *testing.T
	s       *wickettest.Server
	u       *wickettest.User
	dir     string
	sec     *secrets.Memory
	tunnels *fakeTunnels
	c       *core.Core
	events  <-chan core.Event
}

type envOpt func(*core.Options)

func newEnv(t *testing.T, sopts []wickettest.Option, copts ...envOpt) *env {
	t.Helper()
	e := &env{t: t, s: wickettest.New(t, sopts...), dir: t.TempDir(), sec: &secrets.Memory{}, tunnels: &fakeTunnels{}}
	e.u = e.s.CreateUser("alice")
	e.c = e.newCore(copts...)
	return e
}

func (e *env) newCore(copts ...envOpt) *core.Core {
	e.t.Helper()
	opts := core.Options{
		ConfigDir: e.dir, Secrets: e.sec, Log: testLog(e.t), Tunnels: e.tunnels,
		// An hour: anything that arrives in a test came through the stream.
		PollInterval: time.Hour, StatsInterval: time.Hour,
	}
	for _, f := range copts {
		f(&opts)
	}
	c, err := core.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ch, cancel := c.Subscribe()
	e.t.Cleanup(cancel)
	e.events = ch
	return c
}

// code makes an enrollment code for the user.
func (e *env) code(name string) string {
	e.t.Helper()
	resp, err := e.s.Account.CreateEnrollmentToken(wickettest.Ctx(e.t), wickettest.Req(e.u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: name}))
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.Msg.EnrollmentCode
}

func (e *env) enroll() core.InstanceView {
	e.t.Helper()
	v, err := e.c.Enroll(wickettest.Ctx(e.t), e.code("laptop"), "laptop")
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// run runs the core until the test ends and waits until the instance's
// watch stream is open.
func (e *env) run(instID string) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.c.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
	e.waitFor("the watch stream to open", func(core.Event) bool {
		v, _ := e.c.Instance(instID)
		return v.Live
	})
}

// waitFor reads events until ok is true (checking once at the start, for
// what already happened).
func (e *env) waitFor(what string, ok func(core.Event) bool) core.Event {
	e.t.Helper()
	if ok(core.Event{}) {
		return core.Event{}
	}
	timeout := time.After(failsafe)
	for {
		select {
		case ev := <-e.events:
			if ok(ev) {
				return ev
			}
		case <-timeout:
			e.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (e *env) loc(inst, loc string) core.LocationView {
	e.t.Helper()
	v, ok := e.c.Location(inst, loc)
	if !ok {
		e.t.Fatalf("no location %s", loc)
	}
	return v
}

func (e *env) wantState(inst, loc string, want core.State) core.LocationView {
	e.t.Helper()
	v := e.loc(inst, loc)
	if v.State != want {
		e.t.Fatalf("state = %v (error %q, message %q), want %v", v.State, v.Error, v.Message, want)
	}
	return v
}

// fakeTunnels records the tunnels the core brings up, for tests of the
// state machine; the userspace test uses the real backend.
type fakeTunnels struct {
	mu   sync.Mutex
	ups  []*fakeTunnel
	fail error
}

type fakeTunnel struct {
	cfg    tunnel.Config
	opts   tunnel.Options
	mu     sync.Mutex
	closed bool
}

func (f *fakeTunnels) Up(ctx context.Context, cfg tunnel.Config, opts tunnel.Options) (tunnel.Tunnel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	t := &fakeTunnel{cfg: cfg, opts: opts}
	f.ups = append(f.ups, t)
	return t, nil
}

func (f *fakeTunnels) last(t *testing.T) *fakeTunnel {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ups) == 0 {
		t.Fatal("no tunnel was brought up")
	}
	return f.ups[len(f.ups)-1]
}

func (f *fakeTunnels) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ups)
}

func (t *fakeTunnel) Offers() string { return "fake tunnel" }
func (t *fakeTunnel) Stats() (tunnel.Stats, error) {
	return tunnel.Stats{RxBytes: 1, TxBytes: 2}, nil
}
func (t *fakeTunnel) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}
func (t *fakeTunnel) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

var errFake = errors.New("fake tunnel failure")

func testLog(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("WICKET_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tw{t}, &slog.HandlerOptions{Level: level}))
}

type tw struct{ t *testing.T }

func (w tw) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

func newMemory() *secrets.Memory { return &secrets.Memory{} }
