package web_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// TestScreenshots writes PNGs of the main pages at laptop and phone widths
// into the directory named by WICKET_SCREENSHOTS, for people to look at:
//
//	WICKET_SCREENSHOTS=$PWD/screenshots go test ./server/internal/web -run Screenshots
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("WICKET_SCREENSHOTS")
	if dir == "" {
		t.Skip("set WICKET_SCREENSHOTS=dir to write screenshots of the pages")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, servertest.WithMinThreshold(120*time.Second))
	demo(t, s)
	ctx := newBrowser(t)

	widths := []struct {
		name string
		w, h int64
		opts []chromedp.EmulateViewportOption
	}{
		{"laptop", 1280, 800, nil},
		{"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulatePortrait, chromedp.EmulateMobile}},
	}
	type shot struct {
		name  string
		steps []chromedp.Action[chromedp.Void]
	}
	nav := func(path, waitID string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{chromedp.Navigate(s.URL + path), chromedp.WaitVisible(chromedp.ID(waitID))}
	}
	office := locationID(t, s, "Office")
	admin := []shot{
		{"overview", nav("/overview?location="+office, "location-name")},
		{"edit-location-error", append(nav("/locations/"+office+"/edit", "location-form"),
			chromedp.SetValue(chromedp.ID("peer_disconnect_threshold_seconds"), "60"),
			chromedp.Click(chromedp.ID("save")),
			chromedp.WaitVisible(chromedp.ID("peer_disconnect_threshold_seconds-error")),
			chromedp.ScrollIntoView(chromedp.ID("peer_disconnect_threshold_seconds")),
		)},
		{"edit-location-factors", append(nav("/locations/"+office+"/edit", "location-form"),
			chromedp.ScrollIntoView(chromedp.ID("allowed_mfa_methods")),
		)},
		{"users", nav("/users", "users")},
		{"audit", nav("/audit", "events")},
		{"gateways", nav("/gateways", "gateways")},
		{"smtp", nav("/smtp", "smtp-form")},
		{"delete-location", nav("/locations/"+office+"/delete", "confirm-form")},
	}
	user := []shot{
		{"profile", nav("/profile", "devices")},
		{"totp-setup", append(nav("/profile", "totp-begin"), chromedp.Click(chromedp.ID("totp-begin")), chromedp.WaitVisible(chromedp.ID("totp-secret")))},
		{"add-device", append(nav("/profile/devices/new", "device-form"),
			chromedp.SendKeys(chromedp.ID("name"), "Work laptop"),
			chromedp.Click(chromedp.CSS(`#device-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("enrollment-code")),
		)},
		{"profile-configs", append(nav("/profile", "wg-configs"), chromedp.ScrollIntoView(chromedp.ID("wg-configs")))},
		{"wgconfig-form", nav("/profile/configs/new", "config-form")},
		{"wgconfig-made", append(nav("/profile/configs/new", "config-form"),
			chromedp.SendKeys(chromedp.ID("name"), "Phone"),
			chromedp.SetValue(chromedp.ID("location"), locationID(t, s, "Warehouse")),
			chromedp.Click(chromedp.ID("config-make")),
			chromedp.WaitVisible(chromedp.ID("config-made")),
		)},
		{"admins-only", nav("/overview", "problem")},
	}
	take := func(name string, steps []chromedp.Action[chromedp.Void]) {
		for _, w := range widths {
			run(t, ctx, chromedp.EmulateViewport(w.w, w.h, w.opts...))
			run(t, ctx, steps...)
			png := value(t, ctx, chromedp.FullScreenshot(100))
			file := filepath.Join(dir, name+"-"+w.name+".png")
			if err := os.WriteFile(file, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", file)
		}
	}

	take("signin", nav("/signin", "signin-form"))
	browserSignIn(t, ctx, s, "admin", "admin-password")
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("location-name")))
	for _, sh := range admin {
		take(sh.name, sh.steps)
	}
	run(t, ctx, chromedp.Click(chromedp.CSS(`.signout button`)), chromedp.WaitVisible(chromedp.ID("signin-form")))
	browserSignIn(t, ctx, s, "carol", "carol-password")
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("devices")))
	for _, sh := range user {
		take(sh.name, sh.steps)
	}
}

func locationID(t *testing.T, s *servertest.Server, name string) string {
	t.Helper()
	locs, err := s.Svc.Locations(servertest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range locs {
		if l.Name == name {
			return l.ID
		}
	}
	t.Fatalf("no location %s", name)
	return ""
}

// demo fills the server with what a small company might have.
func demo(t *testing.T, s *servertest.Server) {
	t.Helper()
	ctx := servertest.Ctx(t)
	office := s.CreateLocation(&v1.Location{Name: "Office", Address: "10.10.0.1/24", Endpoint: "vpn.example.com:51820",
		AllowedIps: []string{"10.10.0.0/24", "192.168.10.0/24"}, Dns: []string{"192.168.10.2"},
		MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, PeerDisconnectThresholdSeconds: 300, AllowedGroups: []string{"staff"}})
	s.CreateLocation(&v1.Location{Name: "Warehouse", Address: "10.20.0.1/24", Endpoint: "warehouse.example.com:51820"})
	s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.30.0.1/24", Endpoint: "lab.example.com:51820", MaxSessionSeconds: 28800})

	loc := s.Location(office.Id)
	for i, name := range []string{"alice", "bob"} {
		u := s.CreateUser(name, "staff")
		s.EnableTOTP(u)
		d := s.Enroll(u, []string{"laptop", "workstation"}[i])
		st, err := s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: office.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: s.TOTPCode(u.TOTPSecret)})); err != nil {
			t.Fatal(err)
		}
		s.Clock.Advance(mfa.Period)
		if i == 0 {
			err := s.Svc.ReportStats(ctx, loc, []service.PeerStat{{PublicKey: d.PublicKey, Endpoint: "203.0.113.7:40112", RxBytes: 48_300_000, TxBytes: 512_400_000, LatestHandshake: s.Clock.Now()}})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, g := range []struct {
		loc, name string
		life      time.Duration
	}{{office.Id, "office-gw-1", 365 * 24 * time.Hour}, {office.Id, "", 0}} {
		n := service.NewGatewayToken{LocationID: g.loc, Name: g.name}
		if g.life > 0 {
			n.ExpiresAt = s.Clock.Now().Add(g.life)
		}
		if _, _, err := s.Svc.CreateGatewayToken(ctx, service.Actor{Username: "admin", Admin: true}, n); err != nil {
			t.Fatal(err)
		}
	}
	carol := s.CreateUser("carol", "staff", "engineering")
	s.CreateUser("dave")
	// Carol's router has a standard config; the one of her tablet is
	// suspended since Branch turned MFA on.
	branch := s.CreateLocation(&v1.Location{Name: "Branch", Address: "10.40.0.1/24", Endpoint: "branch.example.com:51820"})
	asCarol := service.Actor{UserID: carol.ID, Username: "carol"}
	for _, c := range []struct{ name, loc string }{{"Router", locationID(t, s, "Warehouse")}, {"Tablet", branch.Id}} {
		if _, err := s.Svc.CreateConfigDevice(ctx, asCarol, c.name, c.loc); err != nil {
			t.Fatal(err)
		}
	}
	branch.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
	if _, err := s.Admin.UpdateLocation(ctx, servertest.Req(s.AdminToken(), &v1.UpdateLocationRequest{Location: branch})); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(90 * time.Second)

	// A few failed sign-ins for the audit log.
	for range 2 {
		s.Svc.Login(context.Background(), "alice", "wrong-password", "", "198.51.100.23")
	}
}
