package ui

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/wicket-vpn/wicket/client/internal/core"
	"github.com/wicket-vpn/wicket/client/internal/tunnel"
	"github.com/wicket-vpn/wicket/shared/version"
)

// addInstanceDialog asks for an enrollment code and a device name, and
// enrolls the device. Errors stay in the dialog so the user can fix the
// code and try again.
type addInstanceDialog struct {
	v        *View
	dlg      *dialog.CustomDialog
	code     *widget.Entry
	name     *widget.Entry
	err      *widget.Label
	progress fyne.CanvasObject
	add      *widget.Button
	cancel   *widget.Button
}

// showAddInstance opens the Add instance dialog.
func (v *View) showAddInstance() {
	d := &addInstanceDialog{v: v}
	intro := widget.NewLabel("Paste the enrollment code from your profile page on the Wicket server.\nIt carries the server's address and a one-time token.")
	intro.Wrapping = fyne.TextWrapWord
	d.code = widget.NewMultiLineEntry()
	d.code.SetPlaceHolder("wicket1.…")
	d.code.Wrapping = fyne.TextWrapBreak
	d.code.SetMinRowsVisible(3)
	d.name = widget.NewEntry()
	if h, err := os.Hostname(); err == nil {
		d.name.SetText(h)
	}
	d.name.SetPlaceHolder("e.g. work laptop")
	d.err = errorLabel()
	bar := widget.NewProgressBarInfinite()
	d.progress = container.NewVBox(caption("Enrolling this device…"), bar)
	d.progress.Hide()

	form := widget.NewForm(
		widget.NewFormItem("Enrollment code", d.code),
		&widget.FormItem{Text: "Device name", Widget: d.name, HintText: "How this device appears in your profile on the server"},
	)
	content := container.NewVBox(widthHint(520), intro, form, d.err, d.progress)
	d.dlg = dialog.NewCustomWithoutButtons("Add instance", content, v.win)
	d.cancel = widget.NewButton("Cancel", d.dlg.Hide)
	d.add = widget.NewButtonWithIcon("Add instance", theme.ContentAddIcon(), d.submit)
	d.add.Importance = widget.HighImportance
	d.add.Disable()
	d.code.OnChanged = func(s string) {
		if strings.TrimSpace(s) == "" {
			d.add.Disable()
		} else {
			d.add.Enable()
		}
	}
	d.dlg.SetButtons([]fyne.CanvasObject{d.cancel, d.add})
	d.dlg.SetOnClosed(func() {
		if v.addDialog == d {
			v.addDialog = nil
		}
	})
	v.addDialog = d
	d.dlg.Show()
	v.win.Canvas().Focus(d.code)
}

// submit enrolls the device with the pasted code.
func (d *addInstanceDialog) submit() {
	code := strings.TrimSpace(d.code.Text)
	name := strings.TrimSpace(d.name.Text)
	if code == "" {
		setMessage(d.err, "Paste the enrollment code first.")
		return
	}
	setMessage(d.err, "")
	d.setBusy(true)
	var added core.InstanceView
	d.v.goCore(func(ctx context.Context) error {
		inst, err := d.v.core.Enroll(ctx, code, name)
		added = inst
		return err
	}, func(err error) {
		d.setBusy(false)
		if err != nil {
			setMessage(d.err, enrollError(err))
			return
		}
		d.dlg.Hide()
		d.v.instances = d.v.core.Instances()
		d.v.selectInstance(added.ID)
		d.v.tray.update()
	})
}

// setBusy shows progress and blocks a second submission while enrolling.
func (d *addInstanceDialog) setBusy(busy bool) {
	showIf(d.progress, busy)
	for _, w := range []fyne.Disableable{d.add, d.code, d.name} {
		if busy {
			w.Disable()
		} else {
			w.Enable()
		}
	}
}

// enrollError words an enrollment failure for the dialog. Core's errors
// are already written for people; a cancelled call only happens when the
// window closes.
func enrollError(err error) string {
	if errors.Is(err, context.Canceled) {
		return "Cancelled."
	}
	return err.Error()
}

// settingsDialog edits the client-wide settings.
type settingsDialog struct {
	v    *View
	dlg  *dialog.CustomDialog
	mode *widget.RadioGroup
	port *widget.Entry
	help *widget.Label
	err  *widget.Label
	host string
}

const (
	modeSystemLabel    = "System tunnel"
	modeUserspaceLabel = "Userspace (SOCKS5 proxy)"
)

