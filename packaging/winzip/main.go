// Command winzip packs the Windows build into a zip with a top-level
// folder, as Windows users expect to unpack it, with Windows line endings
// for text files:
//
//	go run ./packaging/winzip -o dist/wicket-windows-amd64.zip -folder wicket FILE...
//
// It exists so that `go tool task package` needs no zip program.
package main

import (
	"archive/zip"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "the zip to write")
	folder := flag.String("folder", "wicket", "the folder the files are in inside the zip")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: winzip -o OUT.zip [-folder NAME] FILE...")
		os.Exit(2)
	}
	if err := write(*out, *folder, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "winzip:", err)
		os.Exit(1)
	}
}

func write(out, folder string, files []string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	for _, name := range files {
		if err := add(zw, folder, name); err != nil {
			f.Close()
			os.Remove(out)
			return err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func add(zw *zip.Writer, folder, name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if strings.HasSuffix(name, ".txt") {
		b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	}
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	h := &zip.FileHeader{Name: folder + "/" + filepath.Base(name), Method: zip.Deflate, Modified: st.ModTime().UTC().Truncate(time.Second)}
	h.SetMode(0o644)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, bytes.NewReader(b))
	return err
}
