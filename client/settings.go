package main

import (
	"github.com/spf13/cobra"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/client/internal/tunnel"
)

// settingsCmd shows and changes what the window's Settings dialog does, so
// scripts (and the demo) can choose the userspace tunnel before the window
// opens.
func (a *app) settingsCmd() *cobra.Command {
	var mode, socks string
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "Show or change the client's settings: the tunnel mode and the SOCKS5 proxy address",
		Long: "Show the client's settings, or change them with flags. They are saved in the config folder and\n" +
			"apply to the window and to `wicket connect` alike:\n\n" +
			"  wicket settings --tunnel-mode userspace --socks 127.0.0.1:1080",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.core()
			if err != nil {
				return err
			}
			set := c.Settings()
			f := cmd.Flags()
			if f.Changed("tunnel-mode") {
				set.TunnelMode = mode
			}
			if f.Changed("socks") {
				set.SOCKSAddr = socks
			}
			if f.Changed("tunnel-mode") || f.Changed("socks") {
				if err := c.SetSettings(set); err != nil {
					return err
				}
			}
			set = c.Settings()
			addr := set.SOCKSAddr
			if addr == "" {
				addr = tunnel.DefaultSOCKSAddr
			}
			if set.TunnelMode == core.TunnelModeUserspace {
				a.printf("Tunnel mode: userspace (a SOCKS5 proxy on %s; needs no privileges)\n", addr)
			} else {
				a.printf("Tunnel mode: system (a network interface; needs CAP_NET_ADMIN or administrator rights)\n")
				a.printf("SOCKS5 address for userspace mode: %s\n", addr)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&mode, "tunnel-mode", "", "system (a network interface) or userspace (a SOCKS5 proxy, needs no privileges)")
	cmd.Flags().StringVar(&socks, "socks", "", "loopback address of the userspace SOCKS5 proxy, e.g. 127.0.0.1:1080 (empty for the default)")
	return cmd
}
