package ui

import (
	"image/color"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// themeColor looks a colour up in the current theme and variant.
func themeColor(name fyne.ThemeColorName) color.Color {
	return theme.Color(name)
}

// withAlpha returns c with its alpha scaled to a (0–255), for tinted
// backgrounds that work on light and dark variants alike.
func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}

// newDot is a small status light.
func newDot() *canvas.Circle {
	c := canvas.NewCircle(themeColor(theme.ColorNameDisabled))
	c.Resize(fyne.NewSize(10, 10))
	// A circle has no minimum size of its own; the wrapper gives it one.
	return c
}

// dotBox wraps a dot so layouts give it a fixed size.
func dotBox(c *canvas.Circle) fyne.CanvasObject {
	sp := canvas.NewRectangle(color.Transparent)
	sp.SetMinSize(fyne.NewSize(10, 10))
	return container.NewCenter(container.NewStack(sp, c))
}

// setDot colours a dot.
func setDot(c *canvas.Circle, name fyne.ThemeColorName) {
	col := themeColor(name)
	if c.FillColor == col {
		return
	}
	c.FillColor = col
	c.Refresh()
}

// pill is a small rounded tag with an icon and text, like the MFA badge.
type pill struct {
	root fyne.CanvasObject
	bg   *canvas.Rectangle
	text *canvas.Text
}

// newPill makes a pill tinted with a theme colour.
func newPill(icon fyne.Resource, text string, tint fyne.ThemeColorName) *pill {
	p := &pill{}
	p.bg = canvas.NewRectangle(withAlpha(themeColor(tint), 0x30))
	p.bg.CornerRadius = 9
	p.text = canvas.NewText(text, themeColor(theme.ColorNameForeground))
	p.text.TextSize = theme.CaptionTextSize()
	ic := widget.NewIcon(icon)
	icBox := container.NewGridWrap(fyne.NewSize(14, 14), ic)
	row := container.New(layout.NewCustomPaddedHBoxLayout(4), container.NewCenter(icBox), container.NewCenter(p.text))
	p.root = container.NewStack(p.bg, container.New(layout.NewCustomPaddedLayout(3, 3, 8, 10), row))
	return p
}

// card is a softly tinted, rounded panel that groups one thing, such as a
// location. It returns the background too, so its outline can signal state.
func card(content fyne.CanvasObject) (fyne.CanvasObject, *canvas.Rectangle) {
	bg := canvas.NewRectangle(themeColor(theme.ColorNameInputBackground))
	bg.CornerRadius = theme.InputRadiusSize() * 2
	bg.StrokeColor = cardOutline()
	bg.StrokeWidth = 1.5
	pad := theme.Padding() * 3
	return container.NewStack(bg, container.New(layout.NewCustomPaddedLayout(pad, pad, pad+2, pad), content)), bg
}

// cardOutline is a card's quiet border: a faint line of the foreground
// colour, visible on light and dark variants alike (the separator colour
// is black on the dark variant, which looks heavy).
func cardOutline() color.Color {
	return withAlpha(themeColor(theme.ColorNameForeground), 0x22)
}

// banner is a tinted, rounded strip for news about an instance.
func banner(tint fyne.ThemeColorName, content fyne.CanvasObject) fyne.CanvasObject {
	bg := canvas.NewRectangle(withAlpha(themeColor(tint), 0x28))
	bg.CornerRadius = theme.InputRadiusSize() * 2
	bg.StrokeColor = withAlpha(themeColor(tint), 0x90)
	bg.StrokeWidth = 1
	pad := theme.Padding() * 2
	return container.NewStack(bg, container.New(layout.NewCustomPaddedLayout(pad, pad, pad+2, pad), content))
}

// caption is small secondary text.
func caption(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.SizeName = theme.SizeNameCaptionText
	return l
}

// errorLabel is wrapped text in the theme's error colour, hidden while
// empty.
func errorLabel() *widget.Label {
	l := widget.NewLabel("")
	l.Importance = widget.DangerImportance
	l.Wrapping = fyne.TextWrapWord
	l.Hide()
	return l
}

// setMessage shows text in l, or hides l when text is empty.
func setMessage(l *widget.Label, text string) {
	if l.Text != text {
		l.SetText(text)
	}
	if text == "" {
		l.Hide()
	} else {
		l.Show()
	}
}

// setText changes a label's text only when it differs, which keeps
// refreshes (and redraws) to what actually changed.
func setText(l *widget.Label, text string) {
	if l.Text != text {
		l.SetText(text)
	}
}

// widthHint is an invisible strut that gives dialogs a comfortable width.
func widthHint(w float32) fyne.CanvasObject {
	r := canvas.NewRectangle(color.Transparent)
	r.SetMinSize(fyne.NewSize(w, 0))
	return r
}

// showIf shows or hides o.
func showIf(o fyne.CanvasObject, show bool) {
	if show && !o.Visible() {
		o.Show()
	} else if !show && o.Visible() {
		o.Hide()
	}
}

// muted is secondary text (a key beside its value, a section title) in the
// theme's placeholder colour: quieter than the foreground yet, unlike the
// disabled colour, still easy to read on both variants.
func muted(text string, size fyne.ThemeSizeName, bold bool) *widget.RichText {
	seg := &widget.TextSegment{Text: text, Style: widget.RichTextStyle{
		ColorName: theme.ColorNamePlaceHolder,
		SizeName:  size,
		TextStyle: fyne.TextStyle{Bold: bold},
		Inline:    true,
	}}
	return widget.NewRichText(seg)
}

// setMuted changes the text of a muted RichText.
func setMuted(rt *widget.RichText, text string) {
	seg := rt.Segments[0].(*widget.TextSegment)
	if seg.Text != text {
		seg.Text = text
		rt.Refresh()
	}
}

// sectionTitle names a part of a page ("LOCATIONS").
func sectionTitle(text string) *widget.RichText {
	return muted(strings.ToUpper(text), theme.SizeNameCaptionText, true)
}
