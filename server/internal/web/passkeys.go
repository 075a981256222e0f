package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// The passkey pages run one WebAuthn ceremony each in app.js: a form with
// data-passkey="create" or "get" carries the options (JSON, from the
// service) in the element its data-options names; the script asks the
// browser, puts the answer in the form's "credential" field and sends the
// form. Everything else is plain forms.

// passkeyCeremony is a form that runs a ceremony.
type passkeyCeremony struct {
	Kind    string // "create" or "get"
	Action  string // where the answer goes
	Options string // JSON for navigator.credentials
	Origin  string // where the ceremony works
	Button  string
	Fields  map[string]string // hidden fields sent with the answer
}

type passkeyNew struct {
	Name     string
	Ceremony passkeyCeremony
	Error    string
}

// beginPasskey starts adding a passkey and shows the page whose button
// asks the browser to make it.
func (h *handler) beginPasskey(w http.ResponseWriter, r *http.Request, v *visit) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	opts, err := h.svc.BeginPasskeySetup(r.Context(), v.actor)
	if err != nil {
		if h.stepUp(w, r, err, "/profile#passkeys") {
			return
		}
		redirectErr(w, r, "/profile#passkeys", h.message(r, err))
		return
	}
	h.render(w, r, v, "passkey", "Add a passkey", "profile", passkeyNew{Name: name, Ceremony: passkeyCeremony{
		Kind: "create", Action: "/profile/passkeys/finish", Options: opts, Origin: h.cfg.origin(), Button: "Create passkey",
		Fields: map[string]string{"name": name},
	}})
}

func (h *handler) finishPasskey(w http.ResponseWriter, r *http.Request, v *visit) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	p, err := h.svc.FinishPasskeySetup(r.Context(), v.actor, name, r.PostForm.Get("credential"))
	if err != nil {
		if h.stepUp(w, r, err, "/profile#passkeys") {
			return
		}
		redirectErr(w, r, "/profile#passkeys", h.message(r, err))
		return
	}
	redirect(w, r, "/profile#passkeys", "Added the passkey "+p.Name+". Your desktop client offers it when a location asks for MFA, and you can sign in with it.")
}

func (h *handler) findPasskey(r *http.Request, v *visit) (service.Passkey, error) {
	list, err := h.svc.ListPasskeys(r.Context(), v.actor)
	if err != nil {
		return service.Passkey{}, err
	}
	for _, p := range list {
		if p.ID == r.PathValue("id") {
			return p, nil
		}
	}
	return service.Passkey{}, fault.New(fault.NotFound, "There is no such passkey among yours; it may have been removed.")
}

func (h *handler) removePasskeyPage(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.findPasskey(r, v)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	c := confirmData{
		Heading: "Remove the passkey " + p.Name + "?",
		Message: "It can no longer confirm connections or sign-ins. The passkey stays in your password manager or on the security key; delete it there too if you no longer want it.",
		Action:  "/profile/passkeys/" + p.ID + "/remove", Button: "Remove passkey", Cancel: "/profile#passkeys", Danger: true,
	}
	h.render(w, r, v, "confirm", c.Heading, "profile", c)
}

func (h *handler) removePasskey(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.findPasskey(r, v)
	if err == nil {
		err = h.svc.DeletePasskey(r.Context(), v.actor, p.ID)
	}
	if err != nil {
		if h.stepUp(w, r, err, "/profile/passkeys/"+r.PathValue("id")+"/remove") {
			return
		}
		redirectErr(w, r, "/profile#passkeys", h.message(r, err))
		return
	}
	redirect(w, r, "/profile#passkeys", "Removed the passkey "+p.Name+".")
}

// approvalPage is the page a device's StartMfa sent the person to.
type approvalPage struct {
	Approval  service.Approval
	Challenge string
	Ceremony  passkeyCeremony
	Error     string
	Done      string // the outcome, once decided
	Refused   bool
}

// approval shows a connection waiting for a passkey. It needs no sign-in:
// the challenge token in the address is the capability, and only a
// passkey of the device's user approves it.
func (h *handler) approval(w http.ResponseWriter, r *http.Request, v *visit) {
	w.Header().Set("Referrer-Policy", "no-referrer") // the address holds the token
	h.showApproval(w, r, v, r.URL.Query().Get("challenge"), http.StatusOK, "")
}

