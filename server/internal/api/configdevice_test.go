package api_test

import (
	"bytes"
	"encoding/hex"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

func createConfig(s *servertest.Server, u *servertest.User, name, locationID string) (*v1.CreateConfigDeviceResponse, error) {
	r, err := s.Account.CreateConfigDevice(servertest.Ctx(s.T), servertest.Req(u.Token, &v1.CreateConfigDeviceRequest{Name: name, LocationId: locationID}))
	if err != nil {
		return nil, err
	}
	return r.Msg, nil
}

// confValue returns the value of key in a wg-quick file.
func confValue(t *testing.T, conf, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + key + ` = (.*)$`).FindStringSubmatch(conf)
	if m == nil {
		t.Fatalf("no %s in the config:\n%s", key, conf)
	}
	return m[1]
}

// publishedKeys are the public keys of a location's desired peer set.
func publishedKeys(t *testing.T, s *servertest.Server, locationID string) []string {
	t.Helper()
	_, list, err := s.Svc.Sessions.DesiredPeers(servertest.Ctx(t), locationID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list {
		out = append(out, p.PublicKey.String())
	}
	return out
}

func profileDevice(t *testing.T, s *servertest.Server, u *servertest.User, id string) *v1.Device {
	t.Helper()
	r, err := s.Account.ListDevices(servertest.Ctx(t), servertest.Req(u.Token, &v1.ListDevicesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range r.Msg.Devices {
		if d.Id == id {
			return d
		}
	}
	t.Fatalf("device %s is not among the user's", id)
	return nil
}

// TestConfigDeviceIsAStaticPeerOfItsLocationOnly: the config carries the
// location's settings and a key pair of its own; its peer is published for
// its location and no other, is withdrawn while the location asks for MFA
// (the profile says it is suspended), and goes with the device.
func TestConfigDeviceIsAStaticPeerOfItsLocationOnly(t *testing.T) {
	servertest.EachEngine(t, func(t *testing.T, engine servertest.Option) {
		s := servertest.New(t, engine)
		ctx := servertest.Ctx(t)
		home := s.CreateLocation(&v1.Location{Name: "Home", Address: "10.30.0.1/24", Dns: []string{"10.30.0.53"}, KeepaliveIntervalSeconds: 17,
			AllowedIps: []string{"10.30.0.0/24", "192.168.7.0/24"}, Endpoint: "vpn.example.com:51900", ListenPort: 51900})
		other := s.CreateLocation(&v1.Location{Name: "Other", Address: "10.31.0.1/24"})
		u := s.CreateUser("alice")
		c, err := createConfig(s, u, "Phone", home.Id)
		if err != nil {
			t.Fatal(err)
		}
		conf := c.Config
		priv, err := wgkey.Parse(confValue(t, conf, "PrivateKey"))
		if err != nil {
			t.Fatal(err)
		}
		if priv.Public().String() != c.Device.PublicKey {
			t.Fatal("the config's private key does not belong to the device's public key")
		}
		for key, want := range map[string]string{
			"Address": "10.30.0.2/32", "DNS": "10.30.0.53", "MTU": "1420", "PublicKey": home.PublicKey,
			"Endpoint": "vpn.example.com:51900", "AllowedIPs": "10.30.0.0/24, 192.168.7.0/24", "PersistentKeepalive": "17",
		} {
			if got := confValue(t, conf, key); got != want {
				t.Errorf("%s = %q, want %q", key, got, want)
			}
		}
		if strings.Contains(conf, "PresharedKey") {
			t.Error("a config for a location without MFA has a pre-shared key")
		}
		if c.FileName != "home-phone.conf" {
			t.Errorf("file name = %q", c.FileName)
		}
		if img, err := png.Decode(bytes.NewReader(c.QrPng)); err != nil || img.Bounds().Dx() < 200 {
			t.Errorf("QR code: %v", err)
		}
		if c.Device.ConfigLocationId != home.Id || c.Device.ConfigLocationName != "Home" || c.Device.SuspendedReason != "" {
			t.Errorf("device = %+v", c.Device)
		}

		if !slices.Contains(publishedKeys(t, s, home.Id), c.Device.PublicKey) {
			t.Fatal("the config device is not a peer of its location")
		}
		if slices.Contains(publishedKeys(t, s, other.Id), c.Device.PublicKey) {
			t.Fatal("the config device is a peer of another location too")
		}

		// MFA on: a static peer would skip the second factor.
		home.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL
		home = updateLocation(t, s, home)
		if slices.Contains(publishedKeys(t, s, home.Id), c.Device.PublicKey) {
			t.Fatal("the config device's peer is still published while Home asks for MFA")
		}
		if d := profileDevice(t, s, u, c.Device.Id); !strings.Contains(d.SuspendedReason, "Home now asks for MFA") {
			t.Errorf("profile while suspended: %q", d.SuspendedReason)
		}
		home.MfaMode = v1.LocationMfaMode_LOCATION_MFA_MODE_DISABLED
		home = updateLocation(t, s, home)
		if !slices.Contains(publishedKeys(t, s, home.Id), c.Device.PublicKey) {
			t.Fatal("the config device did not come back when MFA was turned off")
		}

		if _, err := s.Account.DeleteDevice(ctx, servertest.Req(u.Token, &v1.DeleteDeviceRequest{DeviceId: c.Device.Id})); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(publishedKeys(t, s, home.Id), c.Device.PublicKey) {
			t.Fatal("the peer stayed after the device was removed")
		}
		if d := auditDetails(t, s, "device.config_created"); len(d) != 1 || !strings.Contains(d[0], "location=Home") {
			t.Errorf("audit = %q", d)
		}
	})
}

// TestConfigDevicePrivateKeyIsNotKept looks for the private key in every
// file of the data directory, as an attacker with a copy of the database
// would: it must be in none, in base64 or hex.
func TestConfigDevicePrivateKeyIsNotKept(t *testing.T) {
	s := servertest.New(t, servertest.WithSQLite())
	loc := s.CreateLocation(&v1.Location{Name: "Home"})
	u := s.CreateUser("alice")
	c, err := createConfig(s, u, "Router", loc.Id)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := wgkey.Parse(confValue(t, c.Config, "PrivateKey"))
	s.Close() // everything on disk
	forms := [][]byte{[]byte(priv.String()), []byte(hex.EncodeToString(priv[:])), priv[:]}
	sawPublic := false // the device's public key is kept: the search sees the database
	err = filepath.WalkDir(s.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, f := range forms {
			if bytes.Contains(b, f) {
				t.Errorf("%s holds the device's private key", path)
			}
		}
		sawPublic = sawPublic || bytes.Contains(b, []byte(c.Device.PublicKey))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawPublic {
		t.Fatal("the device's public key is in no file either: the search missed the database")
	}
}

// TestConfigDeviceRefusals: no config for a location that asks for MFA (a
// static peer there would bypass the second factor), none without a name or
// for an unknown location, and none from a stale sign-in of an account with
// a second factor.
func TestConfigDeviceRefusals(t *testing.T) {
	s := servertest.New(t)
	office := s.MFALocation("Office")
	home := s.CreateLocation(&v1.Location{Name: "Home", Address: "10.30.0.1/24"})
	u := s.CreateUser("alice")
	s.EnableTOTP(u)
	s.Login(u)

	_, err := createConfig(s, u, "Phone", office.Id)
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "Office asks for MFA on every connection") {
		t.Fatalf("config for an MFA location = %v, want FailedPrecondition", err)
	}
	if r, _ := s.Account.ListDevices(servertest.Ctx(t), servertest.Req(u.Token, &v1.ListDevicesRequest{})); len(r.Msg.Devices) != 0 {
		t.Fatalf("a refused config left a device: %v", r.Msg.Devices)
	}
	if _, err := createConfig(s, u, " ", home.Id); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "name") {
		t.Errorf("empty name = %v", err)
	}
	if _, err := createConfig(s, u, "Phone", "nope"); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("unknown location = %v", err)
	}
	s.Clock.Advance(11 * time.Minute) // past the step-up window
	if _, err := createConfig(s, u, "Phone", home.Id); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("config from a sign-in 11 min old = %v, want PermissionDenied", err)
	}
	s.Login(u)
	if _, err := createConfig(s, u, "Phone", home.Id); err != nil {
		t.Errorf("after signing in again: %v", err)
	}
}
