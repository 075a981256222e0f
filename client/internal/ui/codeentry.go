package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// codeEntry takes a 6-digit code: six boxes, one digit each, big enough
// to check at a glance. It accepts digits only, also when a code is pasted
// with spaces or dashes in it. It is drawn with the theme's regular font
// at a larger size rather than an Entry under a theme override, which
// would load a second copy of every font (several MB).
type codeEntry struct {
	widget.DisableableWidget

	// Text is the digits typed so far.
	Text string
	// OnChanged is called after every change of Text.
	OnChanged func(string)
	// OnSubmitted is called when Enter is pressed.
	OnSubmitted func(string)

	focused bool
	boxes   [codeLen]*canvas.Rectangle
	digits  [codeLen]*canvas.Text
	content fyne.CanvasObject
}

// codeBoxSize is one digit's box.
var codeBoxSize = fyne.NewSize(42, 50)

func newCodeEntry() *codeEntry {
	e := &codeEntry{}
	cells := make([]fyne.CanvasObject, codeLen)
	for i := range e.boxes {
		e.boxes[i] = canvas.NewRectangle(color.Transparent)
		e.boxes[i].CornerRadius = theme.InputRadiusSize()
		e.boxes[i].StrokeWidth = 1.5
		e.boxes[i].SetMinSize(codeBoxSize)
		e.digits[i] = canvas.NewText("", color.Black)
		e.digits[i].TextSize = theme.TextSize() * 1.7
		e.digits[i].Alignment = fyne.TextAlignCenter
		cells[i] = container.NewStack(e.boxes[i], container.NewCenter(e.digits[i]))
	}
	e.content = container.NewHBox(cells...)
	e.ExtendBaseWidget(e)
	return e
}

// CreateRenderer implements fyne.Widget.
func (e *codeEntry) CreateRenderer() fyne.WidgetRenderer {
	e.paint()
	return &codeEntryRenderer{e: e, inner: widget.NewSimpleRenderer(e.content)}
}

// codeEntryRenderer lays the boxes out and repaints them on Refresh.
type codeEntryRenderer struct {
	e     *codeEntry
	inner fyne.WidgetRenderer
}

func (r *codeEntryRenderer) Destroy()                     {}
func (r *codeEntryRenderer) Layout(s fyne.Size)           { r.inner.Layout(s) }
func (r *codeEntryRenderer) MinSize() fyne.Size           { return r.inner.MinSize() }
func (r *codeEntryRenderer) Objects() []fyne.CanvasObject { return r.inner.Objects() }
func (r *codeEntryRenderer) Refresh() {
	r.e.paint()
	r.inner.Refresh()
}

// paint colours the boxes: the next box to fill is outlined in the focus
// colour while the entry has focus, so it reads like a cursor.
func (e *codeEntry) paint() {
	fg := theme.Color(theme.ColorNameForeground)
	if e.Disabled() {
		fg = theme.Color(theme.ColorNameDisabled)
	}
	for i := range e.boxes {
		d := ""
		if i < len(e.Text) {
			d = e.Text[i : i+1]
		}
		e.digits[i].Text = d
		e.digits[i].Color = fg
		e.boxes[i].FillColor = theme.Color(theme.ColorNameInputBackground)
		e.boxes[i].StrokeColor = theme.Color(theme.ColorNameInputBorder)
		if e.focused && !e.Disabled() && (i == len(e.Text) || (i == codeLen-1 && len(e.Text) == codeLen)) {
			e.boxes[i].StrokeColor = theme.Color(theme.ColorNamePrimary)
			e.boxes[i].StrokeWidth = 2
		} else {
			e.boxes[i].StrokeWidth = 1.5
		}
		e.boxes[i].Refresh()
		e.digits[i].Refresh()
	}
}

// SetText replaces the digits (non-digits are dropped).
func (e *codeEntry) SetText(s string) {
	s = onlyDigits(s, codeLen)
	if s == e.Text {
		return
	}
	e.Text = s
	e.Refresh()
	if e.OnChanged != nil {
		e.OnChanged(s)
	}
}

// Tapped focuses the entry.
func (e *codeEntry) Tapped(*fyne.PointEvent) {
	if e.Disabled() {
		return
	}
	if c := fyne.CurrentApp().Driver().CanvasForObject(e); c != nil {
		c.Focus(e)
	}
}

// FocusGained implements fyne.Focusable.
func (e *codeEntry) FocusGained() {
	e.focused = true
	e.Refresh()
}

// FocusLost implements fyne.Focusable.
func (e *codeEntry) FocusLost() {
	e.focused = false
	e.Refresh()
}

// TypedRune accepts a digit while fewer than six are typed.
func (e *codeEntry) TypedRune(r rune) {
	if e.Disabled() || r < '0' || r > '9' || len(e.Text) >= codeLen {
		return
	}
	e.SetText(e.Text + string(r))
}

// TypedKey handles Backspace and Enter.
func (e *codeEntry) TypedKey(k *fyne.KeyEvent) {
	if e.Disabled() {
		return
	}
	switch k.Name {
	case fyne.KeyBackspace:
		if n := len(e.Text); n > 0 {
			e.SetText(e.Text[:n-1])
		}
	case fyne.KeyReturn, fyne.KeyEnter:
		if e.OnSubmitted != nil {
			e.OnSubmitted(e.Text)
		}
	}
}

// TypedShortcut pastes the digits of the clipboard's text.
func (e *codeEntry) TypedShortcut(s fyne.Shortcut) {
	p, ok := s.(*fyne.ShortcutPaste)
	if !ok || e.Disabled() || p.Clipboard == nil {
		return
	}
	digits := onlyDigits(p.Clipboard.Content(), codeLen)
	if len(digits) == codeLen {
		e.SetText(digits) // a whole code replaces what was typed
		return
	}
	e.SetText(e.Text + digits)
}

// Disable stops input (while a code is being checked).
func (e *codeEntry) Disable() {
	e.DisableableWidget.Disable()
	e.Refresh()
}

// Enable allows input again.
func (e *codeEntry) Enable() {
	e.DisableableWidget.Enable()
	e.Refresh()
}
