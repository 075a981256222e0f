package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

type smtpData struct {
	Fields      []formField
	Error       string
	Invalid     *formField // the first field with an error
	Configured  bool
	PasswordSet bool
	TestTo      formField
}

func smtpFields(f func(string) string, passwordSet bool, e errs) []formField {
	tls := f("tls")
	choices := []choice{
		{Value: "starttls", Label: "STARTTLS (usually port 587)"},
		{Value: "implicit", Label: "TLS from the start (usually port 465)"},
		{Value: "none", Label: "None (only for a server on this host)"},
	}
	for i := range choices {
		choices[i].Selected = choices[i].Value == tls
	}
	pw := formField{Name: "password", Label: "Password", Type: "password", Autocomplete: "new-password", Hint: "Stored encrypted and never shown again."}
	if passwordSet {
		pw.Placeholder, pw.Hint = "unchanged", "A password is stored. Leave empty to keep it; it is never shown again."
	}
	return e.apply([]formField{
		{Name: "host", Label: "Host", Type: "text", Value: f("host"), Placeholder: "smtp.example.com", Hint: "The mail server's host name. Empty turns email off."},
		{Name: "port", Label: "Port", Type: "number", Value: f("port"), Placeholder: "587", InputMode: "numeric", Hint: "Empty picks the usual port of the encryption."},
		{Name: "tls", Label: "Encryption", Type: "select", Options: choices},
		{Name: "username", Label: "Username", Type: "text", Value: f("username"), Autocomplete: "off", Hint: "Empty sends without signing in."},
		pw,
		{Name: "from", Label: "From address", Type: "text", Value: f("from"), Placeholder: "Wicket <wicket@example.com>", Hint: "The sender of code emails."},
	})
}

// smtpErrorFields says which field each line of a mail.Settings error is about.
var smtpErrorFields = []struct{ prefix, field string }{
	{"SMTP host", "host"}, {"SMTP port", "port"}, {"From address", "from"}, {"SMTP TLS mode", "tls"},
}

func (h *handler) smtpPage(w http.ResponseWriter, r *http.Request, v *visit) {
	view, err := h.svc.GetSMTP(r.Context(), v.actor)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	s := view.Settings
	tls := s.TLS.String()
	if s.Host == "" {
		tls = mail.TLSStartTLS.String()
	}
	vals := map[string]string{"host": s.Host, "port": itoa(s.Port), "tls": tls, "username": s.Username, "from": s.From}
	h.render(w, r, v, "smtp", "Email (SMTP)", "smtp", smtpData{
		Fields: smtpFields(func(k string) string { return vals[k] }, view.PasswordSet, errs{}), Configured: s.Host != "", PasswordSet: view.PasswordSet,
		TestTo: testToField(v.user.Email, ""),
	})
}

func testToField(value, err string) formField {
	return formField{Name: "to", Label: "Send a test email to", Type: "email", Value: value, Error: err, Required: true}
}

func (h *handler) saveSMTP(w http.ResponseWriter, r *http.Request, v *visit) {
	f := r.PostForm
	e := errs{}
	set := mail.Settings{Host: strings.TrimSpace(f.Get("host")), Username: strings.TrimSpace(f.Get("username")), Password: f.Get("password"), From: strings.TrimSpace(f.Get("from"))}
	var err error
	if set.TLS, err = mail.ParseTLSMode(f.Get("tls")); err != nil {
		e["tls"] = capitalize(err.Error())
	}
	if p := strings.TrimSpace(f.Get("port")); p != "" {
		if set.Port, err = strconv.Atoi(p); err != nil {
			e["port"] = "Enter a whole number, such as 587."
		}
	}
	if len(e) == 0 {
		if err = h.svc.UpdateSMTP(r.Context(), v.actor, set); err == nil {
			msg := "Saved the SMTP settings. Send a test email to check them."
			if set.Host == "" {
				msg = "Email is off: users cannot use email codes until SMTP settings are saved again."
			}
			redirect(w, r, "/smtp", msg)
			return
		}
		// Settings.Validate reports each problem on its own line, naming the field.
		for _, line := range strings.Split(h.message(r, err), "\n") {
			field := ""
			for _, p := range smtpErrorFields {
				if strings.HasPrefix(line, p.prefix) {
					field = p.field
				}
			}
			if field != "" {
				e[field] = line
			} else {
				e[""] = strings.TrimSpace(e[""] + " " + line)
			}
		}
	}
	view, _ := h.svc.GetSMTP(r.Context(), v.actor)
	fields := smtpFields(f.Get, view.PasswordSet, e)
	h.renderStatus(w, r, v, http.StatusBadRequest, "smtp", page{Title: "Email (SMTP)", Nav: "smtp", Data: smtpData{
		Fields: fields, Error: e[""], Invalid: firstInvalid(fields), Configured: view.Settings.Host != "", PasswordSet: view.PasswordSet,
		TestTo: testToField(v.user.Email, ""),
	}})
}

func (h *handler) testSMTP(w http.ResponseWriter, r *http.Request, v *visit) {
	to := strings.TrimSpace(r.PostForm.Get("to"))
	if err := h.svc.SendTestEmail(r.Context(), v.actor, to); err != nil {
		redirectErr(w, r, "/smtp", h.message(r, err))
		return
	}
	redirect(w, r, "/smtp", "Sent a test email to "+to+". If it does not arrive within a minute, check the spam folder and the server log.")
}

