//go:build cgo

package ui

import (
	"context"
	"errors"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"github.com/wicket-vpn/wicket/client/internal/core"
)

// shutdownTimeout bounds how long quitting waits for core to take tunnels
// down and tell the servers; an unreachable server must not keep the app
// from exiting.
const shutdownTimeout = 5 * time.Second

// Run opens the window over c and runs c until the window closes, Quit is
// chosen in the tray menu, or ctx ends (Ctrl-C or SIGTERM). Then every
// tunnel goes down.
func Run(ctx context.Context, c *core.Core) error {
	// Linux trays speak D-Bus; without a session bus there is no tray.
	noTray = runtime.GOOS == "linux" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") == ""
	a := app.NewWithID(AppID)
	a.SetIcon(Icon)
	v := NewWindow(a, c)
	// Passkey pages open in the system browser.
	c.SetOpenURL(func(s string) error {
		u, err := url.Parse(s)
		if err != nil {
			return err
		}
		return a.OpenURL(u)
	})
	a.Lifecycle().SetOnStarted(func() {
		// Starting parses fonts and rasterises icons: tens of MB that are
		// garbage once the first frame is drawn. An app that mostly sits
		// idle beside the tunnel should give them back to the system now
		// rather than whenever the scavenger gets to them.
		time.AfterFunc(2*time.Second, debug.FreeOSMemory)
	})

	// A signal quits like the tray's Quit.
	stopQuit := context.AfterFunc(ctx, func() { fyne.Do(v.quit) })
	defer stopQuit()
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	v.Window().ShowAndRun()

	// Fyne's loop has ended, however the app was quit (Fyne handles
	// SIGINT itself too): the view stops before core takes the tunnels
	// down, so the events of that shutdown reach no widget.
	v.closeAndWait()
	cancel()
	select {
	case err := <-done:
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return err
	case <-time.After(shutdownTimeout):
		return errors.New("gave up waiting for the tunnels to close")
	}
}
