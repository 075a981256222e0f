package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

type overviewData struct {
	Locations []service.Location
	Location  *service.Location
	Sessions  []service.SessionView
	Followers int
}

// overview shows one location (the picked one, or the first) with its
// settings and connected sessions.
func (h *handler) overview(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	locs, err := h.svc.ListLocations(ctx, v.actor)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	d := overviewData{Locations: locs}
	want := r.URL.Query().Get("location")
	for i := range locs {
		if locs[i].ID == want || (want == "" && i == 0) {
			d.Location = &locs[i]
			break
		}
	}
	if d.Location == nil && want != "" {
		h.fail(w, r, v, http.StatusNotFound, "Location not found", "There is no such location; it may have been deleted. Pick another on the VPN Overview.")
		return
	}
	if d.Location != nil {
		if d.Sessions, err = h.svc.ListSessions(ctx, v.actor, d.Location.ID, true); err != nil {
			h.failErr(w, r, v, err)
			return
		}
		d.Followers = h.svc.Followers(d.Location.ID)
	}
	h.render(w, r, v, "overview", "VPN Overview", "overview", d)
}

func (h *handler) disconnect(w http.ResponseWriter, r *http.Request, v *visit) {
	back := "/overview"
	if loc := r.PostForm.Get("location"); loc != "" {
		back += "?location=" + urlQuery(loc)
	}
	if err := h.svc.DisconnectSession(r.Context(), v.actor, r.PathValue("id")); err != nil {
		redirectErr(w, r, back, h.message(r, err))
		return
	}
	who := strings.TrimSpace(r.PostForm.Get("who"))
	if who == "" {
		who = "The session"
	}
	redirect(w, r, back, who+" was disconnected. Connecting again needs a new sign-in (and MFA, where the location asks for it).")
}

// locationForm is the create and edit page.
type locationForm struct {
	Location *service.Location // nil when creating
	Groups   []fieldGroup
	Error    string
	Invalid  *formField // the first field with an error
}

// locationFields lays out every field of a location, grouped, holding what
// the admin typed (or the stored values).
func locationFields(f func(string) string, mfaOn bool, methods []mfa.Method, e errs) []fieldGroup {
	groups := []fieldGroup{
		{Title: "Name & network", Fields: []formField{
			{Name: "name", Label: "Name", Type: "text", Value: f("name"), Required: true, Placeholder: "Office", Hint: "What users see in the desktop client."},
			{Name: "address", Label: "Address", Type: "text", Value: f("address"), Required: true, Placeholder: "10.10.0.1/24",
				Hint: "The gateway's tunnel address with its prefix. Devices get their addresses from this network."},
			{Name: "listen_port", Label: "Listen port", Type: "number", Value: f("listen_port"), Placeholder: "51820", InputMode: "numeric",
				Hint: "UDP port the gateway listens on; each location needs its own. Empty means 51820."},
			{Name: "endpoint", Label: "Endpoint", Type: "text", Value: f("endpoint"), Required: true, Placeholder: "vpn.example.com:51820",
				Hint: "Host and port that clients dial."},
			{Name: "allowed_ips", Label: "Allowed IPs", Type: "text", Value: f("allowed_ips"), Placeholder: "10.10.0.0/24, 192.168.1.0/24", Wide: true,
				Hint: "Networks clients route through the tunnel, separated by commas. Empty means the location's own network."},
			{Name: "dns", Label: "DNS servers", Type: "text", Value: f("dns"), Placeholder: "10.10.0.1", Wide: true,
				Hint: "IP addresses, separated by commas. Empty leaves the client's DNS as it is."},
			{Name: "mtu", Label: "MTU", Type: "number", Value: f("mtu"), Placeholder: "1420", InputMode: "numeric", Hint: "1280 to 9000. Empty means 1420, which suits most networks."},
			{Name: "keepalive_interval_seconds", Label: "Keepalive (seconds)", Type: "number", Value: f("keepalive_interval_seconds"), Placeholder: "25", InputMode: "numeric",
				Hint: "How often clients send a keepalive packet. Empty means 25 s."},
		}},
		{Title: "MFA requirement", Intro: "With Internal MFA, every connection to this location needs a second factor, one of those accepted below, and gets its own pre-shared key. Standard WireGuard configs do not connect while it is on.", Fields: []formField{
			{Name: "mfa", Label: "Internal MFA", Type: "checkbox", Checked: mfaOn, Hint: "Ask for a second factor on every connection."},
			methodsField(methods),
			{Name: "peer_disconnect_threshold_seconds", Label: "Peer disconnect threshold (seconds)", Type: "number", Value: f("peer_disconnect_threshold_seconds"), Placeholder: defaultThreshold, InputMode: "numeric",
				Hint: "A connection with no handshake for this long is ended, and connecting again needs MFA. " + defaultThreshold + " s is the recommended minimum; the gateway should send statistics every 30 s."},
			{Name: "max_session_seconds", Label: "Maximum session length (seconds)", Type: "number", Value: f("max_session_seconds"), Placeholder: "0", InputMode: "numeric",
				Hint: "After this long a connection ends even if in use. 0 or empty means no limit."},
		}},
		{Title: "Access", Fields: []formField{
			{Name: "allowed_groups", Label: "Allowed groups", Type: "text", Value: f("allowed_groups"), Placeholder: "staff, engineering", Wide: true,
				Hint: "Users in any of these groups may connect, separated by commas. Empty means every user."},
		}},
	}
	for i := range groups {
		groups[i].Fields = e.apply(groups[i].Fields)
	}
	return groups
}