// auditPageSize is how many events one page of the audit log shows.
const auditPageSize = 50

type auditData struct {
	Action  string
	Actor   string
	Events  []service.AuditEvent
	Older   string // URL of the next page, "" on the last
	Newest  string // URL of the first page, "" on it
	Actions []string
}

// auditActions suggest filters; any action or prefix ending in "." works.
var auditActions = []string{"login.", "login.failed", "mfa.", "mfa.failed", "session.", "location.", "user.", "device.", "gateway_token.", "smtp."}

func (h *handler) audit(w http.ResponseWriter, r *http.Request, v *visit) {
	q := r.URL.Query()
	f := service.AuditFilter{Action: strings.TrimSpace(q.Get("action")), Actor: strings.TrimSpace(q.Get("actor")), Limit: auditPageSize + 1}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 64)
		if err != nil {
			h.fail(w, r, v, http.StatusBadRequest, "Bad page address", "The page number in this address is not valid. Start again from the newest events.")
			return
		}
		f.Before = n
	}
	events, err := h.svc.ListAudit(r.Context(), v.actor, f)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	d := auditData{Action: f.Action, Actor: f.Actor, Actions: auditActions}
	link := func(before uint64) string {
		p := make([]string, 0, 3)
		if f.Action != "" {
			p = append(p, "action="+urlQuery(f.Action))
		}
		if f.Actor != "" {
			p = append(p, "actor="+urlQuery(f.Actor))
		}
		if before > 0 {
			p = append(p, "before="+strconv.FormatUint(before, 10))
		}
		if len(p) == 0 {
			return "/audit"
		}
		return "/audit?" + strings.Join(p, "&")
	}
	if len(events) > auditPageSize {
		events = events[:auditPageSize]
		d.Older = link(events[len(events)-1].ID)
	}
	if f.Before > 0 {
		d.Newest = link(0)
	}
	d.Events = events
	h.render(w, r, v, "audit", "Audit log", "audit", d)
}

type gatewayRow struct {
	Location  service.Location
	Followers int
	Tokens    []gatewayTokenRow
}

type gatewayTokenRow struct {
	Token   service.GatewayToken
	Expired bool
	Streams int // peer streams open with it through this process
}

type gatewaysData struct {
	Rows     []gatewayRow
	Expiries []choice
}

// gatewayExpiries are the lifetimes the create form offers, in days.
var gatewayExpiries = []choice{
	{Value: "", Label: "Never"}, {Value: "30", Label: "30 days"}, {Value: "90", Label: "90 days"}, {Value: "365", Label: "1 year", Selected: true},
}

func (h *handler) gateways(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	locs, err := h.svc.ListLocations(ctx, v.actor)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	tokens, err := h.svc.ListGatewayTokens(ctx, v.actor, "")
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	now := h.svc.Now()
	d := gatewaysData{Expiries: gatewayExpiries}
	for _, l := range locs {
		row := gatewayRow{Location: l, Followers: h.svc.Followers(l.ID)}
		for _, t := range tokens {
			if t.LocationID == l.ID {
				row.Tokens = append(row.Tokens, gatewayTokenRow{Token: t, Expired: t.Expired(now), Streams: h.svc.GatewayStreams(t.ID)})
			}
		}
		d.Rows = append(d.Rows, row)
	}
	h.render(w, r, v, "gateways", "Gateways", "gateways", d)
}

type gatewayTokenData struct {
	Location service.Location
	Info     service.GatewayToken
	Token    string
	Command  string
}

func (h *handler) gatewayToken(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	f := r.PostForm
	loc, err := h.svc.GetLocation(ctx, v.actor, f.Get("location"))
	if err != nil {
		redirectErr(w, r, "/gateways", h.message(r, err))
		return
	}
	n := service.NewGatewayToken{LocationID: loc.ID, Name: f.Get("name")}
	if days := f.Get("expires"); days != "" {
		d, err := strconv.Atoi(days)
		if err != nil || d < 1 || d > 3660 {
			redirectErr(w, r, "/gateways", "Choose when the token expires from the list.")
			return
		}
		n.ExpiresAt = h.svc.Now().AddDate(0, 0, d)
	}
	info, tok, err := h.svc.CreateGatewayToken(ctx, v.actor, n)
	if err != nil {
		redirectErr(w, r, "/gateways", h.message(r, err))
		return
	}
	server := h.cfg.serverURL
	if server == "" {
		server = "https://" + r.Host
	}
	cmd := "wicketd gateway --server " + server
	if h.cfg.fingerprint != "" {
		cmd += " --fingerprint " + h.cfg.fingerprint
	}
	cmd += " --token " + tok
	// The token is shown once, in this response; it is not stored in plain.
	h.render(w, r, v, "gateway_token", "Gateway token for "+loc.Name, "gateways", gatewayTokenData{Location: loc, Info: info, Token: tok, Command: cmd})
}

func (h *handler) revokeGatewayToken(w http.ResponseWriter, r *http.Request, v *visit) {
	what := strings.TrimSpace(r.PostForm.Get("what"))
	if what == "" {
		what = "The gateway token"
	}
	if err := h.svc.RevokeGatewayToken(r.Context(), v.actor, r.PathValue("id")); err != nil {
		redirectErr(w, r, "/gateways", h.message(r, err))
		return
	}
	redirect(w, r, "/gateways", what+" was revoked. Gateways using it were disconnected; start them again with a new token.")
}
