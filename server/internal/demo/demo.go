// Package demo is `wicketd demo`: a whole Wicket on one machine for someone
// trying it. It seeds a server in a data directory (an admin, a user with
// TOTP and email codes, a location with Internal MFA whose one host is a
// small web page), serves it with a development mail outbox, and drives the
// real desktop client binary: enrolled, in userspace tunnel mode, either as
// the window or, headless, as `wicket connect` followed by a fetch of the
// page through the client's SOCKS5 proxy.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/proxy"

	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/web"
	"github.com/wicket-vpn/wicket/shared/humantime"
	"github.com/wicket-vpn/wicket/shared/version"
)

// Config is what `wicketd demo` was asked.
type Config struct {
	DataDir string
	// Listen is the HTTPS address; the demo is for this machine, so it is
	// a loopback one by default.
	Listen        string
	WireGuardPort int
	// SOCKSAddr is where the client's userspace tunnel offers its proxy.
	SOCKSAddr string
	// Client is the path of the wicket binary.
	Client string
	// GUI opens the window; otherwise `wicket connect` runs headless.
	GUI bool
	// Check makes the headless run stop once the page was fetched through
	// the tunnel, with an error if anything failed (for tests and CI).
	Check bool
	// Keyring is KeyringAuto, KeyringSession or KeyringPrivate.
	Keyring string
	// StatsInterval is how often the gateway reports handshakes.
	StatsInterval time.Duration
	// Out is the terminal.
	Out io.Writer
	Log *slog.Logger
}

type runner struct {
	cfg     Config
	log     *slog.Logger
	outMu   sync.Mutex
	svc     *service.Service
	seeded  Seeded
	url     string
	dataDir string
	client  *client
}

func (r *runner) say(format string, args ...any) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintf(r.cfg.Out, format, args...)
}

// Run runs the demo until ctx ends (Ctrl-C), or, with Config.Check, until
// the headless client has reached the page through the tunnel.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = 5 * time.Second
	}
	if cfg.Keyring == "" {
		cfg.Keyring = KeyringAuto
	}
	switch cfg.Keyring {
	case KeyringAuto, KeyringSession, KeyringPrivate:
	default:
		return fmt.Errorf("--keyring %q: use auto, session or private", cfg.Keyring)
	}
	if cfg.Check && cfg.GUI {
		return errors.New("--check runs the command-line client; give --no-gui too")
	}
	bin, err := findClient(cfg.Client)
	if err != nil {
		return err
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create the demo's data directory: %w", err)
	}
	r := &runner{cfg: cfg, log: cfg.Log}

	intranet, err := StartIntranet(cfg.Log)
	if err != nil {
		return err
	}
	defer intranet.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w — is the demo (or `go tool task server`) already running? Stop it, or choose another address with --listen", cfg.Listen, err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	r.url = "https://" + net.JoinHostPort(host, port)
	r.dataDir = dataDir

	outbox := mail.NewOutbox(mail.DefaultOutboxSize, cfg.Log.With("component", "outbox"))
	d, err := daemon.Open(ctx, daemon.Options{
		DataDir: dataDir, URL: r.url, Hosts: []string{host, "localhost"}, InstanceName: InstanceName,
		Gateway: gateway.Netstack, StatsInterval: cfg.StatsInterval, GatewayDial: intranet.Dial(),
		Mailer: outbox, Log: cfg.Log, RequireGateway: true,
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer d.Close()
	r.svc = d.Service
	if r.seeded, err = Seed(ctx, d.Service, outbox, dataDir, cfg.WireGuardPort); err != nil {
		ln.Close()
		return err
	}
	if err := checkUDPPort(r.seeded.Location.ListenPort); err != nil {
		ln.Close()
		return err
	}

	// The server outlives ctx until the client has said goodbye to it.
	serverCtx, stopServer := context.WithCancel(context.Background())
	defer stopServer()
	pages := web.New(d.Service, cfg.Log.With("component", "web"), web.WithServer(d.Opts.URL, d.Fingerprint), web.WithOutbox(outbox))
	served := make(chan error, 1)
	go func() { served <- d.Serve(serverCtx, ln, pages) }()
	defer func() {
		stopServer()
		<-served
	}()
	cfg.Log.Info("starting wicketd demo", "version", version.String(), "data_dir", dataDir)

	if err := r.banner(); err != nil {
		return err
	}

	keyringEnv, stopKeyring, err := r.keyring(ctx, dataDir)
	if err != nil {
		return err
	}
	defer stopKeyring()
	r.client = &client{bin: bin, configDir: filepath.Join(dataDir, "client"), env: keyringEnv, out: cfg.Out}
	if err := r.enroll(ctx); err != nil {
		return err
	}

	if cfg.GUI {
		return r.window(ctx, served)
	}
	return r.headless(ctx, served)
}

// findClient resolves the wicket binary: the flag, or wicket beside this
// executable (bin/ after `go tool task build-client`), or on PATH.
func findClient(flag string) (string, error) {
	if flag != "" {
		p, err := exec.LookPath(flag)
		if err != nil {
			return "", fmt.Errorf("--client %s: %w", flag, err)
		}
		return filepath.Abs(p)
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "wicket")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("wicket"); err == nil {
		return p, nil
	}
	return "", errors.New("the demo needs the desktop client: build it (go tool task demo does) or give its path with --client")
}

// checkUDPPort fails early, with words, when the location's WireGuard port
// is taken; the gateway would only log it.
func checkUDPPort(port int) error {
	c, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		return fmt.Errorf("the demo location's WireGuard port %d (UDP) is in use: %w — stop what uses it, or start over with another port (go tool task demo-reset, then --wireguard-port)", port, err)
	}
	return c.Close()
}

