package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/shared/humantime"
)

// Exit codes of `wicket connect` besides 0 and 1.
const (
	// exitSessionEnded: the server ended the session (idle, admin, MFA
	// turned off…).
	exitSessionEnded = 3
	// exitInterrupted: Ctrl-C before the connection was up (128 + SIGINT,
	// as shells report it).
	exitInterrupted = 130
)

func (a *app) connectCmd() *cobra.Command {
	var method, code, socks string
	var userspace bool
	cmd := &cobra.Command{
		Use:   "connect LOCATION",
		Short: "Connect to a location and stay in the foreground until Ctrl-C",
		Long: "Connect to a location (by name or ID), asking for the sign-in method and code when the location\n" +
			"requires MFA and they are not given as flags. The command stays in the foreground while connected;\n" +
			"Ctrl-C disconnects. When the server ends the session (for instance after the location's idle\n" +
			"threshold) it prints the server's message and exits with status 3.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.core()
			if err != nil {
				return err
			}
			set := c.Settings()
			if userspace {
				set.TunnelMode = core.TunnelModeUserspace
			}
			if socks != "" {
				set.SOCKSAddr = socks
				if !cmd.Flags().Changed("userspace") {
					set.TunnelMode = core.TunnelModeUserspace
				}
			}
			if err := c.UseSettings(set); err != nil {
				return err
			}
			var m core.Method
			if method != "" {
				if m, err = core.ParseMethod(method); err != nil {
					return err
				}
			}
			return a.connect(cmd.Context(), c, args[0], m, code)
		},
	}
	cmd.Flags().StringVar(&method, "method", "", "second factor: totp (authenticator app), email or passkey (confirmed in the browser)")
	cmd.Flags().StringVar(&code, "code", "", "the 6-digit code (asked on the terminal when not given)")
	cmd.Flags().BoolVar(&userspace, "userspace", false, "userspace tunnel with a SOCKS5 proxy (needs no privileges)")
	cmd.Flags().StringVar(&socks, "socks", "", "address of the userspace tunnel's SOCKS5 proxy (default 127.0.0.1:1080; implies --userspace)")
	return cmd
}

func (a *app) connect(ctx context.Context, c *core.Core, name string, method core.Method, code string) error {
	loc, err := c.FindLocation(name)
	if err != nil {
		return err
	}
	inst, locID := loc.InstanceID, loc.ID
	events, unsubscribe := c.Subscribe()
	defer unsubscribe()

	// Run keeps the watch stream open, so a session the server ends
	// arrives here; it takes the tunnel down when ctx ends.
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { c.Run(runCtx); close(runDone) }()
	defer func() { stopRun(); <-runDone }()

	if err := c.Connect(ctx, inst, locID); err != nil {
		return err
	}
	if v, _ := c.Location(inst, locID); v.State == core.AwaitingMethod {
		if err := a.signIn(ctx, c, v, method, code); err != nil {
			c.Cancel(inst, locID)
			if ctx.Err() != nil {
				return &exitError{code: exitInterrupted, msg: "Cancelled."}
			}
			return err
		}
	}
	v, _ := c.Location(inst, locID)
	if v.State != core.Connected {
		return fmt.Errorf("not connected: %s", v.Error)
	}
	ac := activeConnection{PID: os.Getpid(), InstanceID: inst, LocationID: locID, Location: v.Name, SessionID: v.SessionID,
		Address: v.TunnelAddress, Offers: v.Offers, Since: v.ConnectedSince}
	if err := a.writeActive(ac); err != nil {
		fmt.Fprintf(a.stderr, "wicket: cannot record the connection for `wicket status`: %v\n", err)
	}
	defer a.removeActive(inst, locID)
	a.printConnected(v)

	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := c.Disconnect(dctx, inst, locID)
			cancel()
			a.printf("Disconnected from %s.\n", v.Name)
			return err
		case ev := <-events:
			if ev.Kind != core.EventSessionEnded || ev.InstanceID != inst || ev.LocationID != locID {
				continue
			}
			if ev.Reason == "client" {
				// `wicket disconnect` from another terminal.
				a.printf("Disconnected from %s.\n", v.Name)
				return nil
			}
			msg := ev.Message
			if ev.Location.MFA {
				msg += "\nRun the command again to reconnect; you will be asked for a code."
			}
			return &exitError{code: exitSessionEnded, msg: fmt.Sprintf("%s: %s", v.Name, msg)}
		}
	}
}

func (a *app) printConnected(v core.LocationView) {
	a.printf("Connected to %s. Your tunnel address is %s.\n", v.Name, v.TunnelAddress)
	if addr, ok := strings.CutPrefix(v.Offers, "SOCKS5 proxy on "); ok {
		a.printf("A SOCKS5 proxy on %s reaches %s. For example:\n", addr, strings.Join(v.AllowedIPs, ", "))
		a.printf("  curl --socks5-hostname %s http://HOST/\n", addr)
		a.printf("  ssh -o ProxyCommand='nc -X 5 -x %s %%h %%p' HOST\n", addr)
	} else if v.Offers != "" {
		a.printf("The tunnel %s.\n", v.Offers)
	}
	if v.MFA && v.IdleThreshold > 0 {
		a.printf("The server disconnects after %s without traffic.\n", humantime.Duration(v.IdleThreshold))
	}
	a.printf("Press Ctrl-C to disconnect.\n")
}

