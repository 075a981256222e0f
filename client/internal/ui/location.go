package ui

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/shared/humantime"
)

// locationCard shows one location: its name, whether it asks for MFA, its
// state with the one action that fits, why it last ended or failed, and,
// while connected, what the tunnel is doing.
type locationCard struct {
	v        *View
	instance string
	id       string
	state    core.State
	last     core.LocationView // the view last rendered

	name     *widget.Label
	mfa      *pill
	networks *widget.Label
	dot      *canvas.Circle
	status   *widget.Label
	action   *widget.Button
	note     *widget.Label

	details    fyne.CanvasObject
	address    *widget.Label
	handshake  *widget.Label
	traffic    *widget.Label
	offers     *widget.Label
	hint       *widget.Label
	command    *widget.Label
	copyProxy  *widget.Button
	idle       *widget.Label
	idleKey    *widget.RichText
	expires    *widget.Label
	expiresK   *widget.RichText
	expiresRow fyne.CanvasObject

	root  fyne.CanvasObject
	frame *canvas.Rectangle // the card's background, outlined in green while connected
}

func newLocationCard(v *View, l core.LocationView) *locationCard {
	c := &locationCard{v: v, instance: l.InstanceID, id: l.ID, state: -1}
	c.name = widget.NewLabelWithStyle(l.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	c.name.SizeName = theme.SizeNameSubHeadingText
	c.mfa = newPill(lockIcon, "MFA on every connection", theme.ColorNamePrimary)
	c.networks = caption("")
	c.networks.Truncation = fyne.TextTruncateEllipsis
	c.dot = newDot()
	c.status = widget.NewLabel("")
	c.action = widget.NewButton("Connect", c.act)
	c.note = widget.NewLabel("")
	c.note.Wrapping = fyne.TextWrapWord
	c.note.Hide()

	c.address = widget.NewLabel("")
	c.address.Selectable = true
	c.handshake = widget.NewLabel("")
	c.traffic = widget.NewLabel("")
	c.offers = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	c.offers.Selectable = true
	c.hint = caption("")
	c.hint.Wrapping = fyne.TextWrapWord
	c.hint.Selectable = true
	// The regular font, not monospace: a third font style would cost the
	// app several MB of parsed font tables for one line.
	c.command = widget.NewLabel("")
	c.command.Selectable = true
	c.command.Truncation = fyne.TextTruncateEllipsis
	c.copyProxy = widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), c.copyProxyAddr)
	c.copyProxy.Importance = widget.LowImportance
	c.idle = widget.NewLabel("")
	c.idle.Wrapping = fyne.TextWrapWord
	c.idleKey = muted("Idle disconnect", theme.SizeNameCaptionText, false)
	c.expires = widget.NewLabel("")
	c.expires.Wrapping = fyne.TextWrapWord
	c.expiresK = muted("Session ends", theme.SizeNameCaptionText, false)

	// The numbers a connected user glances at sit in a grid of tiles;
	// how to use the tunnel gets a full-width block below them.
	tiles := container.NewGridWithColumns(2,
		tile("Tunnel address", c.address),
		tile("Latest handshake", c.handshake),
		tile("Traffic", c.traffic),
		container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2), c.idleKey, c.idle),
	)
	offersRow := container.NewBorder(nil, nil, nil, container.NewCenter(c.copyProxy), c.offers)
	howTo := container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2), offersRow, c.hint, c.command)
	c.expiresRow = container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2), c.expiresK, c.expires)
	c.details = container.NewVBox(widget.NewSeparator(), tiles, howTo, c.expiresRow)
	c.details.Hide()

	titleRow := container.NewHBox(c.name, container.NewCenter(c.mfa.root))
	right := container.NewCenter(container.NewHBox(dotBox(c.dot), c.status, c.action))
	head := container.NewBorder(nil, nil, nil, right,
		container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()), titleRow, c.networks))
	c.root, c.frame = card(container.NewVBox(head, c.note, c.details))
	return c
}

// tile is a value under its name, in the connected view's grid.
func tile(name string, value fyne.CanvasObject) fyne.CanvasObject {
	return container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2),
		muted(name, theme.SizeNameCaptionText, false), value)
}

