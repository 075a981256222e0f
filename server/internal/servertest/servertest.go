// Package servertest runs a real wicketd in process for tests: the real
// handlers over httptest TLS, a real store (SQLite in a temporary directory,
// or a PostgreSQL database of the test's own), an injected clock, and an
// in-process SMTP server speaking the protocol.
//
// WithPostgres, or WICKET_TEST_ENGINE=postgres for every harness, puts the
// store on PostgreSQL (see storetest for where the server comes from).
package servertest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
	"github.com/wicket-vpn/wicket/server/internal/clock/clocktest"
	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/mail/mailtest"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/seal"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/store/storetest"
	"github.com/wicket-vpn/wicket/server/internal/tlscert"
)

// Start is where every harness clock begins.
var Start = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type options struct {
	dataDir      string
	engine       storetest.Engine
	database     string
	smtp         bool
	clock        *clocktest.Fake
	minThreshold time.Duration
	web          func(*daemon.Daemon) http.Handler
	mailer       mail.Mailer
	adminMFAOpt  bool
	timeouts     daemon.Timeouts
	heartbeat    time.Duration
	requireGW    bool
	replicaURLs  []string
	hostName     string
	approvalPoll time.Duration
}

// Option changes the harness.
type Option func(*options)

// EnvEngine names the variable that picks the engine of every harness
// whose test does not: sqlite (the default) or postgres.
const EnvEngine = "WICKET_TEST_ENGINE"

// WithPostgres keeps the store in a fresh PostgreSQL database; the test
// is skipped outside CI when no PostgreSQL can be had.
func WithPostgres() Option { return WithEngine(storetest.Postgres) }

// WithSQLite keeps the store on SQLite whatever WICKET_TEST_ENGINE says,
// for tests of what only SQLite does (store.RefuseWrites).
func WithSQLite() Option { return WithEngine(storetest.SQLite) }

// WithEngine keeps the store on the given engine.
func WithEngine(e storetest.Engine) Option { return func(o *options) { o.engine = e } }

// WithDatabase keeps the store in the PostgreSQL database at url, as
// another replica of a server already using it would.
func WithDatabase(url string) Option {
	return func(o *options) { o.engine, o.database = storetest.Postgres, url }
}

// EachEngine runs fn as a subtest per engine, passing the option that
// selects it.
func EachEngine(t *testing.T, fn func(t *testing.T, engine Option)) {
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) { fn(t, WithEngine(e)) })
	}
}

// WithDataDir reuses a data directory (to restart a server on it).
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithoutSMTP leaves the server without SMTP settings.
func WithoutSMTP() Option { return func(o *options) { o.smtp = false } }

// WithClock shares a clock (to keep time across a restart).
func WithClock(c *clocktest.Fake) Option { return func(o *options) { o.clock = c } }

// WithMinThreshold lowers the smallest idle threshold MFA locations accept.
func WithMinThreshold(d time.Duration) Option { return func(o *options) { o.minThreshold = d } }

// WithMailer sends the server's mail through m instead of the harness's
// SMTP server (Server.Mail then receives nothing).
func WithMailer(m mail.Mailer) Option { return func(o *options) { o.mailer = m } }

// WithAdminMFAOptional lets admins work without a second factor
// (wicketd serve --admin-mfa optional).
func WithAdminMFAOptional() Option { return func(o *options) { o.adminMFAOpt = true } }

// WithGatewayRequired refuses new sessions on locations no gateway
// follows, as wicketd serve does (the harness runs no gateway otherwise).
func WithGatewayRequired() Option { return func(o *options) { o.requireGW = true } }

// WithReplicaURLs gives the server fixed addresses of the instance
// (wicketd serve --replica-url).
func WithReplicaURLs(urls ...string) Option { return func(o *options) { o.replicaURLs = urls } }

// WithHostName serves the harness under a host name ("localhost") rather
// than its IP address: the server's URL, which passkeys take their relying
// party from, names it. It still listens on 127.0.0.1.
func WithHostName(name string) Option { return func(o *options) { o.hostName = name } }