func allFields(groups []fieldGroup) []formField {
	var out []formField
	for _, g := range groups {
		out = append(out, g.Fields...)
	}
	return out
}

// methodsField offers the second factors the server has as boxes; an
// empty list (every method) shows every box ticked.
func methodsField(methods []mfa.Method) formField {
	f := formField{Name: "allowed_mfa_methods", Label: "Accepted factors", Type: "checks",
		Hint: "What users may prove themselves with here. The desktop client offers only these. With every box ticked, factors the server adds later are accepted too."}
	for _, m := range service.OfferedMethods {
		f.Options = append(f.Options, choice{Value: strconv.Itoa(int(m)), Label: service.MethodLabel(m), Selected: len(methods) == 0 || slices.Contains(methods, m)})
	}
	return f
}

// postedMethods reads the ticked factors: nil (every method) when all are
// ticked, or when the form had no boxes (a form made before them).
func postedMethods(r *http.Request) ([]mfa.Method, error) {
	if r.PostForm.Get("allowed_mfa_methods_shown") == "" {
		return nil, nil
	}
	var out []mfa.Method
	for _, v := range r.PostForm["allowed_mfa_methods"] {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, &fault.Error{Kind: fault.Invalid, Field: "allowed_mfa_methods", Msg: "allowed_mfa_methods: the form was damaged; tick the factors again"}
		}
		if m := mfa.Method(n); !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, &fault.Error{Kind: fault.Invalid, Field: "allowed_mfa_methods", Msg: "Tick at least one factor users may connect with."}
	}
	if len(out) == len(service.OfferedMethods) && !slices.ContainsFunc(service.OfferedMethods, func(m mfa.Method) bool { return !slices.Contains(out, m) }) {
		return nil, nil
	}
	return out, nil
}

// formMethods are the boxes to tick again when the form comes back with an
// error: what was posted, none when nothing was.
func formMethods(r *http.Request) []mfa.Method {
	var out []mfa.Method
	for _, v := range r.PostForm["allowed_mfa_methods"] {
		if n, err := strconv.Atoi(v); err == nil {
			out = append(out, mfa.Method(n))
		}
	}
	if len(out) == 0 && r.PostForm.Get("allowed_mfa_methods_shown") != "" {
		out = []mfa.Method{0} // no box ticked
	}
	return out
}

// defaultThreshold is the idle policy's default threshold as the form shows it.
var defaultThreshold = strconv.Itoa(service.DefaultPeerDisconnectThresholdSeconds)

// storedValues reads a location as the form shows it.
func storedValues(l service.Location) func(string) string {
	vals := map[string]string{
		"name": l.Name, "address": l.Address, "listen_port": itoa(l.ListenPort), "endpoint": l.Endpoint,
		"allowed_ips": strings.Join(l.AllowedIPs, ", "), "dns": strings.Join(l.DNS, ", "), "mtu": itoa(l.MTU),
		"keepalive_interval_seconds": itoa(l.KeepaliveSeconds), "peer_disconnect_threshold_seconds": itoa(l.PeerDisconnectThresholdSeconds),
		"max_session_seconds": itoa(l.MaxSessionSeconds), "allowed_groups": strings.Join(l.AllowedGroups, ", "),
	}
	return func(k string) string { return vals[k] }
}

// specFrom reads the posted form into a LocationSpec.
func specFrom(r *http.Request) (service.LocationSpec, error) {
	f := r.PostForm
	mfaOn := f.Get("mfa") != ""
	spec := service.LocationSpec{
		Name: f.Get("name"), Address: f.Get("address"), Endpoint: f.Get("endpoint"),
		AllowedIPs: splitList(f.Get("allowed_ips")), DNS: splitList(f.Get("dns")), AllowedGroups: splitList(f.Get("allowed_groups")),
		MFA: &mfaOn,
	}
	methods, err := postedMethods(r)
	if err != nil {
		return spec, err
	}
	spec.AllowedMFAMethods = methods
	for _, n := range []struct {
		field string
		dst   *int
	}{
		{"listen_port", &spec.ListenPort}, {"mtu", &spec.MTU}, {"keepalive_interval_seconds", &spec.KeepaliveSeconds},
		{"peer_disconnect_threshold_seconds", &spec.PeerDisconnectThresholdSeconds}, {"max_session_seconds", &spec.MaxSessionSeconds},
	} {
		v, err := atoi(n.field, f.Get(n.field))
		if err != nil {
			return spec, err
		}
		*n.dst = v
	}
	return spec, nil
}

