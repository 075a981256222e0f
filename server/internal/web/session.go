package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// Cookie names. The __Host- prefix makes browsers refuse them unless they
// are Secure, for Path=/ and without a Domain, so no other host can set them.
const (
	sessionCookie = "__Host-wicket_session"
	// preCookie keys the CSRF token of forms shown before sign-in.
	preCookie     = "__Host-wicket_pre"
	pendingCookie = "__Host-wicket_signin"
	flashCookie   = "__Host-wicket_flash"
)

// csrfField is the name of the hidden form field holding the CSRF token.
const csrfField = "csrf"

// maxForm bounds a form body; every form here is small.
const maxForm = 64 << 10

// visit is one request's view of who is asking.
type visit struct {
	actor service.Actor
	user  service.User
	token string // the session's bearer token; "" before sign-in
	csrf  string // the token forms of this visit carry
	flash flash
}

// signedIn reports whether the visit belongs to a signed-in user.
func (v *visit) signedIn() bool { return v.token != "" }

// csrfFor derives the form token of a session (or pre-sign-in) secret. The
// secret is in an HttpOnly cookie that another site can neither read nor
// send along (SameSite=Strict), so it cannot forge the token.
func csrfFor(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("wicket web form v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// setCookie sets a cookie for ttl (0: until the browser closes). Lifetimes
// are durations, not times, because the service's clock (which decides when
// a sign-in expires) need not be the browser's.
func setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
	if ttl > 0 {
		c.MaxAge = max(1, int(ttl/time.Second))
	}
	http.SetCookie(w, c)
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type pageFunc func(w http.ResponseWriter, r *http.Request, v *visit)

// anon serves a page that needs no sign-in; its forms are keyed by a
// random pre-sign-in cookie. A signed-in visitor is still recognised, so
// the layout can show their name.
func (h *handler) anon(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := &visit{}
		if tok := cookieValue(r, sessionCookie); tok != "" {
			if a, u, err := h.svc.Authenticate(r.Context(), tok, remoteHost(r)); err == nil {
				v.actor, v.user, v.token = a, u, tok
			}
		}
		secret := v.token
		if secret == "" {
			secret = cookieValue(r, preCookie)
			if secret == "" && r.Method == http.MethodGet {
				secret = randomString()
				setCookie(w, preCookie, secret, 0)
			}
		}
		if secret != "" {
			v.csrf = csrfFor(secret)
		}
		if !h.checkForm(w, r, v) {
			return
		}
		v.flash = takeFlash(w, r)
		fn(w, r, v)
	}
}

// user serves a page for any signed-in user; others are sent to sign in.
func (h *handler) user(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := cookieValue(r, sessionCookie)
		a, u, err := h.svc.Authenticate(r.Context(), tok, remoteHost(r))
		if err != nil && fault.KindOf(err) != fault.Unauthenticated {
			h.failErr(w, r, &visit{}, err)
			return
		}
		if err != nil {
			if tok != "" {
				clearCookie(w, sessionCookie)
			}
			if r.Method != http.MethodGet {
				// The form's work cannot be redone after a detour through
				// sign-in, so say what happened instead.
				h.fail(w, r, &visit{}, http.StatusUnauthorized, "Signed out",
					"You are not signed in any more (your sign-in expired or you signed out), so this form was not sent. Sign in and try again.")
				return
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		v := &visit{actor: a, user: u, token: tok, csrf: csrfFor(tok)}
		if !h.checkForm(w, r, v) {
			return
		}
		v.flash = takeFlash(w, r)
		fn(w, r, v)
	}
}

// admin serves a page for admins only.
func (h *handler) admin(fn pageFunc) http.HandlerFunc {
	return h.user(func(w http.ResponseWriter, r *http.Request, v *visit) {
		if v.actor.NeedsFactor {
			// An admin without a second factor may only set one up.
			redirectErr(w, r, "/profile", "Set up a second factor before using the admin pages: an authenticator app or email codes, below.")
			return
		}
		if !v.actor.Admin {
			h.fail(w, r, v, http.StatusForbidden, "Admins only", "This page is for admins. Your own settings are on your profile.")
			return
		}
		fn(w, r, v)
	})
}

// checkForm parses a POST body and refuses it unless it carries the
// visit's CSRF token.
func (h *handler) checkForm(w http.ResponseWriter, r *http.Request, v *visit) bool {
	if r.Method != http.MethodPost {
		return true
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, v, http.StatusBadRequest, "Form not readable", "The form could not be read (it may be too large). Go back and try again.")
		return false
	}
	got := r.PostForm.Get(csrfField)
	if v.csrf == "" || got == "" || !hmac.Equal([]byte(got), []byte(v.csrf)) {
		h.log.Warn("web: form refused without a valid CSRF token", "path", r.URL.Path, "remote", remoteHost(r), "token_sent", got != "")
		h.fail(w, r, v, http.StatusForbidden, "Form refused",
			"This form was refused because it did not carry this page's security token. That happens when a form comes from another site, when this browser blocks cookies for this site, or when the page was opened before you signed in or out. Go back, reload the page and send the form again.")
		return false
	}
	return true
}

func randomString() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// pending is a sign-in whose password was right, waiting for its second
// factor: the service's sign-in challenge (single use, 5 minutes), sealed
// with the process's key in an HttpOnly cookie. The password is not kept.
// A step-up of a signed-in visit uses the same, with StepUp set.
type pending struct {
	Username  string    `json:"u"`
	Challenge string    `json:"c"`
	Methods   []int     `json:"m"`
	SentTo    string    `json:"s,omitempty"`
	Next      string    `json:"n,omitempty"`
	Expires   time.Time `json:"e"`
	StepUp    bool      `json:"x,omitempty"`
}

var errPendingGone = errors.New("pending sign-in missing or expired")

func (h *handler) sealPending(p pending) string {
	plain, _ := json.Marshal(p)
	nonce := make([]byte, h.pend.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(h.pend.Seal(nonce, nonce, plain, []byte(pendingCookie)))
}

func (h *handler) openPending(r *http.Request) (pending, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cookieValue(r, pendingCookie))
	if err != nil || len(raw) < h.pend.NonceSize() {
		return pending{}, errPendingGone
	}
	n := h.pend.NonceSize()
	plain, err := h.pend.Open(nil, raw[:n], raw[n:], []byte(pendingCookie))
	if err != nil {
		return pending{}, errPendingGone
	}
	var p pending
	if err := json.Unmarshal(plain, &p); err != nil || !h.svc.Now().Before(p.Expires) {
		return pending{}, errPendingGone
	}
	return p, nil
}

// flash is a one-time message shown on the next page, after a redirect.
type flash struct {
	Msg   string
	Error bool
}

func setFlash(w http.ResponseWriter, msg string, isErr bool) {
	// Cookies hold about 4 kB; messages are sentences, so this never cuts
	// a real one.
	if len(msg) > 1500 {
		msg = msg[:1500] + "…"
	}
	kind := "ok"
	if isErr {
		kind = "err"
	}
	setCookie(w, flashCookie, kind+"."+base64.RawURLEncoding.EncodeToString([]byte(msg)), time.Minute)
}

func takeFlash(w http.ResponseWriter, r *http.Request) flash {
	v := cookieValue(r, flashCookie)
	if v == "" {
		return flash{}
	}
	clearCookie(w, flashCookie)
	kind, enc, _ := strings.Cut(v, ".")
	msg, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return flash{}
	}
	return flash{Msg: string(msg), Error: kind == "err"}
}

// redirect ends a successful POST: the browser loads the next page with GET,
// so a reload does not send the form again.
func redirect(w http.ResponseWriter, r *http.Request, to, msg string) {
	if msg != "" {
		setFlash(w, msg, false)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// redirectErr is redirect with a message that reports a failure.
func redirectErr(w http.ResponseWriter, r *http.Request, to, msg string) {
	setFlash(w, msg, true)
	http.Redirect(w, r, to, http.StatusSeeOther)
}
