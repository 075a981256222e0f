package web_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/web"
	"github.com/wicket-vpn/wicket/shared/humantime"
)

// newServer starts the harness with the pages mounted beside the API, as
// wicketd serve does.
func newServer(t *testing.T, opts ...servertest.Option) *servertest.Server {
	t.Helper()
	opts = append(opts, servertest.WithWeb(func(d *daemon.Daemon) http.Handler {
		log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return web.New(d.Service, log, web.WithServer(d.Opts.URL, d.Fingerprint))
	}))
	return servertest.New(t, opts...)
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// client is a browser without JavaScript: a cookie jar, and forms sent
// with the CSRF token of the last page it loaded.
type client struct {
	t    *testing.T
	s    *servertest.Server
	http *http.Client
	last string // body of the last page
}

func newClient(t *testing.T, s *servertest.Server) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, s: s, http: &http.Client{Transport: s.HTTP.Transport, Jar: jar}}
}

func (c *client) do(req *http.Request) (int, string) {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.last = string(b)
	return resp.StatusCode, c.last
}

// get loads a page (following redirects).
func (c *client) get(path string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.s.URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the form token of the last page.
func (c *client) csrf() string {
	c.t.Helper()
	m := csrfRE.FindStringSubmatch(c.last)
	if m == nil {
		c.t.Fatalf("no CSRF token on the last page:\n%s", c.last)
	}
	return m[1]
}

// post sends a form with the last page's CSRF token added.
func (c *client) post(path string, form url.Values) (int, string) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("csrf") {
		form.Set("csrf", c.csrf())
	}
	return c.postRaw(path, form)
}

// postRaw sends a form as it is.
func (c *client) postRaw(path string, form url.Values) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// signIn signs in with a password and checks it worked; the harness's
// admin also gives its authenticator code, as admins must.
func (c *client) signIn(username, password string) {
	c.t.Helper()
	c.get("/signin")
	code, body := c.post("/signin", url.Values{"username": {username}, "password": {password}})
	if code == http.StatusOK && strings.Contains(body, `id="code-form"`) && username == "admin" {
		code, body = c.post("/signin/code", url.Values{"code": {adminCode(c.s)}})
	}
	if code != http.StatusOK || !strings.Contains(body, "Sign out") {
		c.t.Fatalf("sign in as %s: %d\n%s", username, code, body)
	}
}

// adminCode moves the clock to a fresh TOTP step and returns the harness
// admin's code for it.
func adminCode(s *servertest.Server) string {
	s.T.Helper()
	s.AdminToken()
	s.Clock.Advance(mfa.Period)
	return s.TOTPCode(s.AdminTOTP)
}

// text is a page's visible text, roughly: tags removed, entities decoded,
// spaces squeezed; enough to look for sentences.
func text(body string) string {
	body = regexp.MustCompile(`(?s)<head>.*?</head>`).ReplaceAllString(body, "")
	body = regexp.MustCompile(`<[^>]+>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(body)), " ")
}

func mustContain(t *testing.T, body string, want ...string) {
	t.Helper()
	txt := text(body)
	for _, w := range want {
		if !strings.Contains(txt, w) && !strings.Contains(body, w) {
			t.Fatalf("page lacks %q:\n%s", w, txt)
		}
	}
}

// chromium finds a Chromium or Chrome binary.
func chromium() string {
	if p := os.Getenv("WICKET_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts headless Chromium for one test; it trusts the harness's
// self-signed certificate and keeps its profile in a temporary directory.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	bin := chromium()
	if bin == "" {
		t.Skip("no chromium binary found (install Debian's chromium, or set WICKET_CHROMIUM); the browser tests need it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 800),
	)
	// The whole browser lives at most this long, so a stuck wait fails the
	// test instead of hanging it.
	base, cancelBase := context.WithTimeout(context.Background(), 90*time.Second)
	alloc, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelBase()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", bin, err)
	}
	return ctx
}

// stepTimeout bounds each browser step, so that a stuck one fails the test
// naming itself, well before the browser's own time runs out. A slow
// machine may set WICKET_BROWSER_STEP_TIMEOUT (a Go duration) to more.
var stepTimeout = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("WICKET_BROWSER_STEP_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 20 * time.Second
}()

// run runs browser steps in order, each within stepTimeout; a step that
// fails or is stuck fails the test with the step as written in the test
// and the URL of the page the browser is on.
func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	names := callArgs(1, "run", 2, len(steps))
	for i, step := range steps {
		if err := runStep(ctx, step); err != nil {
			failStep(t, ctx, fmt.Sprintf("step %d of %d, %s,", i+1, len(steps), names[i]), err)
		}
	}
}

// value reads one value from the browser within stepTimeout.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		failStep(t, ctx, callArgs(1, "value", 2, 1)[0], err)
	}
	return v
}

func runStep(ctx context.Context, step chromedp.Action[chromedp.Void]) error {
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(sctx, step)
	return err
}

// failStep fails the test for a browser step, saying where the browser is.
func failStep(t *testing.T, ctx context.Context, step string, err error) {
	t.Helper()
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	loc, lerr := chromedp.Run(lctx, chromedp.Location())
	if lerr != nil {
		loc = "an unknown page (" + lerr.Error() + ")"
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		t.Fatalf("browser %s did not finish within %s, on %s", step, humantime.Duration(stepTimeout), loc)
	}
	t.Fatalf("browser %s failed on %s: %v", step, loc, err)
}

// callArgs returns the source text of the arguments from index first on of
// the call of fn in the function skip frames above callArgs's caller, so
// that a failing step is named as the test writes it. Where the source
// cannot be read, or the steps come from a slice, steps are "step N".
func callArgs(skip int, fn string, first, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("step %d", i+1)
	}
	_, file, line, ok := runtime.Caller(skip + 1)
	if !ok {
		return names
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return names
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
	if err != nil {
		return names
	}
	// The call of fn spanning the line, with first+n arguments.
	var best *ast.CallExpr
	ast.Inspect(f, func(node ast.Node) bool {
		c, ok := node.(*ast.CallExpr)
		if !ok || c.Ellipsis.IsValid() || len(c.Args) != first+n || calleeName(c.Fun) != fn {
			return true
		}
		if fset.Position(c.Pos()).Line <= line && line <= fset.Position(c.End()).Line {
			if best == nil || c.Pos() >= best.Pos() {
				best = c
			}
		}
		return true
	})
	if best == nil {
		return names
	}
	for i, a := range best.Args[first:] {
		text := string(src[fset.Position(a.Pos()).Offset:fset.Position(a.End()).Offset])
		names[i] = strings.Join(strings.Fields(text), " ")
	}
	return names
}

// calleeName is the name a call is made by: f in f(), f[T]() and x.f().
func calleeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.IndexExpr:
		return calleeName(e.X)
	case *ast.IndexListExpr:
		return calleeName(e.X)
	case *ast.SelectorExpr:
		return e.Sel.Name
	}
	return ""
}

// browserSignIn signs in through the sign-in page.
func browserSignIn(t *testing.T, ctx context.Context, s *servertest.Server, username, password string) {
	t.Helper()
	run(t, ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("signin-form")),
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
	)
	if username == "admin" {
		run(t, ctx,
			chromedp.WaitVisible(chromedp.ID("code-form")),
			chromedp.SendKeys(chromedp.ID("code"), adminCode(s)),
			chromedp.Click(chromedp.CSS(`#code-form button[type="submit"]`)),
		)
	}
}