func (h *handler) showApproval(w http.ResponseWriter, r *http.Request, v *visit, challenge string, status int, errMsg string) {
	a, err := h.svc.PasskeyApproval(r.Context(), challenge)
	if err != nil {
		heading := "Nothing to confirm"
		if fault.KindOf(err) == fault.Invalid {
			err = fault.New(fault.Invalid, "This address lacks its request. Open the link Wicket showed you, or connect again.")
		}
		st := statusOf(err)
		if fault.KindOf(err) == fault.FailedPrecondition {
			heading, st = "Already decided", http.StatusOK
		}
		h.renderStatus(w, r, v, st, "approve", page{Title: heading, Data: approvalPage{Done: h.message(r, err), Error: errMsg}})
		return
	}
	h.renderStatus(w, r, v, status, "approve", page{Title: "Confirm connecting to " + a.LocationName, Data: approvalPage{
		Approval: a, Challenge: challenge, Error: errMsg,
		Ceremony: passkeyCeremony{Kind: "get", Action: service.PasskeyApprovalPath, Options: a.Options, Origin: a.Origin, Button: "Confirm with passkey",
			Fields: map[string]string{"challenge": challenge}},
	}})
}

func (h *handler) approve(w http.ResponseWriter, r *http.Request, v *visit) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	challenge := r.PostForm.Get("challenge")
	err := h.svc.ApprovePasskey(r.Context(), challenge, r.PostForm.Get("credential"), remoteHost(r))
	if err == nil {
		h.render(w, r, v, "approve", "Connection confirmed", "", approvalPage{Done: "Confirmed. Wicket is connecting now; you can close this page."})
		return
	}
	if errors.Is(err, service.ErrChallengeGone) || fault.KindOf(err) == fault.FailedPrecondition || fault.KindOf(err) == fault.Exhausted {
		h.renderStatus(w, r, v, statusOf(err), "approve", page{Title: "Not confirmed", Data: approvalPage{Done: h.message(r, err), Refused: true}})
		return
	}
	h.showApproval(w, r, v, challenge, statusOf(err), h.message(r, err))
}

func (h *handler) refuse(w http.ResponseWriter, r *http.Request, v *visit) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := h.svc.RefusePasskey(r.Context(), r.PostForm.Get("challenge"), remoteHost(r)); err != nil {
		h.renderStatus(w, r, v, statusOf(err), "approve", page{Title: "Not refused", Data: approvalPage{Done: h.message(r, err)}})
		return
	}
	h.render(w, r, v, "approve", "Connection refused", "", approvalPage{Done: "Refused. The device was told, and it did not connect.", Refused: true})
}

// signInPasskey finishes a pending sign-in with a passkey.
func (h *handler) signInPasskey(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.openPending(r)
	if err != nil || p.StepUp {
		clearCookie(w, pendingCookie)
		redirectErr(w, r, "/signin", "Your sign-in took too long. Enter your password again.")
		return
	}
	in, err := h.svc.FinishLoginPasskey(r.Context(), p.Challenge, r.PostForm.Get("credential"), remoteHost(r))
	if err == nil {
		clearCookie(w, pendingCookie)
		h.startSession(w, r, in.Token, in.ExpiresAt.Sub(h.svc.Now()), p.Next)
		return
	}
	h.codeFailed(w, r, v, p, err, "/signin")
}

// confirmPasskey finishes a step-up with a passkey.
func (h *handler) confirmPasskey(w http.ResponseWriter, r *http.Request, v *visit) {
	p, err := h.openPending(r)
	if err != nil || !p.StepUp {
		clearCookie(w, pendingCookie)
		redirectErr(w, r, "/profile", "The confirmation took too long; try the change again.")
		return
	}
	if err := h.svc.FinishStepUpPasskey(r.Context(), v.actor, p.Challenge, r.PostForm.Get("credential")); err != nil {
		h.codeFailed(w, r, v, p, err, "/profile")
		return
	}
	clearCookie(w, pendingCookie)
	redirect(w, r, localPath(p.Next), "Thanks, that's you. For the next 10 minutes you can change how you sign in and add devices; do it again now.")
}
