package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/wicket-vpn/wicket/client/internal/core"
)

// instancePage shows one instance: who and where, whether its
// configuration is current, what changed, and its locations.
type instancePage struct {
	v  *View
	id string

	title    *widget.Label
	subtitle *widget.Label
	status   *widget.Label
	statusOK *widget.Icon
	// updateErr says why the server cannot be reached.
	updateErr *widget.Label

	updateBtn *widget.Button
	updating  bool

	banner      fyne.CanvasObject
	bannerTitle *widget.Label
	bannerText  *widget.Label

	cards    map[string]*locationCard
	order    []string
	cardsBox *fyne.Container
	noLocs   fyne.CanvasObject

	root fyne.CanvasObject
}

func newInstancePage(v *View, id string) *instancePage {
	p := &instancePage{v: v, id: id, cards: map[string]*locationCard{}}
	p.title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.title.SizeName = theme.SizeNameHeadingText
	p.title.Truncation = fyne.TextTruncateEllipsis
	p.subtitle = widget.NewLabel("")
	p.subtitle.Truncation = fyne.TextTruncateEllipsis
	p.status = caption("")
	p.statusOK = widget.NewIcon(theme.ConfirmIcon())
	p.updateErr = errorLabel()

	p.updateBtn = widget.NewButtonWithIcon("Update instance", theme.ViewRefreshIcon(), p.runUpdate)
	remove := widget.NewButtonWithIcon("", theme.DeleteIcon(), p.confirmRemove)
	remove.Importance = widget.LowImportance

	p.bannerTitle = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.bannerText = widget.NewLabel("")
	p.bannerText.Wrapping = fyne.TextWrapWord
	dismiss := widget.NewButton("Dismiss", func() { v.core.AcknowledgeChanges(id) })
	dismiss.Importance = widget.LowImportance
	p.banner = banner(theme.ColorNamePrimary, container.NewBorder(nil, nil,
		container.NewVBox(widget.NewIcon(theme.InfoIcon())), container.NewVBox(dismiss),
		container.New(layout.NewCustomPaddedVBoxLayout(0), p.bannerTitle, p.bannerText)))
	p.banner.Hide()

	// Two rows: the name with the instance's actions, then who and where
	// with whether the configuration is current. An update error gets a
	// line of its own, since it needs reading in full.
	status := container.NewHBox(container.NewCenter(container.NewGridWrap(fyne.NewSize(14, 14), p.statusOK)), p.status)
	row1 := container.NewBorder(nil, nil, nil, container.NewCenter(container.NewHBox(p.updateBtn, remove)), p.title)
	row2 := container.NewBorder(nil, nil, nil, status, p.subtitle)
	header := container.New(layout.NewCustomPaddedVBoxLayout(0), row1, row2, p.updateErr)

	locTitle := container.New(layout.NewCustomPaddedLayout(theme.Padding()*2, 0, 0, 0), sectionTitle("Locations"))
	p.noLocs = widget.NewLabel("This instance offers you no locations yet. An administrator has to allow one for your groups.")
	p.noLocs.(*widget.Label).Wrapping = fyne.TextWrapWord
	p.cardsBox = container.New(layout.NewCustomPaddedVBoxLayout(theme.Padding()*3), p.noLocs)

	top := container.NewVBox(header, p.banner, locTitle)
	scroll := container.NewVScroll(container.NewVBox(p.cardsBox, layout.NewSpacer()))
	pad := theme.Padding() * 3
	p.root = container.New(layout.NewCustomPaddedLayout(pad, pad, pad+2, pad+2),
		container.NewBorder(top, nil, nil, nil, scroll))
	return p
}