// WithApprovalPoll sets how often a device waiting for a passkey approval
// looks at the store.
func WithApprovalPoll(d time.Duration) Option { return func(o *options) { o.approvalPoll = d } }

// WithHeartbeat sets how often quiet watch streams carry a heartbeat.
func WithHeartbeat(d time.Duration) Option { return func(o *options) { o.heartbeat = d } }

// WithTimeouts shortens the server's connection deadlines.
func WithTimeouts(t daemon.Timeouts) Option { return func(o *options) { o.timeouts = t } }

// WithWeb serves extra handlers (the web pages) beside the API.
func WithWeb(f func(*daemon.Daemon) http.Handler) Option { return func(o *options) { o.web = f } }

// Server is a running in-process wicketd.
type Server struct {
	T       testing.TB
	URL     string
	DataDir string
	// Database is the PostgreSQL URL of the store; empty on SQLite.
	Database string
	Daemon   *daemon.Daemon
	Svc      *service.Service
	Clock    *clocktest.Fake
	Mail     *mailtest.Server
	// HTTP trusts the server by its pinned fingerprint, as clients do.
	HTTP    *http.Client
	Client  wicketv1connect.ClientServiceClient
	Account wicketv1connect.AccountServiceClient
	Admin   wicketv1connect.AdminServiceClient
	Gateway wicketv1connect.GatewayServiceClient

	// AdminTOTP is the authenticator secret of the harness's admin.
	AdminTOTP string

	opts       options
	httpServer *httptest.Server
	adminToken string
	admin      *User
	closed     bool
}

// New starts a server and stops it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := options{smtp: true, minThreshold: 5 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	if o.engine == "" {
		o.engine = storetest.Engine(os.Getenv(EnvEngine))
	}
	switch o.engine {
	case "", storetest.SQLite:
	case storetest.Postgres:
		if o.database == "" {
			o.database = storetest.URL(t)
		}
	default:
		t.Fatalf("%s=%s: the engines are sqlite and postgres", EnvEngine, o.engine)
	}
	if o.clock == nil {
		o.clock = clocktest.New(Start)
	}
	s := &Server{T: t, DataDir: o.dataDir, Database: o.database, Clock: o.clock, opts: o}
	s.Mail = mailtest.New(t)
	s.start()
	t.Cleanup(s.Close)
	return s
}

