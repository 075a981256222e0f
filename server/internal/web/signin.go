package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

type signInData struct {
	Username string
	Next     string
	Error    string
	Code     bool // the second step: a code
	// The second step's choices and state.
	TOTP, Email bool
	SentTo      string
	StepUp      bool // confirming a signed-in visit, not signing in
	Passkey     bool
	Ceremony    passkeyCeremony
}

// pendingData is the code step of p, with the passkey ceremony when the
// account has a passkey.
func (h *handler) pendingData(r *http.Request, p pending, errMsg string) signInData {
	d := p.data(errMsg)
	if !d.Passkey {
		return d
	}
	base := "/signin"
	if p.StepUp {
		base = "/confirm"
	}
	opts, err := h.svc.SignInPasskeyOptions(r.Context(), p.Challenge)
	if err != nil {
		d.Passkey = false
		if d.Error == "" && !d.TOTP && !d.Email {
			d.Error = h.message(r, err)
		}
		return d
	}
	d.Ceremony = passkeyCeremony{Kind: "get", Action: base + "/passkey", Options: opts, Origin: h.cfg.origin(), Button: "Use a passkey"}
	return d
}

func (p pending) data(errMsg string) signInData {
	d := signInData{Username: p.Username, Code: true, SentTo: p.SentTo, Error: errMsg, StepUp: p.StepUp}
	for _, m := range p.Methods {
		switch mfa.Method(m) {
		case mfa.TOTP:
			d.TOTP = true
		case mfa.Email:
			d.Email = true
		case mfa.WebAuthn:
			d.Passkey = true
		}
	}
	return d
}

func (p pending) only(m mfa.Method) bool { return len(p.Methods) == 1 && mfa.Method(p.Methods[0]) == m }

func (h *handler) signInPage(w http.ResponseWriter, r *http.Request, v *visit) {
	next := localPath(r.URL.Query().Get("next"))
	if v.signedIn() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	h.render(w, r, v, "signin", "Sign in", "", signInData{Next: next})
}

func (h *handler) signIn(w http.ResponseWriter, r *http.Request, v *visit) {
	username := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	next := localPath(r.PostForm.Get("next"))
	in, err := h.svc.Login(r.Context(), username, password, "", remoteHost(r))
	switch {
	case err != nil:
		h.renderStatus(w, r, v, statusOf(err), "signin", page{Title: "Sign in", Data: signInData{Username: username, Next: next, Error: h.message(r, err)}})
	case in.Token != "":
		h.startSession(w, r, in.Token, in.ExpiresAt.Sub(h.svc.Now()), next)
	default:
		p := pending{Username: username, Challenge: in.Challenge, Next: next, Expires: in.ExpiresAt}
		for _, m := range in.Methods {
			p.Methods = append(p.Methods, int(m))
		}
		h.askCode(w, r, p, "/signin/code")
	}
}

// askCode keeps a pending second step and shows its page. An account
// whose only factor is email codes gets its code at once: there is
// nothing else to choose.
func (h *handler) askCode(w http.ResponseWriter, r *http.Request, p pending, page string) {
	if p.only(mfa.Email) {
		if e, err := h.svc.SendLoginCode(r.Context(), p.Challenge, remoteHost(r)); err == nil {
			p.SentTo = e.SentTo
		} else {
			setFlash(w, h.message(r, err), true)
		}
	}
	setCookie(w, pendingCookie, h.sealPending(p), p.Expires.Sub(h.svc.Now()))
	http.Redirect(w, r, page, http.StatusSeeOther)
}

func (h *handler) signInCodePage(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.openPending(r)
	if err != nil || p.StepUp {
		redirectErr(w, r, "/signin", "Your sign-in took too long. Enter your password again.")
		return
	}
	h.render(w, r, v, "signin", "Sign in", "", h.pendingData(r, p, ""))
}

// signInEmail mails a code for the pending sign-in (or step-up).
func (h *handler) signInEmail(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.openPending(r)
	back := "/signin/code"
	if err == nil && p.StepUp {
		back = "/confirm/code"
	}
	if err != nil || p.StepUp != v.signedIn() {
		redirectErr(w, r, "/signin", "Your sign-in took too long. Enter your password again.")
		return
	}
	e, err := h.svc.SendLoginCode(r.Context(), p.Challenge, remoteHost(r))
	if err != nil {
		redirectErr(w, r, back, h.message(r, err))
		return
	}
	p.SentTo = e.SentTo
	setCookie(w, pendingCookie, h.sealPending(p), p.Expires.Sub(h.svc.Now()))
	redirect(w, r, back, "")
}

