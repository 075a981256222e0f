package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/shared/humantime"
)

//go:embed templates static
var assetFS embed.FS

type pageTemplate struct{ t *template.Template }

// page is what every template gets: the layout's parts and the page's own
// data in Data.
type page struct {
	Title    string
	Nav      string // the menu entry to mark as current
	SignedIn bool
	Username string
	Admin    bool
	CSRF     string
	Flash    flash
	Error    string // a message for the whole page, above its content
	Static   string // version suffix of asset URLs
	Outbox   bool   // mail goes to the development outbox, not SMTP
	Data     any
}

func (h *handler) funcs() template.FuncMap {
	return template.FuncMap{
		"ago":      func(t time.Time) string { return ago(h.svc.Now(), t) },
		"when":     when,
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"bytes":    humanBytes,
		"join":     strings.Join,
		"method":   methodLabel,
		"duration": seconds,
		"chunk":    chunk,
	}
}

// parsePages builds one template set per page: the layout, the shared
// parts and the page's own file, which defines "content".
func (h *handler) parsePages() map[string]*pageTemplate {
	base := template.Must(template.New("").Funcs(h.funcs()).ParseFS(assetFS, "templates/layout.html"))
	files, err := fs.Glob(assetFS, "templates/pages/*.html")
	if err != nil || len(files) == 0 {
		panic(fmt.Sprintf("web: no page templates embedded: %v", err))
	}
	out := map[string]*pageTemplate{}
	for _, f := range files {
		t := template.Must(template.Must(base.Clone()).ParseFS(assetFS, f))
		out[strings.TrimSuffix(path.Base(f), ".html")] = &pageTemplate{t: t}
	}
	return out
}

// render writes a page with status 200.
func (h *handler) render(w http.ResponseWriter, r *http.Request, v *visit, name, title, nav string, data any) {
	h.renderStatus(w, r, v, http.StatusOK, name, page{Title: title, Nav: nav, Data: data})
}

func (h *handler) renderStatus(w http.ResponseWriter, r *http.Request, v *visit, status int, name string, p page) {
	t, ok := h.pages[name]
	if !ok {
		panic("web: no page template " + name)
	}
	p.SignedIn, p.Username, p.Admin, p.CSRF, p.Static = v.signedIn(), v.user.Username, v.actor.Admin, v.csrf, h.static
	p.Outbox = h.cfg.outbox != nil
	if p.Flash.Msg == "" {
		p.Flash = v.flash
	}
	// Render to a buffer first so a template error becomes a clean 500
	// rather than half a page.
	var buf bytes.Buffer
	if err := t.t.ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.Error("web: render page", "page", name, "err", err)
		http.Error(w, "The page could not be shown; the admin will find the details in the server log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// problem is the data of the error page.
type problem struct {
	Heading string
	Message string
	Back    string
}

// fail shows an error page.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, v *visit, status int, heading, msg string) {
	back := "/"
	if !v.signedIn() {
		back = "/signin"
	}
	h.renderStatus(w, r, v, status, "problem", page{Title: heading, Data: problem{Heading: heading, Message: msg, Back: back}})
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request, v *visit) {
	h.fail(w, r, v, http.StatusNotFound, "Page not found", "There is no page at this address. It may have been removed, or the link is mistyped.")
}

// failErr shows a domain error on an error page, with the status its kind
// calls for.
func (h *handler) failErr(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	status := statusOf(err)
	heading := "Something went wrong"
	switch status {
	case http.StatusNotFound:
		heading = "Not found"
	case http.StatusServiceUnavailable:
		heading = "Try again shortly"
	}
	h.fail(w, r, v, status, heading, h.message(r, err))
}

// message turns an error into words for the person at the browser. Domain
// errors carry such words; anything else is logged and summarised.
func (h *handler) message(r *http.Request, err error) string {
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind != fault.Internal && fe.Msg != "" {
		if fe.Kind == fault.Unavailable && fe.Err != nil {
			// The person is told to try again; the admin needs the cause.
			h.log.Warn("web: request failed: unavailable", "path", r.URL.Path, "err", fe.Err)
		}
		return fe.Msg
	}
	h.log.Error("web: request failed", "path", r.URL.Path, "err", err)
	return "The server could not do this; the admin will find the details in the server log."
}

var fieldPrefix = regexp.MustCompile(`^([a-z_]+): (.+)$`)

// fieldError splits a domain error into the form field it concerns (from
// fault.Error.Field, or the "field: …" prefix of its message) and the
// message to show beside that field. Field is "" for errors of the whole form.
func (h *handler) fieldError(r *http.Request, err error) (field, msg string) {
	msg = h.message(r, err)
	var fe *fault.Error
	if !errors.As(err, &fe) {
		return "", msg
	}
	if m := fieldPrefix.FindStringSubmatch(msg); m != nil {
		field, msg = m[1], m[2]
	}
	if fe.Field != "" {
		field = fe.Field
	}
	return field, capitalize(msg)
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// ago says how long ago t was, for people: "just now", "4 min ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return when(t)
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return humantime.Duration(d.Truncate(time.Second)) + " ago"
	case d < time.Hour:
		return humantime.Duration(d.Truncate(time.Minute)) + " ago"
	case d < 48*time.Hour:
		return humantime.Duration(d.Truncate(time.Hour)) + " ago"
	}
	return when(t)
}

// when is a time in UTC, which every admin of a server shares.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

func humanBytes(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), []string{"kB", "MB", "GB", "TB", "PB"}
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, suffix[i])
}

func methodLabel(m int) string {
	switch mfa.Method(m) {
	case mfa.TOTP:
		return "Authenticator app"
	case mfa.Email:
		return "Email code"
	case mfa.WebAuthn:
		return "Passkey"
	}
	return "None"
}

// seconds renders a setting kept in seconds as the admin typed it, with
// the same length for people beside it from a minute on: "600 s (10 min)".
func seconds(s int) string {
	if s < 60 {
		return fmt.Sprintf("%d s", s)
	}
	return fmt.Sprintf("%d s (%s)", s, humantime.Duration(time.Duration(s)*time.Second))
}

// chunk groups a secret in fours, as people read it out and type it;
// authenticator apps ignore the spaces.
func chunk(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