// signIn walks the MFA prompt on the terminal: the method (asked when not
// given), then the code (asked when not given), with the server's messages
// in between. Flags that fail are not asked again.
func (a *app) signIn(ctx context.Context, c *core.Core, v core.LocationView, method core.Method, code string) error {
	inst, locID := v.InstanceID, v.ID
	iv, _ := c.Instance(inst)
	for {
		m, asked := method, false
		if m == "" {
			var err error
			if m, asked, err = a.askMethod(ctx, iv, v); err != nil {
				return err
			}
		}
		if err := c.ChooseMethod(ctx, inst, locID, m); err != nil {
			// Asking again is only of use when there was a choice.
			if !asked || !isServerRefusal(err) {
				return err
			}
			fmt.Fprintf(a.stderr, "%v\n", err)
			continue
		}
		break
	}
	for {
		v, _ = c.Location(inst, locID)
		switch v.State {
		case core.Connected:
			return nil
		case core.AwaitingMethod:
			// The challenge expired: start over.
			if code != "" {
				return errors.New(v.Error)
			}
			fmt.Fprintf(a.stderr, "%s\n", v.Error)
			return a.signIn(ctx, c, v, method, "")
		case core.AwaitingCode:
			if v.Method == core.MethodPasskey {
				return a.waitPasskey(ctx, c, v, method, code)
			}
		default:
			return errors.New(v.Error)
		}
		cd := code
		if cd == "" {
			prompt := "Code from your authenticator app: "
			if v.Method == core.MethodEmail {
				prompt = fmt.Sprintf("Code sent to %s (r to resend): ", v.SentTo)
			}
			a.printf("%s", prompt)
			var err error
			if cd, err = a.readLine(ctx); err != nil {
				return err
			}
			if strings.EqualFold(cd, "r") && v.Method == core.MethodEmail {
				if err := c.Resend(ctx, inst, locID); err != nil {
					fmt.Fprintf(a.stderr, "%v\n", err)
				}
				continue
			}
		}
		err := c.SubmitCode(ctx, inst, locID, cd)
		if err == nil {
			return nil
		}
		if code != "" || !isServerRefusal(err) {
			return err
		}
		fmt.Fprintf(a.stderr, "%v\n", err)
	}
}

// waitPasskey prints the passkey page (core opened it in a browser where
// there is one) and waits for its confirmation: then the tunnel is up, or
// the challenge was refused or expired and the method is asked again.
func (a *app) waitPasskey(ctx context.Context, c *core.Core, v core.LocationView, method core.Method, code string) error {
	inst, locID := v.InstanceID, v.ID
	events, unsubscribe := c.Subscribe()
	defer unsubscribe()
	a.printf("Confirm connecting to %s with your passkey on this page:\n  %s\nWaiting for your passkey in the browser… (Ctrl-C cancels)\n", v.Name, v.BrowserURL)
	for {
		v, _ = c.Location(inst, locID)
		switch v.State {
		case core.Connected:
			return nil
		case core.AwaitingMethod:
			if method != "" {
				return errors.New(v.Error)
			}
			fmt.Fprintf(a.stderr, "%s\n", v.Error)
			return a.signIn(ctx, c, v, "", code)
		case core.AwaitingCode, core.Connecting:
		default:
			return errors.New(v.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-events:
		}
	}
}

// openBrowser opens a page in the desktop's browser, when there is a
// desktop; the page's address is printed either way.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no desktop session")
		}
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it; whether a browser came up is the person's to see
	return nil
}

func isServerRefusal(err error) bool {
	var ce *core.Error
	return errors.As(err, &ce) || strings.Contains(err.Error(), "digits")
}

// askMethod asks which of the methods the location accepts, and the
// account has, to use; with one it is used without asking, with none the
// answer says what to set up.
func (a *app) askMethod(ctx context.Context, iv core.InstanceView, v core.LocationView) (m core.Method, asked bool, err error) {
	choices, problem := core.OfferedMethods(iv, v)
	if len(choices) == 0 {
		return "", false, errors.New(problem)
	}
	if len(choices) == 1 {
		a.printf("%s asks for a second factor: using %s.\n", v.Name, strings.ToLower(choices[0].Label()))
		return choices[0], false, nil
	}
	def := 1
	for i, m := range choices {
		if m == v.Method {
			def = i + 1
		}
	}
	a.printf("%s asks for a second factor.\n", v.Name)
	for i, m := range choices {
		a.printf("  %d) %s\n", i+1, m.Label())
	}
	a.printf("Method [%d]: ", def)
	s, err := a.readLine(ctx)
	if err != nil {
		return "", true, err
	}
	if s == "" {
		return choices[def-1], true, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(choices) {
		return choices[n-1], true, nil
	}
	m, err = core.ParseMethod(s)
	return m, true, err
}

func (a *app) disconnectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "disconnect LOCATION",
		Short: "End the connection a `wicket connect` on this machine holds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.core()
			if err != nil {
				return err
			}
			loc, err := c.FindLocation(args[0])
			if err != nil {
				return err
			}
			ac, ok := a.activeConnections()[activeKey(loc.InstanceID, loc.ID)]
			if !ok {
				a.printf("%s is not connected.\n", loc.Name)
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
			defer cancel()
			// Ending the session on the server takes the peer off the
			// gateway at once; the connect process hears of it through its
			// watch stream and takes its tunnel down.
			if err := c.DisconnectSession(ctx, loc.InstanceID, ac.SessionID); err != nil {
				return err
			}
			a.printf("Disconnected from %s.\n", loc.Name)
			return nil
		},
	}
}
