package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/netip"
	"strings"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/ipam"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/shared/wgkey"
	"github.com/wicket-vpn/wicket/shared/wgquick"
)

// A device made as a standard WireGuard config has no device token: its
// token column holds this prefix and the device id, which no token hashes
// to, so it can never call the ClientService.
const configTokenPrefix = "config:"

// ConfigDevice is a new device for a standard WireGuard app, with its
// configuration. The configuration holds the private key, which is not
// kept: it is shown once.
type ConfigDevice struct {
	Device   Device
	Config   string
	QRPNG    []byte
	FileName string
}

// ConfigLocation is a location the user may make a standard WireGuard
// config for, or one they may not, with the reason.
type ConfigLocation struct {
	ID, Name string
	// Refused says why no config can be made here ("" when one can).
	Refused string
}

func configRefusal(l store.Location) string {
	if l.MFA {
		return l.Name + " asks for MFA on every connection; a standard WireGuard config would connect without it. Use the Wicket app on that device instead."
	}
	return ""
}

// ConfigLocations lists the locations the user may use, for the form that
// makes a standard WireGuard config.
func (s *Service) ConfigLocations(ctx context.Context, a Actor) ([]ConfigLocation, error) {
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return nil, notFound("user", err)
	}
	locs, err := s.store.ListLocations(ctx)
	if err != nil {
		return nil, err
	}
	var out []ConfigLocation
	for _, l := range locs {
		if session.Allowed(l, u.Groups) {
			out = append(out, ConfigLocation{ID: l.ID, Name: l.Name, Refused: configRefusal(l)})
		}
	}
	return out, nil
}

// CreateConfigDevice makes a device for a standard WireGuard app (a phone
// with the official app, a router) on a location without MFA: the server
// makes the key pair, gives the device its address, and the device is a
// static peer of that location's gateway until it is removed. A location
// that asks for MFA is refused, since a static peer would bypass the
// second factor; if the location turns MFA on later, the peer leaves the
// gateway until it is turned off again.
func (s *Service) CreateConfigDevice(ctx context.Context, a Actor, name, locationID string) (ConfigDevice, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 64 {
		return ConfigDevice{}, fieldErr("name", "give the device a name of 1 to 64 characters, such as Phone")
	}
	if err := checkName("name", name); err != nil {
		return ConfigDevice{}, err
	}
	if locationID == "" {
		return ConfigDevice{}, fieldErr("location_id", "required: the location the device connects to")
	}
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return ConfigDevice{}, notFound("user", err)
	}
	// A config is a credential like an enrollment code.
	if err := s.requireProof(a, u); err != nil {
		return ConfigDevice{}, err
	}
	priv, err := wgkey.NewPrivate()
	if err != nil {
		return ConfigDevice{}, err
	}
	now := s.clock.Now()
	d := store.Device{ID: newID(), UserID: u.ID, Name: name, PublicKey: priv.Public().String(), CreatedAt: now, ConfigLocationID: locationID}
	d.TokenHash = configTokenPrefix + d.ID
	var loc store.Location
	var addr string
	err = s.store.InTx(ctx, func(q *store.Q) error {
		var err error
		// Refusals name the field, so a form can show them beside it.
		if loc, err = q.LocationByID(ctx, locationID); errors.Is(err, store.ErrNotFound) {
			return &fault.Error{Kind: fault.NotFound, Field: "location_id", Msg: "This location does not exist (any more); pick another."}
		} else if err != nil {
			return err
		}
		if !session.Allowed(loc, u.Groups) {
			return &fault.Error{Kind: fault.PermissionDenied, Field: "location_id",
				Msg: fmt.Sprintf("You may not use %s; ask your admin to add you to one of its groups (%s).", loc.Name, strings.Join(loc.AllowedGroups, ", "))}
		}
		if why := configRefusal(loc); why != "" {
			return &fault.Error{Kind: fault.FailedPrecondition, Field: "location_id", Msg: why}
		}
		if err := q.CreateDevice(ctx, d); err != nil {
			return err
		}
		addr, err = ipam.AddressFor(ctx, q, loc, d.ID, now)
		if errors.Is(err, ipam.ErrPoolFull) {
			return fault.New(fault.Exhausted, "%s has no free tunnel address left; ask your admin to widen its address range or remove unused devices.", loc.Name)
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, q, a, "device.config_created", d.Name, fmt.Sprintf("device=%s location=%s public_key=%s address=%s", d.ID, loc.Name, d.PublicKey, addr))
	})
	if err != nil {
		return ConfigDevice{}, err
	}
	conf, err := renderConfig(loc, priv, addr, name)
	if err != nil {
		return ConfigDevice{}, err
	}
	qrPNG, err := qrCode(conf)
	if err != nil {
		return ConfigDevice{}, err
	}
	// The peer is on the gateway before the person can scan the code.
	s.waitGateways(ctx, loc.ID, s.Sessions.Publish(loc.ID))
	dev := deviceOf(d)
	dev.ConfigLocationName = loc.Name
	return ConfigDevice{Device: dev, Config: conf, QRPNG: qrPNG, FileName: wgquick.FileName(loc.Name, name)}, nil
}

