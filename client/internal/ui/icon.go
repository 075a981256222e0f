package ui

import (
	_ "embed"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

//go:embed assets/wicket.svg
var iconSVG []byte

// Icon is Wicket's application icon: a keyhole in a shield, for the window,
// the system tray and notifications.
var Icon = fyne.NewStaticResource("wicket.svg", iconSVG)

//go:embed assets/wicket-tray.png
var trayPNG []byte

// trayIcon is the icon as a PNG: system trays take no SVG.
var trayIcon = fyne.NewStaticResource("wicket-tray.png", trayPNG)

//go:embed assets/lock.svg
var lockSVG []byte

// lockIcon marks locations that ask for MFA; themed, so it takes the
// colour of the text around it.
var lockIcon = theme.NewThemedResource(fyne.NewStaticResource("lock.svg", lockSVG))