func (r *runner) banner() error {
	s := r.seeded
	qr, err := TerminalQR(s.OtpauthURL)
	if err != nil {
		return err
	}
	code, _ := mfa.TOTPCode(s.TOTPSecret, time.Now())
	r.say(`
  Wicket demo — data in %s

  Admin pages   %s   (the certificate is self-signed: accept it in the browser)
  Admin         username %-8s password %s   (signs in with a TOTP code too: oathtool --totp -b %s)
  User          username %-8s password %s   (signs in with a TOTP code too)
  Location      %q — Internal MFA on every connection, idle threshold %s
                reaches %s, a page that exists only inside the location
  Mail          email codes are not sent: read them on the admin's "Mail outbox" page
                (%s/outbox) or in the log below

  The demo user's authenticator secret (TOTP, SHA-1, 6 digits, 30 s):
      %s
  Scan it into an authenticator app, or compute codes with: oathtool --totp -b %s
  (code right now: %s)

%s
`, r.cfg.DataDir, r.url, AdminName, s.AdminPassword, s.AdminTOTPSecret, UserName, s.UserPassword, LocationName, humantime.Duration(Threshold), URL(),
		r.url, s.TOTPSecret, s.TOTPSecret, code, qr)
	return nil
}

// keyring decides where the client keeps its keys and returns the
// environment the client needs for it.
func (r *runner) keyring(ctx context.Context, dataDir string) ([]string, func(), error) {
	mode := r.cfg.Keyring
	// macOS and Windows have their keyrings without D-Bus.
	secretService := runtime.GOOS != "darwin" && runtime.GOOS != "windows"
	if mode == KeyringAuto {
		mode = KeyringPrivate
		if !secretService || hasSessionBus() {
			mode = KeyringSession
		}
	}
	if mode == KeyringSession {
		if secretService && !hasSessionBus() {
			return nil, nil, errors.New("--keyring session: there is no D-Bus session here ($DBUS_SESSION_BUS_ADDRESS is empty); use --keyring private")
		}
		r.say("  The client keeps its keys in this computer's keyring (entries named \"wicket\").\n\n")
		return nil, func() {}, nil
	}
	k, err := startPrivateKeyring(ctx, filepath.Join(dataDir, "keyring"))
	if err != nil {
		return nil, nil, err
	}
	r.say("  No desktop session here: the client keeps its keys in a keyring of the demo's own\n"+
		"  (gnome-keyring on a private D-Bus session, file in %s).\n\n", filepath.Join(r.cfg.DataDir, "keyring"))
	return k.Env(), k.Stop, nil
}

// enroll enrolls the client with a fresh enrollment code unless it already
// is, and puts it in userspace tunnel mode.
func (r *runner) enroll(ctx context.Context) error {
	c := r.client
	ok, err := c.enrolledWith(ctx, r.url)
	if err != nil {
		return err
	}
	if !ok {
		e, err := r.svc.CreateEnrollmentToken(ctx, r.seeded.userActor(r.svc), DeviceName)
		if err != nil {
			return fmt.Errorf("create an enrollment code: %w", err)
		}
		if _, err := c.run(ctx, "enroll", "--name", DeviceName, e.Code); err != nil {
			return err
		}
		r.say("  Enrolled the client as %q of user %s (config in %s).\n", DeviceName, UserName, filepath.Join(r.cfg.DataDir, "client"))
	}
	if _, err := c.run(ctx, "settings", "--tunnel-mode", "userspace", "--socks", r.cfg.SOCKSAddr); err != nil {
		return err
	}
	return nil
}

