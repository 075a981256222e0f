package uapi

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// key is a fixed key whose every byte is b, so golden text stays put.
func key(b byte) wgkey.Key {
	var k wgkey.Key
	for i := range k {
		k[i] = b
	}
	return k
}

func hexOf(b byte) string { return key(b).Hex() }

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty", Config{}, ""},
		{"interface", Config{PrivateKey: key(1), ListenPort: 51820},
			"private_key=" + hexOf(1) + "\nlisten_port=51820\n"},
		{"zero port and key are left out", Config{ReplacePeers: true}, "replace_peers=true\n"},
		{"remove names only the key", Config{Peers: []PeerConfig{{PublicKey: key(2), Remove: true, PresharedKey: key(3), AllowedIPs: prefixes("10.0.0.2/32")}}},
			"public_key=" + hexOf(2) + "\nremove=true\n"},
		{"peer in protocol order", Config{Peers: []PeerConfig{{PublicKey: key(2), PresharedKey: key(3), Endpoint: netip.MustParseAddrPort("[2001:db8::1]:51820"),
			PersistentKeepalive: 25 * time.Second, ReplaceAllowedIPs: true, AllowedIPs: prefixes("10.0.0.2/32", "fd00::2/128")}}},
			"public_key=" + hexOf(2) + "\npreshared_key=" + hexOf(3) + "\nendpoint=[2001:db8::1]:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.2/32\nallowed_ip=fd00::2/128\n"},
		{"zero pre-shared key, endpoint and keepalive are left out", Config{Peers: []PeerConfig{{PublicKey: key(2), AllowedIPs: prefixes("10.0.0.2/32")}}},
			"public_key=" + hexOf(2) + "\nallowed_ip=10.0.0.2/32\n"},
		{"keepalive in whole seconds", Config{Peers: []PeerConfig{{PublicKey: key(2), PersistentKeepalive: 1500 * time.Millisecond}}},
			"public_key=" + hexOf(2) + "\npersistent_keepalive_interval=1\n"},
		{"keepalive turned off", Config{Peers: []PeerConfig{{PublicKey: key(2), KeepaliveOff: true}}},
			"public_key=" + hexOf(2) + "\npersistent_keepalive_interval=0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.Encode(); got != tc.want {
				t.Fatalf("Encode =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestParseDevice(t *testing.T) {
	peer := "public_key=" + hexOf(2) + "\n"
	for _, tc := range []struct {
		name string
		text string
		want Device
		err  string // part of the error; "" for none
	}{
		{"empty", "", Device{}, ""},
		{"interface", "private_key=" + hexOf(1) + "\nlisten_port=51820\nfwmark=7\n", Device{PrivateKey: key(1), ListenPort: 51820, FirewallMark: 7}, ""},
		{"no handshake yet", peer + "preshared_key=" + hexOf(0) + "\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\nrx_bytes=0\ntx_bytes=0\n",
			Device{Peers: []Peer{{PublicKey: key(2)}}}, ""},
		{"handshake lines in either order", peer + "last_handshake_time_nsec=5\nlast_handshake_time_sec=1780000000\n",
			Device{Peers: []Peer{{PublicKey: key(2), LatestHandshake: time.Unix(1780000000, 5).UTC()}}}, ""},
		{"each peer its own handshake", peer + "last_handshake_time_sec=10\npublic_key=" + hexOf(3) + "\nrx_bytes=1\n",
			Device{Peers: []Peer{{PublicKey: key(2), LatestHandshake: time.Unix(10, 0).UTC()}, {PublicKey: key(3), RxBytes: 1}}}, ""},
		{"unknown keys and the final errno are skipped", peer + "protocol_version=1\nsomething_new=x\nerrno=0\n\n", Device{Peers: []Peer{{PublicKey: key(2)}}}, ""},
		{"device error", "errno=-22\n", Device{}, "error -22"},
		{"not key=value", "private_key\n", Device{}, "line 1"},
		{"short key", "public_key=abcd\n", Device{}, "64 hex digits"},
		{"key not hex", "public_key=" + strings.Repeat("g", 64) + "\n", Device{}, "hex digits only"},
		{"bad endpoint", peer + "endpoint=vpn.example.com:51820\n", Device{}, "line 2 (endpoint)"},
		{"bad counter", peer + "rx_bytes=-1\n", Device{}, "rx_bytes"},
		{"bad allowed IP", peer + "allowed_ip=10.0.0.0\n", Device{}, "allowed_ip"},
		{"port out of range", "listen_port=70000\n", Device{}, "listen_port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDevice(tc.text)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseDevice = %+v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseDevice =\n%+v, %v\nwant\n%+v", got, err, tc.want)
			}
		})
	}
}