// update renders the location's view.
func (c *locationCard) update(l core.LocationView) {
	c.last = l
	setText(c.name, l.Name)
	showIf(c.mfa.root, l.MFA)
	nets := "No networks"
	if len(l.AllowedIPs) > 0 {
		nets = "Networks " + strings.Join(l.AllowedIPs, ", ")
	}
	setText(c.networks, nets)

	setText(c.status, stateText(l))
	setDot(c.dot, stateColor(l.State))
	if c.state != l.State {
		c.state = l.State
		c.updateAction(l)
	}

	// A failure is red; the server's reason for ending a session is news,
	// not an error, so it is shown in the warning colour.
	switch {
	case l.State == core.Failed && l.Error != "":
		c.setNote(l.Error, widget.DangerImportance)
	case l.State == core.Disconnected && l.Message != "":
		c.setNote(l.Message, widget.WarningImportance)
	case l.State == core.Connected && l.Message != "":
		c.setNote(l.Message, widget.MediumImportance)
	default:
		c.setNote("", widget.MediumImportance)
	}

	connected := l.State == core.Connected
	outline := cardOutline()
	if connected {
		outline = withAlpha(themeColor(theme.ColorNameSuccess), 0xb0)
	}
	if c.frame.StrokeColor != outline {
		c.frame.StrokeColor = outline
		c.frame.Refresh()
	}
	showIf(c.details, connected)
	if !connected {
		return
	}
	now := c.v.now()
	setText(c.address, l.TunnelAddress)
	setText(c.handshake, handshakeText(l))
	setText(c.traffic, trafficText(l))
	offers := l.Offers
	if offers == "" {
		offers = "Routes the location's networks through this device"
	}
	setText(c.offers, offers)
	hint, command := usageHint(l)
	setText(c.hint, hint)
	showIf(c.hint, hint != "")
	setText(c.command, command)
	showIf(c.command, command != "")
	showIf(c.copyProxy, proxyAddr(l.Offers) != "")
	idleHead, idle := idleText(l, now)
	setMuted(c.idleKey, idleHead)
	setText(c.idle, idle)
	exp := ""
	if !l.SessionExpires.IsZero() {
		exp = "At " + formatClock(l.SessionExpires, now) + ", in " + humantime.Duration(l.SessionExpires.Sub(now)) + " (the server's limit; connecting again needs MFA)"
	}
	setText(c.expires, exp)
	showIf(c.expiresRow, exp != "")
}

// setNote shows a line under the location's name, or hides it.
func (c *locationCard) setNote(text string, imp widget.Importance) {
	if c.note.Importance != imp {
		c.note.Importance = imp
		c.note.Refresh()
	}
	setMessage(c.note, text)
}

// updateAction makes the button say what pressing it does in this state.
func (c *locationCard) updateAction(l core.LocationView) {
	b := c.action
	switch l.State {
	case core.Connected:
		b.SetText("Disconnect")
		b.SetIcon(theme.CancelIcon())
		b.Importance = widget.MediumImportance
		b.Enable()
	case core.AwaitingMethod, core.AwaitingCode:
		b.SetText("Signing in…")
		b.SetIcon(nil)
		b.Importance = widget.MediumImportance
		b.Disable()
	case core.Connecting:
		b.SetText("Connecting…")
		b.SetIcon(nil)
		b.Importance = widget.MediumImportance
		b.Disable()
	default:
		b.SetText("Connect")
		b.SetIcon(theme.LoginIcon())
		b.Importance = widget.HighImportance
		b.Enable()
	}
	b.Refresh()
}

// act is the button's action.
func (c *locationCard) act() {
	// The button stays disabled until core says where the connection
	// stands, so a double click cannot start two connections.
	c.action.Disable()
	call := c.v.core.Connect
	if c.state == core.Connected {
		call = c.v.core.Disconnect
	}
	c.v.goCore(func(ctx context.Context) error {
		return call(ctx, c.instance, c.id)
	}, func(err error) {
		// Core's events render the outcome; this only makes sure the
		// button comes back if the state never moved (so no event came).
		l := c.last
		c.state = -1
		c.update(l)
		if err != nil && l.Error == "" && l.State != core.Connected && !l.Active() {
			c.setNote(err.Error(), widget.DangerImportance)
		}
	})
}

// copyProxyAddr puts the SOCKS5 proxy's address on the clipboard, ready
// for a browser's proxy settings.
func (c *locationCard) copyProxyAddr() {
	l, ok := c.v.location(c.instance, c.id)
	if !ok {
		return
	}
	if addr := proxyAddr(l.Offers); addr != "" {
		c.v.app.Clipboard().SetContent(addr)
	}
}

// stateColor is the status light's colour for a state.
func stateColor(s core.State) fyne.ThemeColorName {
	switch s {
	case core.Connected:
		return theme.ColorNameSuccess
	case core.AwaitingMethod, core.AwaitingCode, core.Connecting:
		return theme.ColorNameWarning
	case core.Failed:
		return theme.ColorNameError
	}
	// Placeholder, not disabled: the disabled colour all but vanishes on
	// the light variant.
	return theme.ColorNamePlaceHolder
}