// update renders a fresh snapshot of the instance.
func (p *instancePage) update(inst core.InstanceView) {
	setText(p.title, inst.Name)
	sub := inst.Username + " on " + hostOf(inst.URL)
	if inst.DeviceName != "" {
		sub += " · this device: " + inst.DeviceName
	}
	setText(p.subtitle, sub)
	setText(p.status, p.statusText(inst))
	showIf(p.statusOK, inst.UpdateError == "" && !inst.LastUpdate.IsZero() && !p.updating)
	if p.status.Importance != statusImportance(inst) {
		p.status.Importance = statusImportance(inst)
		p.status.Refresh()
	}
	errText := ""
	if inst.UpdateError != "" {
		errText = "Cannot reach the server: " + inst.UpdateError
	}
	setMessage(p.updateErr, errText)

	if len(inst.Changes) > 0 {
		setText(p.bannerTitle, "The configuration changed at "+formatClock(inst.ChangedAt, p.v.now()))
		setText(p.bannerText, "• "+strings.Join(inst.Changes, "\n• "))
		showIf(p.banner, true)
	} else {
		showIf(p.banner, false)
	}

	ids := make([]string, 0, len(inst.Locations))
	for _, l := range inst.Locations {
		ids = append(ids, l.ID)
		c := p.cards[l.ID]
		if c == nil {
			c = newLocationCard(p.v, l)
			p.cards[l.ID] = c
		}
		c.update(l)
	}
	if strings.Join(ids, "\x00") != strings.Join(p.order, "\x00") {
		p.order = ids
		objs := make([]fyne.CanvasObject, 0, len(ids))
		for _, id := range ids {
			objs = append(objs, p.cards[id].root)
		}
		for id := range p.cards {
			if !contains(ids, id) {
				delete(p.cards, id)
			}
		}
		if len(objs) == 0 {
			objs = append(objs, p.noLocs)
		}
		p.cardsBox.Objects = objs
		p.cardsBox.Refresh()
	}
}

// updateLocation renders one location's new view.
func (p *instancePage) updateLocation(l core.LocationView) {
	if c := p.cards[l.ID]; c != nil {
		c.update(l)
	}
}

// statusText says briefly whether the configuration is current and
// whether changes arrive as they happen ("live") or by polling.
func (p *instancePage) statusText(inst core.InstanceView) string {
	switch {
	case p.updating:
		return "Updating…"
	case inst.UpdateError != "":
		return "Offline"
	case inst.LastUpdate.IsZero():
		return "Not updated yet"
	case inst.Live:
		return "Up to date · live"
	}
	return "Up to date · checked at " + formatClock(inst.LastUpdate, p.v.now())
}

func statusImportance(inst core.InstanceView) widget.Importance {
	if inst.UpdateError != "" {
		return widget.DangerImportance
	}
	return widget.MediumImportance
}

// runUpdate fetches the instance's configuration now.
func (p *instancePage) runUpdate() {
	p.updating = true
	p.updateBtn.Disable()
	setText(p.status, "Updating…")
	p.statusOK.Hide()
	p.v.goCore(func(ctx context.Context) error {
		return p.v.core.Update(ctx, p.id)
	}, func(err error) {
		p.updating = false
		p.updateBtn.Enable()
		// The update's event carries the new configuration; this only
		// ends "Updating…" on the snapshot already shown.
		inst, ok := p.v.instance(p.id)
		if !ok {
			return
		}
		p.update(inst)
		if err != nil && inst.UpdateError == "" {
			setMessage(p.updateErr, "Update failed: "+err.Error())
		}
	})
}

// confirmRemove asks before forgetting the instance, since enrolling again
// needs a new code from the server.
func (p *instancePage) confirmRemove() {
	inst, _ := p.v.instance(p.id)
	msg := widget.NewLabel(fmt.Sprintf("Remove %s from this device?\n\nIts locations are disconnected and the device's keys are deleted\nfrom the keyring. Adding it again needs a new enrollment code.", inst.Name))
	dialog.ShowCustomConfirm("Remove instance", "Remove", "Keep", msg, func(ok bool) {
		if !ok {
			return
		}
		p.v.goCore(func(ctx context.Context) error {
			return p.v.core.RemoveInstance(ctx, p.id)
		}, func(err error) {
			if err != nil {
				dialog.ShowError(err, p.v.win)
			}
		})
	}, p.v.win)
}

// hostOf shortens a server URL to what people recognise: its host (and
// port when not the default).
func hostOf(url string) string {
	s := strings.TrimPrefix(url, "https://")
	return strings.TrimSuffix(s, "/")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
