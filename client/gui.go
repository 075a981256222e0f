package main

import (
	"context"
	"errors"

	"github.com/wicket-vpn/wicket/client/internal/core"
)

// runWindow opens the desktop window over c and returns when it closes.
// gui_fyne.go sets it to the Fyne UI; a build without it (a headless or
// cross-compiled command-line build) says so.
var runWindow = func(ctx context.Context, c *core.Core) error {
	return errors.New("this build of wicket has no window; use its commands (wicket --help)")
}
