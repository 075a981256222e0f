package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/web"
	"github.com/wicket-vpn/wicket/shared/version"
)

func envMasterKey() string { return os.Getenv("WICKET_MASTER_KEY") }

func serveCmd() *cobra.Command {
	var o daemon.Options
	var listen, metricsListen, logLevel, logFormat, gw, adminMFA, oldURL string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server",
		Long: "Run the server: HTTPS API and web pages on --listen, Prometheus metrics over plain HTTP on --metrics-listen.\n" +
			"Every flag can also be given as a WICKET_… environment variable (--data-dir as WICKET_DATA_DIR).\n" +
			"The master key that seals secrets is read from DATA_DIR/master.key, or from WICKET_MASTER_KEY.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return err
			}
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			o.Log = log
			if o.Gateway, err = gateway.ParseMode(gw); err != nil {
				return err
			}
			switch adminMFA {
			case "required":
			case "optional":
				o.AdminMFAOptional = true
			default:
				return fmt.Errorf("--admin-mfa: %q is neither required nor optional", adminMFA)
			}
			if err := resolvePublicURL(cmd.Flags(), &o.URL, oldURL); err != nil {
				return err
			}
			o.MasterKey = envMasterKey()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (is another server running there? choose another --listen)", listen, err)
			}
			if o.URL == "" {
				o.URL = defaultURL(ln.Addr().(*net.TCPAddr), listen)
			}
			if metricsListen != "" {
				mln, err := net.Listen("tcp", metricsListen)
				if err != nil {
					ln.Close()
					return fmt.Errorf("metrics: listen on %s: %w (choose another --metrics-listen, or an empty one to serve no metrics)", metricsListen, err)
				}
				o.MetricsListener = mln
			}
			// A session is only granted while a gateway can carry it.
			o.RequireGateway = true
			o.Hosts = append(o.Hosts, listen, o.URL)
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			d, err := daemon.Open(ctx, o)
			if err != nil {
				ln.Close()
				if o.MetricsListener != nil {
					o.MetricsListener.Close()
				}
				return err
			}
			defer d.Close()
			log.Info("starting wicketd", "version", version.String(), "data_dir", o.DataDir, "database", string(d.Store.Dialect()))
			pages := web.New(d.Service, log.With("component", "web"), web.WithServer(d.Opts.URL, d.Fingerprint))
			return d.Serve(ctx, ln, pages)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", "wicket-data", "directory for the database, keys and certificate")
	f.StringVar(&o.Database, "database", "", "PostgreSQL database shared by replicas, postgres://USER:PASSWORD@HOST/DB (default: SQLite in the data directory)")
	f.StringVar(&listen, "listen", ":8443", "HOST:PORT to serve HTTPS on")
	f.StringVar(&metricsListen, "metrics-listen", "127.0.0.1:9464", "HOST:PORT to serve Prometheus metrics on, over plain HTTP (empty: no metrics)")
	f.StringVar(&o.URL, "public-url", "", "this server's address as clients reach it, e.g. https://vpn1.example.com:8443: it goes into enrollment codes and,\n"+
		"on PostgreSQL, every replica announces its own to the clients of all, which fail over between them (default: from --listen)")
	f.StringVar(&oldURL, "url", "", "the former name of --public-url")
	f.MarkHidden("url")
	f.StringSliceVar(&o.ReplicaURLs, "replica-url", nil, "a further address of the instance to list to clients after the replicas' own (a TCP load balancer, a DNS name\n"+
		"of several replicas); repeat it or separate with commas, and give every replica the same ones. It must serve the same certificate")
	f.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate (default: a self-signed one made in the data directory)")
	f.StringVar(&o.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	f.StringVar(&o.InstanceName, "name", "Wicket", "the instance name clients show")
	f.DurationVar(&o.MinThreshold, "min-peer-disconnect-threshold", 120*time.Second, "smallest peer disconnect threshold allowed while MFA is on (lower only for tests and demos)")
	f.DurationVar(&o.IdleInterval, "idle-check-interval", time.Minute, "how often idle sessions are looked for")
	f.StringVar(&gw, "gateway", "netstack", "embedded WireGuard gateway: netstack (no privileges), tun (needs CAP_NET_ADMIN) or off")
	f.DurationVar(&o.StatsInterval, "stats-interval", 30*time.Second, "how often the embedded gateway reports peer statistics")
	f.StringVar(&adminMFA, "admin-mfa", "required", "required: admins must set up a second factor before any admin page or call; optional: they may use a password alone")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// resolvePublicURL takes --public-url, or its former name --url, and
// checks it.
func resolvePublicURL(fs *pflag.FlagSet, publicURL *string, oldURL string) error {
	if fs.Changed("url") {
		if fs.Changed("public-url") && *publicURL != "" && *publicURL != oldURL {
			return fmt.Errorf("--url %s and --public-url %s differ: give --public-url alone (--url is its former name)", oldURL, *publicURL)
		}
		*publicURL = oldURL
	}
	if *publicURL == "" {
		return nil
	}
	if err := daemon.CheckServerURL(*publicURL); err != nil {
		return fmt.Errorf("--public-url: %w", err)
	}
	return nil
}

func defaultURL(addr *net.TCPAddr, listen string) string {
	host, _, _ := net.SplitHostPort(listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	return fmt.Sprintf("https://%s", net.JoinHostPort(host, fmt.Sprint(addr.Port)))
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
