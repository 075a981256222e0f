// Command wicket is the Wicket desktop client. Without arguments it opens
// the window; with a command it is a command-line client over the same
// core (see `wicket --help`).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wicket-vpn/wicket/client/internal/tunnel"
	// Before Fyne's packages: see the package's documentation.
	_ "github.com/wicket-vpn/wicket/client/internal/uilocale"
)

func main() {
	// On Windows the tunnel service runs this same binary; it never
	// returns from here when it is one.
	if handled, err := tunnel.RunServiceIfAsked(os.Args[1:]); handled {
		if err != nil {
			fmt.Fprintln(os.Stderr, "wicket tunnel service:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newApp().command().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "wicket:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a code of its own, having said why.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
