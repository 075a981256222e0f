package ui

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/wicket-vpn/wicket/client/internal/core"
)

// tray is the system tray menu: the window, and every location with a
// tick when connected. It is a no-op where the app has no tray (tests,
// mobile).
type tray struct {
	v    *View
	desk desktop.App
	// key describes the menu last set; the OS menu is rebuilt only when
	// it changes, not on every statistics tick.
	key string
}

// noTray is set when the desktop has no place for a tray icon (Linux
// without a D-Bus session bus), where Fyne's tray would fail on quit.
var noTray bool

func newTray(v *View) *tray {
	d, _ := v.app.(desktop.App)
	if noTray {
		d = nil
	}
	return &tray{v: v, desk: d}
}

// update sets the tray menu if anything in it changed.
func (t *tray) update() {
	if t.desk == nil {
		return
	}
	items := t.items()
	var key strings.Builder
	for _, it := range items {
		key.WriteString(it.Label)
		if it.Checked {
			key.WriteString("✓")
		}
		if it.Disabled {
			key.WriteString("-")
		}
		key.WriteString("\n")
	}
	if key.String() == t.key {
		return
	}
	first := t.key == ""
	t.key = key.String()
	t.desk.SetSystemTrayMenu(fyne.NewMenu("Wicket", items...))
	if first {
		t.desk.SetSystemTrayIcon(trayIcon)
		// A click on the icon shows the window where trays support it;
		// the menu's Show Wicket is there for those that do not.
		t.desk.SetSystemTrayWindow(t.v.win)
	}
}

// items lists the menu: Show Wicket, one item per location, and Quit.
func (t *tray) items() []*fyne.MenuItem {
	v := t.v
	show := fyne.NewMenuItem("Show Wicket", func() {
		v.win.Show()
		v.win.RequestFocus()
	})
	items := []*fyne.MenuItem{show}
	several := len(v.instances) > 1
	for _, inst := range v.instances {
		if len(inst.Locations) > 0 {
			items = append(items, fyne.NewMenuItemSeparator())
		}
		for _, l := range inst.Locations {
			items = append(items, t.locationItem(inst, l, several))
		}
	}
	// Fyne would add a Quit of its own that ends the app with the view
	// still following core.
	quit := fyne.NewMenuItem("Quit", v.quit)
	quit.IsQuit = true
	return append(items, fyne.NewMenuItemSeparator(), quit)
}

// locationItem connects or disconnects one location. Connecting from the
// tray opens the window, since an MFA location asks for a code there.
func (t *tray) locationItem(inst core.InstanceView, l core.LocationView, several bool) *fyne.MenuItem {
	v := t.v
	label := l.Name
	if several {
		label += " (" + inst.Name + ")"
	}
	instanceID, locationID := l.InstanceID, l.ID
	var item *fyne.MenuItem
	switch l.State {
	case core.Connected:
		// Menu actions run on the UI goroutine, like button taps.
		item = fyne.NewMenuItem("Disconnect "+label, func() { v.disconnect(instanceID, locationID) })
		item.Checked = true
	case core.AwaitingMethod, core.AwaitingCode:
		item = fyne.NewMenuItem(label+": signing in…", func() {
			v.win.Show()
			v.win.RequestFocus()
		})
	case core.Connecting:
		item = fyne.NewMenuItem(label+": connecting…", nil)
		item.Disabled = true
	default:
		item = fyne.NewMenuItem("Connect "+label, func() {
			v.win.Show()
			v.win.RequestFocus()
			v.connect(instanceID, locationID)
		})
	}
	return item
}

// connect starts connecting a location; the MFA modal opens by itself when
// core asks for a method.
func (v *View) connect(instanceID, locationID string) {
	v.goCore(func(ctx context.Context) error {
		return v.core.Connect(ctx, instanceID, locationID)
	}, nil) // failures land in the location's state (Failed + Error)
}

// disconnect takes a location's tunnel down.
func (v *View) disconnect(instanceID, locationID string) {
	v.goCore(func(ctx context.Context) error {
		return v.core.Disconnect(ctx, instanceID, locationID)
	}, nil)
}
