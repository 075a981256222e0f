package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/follow"
	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/server/internal/tlscert"
)

func gatewayCmd() *cobra.Command {
	var servers []string
	var token, fingerprint, mode, logLevel, logFormat, tunName string
	var stats time.Duration
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run a location's WireGuard gateway on this host, fed by a wicketd server",
		Long: "Run a location's WireGuard gateway on this host. It follows the server's peer set over\n" +
			"GatewayService (reconnecting with backoff, keeping its peers while the server is away, and\n" +
			"failing over to the next --server when there are several) and reports peer statistics.\n" +
			"Make the token with the admin API's CreateGatewayToken or the web pages.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return err
			}
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			m, err := gateway.ParseMode(mode)
			if err != nil {
				return err
			}
			if m == gateway.Off {
				return errors.New("--mode off runs nothing; use netstack or tun")
			}
			if len(servers) == 0 || token == "" {
				return errors.New("give --server (https://…, one per replica) and --token (from CreateGatewayToken)")
			}
			for _, u := range servers {
				if err := daemon.CheckServerURL(u); err != nil {
					return fmt.Errorf("--server: %w", err)
				}
			}
			tr := &http.Transport{
				TLSClientConfig:   tlscert.PinnedConfig(fingerprint),
				ForceAttemptHTTP2: true,
				// Pings notice a server that vanished without closing the connection.
				HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			r := follow.NewRemote(follow.RemoteOptions{
				Options:    gateway.Options{Mode: m, Log: log, TUNName: tunName},
				HTTP:       &http.Client{Transport: tr},
				ServerURLs: servers, Token: token, StatsInterval: stats,
			})
			log.Info("gateway starting", "servers", servers, "mode", m)
			return r.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&servers, "server", nil, "the wicketd URL, e.g. https://vpn.example.com:8443; with several replicas give each one's\n"+
		"(repeat the flag or separate with commas): the gateway follows the first that answers and, when it is lost, the next")
	f.StringVar(&token, "token", "", "the location's gateway token")
	f.StringVar(&fingerprint, "fingerprint", "", "SHA-256 fingerprint of the server's self-signed certificate (wicketd logs it at start); empty trusts the system's CAs")
	f.StringVar(&mode, "mode", "netstack", "netstack (no privileges) or tun (needs CAP_NET_ADMIN)")
	f.StringVar(&tunName, "tun-name", "", "kernel interface name in tun mode (default wicket0, wicket1, …)")
	f.DurationVar(&stats, "stats-interval", 30*time.Second, "how often peer statistics are reported")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}
