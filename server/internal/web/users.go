package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/password"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

type userRow struct {
	service.User
	Methods  []string
	You      bool
	Devices  int       // how many devices the user has
	LastSeen time.Time // the latest use of any of them
}

func (h *handler) users(w http.ResponseWriter, r *http.Request, v *visit) {
	list, err := h.svc.ListUsers(r.Context(), v.actor)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	devices, err := h.svc.AllDevices(r.Context(), v.actor)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	rows := make([]userRow, 0, len(list))
	byID := map[string]int{}
	for _, u := range list {
		byID[u.ID] = len(rows)
		rows = append(rows, userRow{User: u, Methods: methodNames(u), You: u.ID == v.actor.UserID})
	}
	for _, d := range devices {
		if i, ok := byID[d.UserID]; ok {
			rows[i].Devices++
			if d.LastSeen.After(rows[i].LastSeen) {
				rows[i].LastSeen = d.LastSeen
			}
		}
	}
	h.render(w, r, v, "users", "Users", "users", rows)
}

func methodNames(u service.User) []string {
	var out []string
	for _, m := range service.Methods(u) {
		out = append(out, methodLabel(int(m)))
	}
	return out
}

// userForm is the create and edit page of a user.
type userForm struct {
	User    *service.User    // nil when creating
	Devices []service.Device // the user's, when editing
	Listed  bool             // Devices were read (the page shows them)
	Fields  []formField
	Error   string
	You     bool
	Invalid *formField // the first field with an error
}

func userFields(f func(string) string, creating, admin bool, e errs) []formField {
	var fields []formField
	if creating {
		fields = append(fields, formField{Name: "username", Label: "Username", Type: "text", Value: f("username"), Required: true, Autocomplete: "off",
			Hint: "Lower-case letters, digits, '.', '_' or '-'. Cannot be changed later."})
	}
	fields = append(fields,
		formField{Name: "email", Label: "Email", Type: "email", Value: f("email"), Required: creating, Autocomplete: "off", Hint: "Where email codes go."},
	)
	pw := formField{Name: "password", Label: "Password", Type: "password", Autocomplete: "new-password", Required: creating, Hint: fmt.Sprintf("At least %d characters.", password.MinLength)}
	if !creating {
		pw.Label, pw.Hint = "New password", "Leave empty to keep the current password."
	}
	fields = append(fields, pw,
		formField{Name: "groups", Label: "Groups", Type: "text", Value: f("groups"), Placeholder: "staff, engineering", Hint: "Separated by commas. Locations can be limited to groups."},
		formField{Name: "admin", Label: "Admin", Type: "checkbox", Checked: admin, Hint: "May manage locations, users and settings."},
	)
	return e.apply(fields)
}

func (h *handler) findUser(r *http.Request, v *visit) (service.User, error) {
	list, err := h.svc.ListUsers(r.Context(), v.actor)
	if err != nil {
		return service.User{}, err
	}
	id := r.PathValue("id")
	for _, u := range list {
		if u.ID == id {
			return u, nil
		}
	}
	return service.User{}, fault.New(fault.NotFound, "There is no such user; they may have been deleted.")
}

func (h *handler) newUserPage(w http.ResponseWriter, r *http.Request, v *visit) {
	h.render(w, r, v, "user", "New user", "users", userForm{Fields: userFields(func(string) string { return "" }, true, false, errs{})})
}

func (h *handler) createUser(w http.ResponseWriter, r *http.Request, v *visit) {
	f := r.PostForm
	u, err := h.svc.CreateUser(r.Context(), v.actor, service.NewUser{
		Username: f.Get("username"), Email: f.Get("email"), Password: f.Get("password"), Admin: f.Get("admin") != "", Groups: splitList(f.Get("groups")),
	})
	if err != nil {
		e := errs{}
		field, msg := h.fieldError(r, err)
		e.set(field, msg, userFields(f.Get, true, false, errs{}))
		h.renderStatus(w, r, v, statusOf(err), "user", page{Title: "New user", Nav: "users",
			Data: userFormWithErrors(userForm{Fields: userFields(f.Get, true, f.Get("admin") != "", e), Error: e[""]})})
		return
	}
	redirect(w, r, "/users", "Created "+u.Username+". They can sign in here, set up MFA in their profile and add their devices.")
}

