// Package ui is Wicket's desktop window: a Fyne view over the connection
// state machine in client/internal/core. It renders core's snapshots and
// events and turns clicks into core calls; it decides nothing about
// connections itself, so the command line and the window always agree.
//
// Core's calls talk to the network, so the view makes them on goroutines
// and brings every result and every event back to the UI through fyne.Do.
package ui

import (
	"context"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/wicket-vpn/wicket/client/internal/core"
	// A locale Fyne can read, before Fyne reads it.
	_ "github.com/wicket-vpn/wicket/client/internal/uilocale"
)

// AppID identifies the app to the desktop (notifications, preferences);
// packaging's .desktop file should use the same name.
const AppID = "io.github.wicket_vpn.wicket"

// WindowSize is the main window's size when it opens: room for a sidebar
// and a connected location's details without scrolling.
var WindowSize = fyne.NewSize(900, 600)

// View is the main window and everything shown in it.
type View struct {
	app  fyne.App
	win  fyne.Window
	core *core.Core
	now  func() time.Time

	// ctx bounds core calls made for the user; it ends when the window
	// closes so nothing outlives the view.
	ctx       context.Context
	cancel    context.CancelFunc
	unsub     func()
	closeOnce sync.Once

	// mu serialises every change to the widgets. In the app all of them
	// already run on Fyne's main goroutine; the test driver runs fyne.Do
	// inline on the calling goroutine instead, so tests take mu (see
	// View.Sync) to stay race-free against core's event goroutine.
	mu sync.Mutex

	instances []core.InstanceView
	selected  string

	sidebar *widget.List
	page    *fyne.Container // the selected instance's page, or the empty state
	pages   map[string]*instancePage
	empty   fyne.CanvasObject

	mfa            *mfaModal
	addDialog      *addInstanceDialog
	settingsDialog *settingsDialog
	tray           *tray
}

// NewWindow builds the main window of a over c and starts following c's
// events. The window is not shown; call Window().Show (or ShowAndRun). Core
// itself is run by the caller (see Run), so tests can drive a Core on
// test.NewApp().
func NewWindow(a fyne.App, c *core.Core) *View {
	ctx, cancel := context.WithCancel(context.Background())
	v := &View{
		app: a, core: c, now: time.Now,
		ctx: ctx, cancel: cancel,
		pages: map[string]*instancePage{},
	}
	v.win = a.NewWindow("Wicket")
	v.win.SetIcon(Icon)
	v.win.Resize(WindowSize)
	v.win.SetMaster()

	// Subscribe before the first snapshot so no change falls between them.
	events, unsub := c.Subscribe()
	v.unsub = unsub

	v.build()
	v.instances = c.Instances()
	if len(v.instances) > 0 {
		v.selected = v.instances[0].ID
	}
	v.syncInstances()
	v.tray = newTray(v)
	v.tray.update()
	for _, inst := range v.instances {
		for _, l := range inst.Locations {
			v.followLocation(l)
		}
	}

	v.win.SetOnClosed(v.close)
	go v.follow(events)
	return v
}

// Window returns the main window.
func (v *View) Window() fyne.Window { return v.win }

// Sync runs f with exclusive access to the widgets. Code outside Fyne's
// callbacks (tests, mostly) uses it to read or tap widgets while core's
// events are being applied.
func (v *View) Sync(f func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f()
}

// do runs f on the UI goroutine. It is the only way results and events
// from other goroutines reach the widgets.
//
// Once Fyne's event loop has ended, fyne.Do runs f at once on the calling
// goroutine instead, and a widget touched there makes Fyne log "Error in
// Fyne call thread". So the view is closed before the loop ends where it
// can be (see quit) and right after it ends in any case (see Run), and f
// does nothing once the view is closed.
func (v *View) do(f func()) {
	fyne.Do(func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.ctx.Err() != nil {
			return // the window is gone
		}
		f()
	})
}

// goCore runs a core call off the UI goroutine and hands its error to
// then on the UI goroutine (then may be nil).
func (v *View) goCore(call func(ctx context.Context) error, then func(err error)) {
	go func() {
		err := call(v.ctx)
		if then != nil {
			v.do(func() { then(err) })
		}
	}()
}

// follow applies core's events until the window closes.
func (v *View) follow(events <-chan core.Event) {
	for {
		select {
		case <-v.ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			v.do(func() { v.apply(ev) })
		}
	}
}

// close stops following core: the window closed, or the app is quitting.
// After it no result or event reaches the widgets. Calling it again does
// nothing.
func (v *View) close() {
	v.closeOnce.Do(func() {
		v.cancel()
		v.unsub()
	})
}

// closeAndWait closes the view and waits for a change to the widgets that
// was already being made, so that none is made after it returns.
func (v *View) closeAndWait() {
	v.close()
	v.Sync(func() {})
}

// quit ends the app, closing the view first so that what core reports
// while its tunnels go down is not applied to widgets Fyne has let go of.
// It runs on the UI goroutine, as menu actions do.
func (v *View) quit() {
	v.close()
	v.app.Quit()
}

