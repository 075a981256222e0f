package main

import (
	"context"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wicket-vpn/wicket/server/internal/demo"
)

func demoCmd() *cobra.Command {
	var c demo.Config
	var noGUI bool
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a self-contained demo: this server with a demo user and location, and the desktop app enrolled",
		Long: "Run a self-contained demo on this machine (what `go tool task demo` starts).\n\n" +
			"It makes (or, on a second run, reuses) everything in --data-dir: an admin, a user \"demo\" with an\n" +
			"authenticator app (TOTP) and email codes, and the location \"Demo office\" with Internal MFA, whose\n" +
			"one host is a small web page inside the location. Mail is kept in a development outbox (an admin\n" +
			"page and the log) instead of being sent. It prints the addresses, passwords and the TOTP secret\n" +
			"as a QR code, enrolls the desktop client (--client, default: wicket beside this binary) in\n" +
			"userspace tunnel mode, and opens its window; with --no-gui it connects with `wicket connect`\n" +
			"instead and fetches the page through the tunnel.\n\n" +
			"The demo's passwords are kept in plain text in the data directory: never use it for real users.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// No WICKET_… variables here: they may describe a real server,
			// whose data the demo must never touch.
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			c.Log, c.Out, c.GUI = log, cmd.OutOrStdout(), !noGUI
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return demo.Run(ctx, c)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.DataDir, "data-dir", ".demo", "directory of the demo's server data, client settings and keyring")
	f.StringVar(&c.Listen, "listen", "127.0.0.1:8443", "HOST:PORT of the web pages and API")
	f.IntVar(&c.WireGuardPort, "wireguard-port", 51820, "UDP port of the demo location's gateway (used when the location is made)")
	f.StringVar(&c.SOCKSAddr, "socks", "127.0.0.1:1080", "where the client's userspace tunnel offers its SOCKS5 proxy")
	f.StringVar(&c.Client, "client", "", "path of the wicket binary (default: wicket beside wicketd, then PATH)")
	f.BoolVar(&noGUI, "no-gui", false, "run the command-line client instead of the window")
	f.BoolVar(&c.Check, "check", false, "with --no-gui: stop once the page was fetched through the tunnel, failing if anything did not work")
	f.StringVar(&c.Keyring, "keyring", demo.KeyringAuto, "where the client keeps its keys: auto, session (the desktop's keyring) or private (a gnome-keyring of the demo's own)")
	f.DurationVar(&c.StatsInterval, "stats-interval", 5*time.Second, "how often the gateway reports handshakes and traffic")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}
