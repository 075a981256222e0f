package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/clock"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/seal"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/tlscert"
)

// Options configure a server.
type Options struct {
	DataDir string
	// Database is where the store is: a postgres:// URL selects
	// PostgreSQL, shared by replicas; empty keeps SQLite in DataDir.
	Database string
	// URL is how clients reach this server (its public URL), put in
	// enrollment codes and announced to the other replicas' clients.
	URL string
	// ReplicaURLs are further addresses of the instance the admin gives
	// (a load balancer, DNS names), listed to clients after the replicas'
	// own URLs.
	ReplicaURLs []string
	// ReplicaRefresh is how often the server announces its addresses;
	// zero means service.ReplicaRefresh.
	ReplicaRefresh time.Duration
	// Hosts are extra names for the self-signed certificate.
	Hosts        []string
	TLSCert      string
	TLSKey       string
	MasterKey    string // base64; empty reads or makes DataDir/master.key
	InstanceName string
	MinThreshold time.Duration
	// AdminMFAOptional lets admins work without a second factor.
	AdminMFAOptional bool
	// RequireGateway refuses new sessions on locations no gateway follows
	// (wicketd serve and the demo); the test harness runs without gateways.
	RequireGateway bool
	IdleInterval   time.Duration // sweeper period; 0 means one minute
	// Gateway is the embedded gateway's mode; "off" runs none.
	Gateway       gateway.Mode
	StatsInterval time.Duration // embedded gateway's statistics period
	Clock         clock.Clock
	Mailer        mail.Mailer
	Log           *slog.Logger
	// GatewayDial opens the host connections of flows clients send through
	// the embedded netstack gateway; nil dials them as addressed. The demo
	// maps its intranet address to a page on loopback with it.
	GatewayDial gateway.DialFunc
	// Timeouts bound connections; zero fields get the defaults.
	Timeouts Timeouts
	// ApprovalPoll is how often a device waiting for a passkey approval
	// looks at the store; zero means a second. Approvals on this replica or
	// (on PostgreSQL) another one wake it at once.
	ApprovalPoll time.Duration
	// Heartbeat is how often quiet watch streams carry a heartbeat; zero
	// means api.DefaultHeartbeat.
	Heartbeat time.Duration
	// MetricsListener, when set, serves Prometheus metrics at /metrics
	// over plain HTTP; Serve closes it when it returns. Metrics say how
	// busy the server is and who is connected: keep it on loopback or a
	// private network.
	MetricsListener net.Listener
}

// Daemon is an opened server: store, keys, certificate and domain.
type Daemon struct {
	Opts        Options
	Store       *store.Store
	Service     *service.Service
	Cert        tls.Certificate
	Fingerprint string

	metrics *metrics
}