// apply renders one event.
func (v *View) apply(ev core.Event) {
	switch ev.Kind {
	case core.EventInstancesChanged:
		v.instances = v.core.Instances()
		v.syncInstances()
		v.tray.update()
	case core.EventInstanceUpdated:
		if inst, ok := v.core.Instance(ev.InstanceID); ok {
			v.replaceInstance(inst)
		}
	case core.EventLocationChanged:
		v.updateLocation(ev.Location)
	case core.EventSessionEnded:
		v.updateLocation(ev.Location)
		v.notifySessionEnded(ev)
	}
}

// replaceInstance stores a fresh snapshot of one instance and renders it.
func (v *View) replaceInstance(inst core.InstanceView) {
	found := false
	for i := range v.instances {
		if v.instances[i].ID == inst.ID {
			v.instances[i] = inst
			found = true
		}
	}
	if !found {
		v.instances = append(v.instances, inst)
	}
	v.syncInstances()
	for _, l := range inst.Locations {
		v.followLocation(l)
	}
	v.tray.update()
}

// updateLocation stores a location's new view and renders it everywhere it
// shows: its card, the MFA modal and the tray menu.
func (v *View) updateLocation(l core.LocationView) {
	stateChanged := false
	for i := range v.instances {
		if v.instances[i].ID != l.InstanceID {
			continue
		}
		for j := range v.instances[i].Locations {
			if v.instances[i].Locations[j].ID == l.ID {
				stateChanged = v.instances[i].Locations[j].State != l.State
				v.instances[i].Locations[j] = l
			}
		}
	}
	if stateChanged {
		v.sidebar.Refresh() // the instance's status light
	}
	if p := v.pages[l.InstanceID]; p != nil {
		p.updateLocation(l)
	}
	v.followLocation(l)
	v.tray.update()
}

// followLocation opens, updates or closes the MFA modal as the location's
// state asks.
func (v *View) followLocation(l core.LocationView) {
	switch l.State {
	case core.AwaitingMethod, core.AwaitingCode:
		if v.mfa == nil {
			v.mfa = newMFAModal(v, l)
			v.mfa.show()
			return
		}
		if v.mfa.is(l) {
			v.mfa.update(l)
		}
		// Another location's prompt is open: this one waits for it to
		// close (see mfaClosed).
	case core.Connecting:
		if v.mfa != nil && v.mfa.is(l) {
			v.mfa.update(l)
		}
	default:
		if v.mfa != nil && v.mfa.is(l) {
			v.mfa.hide()
		}
	}
}

// mfaClosed is called when the modal closes; a prompt another location was
// waiting with opens next.
func (v *View) mfaClosed(m *mfaModal) {
	if v.mfa != m {
		return
	}
	v.mfa = nil
	for _, inst := range v.instances {
		for _, l := range inst.Locations {
			if l.State == core.AwaitingMethod || l.State == core.AwaitingCode {
				v.followLocation(l)
				return
			}
		}
	}
}

// instance returns the snapshot of one instance.
func (v *View) instance(id string) (core.InstanceView, bool) {
	for _, inst := range v.instances {
		if inst.ID == id {
			return inst, true
		}
	}
	return core.InstanceView{}, false
}

// location returns the latest view of one location.
func (v *View) location(instanceID, locationID string) (core.LocationView, bool) {
	inst, ok := v.instance(instanceID)
	if !ok {
		return core.LocationView{}, false
	}
	for _, l := range inst.Locations {
		if l.ID == locationID {
			return l, true
		}
	}
	return core.LocationView{}, false
}

// notifySessionEnded tells the user, even when the window is hidden, that
// the server ended a session and why; MFA locations never reconnect by
// themselves, so the user has to know to connect again.
func (v *View) notifySessionEnded(ev core.Event) {
	name := ev.Location.Name
	if name == "" {
		name = "A location"
	}
	msg := ev.Message
	if msg == "" {
		msg = "The server ended the session."
	}
	v.app.SendNotification(fyne.NewNotification(name+" disconnected", msg))
}