// window opens the desktop app and waits for Ctrl-C; the server stays up
// when the window is closed, for the web pages.
func (r *runner) window(ctx context.Context, served <-chan error) error {
	r.say(`  Opening the desktop app. Press Connect on %q, choose "Authenticator app" and type the
  current code; then reach the page through the tunnel's SOCKS5 proxy, e.g.
      curl --socks5-hostname %s %s
  or set %s as SOCKS5 proxy in a browser. Ctrl-C here stops the demo.

`, LocationName, r.cfg.SOCKSAddr, URL(), r.cfg.SOCKSAddr)
	cmd := r.client.command(context.Background())
	var mu sync.Mutex
	cmd.Stdout = &prefixWriter{mu: &mu, w: r.cfg.Out, prefix: "wicket: "}
	cmd.Stderr = &prefixWriter{mu: &mu, w: r.cfg.Out, prefix: "wicket: "}
	// The demo closes the window when it stops.
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the desktop app: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case err := <-exited:
			exited = nil
			if err != nil {
				r.say("\n  The desktop app stopped: %v\n", err)
			} else {
				r.say("\n  The desktop app was closed. The server keeps running for the web pages; Ctrl-C stops it.\n")
			}
		case err := <-served:
			return err
		case <-ctx.Done():
			r.say("\n  Stopping the demo.\n")
			if exited != nil {
				// The window takes Ctrl-C and SIGTERM for its own and
				// ignores them, so it is closed the hard way, and its
				// session ended here instead of by the app.
				cmd.Process.Kill()
				<-exited
				r.endSessions()
			}
			return nil
		}
	}
}

// endSessions ends the demo device's sessions on the server, as an admin
// would, for a client that cannot say goodbye itself.
func (r *runner) endSessions() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := r.svc.ListSessions(ctx, demoAdmin, r.seeded.Location.ID, true)
	if err != nil {
		return
	}
	for _, s := range list {
		if s.UserID == r.seeded.User.ID {
			r.svc.DisconnectSession(ctx, demoAdmin, s.ID)
		}
	}
}

// headless connects with `wicket connect`, as a person at a terminal would
// with the code from their app, then shows the handshake the gateway saw
// and fetches the intranet page through the client's SOCKS5 proxy.
func (r *runner) headless(ctx context.Context, served <-chan error) error {
	r.say("  Headless: connecting with `wicket connect %q --method totp --code CODE`, the code computed\n"+
		"  from the secret above as an authenticator app would.\n\n", LocationName)
	var (
		conn *connection
		err  error
	)
	for try := 1; ; try++ {
		if err := r.waitForFreshCode(ctx); err != nil {
			return err
		}
		conn, err = r.connect(ctx)
		if err == nil {
			break
		}
		// A code typed in the window within the same 30 s is spent too;
		// the next one will do.
		if try > 1 || !strings.Contains(err.Error(), "Invalid code") || ctx.Err() != nil {
			return err
		}
	}
	defer conn.stop()

	checkErr := r.showTunnel(ctx)
	if r.cfg.Check {
		if checkErr != nil {
			return checkErr
		}
		r.say("\n  Demo check passed: handshake seen and the page fetched through the tunnel. Stopping.\n")
		return conn.stop()
	}
	if checkErr != nil {
		r.say("\n  %v\n", checkErr)
	}
	r.say(`
  Connected. Try it yourself while this runs:
      curl --socks5-hostname %s %s
  The admin's VPN Overview at %s/overview shows the session. Ctrl-C disconnects and stops the demo.

`, r.cfg.SOCKSAddr, URL(), r.url)
	select {
	case <-ctx.Done():
		r.say("\n  Stopping the demo.\n")
	case err := <-conn.exited:
		conn.exited = nil
		if err != nil {
			return fmt.Errorf("wicket connect ended: %w", err)
		}
		return errors.New("wicket connect ended")
	case err := <-served:
		return err
	}
	return nil
}

// waitForFreshCode waits, when the demo spent the current TOTP code
// already, until the next one shows, and marks that one spent.
func (r *runner) waitForFreshCode(ctx context.Context) error {
	period := int64(mfa.Period / time.Second)
	next := r.seeded.LastTOTPStep + 1
	if wait := time.Until(time.Unix(next*period, 0)); wait > 0 {
		r.say("  Each code works once and this one is spent; waiting %s for the next.\n", humantime.Duration(wait+time.Second))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait + 100*time.Millisecond):
		}
	}
	r.seeded.LastTOTPStep = mfa.Step(time.Now())
	return saveCredentials(filepath.Join(r.dataDir, credentialsFile), r.seeded.Credentials)
}

