package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/client/internal/secrets"
	"github.com/wicket-vpn/wicket/client/internal/tunnel"
	"github.com/wicket-vpn/wicket/shared/version"
)

// app holds what the commands share; tests replace the secrets store,
// tunnels and terminal.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	secrets secrets.Store
	tunnels tunnel.Factory
	// coreOptions adjusts the core's options (tests shorten intervals).
	coreOptions func(*core.Options)

	configDir string
	verbose   bool

	in *bufio.Reader
}

func newApp() *app {
	return &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, secrets: secrets.Keyring{}}
}

func defaultConfigDir() string {
	if d := os.Getenv("WICKET_CONFIG_DIR"); d != "" {
		return d
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return ".wicket"
	}
	return filepath.Join(d, "wicket")
}

func (a *app) command() *cobra.Command {
	root := &cobra.Command{
		Use:   "wicket",
		Short: "Wicket VPN client",
		Long: "Wicket connects this device to the locations of a Wicket VPN server, asking for a second factor\n" +
			"where a location requires it. Without a command it opens the window.",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.core()
			if err != nil {
				return err
			}
			return runWindow(cmd.Context(), c)
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetVersionTemplate("wicket {{.Version}}\n")
	root.PersistentFlags().StringVar(&a.configDir, "config-dir", defaultConfigDir(), "folder of the client's settings (WICKET_CONFIG_DIR)")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log what happens to standard error")
	root.AddCommand(a.enrollCmd(), a.statusCmd(), a.updateCmd(), a.connectCmd(), a.disconnectCmd(), a.removeCmd(), a.settingsCmd())
	return root
}

func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

func (a *app) core() (*core.Core, error) {
	opts := core.Options{ConfigDir: a.configDir, Secrets: a.secrets, Log: a.logger(), Tunnels: a.tunnels, OpenURL: openBrowser}
	if a.coreOptions != nil {
		a.coreOptions(&opts)
	}
	return core.New(opts)
}

func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.stdout, format, args...) }

// readLine reads one line from standard input. It gives up when ctx ends
// (Ctrl-C at a prompt), since a blocked read would not.
func (a *app) readLine(ctx context.Context) (string, error) {
	if a.in == nil {
		a.in = bufio.NewReader(a.stdin)
	}
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		s, err := a.in.ReadString('\n')
		ch <- line{s, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case l := <-ch:
		if l.err != nil && (l.s == "" || !errors.Is(l.err, io.EOF)) {
			if errors.Is(l.err, io.EOF) {
				return "", errors.New("no answer on standard input (give it with a flag instead)")
			}
			return "", l.err
		}
		return strings.TrimSpace(l.s), nil
	}
}

func (a *app) enrollCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "enroll CODE",
		Short: "Add this device to a Wicket server with the enrollment code from your profile page",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.core()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			v, err := c.Enroll(ctx, args[0], name)
			if err != nil {
				return err
			}
			a.printf("Enrolled %s with %s (%s) as %s.\n", v.DeviceName, v.Name, v.URL, v.Username)
			if len(v.Locations) == 0 {
				a.printf("No locations are open to you yet.\n")
			}
			for _, l := range v.Locations {
				a.printf("  %s%s\n", l.Name, mfaNote(l))
			}
			if len(v.Locations) > 0 {
				a.printf("Connect with: wicket connect %q\n", v.Locations[0].Name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "what to call this device (default: the host name)")
	return cmd
}

func mfaNote(l core.LocationView) string {
	if l.MFA {
		return " (MFA on every connection)"
	}
	return ""
}

// statusJSON is `wicket status --json`: instances, their locations and
// the connections `wicket connect` holds on this machine.
type statusJSON struct {
	Instances []instanceJSON `json:"instances"`
}

type instanceJSON struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	URL            string         `json:"url"`
	Server         string         `json:"server"`
	Servers        []string       `json:"servers"`
	Username       string         `json:"username"`
	DeviceName     string         `json:"device_name"`
	ConfigVersion  uint64         `json:"config_version"`
	EnabledMethods []core.Method  `json:"enabled_mfa_methods"`
	UpdateError    string         `json:"update_error,omitempty"`
	Locations      []locationJSON `json:"locations"`
}

type locationJSON struct {
	ID                   string     `json:"id"`
	Name                 string     `json:"name"`
	MFA                  bool       `json:"mfa"`
	IdleThresholdSeconds int        `json:"idle_threshold_seconds"`
	State                string     `json:"state"`
	TunnelAddress        string     `json:"tunnel_address,omitempty"`
	Offers               string     `json:"offers,omitempty"`
	ConnectedSince       *time.Time `json:"connected_since,omitempty"`
	PID                  int        `json:"pid,omitempty"`
}