func (h *handler) signInCode(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.openPending(r)
	if err != nil || p.StepUp {
		clearCookie(w, pendingCookie)
		redirectErr(w, r, "/signin", "Your sign-in took too long. Enter your password again.")
		return
	}
	code := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("code")), " ", "")
	in, err := h.svc.FinishLogin(r.Context(), p.Challenge, code, remoteHost(r))
	if err == nil {
		clearCookie(w, pendingCookie)
		h.startSession(w, r, in.Token, in.ExpiresAt.Sub(h.svc.Now()), p.Next)
		return
	}
	h.codeFailed(w, r, v, p, err, "/signin")
}

// codeFailed shows a refused code: the same step again with the message,
// or back to the start when the challenge is over.
func (h *handler) codeFailed(w http.ResponseWriter, r *http.Request, v *visit, p pending, err error, restart string) {
	title := "Sign in"
	if p.StepUp {
		title = "Confirm it's you"
	}
	switch {
	case fault.KindOf(err) == fault.Invalid:
		h.renderStatus(w, r, v, http.StatusBadRequest, "signin", page{Title: title, Data: h.pendingData(r, p, "Enter the 6-digit code: it has exactly six digits.")})
	case fault.KindOf(err) == fault.Exhausted || errors.Is(err, service.ErrChallengeGone):
		// Locked out, or the challenge is spent: this step is over; the
		// message says why (and how long to wait).
		clearCookie(w, pendingCookie)
		redirectErr(w, r, restart, h.message(r, err))
	default:
		h.renderStatus(w, r, v, statusOf(err), "signin", page{Title: title, Data: h.pendingData(r, p, h.message(r, err))})
	}
}

// stepUp sends a visit whose change needs a recently proved factor to
// confirm it, and back to next afterwards; false for any other error.
func (h *handler) stepUp(w http.ResponseWriter, r *http.Request, err error, next string) bool {
	if !errors.Is(err, service.ErrStepUp) {
		return false
	}
	http.Redirect(w, r, "/confirm?next="+url.QueryEscape(next), http.StatusSeeOther)
	return true
}

// confirmPage starts a step-up of the signed-in visit.
func (h *handler) confirmPage(w http.ResponseWriter, r *http.Request, v *visit) {
	in, err := h.svc.StartStepUp(r.Context(), v.actor)
	if err != nil {
		redirectErr(w, r, "/profile", h.message(r, err))
		return
	}
	p := pending{Username: v.user.Username, Challenge: in.Challenge, Next: localPath(r.URL.Query().Get("next")), Expires: in.ExpiresAt, StepUp: true}
	for _, m := range in.Methods {
		p.Methods = append(p.Methods, int(m))
	}
	// A GET that mails a code would mail one on every reload; the page
	// offers the button instead, unless email is the only way.
	h.askCode(w, r, p, "/confirm/code")
}

func (h *handler) confirmCodePage(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.openPending(r)
	if err != nil || !p.StepUp {
		redirectErr(w, r, "/profile", "The confirmation took too long; try the change again.")
		return
	}
	h.render(w, r, v, "signin", "Confirm it's you", "profile", h.pendingData(r, p, ""))
}

func (h *handler) confirmCode(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.openPending(r)
	if err != nil || !p.StepUp {
		clearCookie(w, pendingCookie)
		redirectErr(w, r, "/profile", "The confirmation took too long; try the change again.")
		return
	}
	code := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("code")), " ", "")
	if err := h.svc.FinishStepUp(r.Context(), v.actor, p.Challenge, code); err != nil {
		h.codeFailed(w, r, v, p, err, "/profile")
		return
	}
	clearCookie(w, pendingCookie)
	redirect(w, r, localPath(p.Next), "Thanks, that's you. For the next 10 minutes you can change how you sign in and add devices; do it again now.")
}

// startSession puts the bearer token in the session cookie and goes on.
func (h *handler) startSession(w http.ResponseWriter, r *http.Request, token string, ttl time.Duration, next string) {
	setCookie(w, sessionCookie, token, ttl)
	clearCookie(w, preCookie)
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
}

func (h *handler) signOut(w http.ResponseWriter, r *http.Request, v *visit) {
	if err := h.svc.Logout(r.Context(), v.token); err != nil {
		h.log.Error("web: sign out", "user", v.user.Username, "err", err)
	}
	clearCookie(w, sessionCookie)
	redirect(w, r, "/signin", "You are signed out.")
}

// home sends admins to the overview and everyone else to their profile.
func (h *handler) home(w http.ResponseWriter, r *http.Request, v *visit) {
	if v.actor.Admin {
		http.Redirect(w, r, "/overview", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/profile", http.StatusSeeOther)
}

func statusOf(err error) int {
	switch fault.KindOf(err) {
	case fault.Invalid:
		return http.StatusBadRequest
	case fault.Unauthenticated:
		return http.StatusUnauthorized
	case fault.Exhausted:
		return http.StatusTooManyRequests
	case fault.PermissionDenied:
		return http.StatusForbidden
	case fault.NotFound:
		return http.StatusNotFound
	case fault.FailedPrecondition, fault.Conflict:
		return http.StatusConflict
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