// showSettings opens the Settings dialog.
func (v *View) showSettings() {
	s := v.core.Settings()
	d := &settingsDialog{v: v}
	addr := s.SOCKSAddr
	if addr == "" {
		addr = tunnel.DefaultSOCKSAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "127.0.0.1", "1080"
	}
	d.host = host

	d.help = caption("")
	d.help.Wrapping = fyne.TextWrapWord
	d.port = widget.NewEntry()
	d.port.SetText(port)
	d.port.Validator = validatePort
	d.mode = widget.NewRadioGroup([]string{modeSystemLabel, modeUserspaceLabel}, func(string) { d.sync() })
	d.mode.Required = true
	if s.TunnelMode == core.TunnelModeUserspace {
		d.mode.SetSelected(modeUserspaceLabel)
	} else {
		d.mode.SetSelected(modeSystemLabel)
	}
	d.err = errorLabel()

	form := widget.NewForm(
		widget.NewFormItem("Tunnel mode", container.NewVBox(d.mode, d.help)),
		&widget.FormItem{Text: "SOCKS5 port", Widget: d.port, HintText: "The proxy listens on " + host + " only"},
	)
	note := caption("Changes apply to the next connection.")
	content := container.NewVBox(widthHint(460), form, note, d.err)
	d.dlg = dialog.NewCustomWithoutButtons("Settings", content, v.win)
	cancel := widget.NewButton("Cancel", d.dlg.Hide)
	save := widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), d.save)
	save.Importance = widget.HighImportance
	d.dlg.SetButtons([]fyne.CanvasObject{cancel, save})
	d.sync()
	v.settingsDialog = d
	d.dlg.SetOnClosed(func() {
		if v.settingsDialog == d {
			v.settingsDialog = nil
		}
	})
	d.dlg.Show()
}

// sync explains the chosen mode; the port only matters in userspace mode.
func (d *settingsDialog) sync() {
	if d.mode.Selected == modeUserspaceLabel {
		d.help.SetText("WireGuard runs inside Wicket and needs no privileges. Applications reach the location through a SOCKS5 proxy on this computer.")
		d.port.Enable()
	} else {
		d.help.SetText("Routes the location's networks through a network interface, so every application uses them. Needs administrator rights (CAP_NET_ADMIN on Linux).")
		d.port.Disable()
	}
}

// save validates and stores the settings.
func (d *settingsDialog) save() {
	s := d.v.core.Settings()
	s.TunnelMode = core.TunnelModeSystem
	if d.mode.Selected == modeUserspaceLabel {
		s.TunnelMode = core.TunnelModeUserspace
	}
	port := strings.TrimSpace(d.port.Text)
	if err := validatePort(port); err != nil {
		setMessage(d.err, err.Error())
		return
	}
	s.SOCKSAddr = net.JoinHostPort(d.host, port)
	if err := d.v.core.SetSettings(s); err != nil {
		setMessage(d.err, err.Error())
		return
	}
	d.dlg.Hide()
}

// validatePort accepts a TCP port number.
func validatePort(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	// 0 lets the system pick a free port at each connection; the
	// connected view then shows the one it got.
	if err != nil || n < 0 || n > 65535 {
		return errors.New("the SOCKS5 port is a number from 1 to 65535 (or 0 for any free port)")
	}
	return nil
}

// showAbout shows the version, which is what a bug report needs first.
func (v *View) showAbout() {
	logo := canvas.NewImageFromResource(Icon)
	logo.FillMode = canvas.ImageFillContain
	logo.SetMinSize(fyne.NewSize(64, 64))
	name := widget.NewLabelWithStyle("Wicket", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	name.SizeName = theme.SizeNameHeadingText
	ver := widget.NewLabelWithStyle("Version "+version.String(), fyne.TextAlignCenter, fyne.TextStyle{})
	ver.Selectable = true
	desc := widget.NewLabelWithStyle("A WireGuard VPN whose locations can ask for\na second factor on every connection.", fyne.TextAlignCenter, fyne.TextStyle{})
	build := caption(runtime.Version() + " · " + runtime.GOOS + "/" + runtime.GOARCH)
	build.Alignment = fyne.TextAlignCenter
	content := container.NewVBox(widthHint(360), container.NewCenter(logo), name, ver, desc, build)
	dialog.ShowCustom("About Wicket", "Close", content, v.win)
}