func (h *handler) newLocationPage(w http.ResponseWriter, r *http.Request, v *visit) {
	defaults := map[string]string{"peer_disconnect_threshold_seconds": defaultThreshold}
	groups := locationFields(func(k string) string { return defaults[k] }, false, nil, errs{})
	h.render(w, r, v, "location", "New location", "overview", locationForm{Groups: groups})
}

func (h *handler) createLocation(w http.ResponseWriter, r *http.Request, v *visit) {
	spec, err := specFrom(r)
	if err == nil {
		var loc service.Location
		if loc, err = h.svc.CreateLocation(r.Context(), v.actor, spec); err == nil {
			redirect(w, r, "/overview?location="+urlQuery(loc.ID), "Created "+loc.Name+". Users it allows see it in their desktop client at once.")
			return
		}
	}
	h.locationFormError(w, r, v, nil, err)
}

func (h *handler) editLocationPage(w http.ResponseWriter, r *http.Request, v *visit) {
	loc, err := h.svc.GetLocation(r.Context(), v.actor, r.PathValue("id"))
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	groups := locationFields(storedValues(loc), loc.MFA, loc.AllowedMFAMethods, errs{})
	h.render(w, r, v, "location", "Edit "+loc.Name, "overview", locationForm{Location: &loc, Groups: groups})
}

func (h *handler) updateLocation(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	old, err := h.svc.GetLocation(ctx, v.actor, r.PathValue("id"))
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	spec, err := specFrom(r)
	if err == nil {
		spec.ID = old.ID
		var loc service.Location
		if loc, err = h.svc.UpdateLocation(ctx, v.actor, spec); err == nil {
			msg := "Saved the changes to " + loc.Name + "."
			switch {
			case loc.MFA && !old.MFA:
				msg += " Internal MFA is now on. Clients are updated automatically: each one learns the change at once and asks for a code on every new connection. Connections that were open have been ended."
			case !loc.MFA && old.MFA:
				msg += " Internal MFA is now off. Clients are updated automatically and connect without a code. MFA sessions that were open have been ended."
			}
			redirect(w, r, "/overview?location="+urlQuery(loc.ID), msg)
			return
		}
	}
	h.locationFormError(w, r, v, &old, err)
}

// locationFormError shows the form again with what the admin typed and the
// error beside its field.
func (h *handler) locationFormError(w http.ResponseWriter, r *http.Request, v *visit, loc *service.Location, err error) {
	mfaOn := r.PostForm.Get("mfa") != ""
	e := errs{}
	field, msg := h.fieldError(r, err)
	methods := formMethods(r)
	e.set(field, msg, allFields(locationFields(r.PostForm.Get, mfaOn, methods, errs{})))
	groups := locationFields(r.PostForm.Get, mfaOn, methods, e)
	title := "New location"
	if loc != nil {
		title = "Edit " + loc.Name
	}
	h.renderStatus(w, r, v, statusOf(err), "location", page{Title: title, Nav: "overview", Data: locationForm{Location: loc, Groups: groups, Error: e[""], Invalid: firstInvalid(allFields(groups))}})
}

// confirmData is the page that asks before something that cannot be undone.
type confirmData struct {
	Heading string
	Message string
	Details []string
	Action  string
	Button  string
	Cancel  string
	Danger  bool
}

func (h *handler) deleteLocationPage(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	loc, err := h.svc.GetLocation(ctx, v.actor, r.PathValue("id"))
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	sessions, err := h.svc.ListSessions(ctx, v.actor, loc.ID, true)
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	d := confirmData{
		Heading: "Delete " + loc.Name + "?",
		Message: "The location disappears from every desktop client and its gateway stops serving it. This cannot be undone.",
		Action:  "/locations/" + loc.ID + "/delete", Button: "Delete location", Cancel: "/overview?location=" + urlQuery(loc.ID), Danger: true,
	}
	if n := len(sessions); n > 0 {
		d.Details = append(d.Details, plural(n, "connected session ends", "connected sessions end")+" now.")
	}
	h.render(w, r, v, "confirm", d.Heading, "overview", d)
}

func (h *handler) deleteLocation(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	loc, err := h.svc.GetLocation(ctx, v.actor, r.PathValue("id"))
	if err == nil {
		err = h.svc.DeleteLocation(ctx, v.actor, loc.ID)
	}
	if err != nil {
		redirectErr(w, r, "/overview", h.message(r, err))
		return
	}
	redirect(w, r, "/overview", "Deleted "+loc.Name+".")
}
