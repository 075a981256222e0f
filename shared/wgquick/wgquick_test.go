package wgquick

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// key is a fixed key for golden files: every byte b.
func key(b byte) wgkey.Key {
	var k wgkey.Key
	for i := range k {
		k[i] = b
	}
	return k
}

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
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"full.conf", Config{
			Comment: "Office: Phone", PrivateKey: key(1),
			Address: []netip.Prefix{netip.MustParsePrefix("10.10.0.7/32")},
			DNS:     []netip.Addr{netip.MustParseAddr("10.10.0.1"), netip.MustParseAddr("fd00::53")}, MTU: 1420,
			Peer: Peer{PublicKey: key(2), PresharedKey: key(3), Endpoint: "vpn.example.com:51820",
				AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24"), netip.MustParsePrefix("192.168.1.0/24")},
				PersistentKeepalive: 25},
		}},
		// No DNS, MTU, pre-shared key or keepalive: those lines are left out.
		{"minimal.conf", Config{
			PrivateKey: key(1), Address: []netip.Prefix{netip.MustParsePrefix("10.10.0.7/32")},
			Peer: Peer{PublicKey: key(2), Endpoint: "[2001:db8::1]:51820", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { golden(t, tc.name, tc.c.String()) })
	}
}

func TestStripLeavesWhatWgSetconfTakes(t *testing.T) {
	conf, err := os.ReadFile(filepath.Join("testdata", "full.conf"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "full.setconf", Strip(string(conf)))
}

func TestFileName(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"Office", "Phone"}, "office-phone.conf"},
		{[]string{"Head office", "Anna's phone"}, "head-office-ann.conf"},
		{[]string{"Büro", "Router"}, "b-ro-router.conf"},
		{[]string{"--", "!!"}, "wireguard.conf"},
		{[]string{"a-very-long-location-name"}, "a-very-long-loc.conf"},
		{[]string{"office.", "x"}, "office-x.conf"},
	} {
		if got := FileName(tc.parts...); got != tc.want {
			t.Errorf("FileName(%q) = %q, want %q", tc.parts, got, tc.want)
		}
		if name := FileName(tc.parts...); len(name)-len(".conf") > maxName {
			t.Errorf("FileName(%q) = %q: longer than an interface name", tc.parts, name)
		}
	}
}