// renderConfig is the wg-quick file of a device in a location: its address,
// the location's routes, DNS, MTU and keepalive.
func renderConfig(l store.Location, priv wgkey.Key, addr, deviceName string) (string, error) {
	a, err := netip.ParsePrefix(addr)
	if err != nil {
		return "", fmt.Errorf("tunnel address %q: %w", addr, err)
	}
	gw, err := wgkey.Parse(l.PublicKey)
	if err != nil {
		return "", fmt.Errorf("public key of location %s: %w", l.Name, err)
	}
	c := wgquick.Config{
		Comment:    l.Name + ": " + deviceName,
		PrivateKey: priv, Address: []netip.Prefix{a}, MTU: l.MTU,
		Peer: wgquick.Peer{PublicKey: gw, Endpoint: l.Endpoint, PersistentKeepalive: l.KeepaliveSeconds},
	}
	for _, d := range l.DNS {
		if ip, err := netip.ParseAddr(d); err == nil {
			c.DNS = append(c.DNS, ip)
		}
	}
	for _, p := range l.AllowedIPs {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			c.Peer.AllowedIPs = append(c.Peer.AllowedIPs, pfx)
		}
	}
	return c.String(), nil
}

// qrCode draws text as a QR code the WireGuard apps scan.
func qrCode(text string) ([]byte, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("render QR code: %w", err)
	}
	// Whole pixels per module keep the code sharp; 4 modules of quiet zone
	// are added by the page's white frame.
	side := code.Bounds().Dx() * max(1, 360/code.Bounds().Dx())
	scaled, err := barcode.Scale(code, side, side)
	if err != nil {
		return nil, fmt.Errorf("render QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, scaled); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// configState fills in what the profile shows of a device made as a
// standard config: its location, and why its peer is not on the gateway
// when it is not.
func configState(d *Device, u store.User, locs map[string]store.Location) {
	if d.ConfigLocationID == "" {
		return
	}
	l, ok := locs[d.ConfigLocationID]
	switch {
	case !ok:
		d.ConfigLocationName = "a deleted location"
		d.Suspended = "Its location was deleted; remove this device."
	case l.MFA:
		d.ConfigLocationName = l.Name
		d.Suspended = l.Name + " now asks for MFA on every connection, which a standard WireGuard config cannot answer. It connects again if MFA is turned off."
	case !session.Allowed(l, u.Groups):
		d.ConfigLocationName = l.Name
		d.Suspended = "You may no longer use " + l.Name + "."
	default:
		d.ConfigLocationName = l.Name
	}
}

// describeDevices fills in configState for a user's devices.
func (s *Service) describeDevices(ctx context.Context, u store.User, devs []Device) ([]Device, error) {
	var locs map[string]store.Location
	for i := range devs {
		if devs[i].ConfigLocationID == "" {
			continue
		}
		if locs == nil {
			list, err := s.store.ListLocations(ctx)
			if err != nil {
				return nil, err
			}
			locs = map[string]store.Location{}
			for _, l := range list {
				locs[l.ID] = l
			}
		}
		configState(&devs[i], u, locs)
	}
	return devs, nil
}
