package ui

import (
	"testing"

	"fyne.io/fyne/v2"
)

// quitRecorder is the test app, noting whether the view still followed
// core when the app was told to quit.
type quitRecorder struct {
	*recordingApp
	v            *View
	quits        int
	viewOpenThen bool
}

func (a *quitRecorder) Quit() {
	a.quits++
	a.viewOpenThen = a.v.ctx.Err() == nil
}

// TestQuitClosesTheViewFirst quits from the tray, as a person does: the
// view stops following core before the app ends, so what core reports
// while its tunnels go down never reaches widgets after Fyne's event loop
// has let go of them (Fyne then runs fyne.Do on the caller's goroutine and
// logs "Error in Fyne call thread").
func TestQuitClosesTheViewFirst(t *testing.T) {
	e := newOfflineEnv(t)
	app := &quitRecorder{recordingApp: e.app, v: e.v}
	e.v.app = app
	e.v.tray = newTray(e.v)
	e.v.tray.update()

	var quit *fyne.MenuItem
	e.ui(func() { quit = e.app.trayItem("Quit") })
	if quit == nil || !quit.IsQuit || quit.Action == nil {
		t.Fatalf("the tray menu has no Quit of its own: %+v", quit)
	}
	e.ui(quit.Action)
	if app.quits != 1 || app.viewOpenThen {
		t.Fatalf("Quit: app told to quit %d times, view still following core then: %v", app.quits, app.viewOpenThen)
	}

	// Once closed, nothing reaches the widgets, and closing again (as Run
	// does after the event loop) is harmless.
	applied := false
	e.v.do(func() { applied = true })
	e.v.closeAndWait()
	e.v.close()
	if applied {
		t.Fatal("a change reached the widgets after the view closed")
	}
}
