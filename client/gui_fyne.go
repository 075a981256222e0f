//go:build !nogui

package main

import "github.com/wicket-vpn/wicket/client/internal/ui"

// The window is the Fyne UI; `-tags nogui` builds a command-line-only
// wicket without cgo.
func init() { runWindow = ui.Run }
