package demo

import (
	"strings"

	"github.com/boombuler/barcode/qr"
)

// TerminalQR draws text as a QR code with Unicode half blocks, two rows of
// modules per line, dark on a light quiet zone, so a phone can scan it from
// a terminal with a dark or a light background alike.
func TerminalQR(text string) (string, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", err
	}
	const quiet = 2 // modules of light border; scanners want some
	n := code.Bounds().Dx()
	dark := func(x, y int) bool {
		x, y = x-quiet, y-quiet
		if x < 0 || y < 0 || x >= n || y >= n {
			return false
		}
		r, _, _, _ := code.At(x, y).RGBA()
		return r < 0x8000
	}
	// Light is drawn, dark is left as blank on an inverted background, so
	// the code reads the same on any terminal theme: white foreground
	// blocks on black background.
	const (
		white = "\x1b[97;40m"
		reset = "\x1b[0m"
	)
	size := n + 2*quiet
	var b strings.Builder
	for y := 0; y < size; y += 2 {
		b.WriteString(white)
		for x := 0; x < size; x++ {
			top, bottom := !dark(x, y), y+1 < size && !dark(x, y+1)
			if y+1 >= size {
				bottom = false
			}
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString(reset)
		b.WriteByte('\n')
	}
	return b.String(), nil
}
