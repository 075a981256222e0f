// Package uapi writes and reads the text of WireGuard's cross-platform
// configuration protocol (https://www.wireguard.com/xplatform/): the
// key=value lines wireguard-go's Device.IpcSet takes ("set") and
// Device.IpcGet returns ("get"). Keys are hex on the wire and wgkey.Key
// here; addresses are netip values.
package uapi

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
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
	// About what a peer with a pre-shared key and an address takes.
	b.Grow(64 + 220*len(c.Peers))
	if !c.PrivateKey.IsZero() {
		keyLine(&b, "private_key", c.PrivateKey)
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
	keyLine(b, "public_key", p.PublicKey)
	if p.Remove {
		line(b, "remove", "true")
		return
	}
	if !p.PresharedKey.IsZero() {
		keyLine(b, "preshared_key", p.PresharedKey)
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
		var buf [64]byte
		b.WriteString("allowed_ip=")
		b.Write(a.AppendTo(buf[:0]))
		b.WriteByte('\n')
	}
}

// keyLine writes a key in hex without the string Key.Hex makes.
func keyLine(b *strings.Builder, key string, k wgkey.Key) {
	var buf [2 * wgkey.KeyLen]byte
	hex.Encode(buf[:], k[:])
	b.WriteString(key)
	b.WriteByte('=')
	b.Write(buf[:])
	b.WriteByte('\n')
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
	var peers []Peer
	d, err := EachPeer([]byte(text), func(p *Peer) error {
		q := *p
		q.AllowedIPs = nil
		if len(p.AllowedIPs) > 0 {
			q.AllowedIPs = slices.Clone(p.AllowedIPs)
		}
		peers = append(peers, q)
		return nil
	})
	if err != nil {
		return Device{}, err
	}
	d.Peers = peers
	return d, nil
}

// EachPeer reads a "get" report like ParseDevice, but hands each peer to fn
// as soon as it is read instead of collecting them, and reads the lines in
// place: a device with thousands of peers is read with a few allocations.
// The Peer fn gets, and its AllowedIPs, are reused for the next peer: fn
// copies what it keeps. An error from fn stops the reading and is
// returned. The Device returned has no Peers.
func EachPeer(text []byte, fn func(*Peer) error) (Device, error) {
	var d Device
	var p Peer
	var have bool
	var sec, nsec int64
	// finish hands over the peer being read: its handshake time comes in
	// two lines, in either order.
	finish := func() error {
		if !have {
			return nil
		}
		if sec != 0 || nsec != 0 {
			p.LatestHandshake = time.Unix(sec, nsec).UTC()
		}
		sec, nsec, have = 0, 0, false
		return fn(&p)
	}
	for n := 1; len(text) > 0; n++ {
		var ln []byte
		ln, text, _ = bytes.Cut(text, []byte{'\n'})
		ln = bytes.TrimSuffix(ln, []byte{'\r'})
		if len(ln) == 0 {
			continue
		}
		key, value, ok := bytes.Cut(ln, []byte{'='})
		if !ok {
			return Device{}, fmt.Errorf("WireGuard configuration line %d: %q is not key=value", n, ln)
		}
		var err error
		switch {
		case string(key) == "errno":
			if string(value) != "0" {
				return Device{}, fmt.Errorf("WireGuard configuration: the device reported error %s", value)
			}
		case string(key) == "public_key":
			if err := finish(); err != nil {
				return Device{}, err
			}
			p = Peer{AllowedIPs: p.AllowedIPs[:0]}
			have = true
			p.PublicKey, err = parseKey(value)
		case !have:
			err = d.set(key, value)
		default:
			err = p.set(key, value, &sec, &nsec)
		}
		if err != nil {
			return Device{}, fmt.Errorf("WireGuard configuration line %d (%s): %w", n, key, err)
		}
	}
	if err := finish(); err != nil {
		return Device{}, err
	}
	return d, nil
}

func (d *Device) set(key, value []byte) error {
	var err error
	switch string(key) {
	case "private_key":
		d.PrivateKey, err = parseKey(value)
	case "listen_port":
		var v uint64
		v, err = parseUint(value, 16)
		d.ListenPort = int(v)
	case "fwmark":
		var v uint64
		v, err = parseUint(value, 32)
		d.FirewallMark = uint32(v)
	}
	return err
}

func (p *Peer) set(key, value []byte, sec, nsec *int64) error {
	var err error
	var v uint64
	switch string(key) {
	case "preshared_key":
		p.PresharedKey, err = parseKey(value)
	case "endpoint":
		p.Endpoint, err = netip.ParseAddrPort(string(value))
	case "last_handshake_time_sec":
		*sec, err = parseInt(value)
	case "last_handshake_time_nsec":
		*nsec, err = parseInt(value)
	case "rx_bytes":
		p.RxBytes, err = parseUint(value, 64)
	case "tx_bytes":
		p.TxBytes, err = parseUint(value, 64)
	case "persistent_keepalive_interval":
		v, err = parseUint(value, 16)
		p.PersistentKeepalive = time.Duration(v) * time.Second
	case "allowed_ip":
		var a netip.Prefix
		if a, err = netip.ParsePrefix(string(value)); err == nil {
			p.AllowedIPs = append(p.AllowedIPs, a)
		}
	}
	return err
}

// parseInt reads a decimal number that may be negative.
func parseInt(s []byte) (int64, error) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	v, err := parseUint(s, 63)
	if neg {
		return -int64(v), err
	}
	return int64(v), err
}

// parseUint reads a decimal number of at most bits bits, without the
// allocation strconv's would cost for a byte slice.
func parseUint(s []byte, bits int) (uint64, error) {
	if len(s) == 0 {
		return 0, errors.New("a number is decimal digits, not empty")
	}
	limit := uint64(1)<<bits - 1
	if bits == 64 {
		limit = ^uint64(0)
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
		d := uint64(c - '0')
		if v > (limit-d)/10 {
			return 0, fmt.Errorf("%s is out of range", s)
		}
		v = v*10 + d
	}
	return v, nil
}

// parseKey reads a key in the protocol's hex. Errors never quote the
// value: it may be a private key.
func parseKey(s []byte) (wgkey.Key, error) {
	var k wgkey.Key
	if len(s) != hex.EncodedLen(wgkey.KeyLen) {
		return k, fmt.Errorf("a key is %d hex digits, not %d", hex.EncodedLen(wgkey.KeyLen), len(s))
	}
	if _, err := hex.Decode(k[:], s); err != nil {
		return wgkey.Key{}, errors.New("a key is hex digits only")
	}
	return k, nil
}