// Open prepares a server on its data directory.
func Open(ctx context.Context, o Options) (*Daemon, error) {
	if o.DataDir == "" {
		return nil, errors.New("no data directory: give --data-dir")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.IdleInterval == 0 {
		o.IdleInterval = time.Minute
	}
	for _, u := range o.ReplicaURLs {
		if err := CheckServerURL(u); err != nil {
			return nil, fmt.Errorf("--replica-url: %w", err)
		}
	}
	sealer, err := seal.LoadOrCreate(o.DataDir, o.MasterKey)
	if err != nil {
		return nil, err
	}
	cert, err := tlscert.LoadOrCreate(o.DataDir, o.TLSCert, o.TLSKey, o.Hosts, o.Clock.Now())
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, o.DataDir, o.Database)
	if err != nil {
		return nil, err
	}
	fp := tlscert.Fingerprint(cert)
	svc, err := service.New(ctx, service.Config{
		Store: st, Sealer: sealer, Clock: o.Clock, Log: o.Log, Mailer: o.Mailer, URL: o.URL, Fingerprint: fp,
		InstanceName: o.InstanceName, MinThreshold: o.MinThreshold, AdminMFAOptional: o.AdminMFAOptional, RequireGateway: o.RequireGateway, ApprovalPoll: o.ApprovalPoll,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	// Clients of the other replicas learn this address at once; a
	// failure only delays that until the next refresh.
	if err := svc.AnnounceReplica(ctx, o.ReplicaURLs); err != nil {
		o.Log.Warn("cannot announce this server's address yet", "err", err)
	}
	return &Daemon{Opts: o, Store: st, Service: svc, Cert: cert, Fingerprint: fp, metrics: newMetrics(svc)}, nil
}

// CheckServerURL says what is wrong with u as an address clients reach a
// server at: an https:// URL with a host, no query and no fragment. Plain
// http is refused: clients would send their device token in the clear.
func CheckServerURL(u string) error {
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %v", u, err)
	case p.Scheme != "https":
		return fmt.Errorf("%q: give an https:// URL, e.g. https://vpn.example.com:8443 (clients reach wicketd over TLS only)", u)
	case p.Host == "" || p.Hostname() == "":
		return fmt.Errorf("%q has no host; give one, e.g. https://vpn.example.com:8443", u)
	case p.RawQuery != "" || p.Fragment != "" || p.User != nil:
		return fmt.Errorf("%q: give the address alone, without user, query or fragment", u)
	}
	return nil
}

// Close stops the link to other replicas and closes the store.
func (d *Daemon) Close() error {
	d.Service.Close()
	return d.Store.Close()
}

// Local is the domain of a data directory opened by a command on the
// server's host (wicketd user add), beside a server that may be running:
// no listener, certificate or sweeper.
type Local struct {
	Service *service.Service
	store   *store.Store
}

// OpenStore opens the database: PostgreSQL when database is a postgres://
// URL, SQLite in dataDir when it is empty.
func OpenStore(ctx context.Context, dataDir, database string) (*store.Store, error) {
	switch {
	case database == "":
		return store.OpenSQLite(ctx, filepath.Join(dataDir, "wicket.db"))
	case store.IsPostgresURL(database):
		return store.OpenPostgres(ctx, database)
	default:
		return nil, errors.New("--database: give a postgres:// URL, or nothing for SQLite in the data directory")
	}
}

// OpenLocal opens the store and master key of a data directory; database
// and masterKey are as in Options.
func OpenLocal(ctx context.Context, dataDir, database, masterKey string) (*Local, error) {
	st, err := OpenStore(ctx, dataDir, database)
	if err != nil {
		return nil, err
	}
	sealer, err := seal.LoadOrCreate(dataDir, masterKey)
	if err != nil {
		st.Close()
		return nil, err
	}
	svc, err := service.New(ctx, service.Config{Store: st, Sealer: sealer})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Local{Service: svc, store: st}, nil
}

// Close sends the other replicas what changed and closes the store.
func (l *Local) Close() error {
	l.Service.Close()
	return l.store.Close()
}

// TLSConfig is the server side: TLS 1.3 only; Go prefers the hybrid
// post-quantum key exchange X25519MLKEM768 by default.
func (d *Daemon) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{d.Cert}, NextProtos: []string{"h2", "http/1.1"}}
}

// Serve serves HTTPS on ln (and metrics on Options.MetricsListener) until
// ctx ends, then shuts down gracefully, running the idle sweeper meanwhile.
func (d *Daemon) Serve(ctx context.Context, ln net.Listener, extra http.Handler) error {
	log := d.Opts.Log
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:     d.Handler(extra),
		TLSConfig:   d.TLSConfig(),
		BaseContext: func(net.Listener) context.Context { return baseCtx },
	}
	d.Limit(srv)
	var metricsSrv *http.Server
	if mln := d.Opts.MetricsListener; mln != nil {
		metricsSrv = &http.Server{Handler: d.MetricsHandler()}
		d.Limit(metricsSrv)
		go func() {
			if err := metricsSrv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener failed", "addr", mln.Addr().String(), "err", err)
			}
		}()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	go d.Service.RunSweeper(baseCtx, d.Opts.IdleInterval)
	go d.Service.RunReplicaAnnouncer(baseCtx, d.Opts.ReplicaURLs, d.Opts.ReplicaRefresh)
	var gwDone chan struct{}
	if d.Opts.Gateway != "" && d.Opts.Gateway != gateway.Off {
		emb := follow.NewEmbedded(d.Service, gateway.Options{Mode: d.Opts.Gateway, Log: log.With("component", "gateway"), Dial: d.Opts.GatewayDial}, d.Opts.StatsInterval)
		gwDone = make(chan struct{})
		go func() { defer close(gwDone); emb.Run(baseCtx) }()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	log.Info("wicketd listening", "addr", ln.Addr().String(), "url", d.Opts.URL, "fingerprint", d.Fingerprint)
	select {
	case err := <-errc:
		if metricsSrv != nil {
			metricsSrv.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// Streams (instance watches, gateway syncs) end with the base context.
	cancelBase()
	if gwDone != nil {
		<-gwDone
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if metricsSrv != nil {
		metricsSrv.Shutdown(shutCtx)
	}
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