// build lays out the window: a sidebar with the instances and the app's
// own actions, and the page of the selected instance beside it.
func (v *View) build() {
	logo := canvas.NewImageFromResource(Icon)
	logo.FillMode = canvas.ImageFillContain
	logo.SetMinSize(fyne.NewSize(28, 28))
	title := widget.NewLabelWithStyle("Wicket", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameSubHeadingText
	brand := container.NewHBox(container.NewCenter(logo), title)

	v.sidebar = widget.NewList(
		func() int { return len(v.instances) },
		func() fyne.CanvasObject { return newInstanceRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(v.instances) {
				o.(*instanceRow).set(v.instances[id])
			}
		},
	)
	v.sidebar.OnSelected = func(id widget.ListItemID) {
		if id < len(v.instances) && v.instances[id].ID != v.selected {
			v.selected = v.instances[id].ID
			v.showPage()
		}
	}
	add := widget.NewButtonWithIcon("Add instance", theme.ContentAddIcon(), v.showAddInstance)
	settings := widget.NewButtonWithIcon("Settings", theme.SettingsIcon(), v.showSettings)
	settings.Importance = widget.LowImportance
	about := widget.NewButtonWithIcon("About", theme.InfoIcon(), v.showAbout)
	about.Importance = widget.LowImportance

	pad := theme.Padding()
	top := container.NewVBox(widthHint(210), brand,
		container.New(layout.NewCustomPaddedLayout(pad*2, 0, pad, 0), sectionTitle("Instances")))
	bottom := container.NewVBox(add, widget.NewSeparator(), container.NewGridWithColumns(2, settings, about))
	side := container.New(layout.NewCustomPaddedLayout(pad*2, pad*2, pad*2, pad*2),
		container.NewBorder(top, bottom, nil, nil, v.sidebar))

	v.empty = v.buildEmpty()
	v.page = container.NewStack(v.empty)
	v.win.SetContent(container.NewBorder(nil, nil, container.NewHBox(side, widget.NewSeparator()), nil, v.page))
}

// buildEmpty is what the window shows before any instance is added.
func (v *View) buildEmpty() fyne.CanvasObject {
	logo := canvas.NewImageFromResource(Icon)
	logo.FillMode = canvas.ImageFillContain
	logo.SetMinSize(fyne.NewSize(72, 72))
	head := widget.NewLabelWithStyle("No instances yet", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	head.SizeName = theme.SizeNameSubHeadingText
	text := widget.NewLabelWithStyle("Add the Wicket server you connect through:\npaste the enrollment code from your profile page on it.",
		fyne.TextAlignCenter, fyne.TextStyle{})
	add := widget.NewButtonWithIcon("Add instance", theme.ContentAddIcon(), v.showAddInstance)
	add.Importance = widget.HighImportance
	return container.NewCenter(container.NewVBox(logo, head, text, container.NewCenter(add)))
}

// syncInstances renders the instance list: the sidebar, and a page per
// instance (kept across updates so widgets keep their state).
func (v *View) syncInstances() {
	seen := map[string]bool{}
	for _, inst := range v.instances {
		seen[inst.ID] = true
		p := v.pages[inst.ID]
		if p == nil {
			p = newInstancePage(v, inst.ID)
			v.pages[inst.ID] = p
		}
		p.update(inst)
	}
	for id := range v.pages {
		if !seen[id] {
			delete(v.pages, id)
		}
	}
	if _, ok := v.instance(v.selected); !ok {
		v.selected = ""
		if len(v.instances) > 0 {
			v.selected = v.instances[0].ID
		}
	}
	v.sidebar.Refresh()
	for i, inst := range v.instances {
		if inst.ID == v.selected {
			v.sidebar.Select(i)
		}
	}
	v.showPage()
}

// showPage shows the selected instance's page.
func (v *View) showPage() {
	var obj fyne.CanvasObject = v.empty
	if p := v.pages[v.selected]; p != nil {
		obj = p.root
	}
	if len(v.page.Objects) == 1 && v.page.Objects[0] == obj {
		return
	}
	v.page.Objects = []fyne.CanvasObject{obj}
	v.page.Refresh()
}

// selectInstance shows one instance's page.
func (v *View) selectInstance(id string) {
	v.selected = id
	v.syncInstances()
}

// instanceRow is one instance in the sidebar: a status light, its name
// and who the device belongs to.
type instanceRow struct {
	widget.BaseWidget
	name, sub *widget.Label
	dot       *canvas.Circle
	content   fyne.CanvasObject
}

func newInstanceRow() *instanceRow {
	r := &instanceRow{dot: newDot()}
	r.name = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.sub = caption("")
	r.sub.Truncation = fyne.TextTruncateEllipsis
	texts := container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2), r.name, r.sub)
	dot := container.New(layout.NewCustomPaddedLayout(0, 0, theme.Padding(), 0), dotBox(r.dot))
	r.content = container.NewBorder(nil, nil, dot, nil, texts)
	r.ExtendBaseWidget(r)
	return r
}

// CreateRenderer implements fyne.Widget.
func (r *instanceRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(r.content)
}

func (r *instanceRow) set(inst core.InstanceView) {
	setText(r.name, inst.Name)
	setText(r.sub, instanceSubtitle(inst))
	setDot(r.dot, instanceDotColor(inst))
}

// instanceSubtitle is the sidebar's second line: who the device belongs to
// and whether changes arrive.
func instanceSubtitle(inst core.InstanceView) string {
	s := inst.Username
	switch {
	case inst.UpdateError != "":
		s += " · offline"
	case inst.Live:
		s += " · live"
	}
	return s
}

// instanceDotColor colours the sidebar's dot: green when a location is
// connected, amber while one is signing in or connecting, red when the
// server cannot be reached, grey otherwise.
func instanceDotColor(inst core.InstanceView) fyne.ThemeColorName {
	c := theme.ColorNamePlaceHolder
	for _, l := range inst.Locations {
		switch l.State {
		case core.Connected:
			return theme.ColorNameSuccess
		case core.AwaitingMethod, core.AwaitingCode, core.Connecting:
			c = theme.ColorNameWarning
		}
	}
	if c == theme.ColorNamePlaceHolder && inst.UpdateError != "" {
		c = theme.ColorNameError
	}
	return c
}