// TestErrorsKeepKeysSecret: a key that does not parse may be a private
// key; the error must not carry it.
func TestErrorsKeepKeysSecret(t *testing.T) {
	secret := strings.Repeat("5", 63) + "z"
	_, err := ParseDevice("private_key=" + secret + "\n")
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("error %v", err)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs:\n%s\nwant\n%s", path, got, want)
	}
}

// privateKey is a fixed private key that clamping leaves as it is, so a
// device reports it back unchanged.
var privateKey = key(0x48)

// gateway is a gateway's configuration: its interface and two peers.
var gateway = Config{PrivateKey: privateKey, ListenPort: 51820, Peers: []PeerConfig{
	{PublicKey: key(2), PresharedKey: key(3), ReplaceAllowedIPs: true, AllowedIPs: prefixes("10.10.0.2/32")},
	{PublicKey: key(4), ReplaceAllowedIPs: true, AllowedIPs: prefixes("10.10.0.3/32", "fd10::3/128")},
}}

// TestGoldenSet pins the text a gateway's configuration becomes.
func TestGoldenSet(t *testing.T) { golden(t, "gateway-set.txt", gateway.Encode()) }

// TestGoldenGet reads what a wireguard-go device reported about a busy
// gateway (testdata/gateway-get.txt, kept as the device wrote it).
func TestGoldenGet(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "gateway-get.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseDevice(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := Device{PrivateKey: privateKey, ListenPort: 51820, Peers: []Peer{
		{PublicKey: key(2), PresharedKey: key(3), Endpoint: netip.MustParseAddrPort("192.0.2.7:40112"), LatestHandshake: time.Unix(1780000123, 456789).UTC(),
			RxBytes: 148, TxBytes: 92, AllowedIPs: prefixes("10.10.0.2/32")},
		{PublicKey: key(4), AllowedIPs: prefixes("10.10.0.3/32", "fd10::3/128")},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseDevice =\n%+v\nwant\n%+v", got, want)
	}
}

// downTUN is a TUN that never comes up, so the device under test stays
// down: it opens no socket and sends nothing, and what it reports is what
// it was told.
type downTUN struct{ events chan tun.Event } // no event until Close closes it

func (d downTUN) File() *os.File { return nil }
func (d downTUN) Read([][]byte, []int, int) (int, error) {
	<-d.events
	return 0, os.ErrClosed
}
func (d downTUN) Write(bufs [][]byte, _ int) (int, error) { return len(bufs), nil }
func (d downTUN) MTU() (int, error)                       { return 1420, nil }
func (d downTUN) Name() (string, error)                   { return "down", nil }
func (d downTUN) Events() <-chan tun.Event                { return d.events }
func (d downTUN) Close() error                            { close(d.events); return nil }
func (d downTUN) BatchSize() int                          { return 1 }

