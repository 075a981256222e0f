// Package uapi writes and reads the text of WireGuard's cross-platform
// configuration protocol (https://www.wireguard.com/xplatform/): the
// key=value lines wireguard-go's Device.IpcSet takes ("set") and
// Device.IpcGet returns ("get"). Keys are hex on the wire and wgkey.Key
// here; addresses are netip values.
package uapi

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// Config is a "set" operation. It changes only what it names: zero keys,
// ports, endpoints and intervals are left out.
type Config struct {
	PrivateKey wgkey.Key
	// ListenPort is the UDP port; 0 leaves it as it is (a new device then
	// picks one at random).
	ListenPort int
	// ReplacePeers removes every peer the device has before Peers apply.
	ReplacePeers bool
	Peers        []PeerConfig
}

// PeerConfig changes, adds or removes one peer.
type PeerConfig struct {
	PublicKey wgkey.Key
	// Remove takes the peer away; the other fields are then left out.
	Remove       bool
	PresharedKey wgkey.Key
	Endpoint     netip.AddrPort
	// PersistentKeepalive is sent in whole seconds. Turning it on makes
	// the device send a keepalive at once, which starts a handshake.
	PersistentKeepalive time.Duration
	// KeepaliveOff turns persistent keepalives off.
	KeepaliveOff bool
	// ReplaceAllowedIPs drops the peer's allowed IPs before AllowedIPs add.
	ReplaceAllowedIPs bool
	AllowedIPs        []netip.Prefix
}

// Encode renders the operation as wireguard-go's IpcSet takes it. The text
// holds keys: it goes straight to a device and is never logged or stored.
func (c Config) Encode() string {
	var b strings.Builder
	if !c.PrivateKey.IsZero() {
		line(&b, "private_key", c.PrivateKey.Hex())
	}
	if c.ListenPort != 0 {
		line(&b, "listen_port", strconv.Itoa(c.ListenPort))
	}
	if c.ReplacePeers {
		line(&b, "replace_peers", "true")
	}
	for _, p := range c.Peers {
		p.encode(&b)
	}
	return b.String()
}

func (p PeerConfig) encode(b *strings.Builder) {
	line(b, "public_key", p.PublicKey.Hex())
	if p.Remove {
		line(b, "remove", "true")
		return
	}
	if !p.PresharedKey.IsZero() {
		line(b, "preshared_key", p.PresharedKey.Hex())
	}
	if p.Endpoint.IsValid() {
		line(b, "endpoint", p.Endpoint.String())
	}
	if p.PersistentKeepalive > 0 {
		line(b, "persistent_keepalive_interval", strconv.Itoa(int(p.PersistentKeepalive/time.Second)))
	} else if p.KeepaliveOff {
		line(b, "persistent_keepalive_interval", "0")
	}
	if p.ReplaceAllowedIPs {
		line(b, "replace_allowed_ips", "true")
	}
	for _, a := range p.AllowedIPs {
		line(b, "allowed_ip", a.String())
	}
}

func line(b *strings.Builder, key, value string) {
	b.WriteString(key)
	b.WriteByte('=')
	b.WriteString(value)
	b.WriteByte('\n')
}

// Device is what a "get" operation reports.
type Device struct {
	PrivateKey   wgkey.Key
	ListenPort   int
	FirewallMark uint32
	Peers        []Peer
}

// Peer is one peer in a "get" report.
type Peer struct {
	PublicKey    wgkey.Key
	PresharedKey wgkey.Key // zero when the peer has none
	// Endpoint is where the peer was last heard from; zero before that.
	Endpoint netip.AddrPort
	// LatestHandshake is the time of the last completed handshake, zero
	// before the first.
	LatestHandshake     time.Time
	RxBytes, TxBytes    uint64
	PersistentKeepalive time.Duration
	AllowedIPs          []netip.Prefix
}

// ParseDevice reads the text of a "get" operation. Keys it does not know
// are skipped, so a newer wireguard-go can report more; a value it cannot
// read is an error naming the line.
func ParseDevice(text string) (Device, error) {
	var d Device
	var p *Peer
	var sec, nsec int64
	// finish completes the peer being read: its handshake time comes in two
	// lines, in either order.
	finish := func() {
		if p != nil && (sec != 0 || nsec != 0) {
			p.LatestHandshake = time.Unix(sec, nsec).UTC()
		}
		sec, nsec = 0, 0
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		if sc.Text() == "" {
			continue
		}
		key, value, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			return Device{}, fmt.Errorf("WireGuard configuration line %d: %q is not key=value", n, sc.Text())
		}
		var err error
		switch {
		case key == "errno":
			if value != "0" {
				return Device{}, fmt.Errorf("WireGuard configuration: the device reported error %s", value)
			}
		case key == "public_key":
			finish()
			d.Peers = append(d.Peers, Peer{})
			p = &d.Peers[len(d.Peers)-1]
			p.PublicKey, err = parseKey(value)
		case p == nil:
			err = d.set(key, value)
		default:
			err = p.set(key, value, &sec, &nsec)
		}
		if err != nil {
			return Device{}, fmt.Errorf("WireGuard configuration line %d (%s): %w", n, key, err)
		}
	}
	finish()
	if err := sc.Err(); err != nil {
		return Device{}, fmt.Errorf("read WireGuard configuration: %w", err)
	}
	return d, nil
}

func (d *Device) set(key, value string) error {
	var err error
	switch key {
	case "private_key":
		d.PrivateKey, err = parseKey(value)
	case "listen_port":
		var v uint64
		v, err = strconv.ParseUint(value, 10, 16)
		d.ListenPort = int(v)
	case "fwmark":
		var v uint64
		v, err = strconv.ParseUint(value, 10, 32)
		d.FirewallMark = uint32(v)
	}
	return err
}

func (p *Peer) set(key, value string, sec, nsec *int64) error {
	var err error
	switch key {
	case "preshared_key":
		p.PresharedKey, err = parseKey(value)
	case "endpoint":
		p.Endpoint, err = netip.ParseAddrPort(value)
	case "last_handshake_time_sec":
		*sec, err = strconv.ParseInt(value, 10, 64)
	case "last_handshake_time_nsec":
		*nsec, err = strconv.ParseInt(value, 10, 64)
	case "rx_bytes":
		p.RxBytes, err = strconv.ParseUint(value, 10, 64)
	case "tx_bytes":
		p.TxBytes, err = strconv.ParseUint(value, 10, 64)
	case "persistent_keepalive_interval":
		var v uint64
		v, err = strconv.ParseUint(value, 10, 16)
		p.PersistentKeepalive = time.Duration(v) * time.Second
	case "allowed_ip":
		var a netip.Prefix
		if a, err = netip.ParsePrefix(value); err == nil {
			p.AllowedIPs = append(p.AllowedIPs, a)
		}
	}
	return err
}

// parseKey reads a key in the protocol's hex. Errors never quote the
// value: it may be a private key.
func parseKey(s string) (wgkey.Key, error) {
	var k wgkey.Key
	if len(s) != hex.EncodedLen(wgkey.KeyLen) {
		return k, fmt.Errorf("a key is %d hex digits, not %d", hex.EncodedLen(wgkey.KeyLen), len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return wgkey.Key{}, errors.New("a key is hex digits only")
	}
	return k, nil
}
