package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

type signInData struct {
	Username string
	Next     string
	Error    string
	Code     bool // the second step: the TOTP code
}

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
	tok, exp, err := h.svc.Login(r.Context(), username, password, "", remoteHost(r))
	switch {
	case err == nil:
		h.startSession(w, r, tok, exp.Sub(h.svc.Now()), next)
	case errors.Is(err, service.ErrTOTPRequired):
		p := pending{Username: username, Password: password, Next: next, Expires: h.svc.Now().Add(pendingTTL)}
		setCookie(w, pendingCookie, h.sealPending(p), pendingTTL)
		http.Redirect(w, r, "/signin/code", http.StatusSeeOther)
	default:
		h.renderStatus(w, r, v, statusOf(err), "signin", page{Title: "Sign in", Data: signInData{Username: username, Next: next, Error: h.message(r, err)}})
	}
}

func (h *handler) signInCodePage(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.openPending(r)
	if err != nil {
		redirectErr(w, r, "/signin", "Your sign-in took too long. Enter your password again.")
		return
	}
	h.render(w, r, v, "signin", "Sign in", "", signInData{Username: p.Username, Code: true})
}

func (h *handler) signInCode(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.openPending(r)
	if err != nil {
		clearCookie(w, pendingCookie)
		redirectErr(w, r, "/signin", "Your sign-in took too long. Enter your password again.")
		return
	}
	code := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("code")), " ", "")
	tok, exp, err := h.svc.Login(r.Context(), p.Username, p.Password, code, remoteHost(r))
	switch {
	case err == nil:
		clearCookie(w, pendingCookie)
		h.startSession(w, r, tok, exp.Sub(h.svc.Now()), p.Next)
	case errors.Is(err, service.ErrTOTPRequired) || fault.KindOf(err) == fault.Invalid:
		h.renderStatus(w, r, v, http.StatusBadRequest, "signin", page{Title: "Sign in", Data: signInData{Username: p.Username, Code: true, Error: "Enter the 6-digit code your authenticator app shows."}})
	case fault.KindOf(err) == fault.Exhausted:
		// Locked out: the code step is over; the message says how long to wait.
		clearCookie(w, pendingCookie)
		h.renderStatus(w, r, v, http.StatusTooManyRequests, "signin", page{Title: "Sign in", Data: signInData{Username: p.Username, Error: h.message(r, err)}})
	default:
		h.renderStatus(w, r, v, statusOf(err), "signin", page{Title: "Sign in", Data: signInData{Username: p.Username, Code: true, Error: h.message(r, err)}})
	}
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