func (s *Server) start() {
	t := s.T
	t.Helper()
	addr := "127.0.0.1:0"
	if s.URL != "" {
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "https://"))
		addr = "127.0.0.1:" + port // a restart keeps the address
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.URL = "https://" + ln.Addr().String()
	if s.opts.hostName != "" {
		s.URL = "https://" + net.JoinHostPort(s.opts.hostName, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if os.Getenv("WICKET_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var mailer mail.Mailer = &mail.Sender{TLSConfig: s.Mail.ClientTLS()}
	if s.opts.mailer != nil {
		mailer = s.opts.mailer
	}
	d, err := daemon.Open(context.Background(), daemon.Options{
		DataDir: s.DataDir, Database: s.Database, URL: s.URL, Clock: s.Clock, Log: log, MinThreshold: s.opts.minThreshold,
		Mailer: mailer, InstanceName: "Test Wicket", AdminMFAOptional: s.opts.adminMFAOpt, Timeouts: s.opts.timeouts, Heartbeat: s.opts.heartbeat, RequireGateway: s.opts.requireGW, ApprovalPoll: s.opts.approvalPoll,
		ReplicaURLs: s.opts.replicaURLs,
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	s.Daemon, s.Svc = d, d.Service
	var extra http.Handler
	if s.opts.web != nil {
		extra = s.opts.web(d)
	}
	hs := httptest.NewUnstartedServer(d.Handler(extra))
	d.Limit(hs.Config)
	hs.Listener.Close()
	hs.Listener = ln
	hs.EnableHTTP2 = true
	hs.TLS = d.TLSConfig()
	hs.StartTLS()
	s.httpServer = hs
	s.closed = false

	tr := &http.Transport{TLSClientConfig: tlscert.PinnedConfig(d.Fingerprint), ForceAttemptHTTP2: true}
	s.HTTP = &http.Client{Transport: tr}
	s.Client = wicketv1connect.NewClientServiceClient(s.HTTP, s.URL)
	s.Account = wicketv1connect.NewAccountServiceClient(s.HTTP, s.URL)
	s.Admin = wicketv1connect.NewAdminServiceClient(s.HTTP, s.URL)
	s.Gateway = wicketv1connect.NewGatewayServiceClient(s.HTTP, s.URL)
	if s.opts.smtp {
		set := s.Mail.Settings("wicket@example.com")
		if err := d.Service.UpdateSMTP(context.Background(), service.Actor{Username: "test", Admin: true}, set); err != nil {
			t.Fatal(err)
		}
		s.opts.smtp = false // stored now; a restart keeps it
	}
}

// Replica starts another wicketd on the same PostgreSQL database, with
// its own data directory holding copies of this server's master key and
// TLS certificate (what replicas must share), the same clock and the same
// mail server. opts apply on top of this server's options. It stops when
// the test ends.
func (s *Server) Replica(opts ...Option) *Server {
	t := s.T
	t.Helper()
	if s.Database == "" {
		t.Fatal("replicas share a PostgreSQL database: start the first server WithPostgres()")
	}
	dir := t.TempDir()
	for _, name := range []string{seal.KeyFileName, tlscert.CertFileName, tlscert.KeyFileName} {
		b, err := os.ReadFile(filepath.Join(s.DataDir, name))
		if err != nil {
			t.Fatalf("copy %s to the replica: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := s.opts
	o.dataDir, o.smtp = dir, false
	for _, f := range opts {
		f(&o)
	}
	r := &Server{T: t, DataDir: dir, Database: s.Database, Clock: s.Clock, Mail: s.Mail, opts: o, admin: s.admin, AdminTOTP: s.AdminTOTP, adminToken: s.adminToken}
	r.start()
	t.Cleanup(r.Close)
	return r
}

// Store is the server's database itself, for tests that arrange or
// inspect what no call offers (a row as it is stored, a write refused by
// the disk). Everything else goes through Svc, as the server's own
// packages do.
func (s *Server) Store() *store.Store { return s.Daemon.Store }

// Close stops the server (idempotent).
func (s *Server) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.httpServer.CloseClientConnections()
	s.httpServer.Close()
	s.Daemon.Close()
}

// Start starts a closed server again on the same data directory, clock
// and address (Close then Start is an outage).
func (s *Server) Start() {
	s.T.Helper()
	if !s.closed {
		return
	}
	s.adminToken = ""
	s.start()
}

// Restart stops the server and starts a new one on the same data directory,
// clock and address.
func (s *Server) Restart() {
	s.T.Helper()
	s.Close()
	s.adminToken = ""
	s.start()
}

// RestartWith restarts the server as Restart does, with opts applied first
// (to shorten its deadlines once a test has set up what it needs, say).
func (s *Server) RestartWith(opts ...Option) {
	s.T.Helper()
	for _, f := range opts {
		f(&s.opts)
	}
	s.Restart()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Req wraps a message in a request carrying a bearer token ("" for none).
func Req[T any](token string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	if token != "" {
		r.Header().Set("Authorization", "Bearer "+token)
	}
	return r
}

// Ctx is a test context bounded in time.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// User is a user made by the harness.
type User struct {
	ID       string
	Username string
	Email    string
	Password string
	Token    string
	// TOTPSecret is set once TOTP is on.
	TOTPSecret string
}

// AdminToken returns a bearer token of the harness's admin, creating it once.
// Admins must have a second factor, so the admin has an authenticator app
// (AdminTOTP) and signs in with it.
func (s *Server) AdminToken() string {
	s.T.Helper()
	if s.adminToken != "" {
		return s.adminToken
	}
	ctx := Ctx(s.T)
	if s.admin == nil {
		s.admin = &User{Username: "admin", Email: "admin@example.com", Password: "admin-password"}
	}
	if _, err := s.Svc.FindUser(ctx, service.Actor{Username: "test", Admin: true}, "admin"); err != nil {
		u, err := s.Svc.CreateUser(ctx, service.Actor{Username: "test", Admin: true}, service.NewUser{Username: "admin", Email: "admin@example.com", Password: "admin-password", Admin: true})
		if err != nil {
			s.T.Fatal(err)
		}
		s.admin.ID = u.ID
		s.Login(s.admin)
		s.EnableTOTP(s.admin)
		s.AdminTOTP = s.admin.TOTPSecret
		s.adminToken = s.admin.Token
		return s.adminToken
	}
	s.Login(s.admin)
	s.adminToken = s.admin.Token
	return s.adminToken
}

// Admin returns the harness's admin (signed in, with an authenticator app).
func (s *Server) AdminUser() *User {
	s.T.Helper()
	s.AdminToken()
	return s.admin
}

// CreateUser makes a user through the API and signs them in.
func (s *Server) CreateUser(username string, groups ...string) *User {
	s.T.Helper()
	ctx := Ctx(s.T)
	u := &User{Username: username, Email: username + "@example.com", Password: username + "-password"}
	resp, err := s.Admin.CreateUser(ctx, Req(s.AdminToken(), &v1.CreateUserRequest{Username: username, Email: u.Email, Password: u.Password, Groups: groups}))
	if err != nil {
		s.T.Fatal(err)
	}
	u.ID = resp.Msg.User.Id
	s.Login(u)
	return u
}

// Login signs the user in again: with a TOTP code when TOTP is on, with an
// emailed code read from the SMTP server when email codes are the only
// factor.
func (s *Server) Login(u *User) {
	s.T.Helper()
	ctx := Ctx(s.T)
	req := &v1.LoginRequest{Username: u.Username, Password: u.Password}
	if u.TOTPSecret != "" {
		s.Clock.Advance(mfa.Period) // a fresh step, never a replay
		req.TotpCode = s.TOTPCode(u.TOTPSecret)
	}
	lr, err := s.Account.Login(ctx, Req("", req))
	if err != nil {
		s.T.Fatal(err)
	}
	if lr.Msg.Token == "" && lr.Msg.MfaChallenge != "" {
		n := len(s.MailTo(u.Email))
		if _, err := s.Account.SendLoginCode(ctx, Req("", &v1.SendLoginCodeRequest{MfaChallenge: lr.Msg.MfaChallenge})); err != nil {
			s.T.Fatal(err)
		}
		fl, err := s.Account.FinishLogin(ctx, Req("", &v1.FinishLoginRequest{MfaChallenge: lr.Msg.MfaChallenge, Code: s.WaitCode(u.Email, n+1)}))
		if err != nil {
			s.T.Fatal(err)
		}
		s.Clock.Advance(mfa.MailInterval) // the next mail is not throttled
		lr = fl
	}
	u.Token = lr.Msg.Token
}

// TOTPCode returns the code of secret at the harness clock's now.
func (s *Server) TOTPCode(secret string) string {
	s.T.Helper()
	code, err := mfa.TOTPCode(secret, s.Clock.Now())
	if err != nil {
		s.T.Fatal(err)
	}
	return code
}

// EnableTOTP sets up TOTP for the user through the API.
func (s *Server) EnableTOTP(u *User) {
	s.T.Helper()
	ctx := Ctx(s.T)
	b, err := s.Account.BeginTotpSetup(ctx, Req(u.Token, &v1.BeginTotpSetupRequest{}))
	if err != nil {
		s.T.Fatal(err)
	}
	if _, err := s.Account.ConfirmTotpSetup(ctx, Req(u.Token, &v1.ConfirmTotpSetupRequest{Code: s.TOTPCode(b.Msg.Secret)})); err != nil {
		s.T.Fatal(err)
	}
	u.TOTPSecret = b.Msg.Secret
	s.Clock.Advance(mfa.Period) // the confirming code's step is spent
}

// EnableEmail sets up email codes for the user, reading the code from the SMTP server.
func (s *Server) EnableEmail(u *User) {
	s.T.Helper()
	ctx := Ctx(s.T)
	n := len(s.MailTo(u.Email))
	if _, err := s.Account.BeginEmailMfaSetup(ctx, Req(u.Token, &v1.BeginEmailMfaSetupRequest{})); err != nil {
		s.T.Fatal(err)
	}
	code := s.WaitCode(u.Email, n+1)
	if _, err := s.Account.ConfirmEmailMfaSetup(ctx, Req(u.Token, &v1.ConfirmEmailMfaSetupRequest{Code: code})); err != nil {
		s.T.Fatal(err)
	}
	s.Clock.Advance(mfa.MailInterval) // the next mail is not throttled
}

// MailTo returns the messages the SMTP server received for addr.
func (s *Server) MailTo(addr string) []mailtest.Received {
	var out []mailtest.Received
	for _, m := range s.Mail.Messages() {
		for _, to := range m.To {
			if to == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

// WaitCode waits for the n-th mail to addr and returns the code in it.
func (s *Server) WaitCode(addr string, n int) string {
	s.T.Helper()
	m, err := s.Mail.WaitFor(Ctx(s.T), addr, n)
	if err != nil {
		s.T.Fatal(err)
	}
	code, err := mailtest.CodeIn(m.Body)
	if err != nil {
		s.T.Fatal(err)
	}
	return code
}

// CreateLocation makes a location through the API; zero fields get test
// defaults: the first listen port from 51820 that no location uses, since
// two locations may not share one.
func (s *Server) CreateLocation(l *v1.Location) *v1.Location {
	s.T.Helper()
	if l.Address == "" {
		l.Address = "10.10.0.1/24"
	}
	if l.ListenPort == 0 {
		locs, err := s.Svc.Locations(Ctx(s.T))
		if err != nil {
			s.T.Fatal(err)
		}
		l.ListenPort = 51820
		for slices.ContainsFunc(locs, func(o service.Location) bool { return o.ListenPort == int(l.ListenPort) }) {
			l.ListenPort++
		}
	}
	if l.Endpoint == "" {
		l.Endpoint = "127.0.0.1:" + strconv.Itoa(int(l.ListenPort))
	}
	resp, err := s.Admin.CreateLocation(Ctx(s.T), Req(s.AdminToken(), &v1.CreateLocationRequest{Location: l}))
	if err != nil {
		s.T.Fatal(err)
	}
	return resp.Msg.Location
}

// Location returns a location as the service has it (for the calls that
// take one, such as ReportStats).
func (s *Server) Location(id string) service.Location {
	s.T.Helper()
	locs, err := s.Svc.Locations(Ctx(s.T))
	if err != nil {
		s.T.Fatal(err)
	}
	for _, l := range locs {
		if l.ID == id {
			return l
		}
	}
	s.T.Fatalf("no location %s", id)
	return service.Location{}
}

// MFALocation makes a location that requires MFA.
func (s *Server) MFALocation(name string) *v1.Location {
	return s.CreateLocation(&v1.Location{Name: name, MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL})
}

// Device is an enrolled device.
type Device struct {
	ID         string
	Token      string
	PrivateKey string
	PublicKey  string
	Instance   *v1.InstanceInfo
}

// Enroll makes an enrollment token for the user and enrolls a new device with it.
func (s *Server) Enroll(u *User, name string) *Device {
	s.T.Helper()
	ctx := Ctx(s.T)
	et, err := s.Account.CreateEnrollmentToken(ctx, Req(u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: name}))
	if err != nil {
		s.T.Fatal(err)
	}
	priv, pub := NewKeyPair(s.T)
	resp, err := s.Client.Enroll(ctx, Req("", &v1.EnrollRequest{EnrollmentToken: et.Msg.EnrollmentToken, DeviceName: name, PublicKey: pub}))
	if err != nil {
		s.T.Fatal(err)
	}
	return &Device{ID: resp.Msg.DeviceId, Token: resp.Msg.DeviceToken, PrivateKey: priv, PublicKey: pub, Instance: resp.Msg.Instance}
}
