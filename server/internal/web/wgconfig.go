package web

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"

	"github.com/wicket-vpn/wicket/server/internal/service"
)

// configForm is the page that makes a standard WireGuard config and, once
// made, shows it: the only time the private key in it is seen.
type configForm struct {
	Name      formField
	Location  formField
	Usable    bool // some location can have a config
	Refused   []service.ConfigLocation
	Error     string
	Made      *service.ConfigDevice
	QR        template.URL // data: URL of the QR code's PNG
	Download  template.URL // data: URL of the file
	LineCount int
}

func (h *handler) configFields(r *http.Request, v *visit, name, locationID string, e errs) (configForm, error) {
	locs, err := h.svc.ConfigLocations(r.Context(), v.actor)
	if err != nil {
		return configForm{}, err
	}
	f := configForm{
		Name: formField{Name: "name", Label: "Device name", Type: "text", Value: name, Required: true, Placeholder: "Phone", Autocomplete: "off",
			Hint: "What the device is, so you can tell it apart here. The config is named after it and the location."},
		Location: formField{Name: "location", Label: "Location", Type: "select",
			Hint: "Only locations that do not ask for MFA: a standard config connects without a second factor."},
		Error: e[""],
	}
	for _, l := range locs {
		if l.Refused != "" {
			f.Refused = append(f.Refused, l)
			f.Location.Options = append(f.Location.Options, choice{Value: l.ID, Label: l.Name + " (asks for MFA)", Disabled: true})
			continue
		}
		f.Usable = true
		f.Location.Options = append(f.Location.Options, choice{Value: l.ID, Label: l.Name, Selected: l.ID == locationID})
	}
	f.Name.Error, f.Location.Error = e["name"], e["location"]
	return f, nil
}

func (h *handler) newConfigPage(w http.ResponseWriter, r *http.Request, v *visit) {
	f, err := h.configFields(r, v, "", "", errs{})
	if err != nil {
		h.failErr(w, r, v, err)
		return
	}
	h.render(w, r, v, "wgconfig", "Make a WireGuard config", "profile", f)
}

func (h *handler) createConfig(w http.ResponseWriter, r *http.Request, v *visit) {
	name, locationID := strings.TrimSpace(r.PostForm.Get("name")), r.PostForm.Get("location")
	made, err := h.svc.CreateConfigDevice(r.Context(), v.actor, name, locationID)
	if err != nil {
		if h.stepUp(w, r, err, "/profile/configs/new") {
			return
		}
		field, msg := h.fieldError(r, err)
		if field == "location_id" {
			field = "location"
		}
		e := errs{}
		e.set(field, msg, []formField{{Name: "name"}, {Name: "location"}})
		f, ferr := h.configFields(r, v, name, locationID, e)
		if ferr != nil {
			h.failErr(w, r, v, ferr)
			return
		}
		h.renderStatus(w, r, v, statusOf(err), "wgconfig", page{Title: "Make a WireGuard config", Nav: "profile", Data: f})
		return
	}
	// The private key is in this response only; the page is never cached
	// (every page is no-store) and the file downloads from the page itself.
	h.render(w, r, v, "wgconfig", "Your WireGuard config", "profile", configForm{
		Made: &made, QR: pngURL(made.QRPNG), LineCount: strings.Count(made.Config, "\n"),
		Download: template.URL("data:text/plain;charset=utf-8;base64," + base64.StdEncoding.EncodeToString([]byte(made.Config))),
	})
}
