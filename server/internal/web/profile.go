package web

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

type profileData struct {
	User           service.User
	MaskedEmail    string
	TOTP           bool
	Email          bool
	SMTPConfigured bool
	Devices        []service.Device // of the Wicket client
	Configs        []service.Device // standard WireGuard configs
	DisableCode    formField        // the code that turns TOTP off
	Passkeys       []service.Passkey
	PasskeyName    formField
	// PasskeyProblem says why passkeys cannot be added on this server.
	PasskeyProblem string
}

func (h *handler) profileData(r *http.Request, v *visit) (profileData, error) {
	p, err := h.svc.Profile(r.Context(), v.actor)
	if err != nil {
		return profileData{}, err
	}
	keys, err := h.svc.ListPasskeys(r.Context(), v.actor)
	if err != nil {
		return profileData{}, err
	}
	d := profileData{
		User: p.User, MaskedEmail: mail.MaskAddress(p.User.Email), TOTP: p.User.TOTPEnabled, Email: p.User.EmailMFA,
		SMTPConfigured: h.svc.SMTPConfigured(r.Context()), DisableCode: codeField("disable_code", ""),
		Passkeys: keys, PasskeyName: passkeyNameField(),
	}
	for _, dev := range p.Devices {
		if dev.ConfigLocationID != "" {
			d.Configs = append(d.Configs, dev)
		} else {
			d.Devices = append(d.Devices, dev)
		}
	}
	if err := h.svc.PasskeysAvailable(); err != nil {
		d.PasskeyProblem = h.message(r, err)
	}
	return d, nil
}

func passkeyNameField() formField {
	return formField{Name: "name", Label: "Name (optional)", Type: "text", Placeholder: "MacBook Touch ID", Autocomplete: "off"}
}

func codeField(name, err string) formField {
	return formField{Name: name, Label: "6-digit code", Type: "text", InputMode: "numeric", Autocomplete: "one-time-code", Placeholder: "123456", Error: err, Required: true}
}

func (h *handler) profile(w http.ResponseWriter, r *http.Request, v *visit) {
	d, err := h.profileData(r, v)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	h.render(w, r, v, "profile", "Profile", "profile", d)
}

// totpSetup is the page of a started authenticator app setup. The secret
// is on this page only: it travels in the confirm form so a mistyped code
// can be tried again, and is gone once the setup is confirmed.
type totpSetup struct {
	Secret  string
	QR      template.URL // data: URL of the PNG
	URL     string       // otpauth URL, sent back with the code
	Code    formField
	Account string
}

func (h *handler) beginTOTP(w http.ResponseWriter, r *http.Request, v *visit) {
	s, err := h.svc.BeginTOTPSetup(r.Context(), v.actor)
	if err != nil {
		if h.stepUp(w, r, err, "/profile") {
			return
		}
		redirectErr(w, r, "/profile", h.message(r, err))
		return
	}
	h.render(w, r, v, "totp", "Set up an authenticator app", "profile", totpSetup{
		Secret: s.Secret, QR: pngURL(s.QRPNG), URL: s.OtpauthURL, Code: codeField("code", ""), Account: v.user.Username,
	})
}

func pngURL(png []byte) template.URL {
	// The PNG is ours, rendered from the key; a data: URL keeps it out of
	// any cache and needs no endpoint that would serve the secret again.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

func (h *handler) confirmTOTP(w http.ResponseWriter, r *http.Request, v *visit) {
	code := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("code")), " ", "")
	err := h.svc.ConfirmTOTPSetup(r.Context(), v.actor, code)
	if err == nil {
		redirect(w, r, "/profile", "The authenticator app is set up. Your desktop client offers it when a location asks for MFA.")
		return
	}
	if fault.KindOf(err) == fault.FailedPrecondition {
		redirectErr(w, r, "/profile", h.message(r, err))
		return
	}
	// Show the same secret again with the error, so the app need not be
	// set up twice.
	key, kerr := otp.NewKeyFromURL(r.PostForm.Get("otpauth"))
	if kerr != nil || key.Type() != "totp" {
		redirectErr(w, r, "/profile", "The setup page was damaged; start the authenticator app setup again.")
		return
	}
	png, qerr := mfa.QRPNG(key, 256)
	if qerr != nil {
		h.failErr(w, r, v, qerr)
		return
	}
	_, msg := h.fieldError(r, err)
	h.renderStatus(w, r, v, statusOf(err), "totp", page{Title: "Set up an authenticator app", Nav: "profile", Data: totpSetup{
		Secret: key.Secret(), QR: pngURL(png), URL: key.URL(), Code: codeField("code", msg), Account: v.user.Username,
	}})
}

func (h *handler) disableTOTP(w http.ResponseWriter, r *http.Request, v *visit) {
	code := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("disable_code")), " ", "")
	err := h.svc.DisableTOTP(r.Context(), v.actor, code)
	if err == nil {
		redirect(w, r, "/profile", "The authenticator app is off. Locations that ask for MFA need another method, such as email codes.")
		return
	}
	d, perr := h.profileData(r, v)
	if perr != nil {
		h.failErr(w, r, v, perr)
		return
	}
	_, msg := h.fieldError(r, err)
	d.DisableCode = codeField("disable_code", msg)
	h.renderStatus(w, r, v, statusOf(err), "profile", page{Title: "Profile", Nav: "profile", Data: d})
}

