//go:build !cgo

package ui

import (
	"context"
	"errors"

	"github.com/wicket-vpn/wicket/client/internal/core"
)

// Run reports that this build has no window: Fyne's desktop driver needs
// cgo. The views still build (and their tests run) without it.
func Run(context.Context, *core.Core) error {
	return errors.New("this wicket was built without cgo and has no window; use its commands (wicket --help)")
}