func newDevice(t *testing.T) *device.Device {
	t.Helper()
	dev := device.NewDevice(downTUN{events: make(chan tun.Event)}, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	t.Cleanup(dev.Close)
	return dev
}

func get(t *testing.T, dev *device.Device) Device {
	t.Helper()
	raw, err := dev.IpcGet()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDevice(raw)
	if err != nil {
		t.Fatalf("%v in\n%s", err, raw)
	}
	slices.SortFunc(d.Peers, func(a, b Peer) int { return strings.Compare(a.PublicKey.Hex(), b.PublicKey.Hex()) })
	return d
}

// TestRoundTripThroughWireGuard sets configurations on a real wireguard-go
// device and reads them back: what Encode writes is what the device takes,
// and what it reports is what ParseDevice reads.
func TestRoundTripThroughWireGuard(t *testing.T) {
	dev := newDevice(t)
	cfg := gateway
	cfg.Peers = append(slices.Clone(cfg.Peers), PeerConfig{PublicKey: key(5), Endpoint: netip.MustParseAddrPort("198.51.100.9:51820"),
		PersistentKeepalive: 25 * time.Second, AllowedIPs: prefixes("10.10.0.5/32")})
	if err := dev.IpcSet(cfg.Encode()); err != nil {
		t.Fatal(err)
	}
	want := Device{PrivateKey: privateKey, ListenPort: 51820, Peers: []Peer{
		{PublicKey: key(2), PresharedKey: key(3), AllowedIPs: prefixes("10.10.0.2/32")},
		{PublicKey: key(4), AllowedIPs: prefixes("10.10.0.3/32", "fd10::3/128")},
		{PublicKey: key(5), Endpoint: netip.MustParseAddrPort("198.51.100.9:51820"), PersistentKeepalive: 25 * time.Second, AllowedIPs: prefixes("10.10.0.5/32")},
	}}
	if got := get(t, dev); !reflect.DeepEqual(got, want) {
		t.Fatalf("after set:\n%+v\nwant\n%+v", got, want)
	}

	// A removal and a changed peer in one operation.
	change := Config{Peers: []PeerConfig{
		{PublicKey: key(4), Remove: true},
		{PublicKey: key(2), PresharedKey: key(6), ReplaceAllowedIPs: true, AllowedIPs: prefixes("10.10.0.20/32")},
	}}
	if err := dev.IpcSet(change.Encode()); err != nil {
		t.Fatal(err)
	}
	want.Peers = []Peer{{PublicKey: key(2), PresharedKey: key(6), AllowedIPs: prefixes("10.10.0.20/32")}, want.Peers[2]}
	if got := get(t, dev); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the change:\n%+v\nwant\n%+v", got, want)
	}

	// Replacing the peers leaves only the new one.
	client := Config{ReplacePeers: true, Peers: []PeerConfig{{PublicKey: key(7), ReplaceAllowedIPs: true, AllowedIPs: prefixes("0.0.0.0/0")}}}
	if err := dev.IpcSet(client.Encode()); err != nil {
		t.Fatal(err)
	}
	want.Peers = []Peer{{PublicKey: key(7), AllowedIPs: prefixes("0.0.0.0/0")}}
	if got := get(t, dev); !reflect.DeepEqual(got, want) {
		t.Fatalf("after replacing the peers:\n%+v\nwant\n%+v", got, want)
	}
}

// TestEachPeer reads the golden report peer by peer: the same peers as
// ParseDevice, handed over one at a time in a reused Peer, and an error
// from the callback stops the reading.
func TestEachPeer(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "gateway-get.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseDevice(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	var got []Peer
	var seen *Peer
	d, err := EachPeer(raw, func(p *Peer) error {
		if seen != nil && seen != p {
			t.Error("EachPeer handed over a new Peer instead of reusing one")
		}
		seen = p
		q := *p
		q.AllowedIPs = slices.Clone(p.AllowedIPs)
		got = append(got, q)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.PrivateKey != want.PrivateKey || d.ListenPort != want.ListenPort || d.Peers != nil || !reflect.DeepEqual(got, want.Peers) {
		t.Fatalf("EachPeer = %+v with peers\n%+v\nwant %+v", d, got, want)
	}

	stop := errors.New("enough")
	calls := 0
	if _, err := EachPeer(raw, func(*Peer) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("a callback's error: EachPeer returned %v after %d calls, want it after 1", err, calls)
	}
}

// TestParseNumbers holds the in-place number reading to strconv's ranges.
func TestParseNumbers(t *testing.T) {
	peer := "public_key=" + hexOf(2) + "\n"
	for _, tc := range []struct {
		text string
		ok   bool
	}{
		{"listen_port=65535\n", true},
		{"listen_port=65536\n", false},
		{"listen_port=\n", false},
		{"listen_port=-1\n", false},
		{"listen_port=12a\n", false},
		{"fwmark=4294967295\n", true},
		{"fwmark=4294967296\n", false},
		{peer + "rx_bytes=18446744073709551615\n", true},
		{peer + "rx_bytes=18446744073709551616\n", false},
		{peer + "tx_bytes=99999999999999999999\n", false},
		{peer + "last_handshake_time_sec=9223372036854775807\n", true},
		{peer + "last_handshake_time_sec=9223372036854775808\n", false},
		{peer + "last_handshake_time_nsec=-5\n", true},
		{peer + "persistent_keepalive_interval=65536\n", false},
	} {
		if _, err := ParseDevice(tc.text); (err == nil) != tc.ok {
			t.Errorf("ParseDevice(%q) = %v, want ok %v", tc.text, err, tc.ok)
		}
	}
	d, err := ParseDevice(peer + "rx_bytes=18446744073709551615\r\ntx_bytes=7\r\nlast_handshake_time_sec=3\nlast_handshake_time_nsec=4\n")
	if err != nil || d.Peers[0].RxBytes != 1<<64-1 || d.Peers[0].TxBytes != 7 || !d.Peers[0].LatestHandshake.Equal(time.Unix(3, 4)) {
		t.Fatalf("ParseDevice = %+v, %v", d, err)
	}
}