func (h *handler) beginEmail(w http.ResponseWriter, r *http.Request, v *visit) {
	if _, err := h.svc.BeginEmailSetup(r.Context(), v.actor); err != nil {
		if h.stepUp(w, r, err, "/profile") {
			return
		}
		redirectErr(w, r, "/profile", h.message(r, err))
		return
	}
	http.Redirect(w, r, "/profile/email/confirm", http.StatusSeeOther)
}

type emailConfirm struct {
	SentTo string
	Code   formField
	Valid  time.Duration
}

func (h *handler) emailConfirmPage(w http.ResponseWriter, r *http.Request, v *visit) {
	h.render(w, r, v, "email", "Confirm email codes", "profile", emailConfirm{SentTo: mail.MaskAddress(v.user.Email), Code: codeField("code", ""), Valid: mfa.ChallengeTTL})
}

func (h *handler) confirmEmail(w http.ResponseWriter, r *http.Request, v *visit) {
	code := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("code")), " ", "")
	err := h.svc.ConfirmEmailSetup(r.Context(), v.actor, code)
	if err == nil {
		redirect(w, r, "/profile", "Email codes are on. Your desktop client offers them when a location asks for MFA.")
		return
	}
	_, msg := h.fieldError(r, err)
	h.renderStatus(w, r, v, statusOf(err), "email", page{Title: "Confirm email codes", Nav: "profile", Data: emailConfirm{
		SentTo: mail.MaskAddress(v.user.Email), Code: codeField("code", msg), Valid: mfa.ChallengeTTL,
	}})
}

func (h *handler) disableEmail(w http.ResponseWriter, r *http.Request, v *visit) {
	if err := h.svc.DisableEmailMFA(r.Context(), v.actor); err != nil {
		if h.stepUp(w, r, err, "/profile") {
			return
		}
		redirectErr(w, r, "/profile", h.message(r, err))
		return
	}
	redirect(w, r, "/profile", "Email codes are off.")
}

type deviceNew struct {
	Name      formField
	Code      string // set once made
	DeviceFor string
	Expires   time.Time
	Error     string
}

func deviceNameField(value, err string) formField {
	return formField{Name: "name", Label: "Device name", Type: "text", Value: value, Error: err, Placeholder: "Work laptop", Autocomplete: "off",
		Hint: "Optional: helps you tell your devices apart. The desktop client can change it."}
}

func (h *handler) newDevicePage(w http.ResponseWriter, r *http.Request, v *visit) {
	h.render(w, r, v, "device", "Add a device", "profile", deviceNew{Name: deviceNameField("", "")})
}

func (h *handler) addDevice(w http.ResponseWriter, r *http.Request, v *visit) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	e, err := h.svc.CreateEnrollmentToken(r.Context(), v.actor, name)
	if err != nil {
		if h.stepUp(w, r, err, "/profile/devices/new") {
			return
		}
		_, msg := h.fieldError(r, err)
		h.renderStatus(w, r, v, statusOf(err), "device", page{Title: "Add a device", Nav: "profile", Data: deviceNew{Name: deviceNameField(name, msg)}})
		return
	}
	// The code holds a one-time token; it is shown in this response only.
	h.render(w, r, v, "device", "Add a device", "profile", deviceNew{Code: e.Code, DeviceFor: name, Expires: e.ExpiresAt})
}

func (h *handler) findDevice(r *http.Request, v *visit) (service.Device, error) {
	list, err := h.svc.ListDevices(r.Context(), v.actor)
	if err != nil {
		return service.Device{}, err
	}
	for _, d := range list {
		if d.ID == r.PathValue("id") {
			return d, nil
		}
	}
	return service.Device{}, fault.New(fault.NotFound, "There is no such device among yours; it may have been removed.")
}

func (h *handler) removeDevicePage(w http.ResponseWriter, r *http.Request, v *visit) {
	d, err := h.findDevice(r, v)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	msg := "The device's connections end now and it can no longer connect. To use it again, add it again with a new enrollment code."
	if d.ConfigLocationID != "" {
		msg = "Its peer leaves the gateway of " + d.ConfigLocationName + " now and the config stops working. To connect that device again, make a new config."
	}
	c := confirmData{
		Heading: "Remove " + d.Name + "?",
		Message: msg,
		Action:  "/profile/devices/" + d.ID + "/remove", Button: "Remove device", Cancel: "/profile", Danger: true,
	}
	h.render(w, r, v, "confirm", c.Heading, "profile", c)
}

func (h *handler) removeDevice(w http.ResponseWriter, r *http.Request, v *visit) {
	d, err := h.findDevice(r, v)
	if err == nil {
		err = h.svc.DeleteDevice(r.Context(), v.actor, d.ID)
	}
	if err != nil {
		redirectErr(w, r, "/profile", h.message(r, err))
		return
	}
	redirect(w, r, "/profile", "Removed "+d.Name+".")
}
