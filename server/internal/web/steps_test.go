package web_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestStuckStepNamesItself runs a browser test whose second step waits for
// an element that never comes, in a child process with a short step
// timeout, and checks that it fails on that step alone, naming the step as
// the test writes it and the page the browser was on.
func TestStuckStepNamesItself(t *testing.T) {
	if os.Getenv("WICKET_TEST_STUCK_STEP") != "" {
		ctx := newBrowser(t)
		s := newServer(t)
		run(t, ctx,
			chromedp.Navigate(s.URL+"/signin"),
			chromedp.WaitVisible(chromedp.ID("no-such-element")),
		)
		t.Fatal("the stuck step did not fail")
	}
	if chromium() == "" {
		t.Skip("no chromium binary found (install Debian's chromium, or set WICKET_CHROMIUM); the browser tests need it")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStuckStepNamesItself$")
	cmd.Env = append(os.Environ(), "WICKET_TEST_STUCK_STEP=1", "WICKET_BROWSER_STEP_TIMEOUT=2s")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the test with a stuck step passed:\n%s", out)
	}
	want := `browser step 2 of 2, chromedp.WaitVisible(chromedp.ID("no-such-element")), did not finish within 2 s, on https://127.0.0.1:`
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "/signin") {
		t.Fatalf("the failure does not say %q on the sign-in page:\n%s", want, out)
	}
}