func (h *handler) editUserPage(w http.ResponseWriter, r *http.Request, v *visit) {
	u, err := h.findUser(r, v)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	devices, err := h.svc.UserDevices(r.Context(), v.actor, u.ID)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	vals := map[string]string{"email": u.Email, "groups": strings.Join(u.Groups, ", ")}
	h.render(w, r, v, "user", u.Username, "users", userForm{User: &u, You: u.ID == v.actor.UserID, Devices: devices, Listed: true,
		Fields: userFields(func(k string) string { return vals[k] }, false, u.Admin, errs{})})
}

func (h *handler) updateUser(w http.ResponseWriter, r *http.Request, v *visit) {
	u, err := h.findUser(r, v)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	f := r.PostForm
	admin := f.Get("admin") != ""
	_, err = h.svc.UpdateUser(r.Context(), v.actor, service.UserUpdate{ID: u.ID, Email: f.Get("email"), Admin: admin, Groups: splitList(f.Get("groups")), Password: f.Get("password")})
	if err != nil {
		e := errs{}
		field, msg := h.fieldError(r, err)
		e.set(field, msg, userFields(f.Get, false, admin, errs{}))
		h.renderStatus(w, r, v, statusOf(err), "user", page{Title: u.Username, Nav: "users",
			Data: userFormWithErrors(userForm{User: &u, You: u.ID == v.actor.UserID, Fields: userFields(f.Get, false, admin, e), Error: e[""]})})
		return
	}
	redirect(w, r, "/users", "Saved "+u.Username+".")
}

func (h *handler) resetMFAPage(w http.ResponseWriter, r *http.Request, v *visit) {
	u, err := h.findUser(r, v)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	d := confirmData{
		Heading: "Reset MFA of " + u.Username + "?",
		Message: "This turns off their authenticator app and email codes, for example after they lost their phone. Until they set MFA up again in their profile, they cannot connect to locations that ask for MFA.",
		Action:  "/users/" + u.ID + "/reset-mfa", Button: "Reset MFA", Cancel: "/users/" + u.ID, Danger: true,
	}
	h.render(w, r, v, "confirm", d.Heading, "users", d)
}

func (h *handler) resetMFA(w http.ResponseWriter, r *http.Request, v *visit) {
	u, err := h.findUser(r, v)
	if err == nil {
		err = h.svc.ResetUserMFA(r.Context(), v.actor, u.ID)
	}
	if err != nil {
		redirectErr(w, r, "/users", h.message(r, err))
		return
	}
	redirect(w, r, "/users", "Reset the MFA of "+u.Username+". They can set it up again in their profile.")
}

func (h *handler) deleteUserPage(w http.ResponseWriter, r *http.Request, v *visit) {
	u, err := h.findUser(r, v)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	d := confirmData{
		Heading: "Delete " + u.Username + "?",
		Message: "Their devices are removed and their connections end now. This cannot be undone.",
		Action:  "/users/" + u.ID + "/delete", Button: "Delete user", Cancel: "/users/" + u.ID, Danger: true,
	}
	h.render(w, r, v, "confirm", d.Heading, "users", d)
}

func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request, v *visit) {
	u, err := h.findUser(r, v)
	if err == nil {
		err = h.svc.DeleteUser(r.Context(), v.actor, u.ID)
	}
	if err != nil {
		redirectErr(w, r, "/users", h.message(r, err))
		return
	}
	redirect(w, r, "/users", "Deleted "+u.Username+".")
}

func userFormWithErrors(f userForm) userForm {
	f.Invalid = firstInvalid(f.Fields)
	return f
}