// connection is a running `wicket connect`.
type connection struct {
	cmd    *exec.Cmd
	exited chan error
	once   sync.Once
	err    error
}

// stop disconnects (the client ends its session on the server) and waits.
func (c *connection) stop() error {
	c.once.Do(func() {
		if c.exited == nil {
			return
		}
		c.cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-c.exited:
			c.err = err
		case <-time.After(15 * time.Second):
			c.cmd.Process.Kill()
			c.err = errors.New("wicket connect did not stop within 15 s of Ctrl-C")
		}
	})
	return c.err
}

func (r *runner) connect(ctx context.Context) (*connection, error) {
	code, err := mfa.TOTPCode(r.seeded.TOTPSecret, time.Now())
	if err != nil {
		return nil, err
	}
	cmd := r.client.command(context.Background(), "connect", LocationName, "--method", "totp", "--code", code)
	// The demo stops the client itself, after the server's goodbye is
	// possible, rather than with the terminal's Ctrl-C.
	detach(cmd)
	var mu sync.Mutex
	connected := make(chan struct{})
	var once sync.Once
	var stderr strings.Builder
	cmd.Stdout = &prefixWriter{mu: &mu, w: r.cfg.Out, prefix: "wicket: ", onLine: func(line string) {
		if strings.HasPrefix(line, "Connected to ") {
			once.Do(func() { close(connected) })
		}
	}}
	cmd.Stderr = &prefixWriter{mu: &mu, w: r.cfg.Out, prefix: "wicket: ", onLine: func(line string) {
		mu.Lock()
		stderr.WriteString(line + "\n")
		mu.Unlock()
	}}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start wicket connect: %w", err)
	}
	c := &connection{cmd: cmd, exited: make(chan error, 1)}
	go func() { c.exited <- cmd.Wait() }()
	select {
	case <-connected:
		return c, nil
	case err := <-c.exited:
		c.exited = nil
		mu.Lock()
		msg := strings.TrimSpace(stderr.String())
		mu.Unlock()
		if msg == "" && err != nil {
			msg = err.Error()
		}
		return nil, fmt.Errorf("wicket connect failed: %s", msg)
	case <-time.After(60 * time.Second):
		c.stop()
		return nil, errors.New("wicket connect did not connect within 60 s")
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// showTunnel waits for the gateway's report of the handshake, then fetches
// the intranet page through the SOCKS5 proxy.
func (r *runner) showTunnel(ctx context.Context) error {
	wait := 3*r.cfg.StatsInterval + 10*time.Second
	deadline := time.Now().Add(wait)
	for {
		list, err := r.svc.ListSessions(ctx, demoAdmin, r.seeded.Location.ID, true)
		if err != nil {
			return err
		}
		var found bool
		for _, s := range list {
			if s.UserID == r.seeded.User.ID && !s.LatestHandshake.IsZero() {
				r.say("\n  Handshake: the gateway of %q reports the WireGuard handshake of %s's %q at %s,\n"+
					"  tunnel address %s, from %s.\n", LocationName, s.Username, s.DeviceName,
					s.LatestHandshake.Local().Format("15:04:05"), s.Address, s.Endpoint)
				found = true
				break
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no WireGuard handshake reported by the gateway within %s", humantime.Duration(wait))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}

	dialer, err := proxy.SOCKS5("tcp", r.cfg.SOCKSAddr, nil, proxy.Direct)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		DialContext: dialer.(proxy.ContextDialer).DialContext,
	}}
	resp, err := hc.Get(URL())
	if err != nil {
		return fmt.Errorf("fetch %s through the tunnel (SOCKS5 proxy %s): %w", URL(), r.cfg.SOCKSAddr, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	title := ""
	if m := regexp.MustCompile(`<title>([^<]*)</title>`).FindSubmatch(body); m != nil {
		title = string(m[1])
	}
	if resp.StatusCode != http.StatusOK || title != PageTitle {
		return fmt.Errorf("fetch %s through the tunnel: %s, title %q", URL(), resp.Status, title)
	}
	r.say("  Fetched %s through the tunnel (SOCKS5 proxy %s): %s, %q.\n", URL(), r.cfg.SOCKSAddr, resp.Status, title)
	return nil
}