func (a *app) statusCmd() *cobra.Command {
	var asJSON, offline bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the instances, their locations and what is connected",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.core()
			if err != nil {
				return err
			}
			if !offline {
				// Fresh configuration where the server answers; the saved
				// one otherwise, with the reason.
				ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
				for _, in := range c.Instances() {
					c.Update(ctx, in.ID)
				}
				cancel()
			}
			active := a.activeConnections()
			var out statusJSON
			for _, in := range c.Instances() {
				ij := instanceJSON{ID: in.ID, Name: in.Name, URL: in.URL, Server: in.Server, Servers: in.Servers, Username: in.Username, DeviceName: in.DeviceName,
					ConfigVersion: in.ConfigVersion, EnabledMethods: in.EnabledMethods, UpdateError: in.UpdateError, Locations: []locationJSON{}}
				if ij.EnabledMethods == nil {
					ij.EnabledMethods = []core.Method{}
				}
				for _, l := range in.Locations {
					lj := locationJSON{ID: l.ID, Name: l.Name, MFA: l.MFA, IdleThresholdSeconds: int(l.IdleThreshold / time.Second), State: "disconnected"}
					if ac, ok := active[activeKey(in.ID, l.ID)]; ok {
						since := ac.Since
						lj.State, lj.TunnelAddress, lj.Offers, lj.ConnectedSince, lj.PID = "connected", ac.Address, ac.Offers, &since, ac.PID
					}
					ij.Locations = append(ij.Locations, lj)
				}
				out.Instances = append(out.Instances, ij)
			}
			if out.Instances == nil {
				out.Instances = []instanceJSON{}
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			if len(out.Instances) == 0 {
				a.printf("No instance yet. Enroll this device with: wicket enroll CODE\n")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			for _, in := range out.Instances {
				fmt.Fprintf(tw, "%s (%s) — %s on %s\n", in.Name, in.URL, in.Username, in.DeviceName)
				if len(in.Servers) > 1 {
					fmt.Fprintf(tw, "  using %s; fails over to %s\n", in.Server, strings.Join(slices.DeleteFunc(slices.Clone(in.Servers), func(u string) bool { return u == in.Server }), ", "))
				}
				if in.UpdateError != "" {
					fmt.Fprintf(tw, "  not up to date: %s\n", in.UpdateError)
				}
				for _, l := range in.Locations {
					mfa := ""
					if l.MFA {
						mfa = "MFA"
					}
					state := l.State
					if l.State == "connected" {
						state = fmt.Sprintf("connected as %s since %s; %s", l.TunnelAddress, l.ConnectedSince.Local().Format("15:04"), l.Offers)
					}
					fmt.Fprintf(tw, "  %s\t%s\t%s\n", l.Name, mfa, state)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&offline, "offline", false, "do not ask the servers; show the saved configuration")
	return cmd
}

func (a *app) updateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "update",
		Short: "Fetch every instance's configuration now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.core()
			if err != nil {
				return err
			}
			insts := c.Instances()
			if len(insts) == 0 {
				return errors.New("no instance is enrolled yet; run `wicket enroll CODE` first")
			}
			var failed []error
			for _, in := range insts {
				ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
				err := c.Update(ctx, in.ID)
				cancel()
				if err != nil {
					failed = append(failed, fmt.Errorf("%s: %w", in.Name, err))
					continue
				}
				v, _ := c.Instance(in.ID)
				if v.ConfigVersion == in.ConfigVersion || len(v.Changes) == 0 {
					a.printf("%s is up to date.\n", v.Name)
					continue
				}
				a.printf("%s changed:\n", v.Name)
				for _, ch := range v.Changes {
					a.printf("  %s\n", ch)
				}
			}
			return errors.Join(failed...)
		},
	}
}

func (a *app) removeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove INSTANCE",
		Short: "Forget an instance (by name or URL) and delete its keys from the keyring",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.core()
			if err != nil {
				return err
			}
			for _, in := range c.Instances() {
				if in.ID == args[0] || strings.EqualFold(in.Name, args[0]) || in.URL == args[0] {
					if err := c.RemoveInstance(cmd.Context(), in.ID); err != nil {
						return err
					}
					a.printf("Removed %s. Delete the device %q in your profile page too.\n", in.Name, in.DeviceName)
					return nil
				}
			}
			return fmt.Errorf("no instance %q", args[0])
		},
	}
}
