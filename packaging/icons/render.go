// Command render draws the app icon (the SVG beside it, the same as the
// client's window icon) as the 256-pixel PNG the packages install for
// desktops that want a bitmap. Run it after changing the SVG:
//
//	go run ./packaging/icons
package main

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"

	"github.com/srwiley/oksvg"
	"github.com/srwiley/rasterx"
)

const (
	name = "io.github.wicket_vpn.wicket"
	size = 256
)

func main() {
	if err := run(filepath.Join("packaging", "icons")); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	svg, err := oksvg.ReadIcon(filepath.Join(dir, name+".svg"), oksvg.StrictErrorMode)
	if err != nil {
		return err
	}
	svg.SetTarget(0, 0, size, size)
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	svg.Draw(rasterx.NewDasher(size, size, rasterx.NewScannerGV(size, size, img, img.Bounds())), 1)
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, img); err != nil {
		return err
	}
	out := filepath.Join(dir, name+".png")
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", out)
	return nil
}
