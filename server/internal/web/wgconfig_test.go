package web_test

import (
	"context"
	"encoding/base64"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

func checked(t *testing.T, ctx context.Context, id string) bool {
	t.Helper()
	return value(t, ctx, chromedp.Evaluate[bool](`document.getElementById(`+strconv.Quote(id)+`).checked`))
}

// TestBrowserEditLocationFactors: under MFA requirement the Edit location
// page ticks every factor while the location accepts all; unticking one
// limits the location to the other, which the page then shows; unticking
// all is refused beside the boxes; ticking all again accepts every method.
func TestBrowserEditLocationFactors(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := newBrowser(t)
	s.AdminToken()
	office := s.MFALocation("Office")
	get := func() []v1.MfaMethod {
		r, err := s.Admin.GetLocation(servertest.Ctx(t), servertest.Req(s.AdminToken(), &v1.GetLocationRequest{Id: office.Id}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Msg.Location.AllowedMfaMethods
	}
	const totpBox, emailBox, passkeyBox = "allowed_mfa_methods-1", "allowed_mfa_methods-2", "allowed_mfa_methods-3"
	edit := func() {
		t.Helper()
		run(t, ctx, chromedp.Navigate(s.URL+"/locations/"+office.Id+"/edit"), chromedp.WaitVisible(chromedp.ID("location-form")))
	}

	browserSignIn(t, ctx, s, "admin", "admin-password")
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("location-name")))
	edit()
	labels := value(t, ctx, chromedp.Text(chromedp.ID("allowed_mfa_methods")))
	if !strings.Contains(labels, "Accepted factors") || !strings.Contains(labels, "Authenticator app") || !strings.Contains(labels, "Emailed code") || !strings.Contains(labels, "Passkey") {
		t.Fatalf("the factors field reads %q", labels)
	}
	if inMFA := value(t, ctx, chromedp.Evaluate[string](`document.getElementById("allowed_mfa_methods").closest("fieldset.card").querySelector("legend").textContent`)); inMFA != "MFA requirement" {
		t.Fatalf("the factors are under %q, want MFA requirement", inMFA)
	}
	if !checked(t, ctx, totpBox) || !checked(t, ctx, emailBox) || !checked(t, ctx, passkeyBox) {
		t.Fatal("a location that accepts every method shows a box unticked")
	}

	run(t, ctx, chromedp.Click(chromedp.ID(emailBox)), chromedp.Click(chromedp.ID(passkeyBox)), chromedp.Click(chromedp.ID("save")), chromedp.WaitVisible(chromedp.ID("flash")))
	if got := get(); !slices.Equal(got, []v1.MfaMethod{v1.MfaMethod_MFA_METHOD_TOTP}) {
		t.Fatalf("after unticking email and passkey the location accepts %v", got)
	}
	edit()
	if !checked(t, ctx, totpBox) || checked(t, ctx, emailBox) || checked(t, ctx, passkeyBox) {
		t.Fatal("the page does not show the location limited to the authenticator app")
	}

	run(t, ctx, chromedp.Click(chromedp.ID(totpBox)), chromedp.Click(chromedp.ID("save")), chromedp.WaitVisible(chromedp.ID("allowed_mfa_methods-error")))
	if msg := value(t, ctx, chromedp.Text(chromedp.ID("allowed_mfa_methods-error"))); !strings.Contains(msg, "Tick at least one factor") {
		t.Fatalf("error beside the factors: %q", msg)
	}
	if checked(t, ctx, totpBox) || checked(t, ctx, emailBox) || !checked(t, ctx, "mfa") {
		t.Fatal("the refused form did not keep what the admin ticked")
	}
	if got := get(); !slices.Equal(got, []v1.MfaMethod{v1.MfaMethod_MFA_METHOD_TOTP}) {
		t.Fatalf("the refused form changed the location: %v", got)
	}

	run(t, ctx, chromedp.Click(chromedp.ID(totpBox)), chromedp.Click(chromedp.ID(emailBox)), chromedp.Click(chromedp.ID(passkeyBox)), chromedp.Click(chromedp.ID("save")), chromedp.WaitVisible(chromedp.ID("flash")))
	if got := get(); len(got) != 0 {
		t.Fatalf("with every box ticked the location accepts only %v, want every method", got)
	}
}

// TestBrowserUserMakesWireGuardConfig: from the profile a user makes a
// config for a location without MFA and sees it once, as a QR code, a
// download and text with a key pair of its own; the profile lists it
// without the key, and says it is suspended once the location asks for
// MFA. A location that asks for MFA is not offered, and a form forged to
// ask for it anyway is refused.
func TestBrowserUserMakesWireGuardConfig(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := newBrowser(t)
	home := s.CreateLocation(&v1.Location{Name: "Home", Address: "10.30.0.1/24", Dns: []string{"10.30.0.53"}, KeepaliveIntervalSeconds: 20})
	office := s.MFALocation("Office")
	u := s.CreateUser("alice")

	browserSignIn(t, ctx, s, u.Username, u.Password)
	run(t, ctx,
		chromedp.WaitVisible(chromedp.ID("wg-configs")),
		chromedp.Click(chromedp.ID("add-config")),
		chromedp.WaitVisible(chromedp.ID("config-form")),
	)
	if off := value(t, ctx, chromedp.Evaluate[bool](`document.querySelector('#location option[value="`+office.Id+`"]').disabled`)); !off {
		t.Fatal("the MFA location can be picked for a standard config")
	}

	// A forged form: the disabled option enabled and picked.
	run(t, ctx,
		chromedp.SendKeys(chromedp.ID("name"), "Phone"),
		chromedp.Evaluate[chromedp.Void](`(() => { const o = document.querySelector('#location option[value="`+office.Id+`"]'); o.disabled = false; o.selected = true; })()`),
		chromedp.Click(chromedp.ID("config-make")),
		chromedp.WaitVisible(chromedp.ID("location-error")),
	)
	if msg := value(t, ctx, chromedp.Text(chromedp.ID("location-error"))); !strings.Contains(msg, "Office asks for MFA on every connection") {
		t.Fatalf("error beside the location: %q", msg)
	}
	if v := value(t, ctx, chromedp.Value(chromedp.ID("name"))); v != "Phone" {
		t.Fatalf("the name after the error = %q", v)
	}

	run(t, ctx,
		chromedp.SetValue(chromedp.ID("location"), home.Id),
		chromedp.Click(chromedp.ID("config-make")),
		chromedp.WaitVisible(chromedp.ID("config-made")),
	)
	if loaded := value(t, ctx, chromedp.Evaluate[bool](`document.getElementById("config-qr").naturalWidth > 0`)); !loaded {
		t.Fatal("the QR code did not load")
	}
	conf := value(t, ctx, chromedp.Value(chromedp.ID("config-text")))
	href := value(t, ctx, chromedp.Evaluate[string](`document.getElementById("config-download").href`))
	name := value(t, ctx, chromedp.Evaluate[string](`document.getElementById("config-download").getAttribute("download")`))
	raw, ok := strings.CutPrefix(href, "data:text/plain;charset=utf-8;base64,")
	file, err := base64.StdEncoding.DecodeString(raw)
	if !ok || err != nil || string(file) != conf || name != "home-phone.conf" {
		t.Fatalf("download %q (%.50q): %v, want the config shown", name, href, err)
	}
	for _, want := range []string{"Address = 10.30.0.2/32", "DNS = 10.30.0.53", "PersistentKeepalive = 20", "PublicKey = " + home.PublicKey} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	m := regexp.MustCompile(`PrivateKey = (\S+)`).FindStringSubmatch(conf)
	priv, err := wgkey.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	devs, err := s.Account.ListDevices(servertest.Ctx(t), servertest.Req(u.Token, &v1.ListDevicesRequest{}))
	if err != nil || len(devs.Msg.Devices) != 1 || devs.Msg.Devices[0].PublicKey != priv.Public().String() {
		t.Fatalf("devices after the config = %v, %v", devs.Msg.GetDevices(), err)
	}

	run(t, ctx, chromedp.Click(chromedp.ID("config-done")), chromedp.WaitVisible(chromedp.ID("config-list")))
	row := value(t, ctx, chromedp.Text(chromedp.ID("config-list")))
	if !strings.Contains(row, "Phone") || !strings.Contains(row, "Home") || !strings.Contains(row, "Active") {
		t.Fatalf("the profile lists %q", row)
	}
	if page := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(page, m[1]) {
		t.Fatal("the profile shows the private key again")
	}
	if n := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#device-list tr").length`)); n != 0 {
		t.Fatalf("the config is listed among the Wicket devices too (%d rows)", n)
	}

	home.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	if _, err := s.Admin.UpdateLocation(servertest.Ctx(t), servertest.Req(s.AdminToken(), &v1.UpdateLocationRequest{Location: home})); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("config-list")))
	if row := value(t, ctx, chromedp.Text(chromedp.ID("config-list"))); !strings.Contains(row, "Suspended") || !strings.Contains(row, "Home now asks for MFA") {
		t.Fatalf("the profile after Home turned MFA on lists %q", row)
	}
}
