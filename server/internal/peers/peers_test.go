package peers

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

func key(b byte) wgkey.Key {
	var k wgkey.Key
	k[0] = b
	return k
}

func peer(k, psk byte, addr string) Peer {
	p := Peer{PublicKey: key(k), AllowedIPs: []netip.Prefix{netip.MustParsePrefix(addr)}}
	if psk != 0 {
		p.PresharedKey = key(psk)
	}
	return p
}

func withEndpoint(p Peer, ep string) Peer {
	p.Endpoint = netip.MustParseAddrPort(ep)
	return p
}

func TestDiff(t *testing.T) {
	a, b, c := peer(1, 0, "10.0.0.1/32"), peer(2, 9, "10.0.0.2/32"), peer(3, 0, "10.0.0.3/32")
	for _, tc := range []struct {
		name       string
		have, want []Peer
		upserts    []Peer
		removes    []wgkey.Key
	}{
		{"nothing", nil, nil, nil, nil},
		{"same", []Peer{a, b}, []Peer{b, a}, nil, nil},
		{"all new, in key order", nil, []Peer{c, a, b}, []Peer{a, b, c}, nil},
		{"all gone, in key order", []Peer{c, a, b}, nil, nil, []wgkey.Key{key(1), key(2), key(3)}},
		{"a new pre-shared key", []Peer{a, b}, []Peer{a, peer(2, 8, "10.0.0.2/32")}, []Peer{peer(2, 8, "10.0.0.2/32")}, nil},
		{"pre-shared key dropped", []Peer{b}, []Peer{peer(2, 0, "10.0.0.2/32")}, []Peer{peer(2, 0, "10.0.0.2/32")}, nil},
		{"a new address", []Peer{a}, []Peer{peer(1, 0, "10.0.0.9/32")}, []Peer{peer(1, 0, "10.0.0.9/32")}, nil},
		{"one in, one out", []Peer{a, b}, []Peer{b, c}, []Peer{c}, []wgkey.Key{key(1)}},
		{"a roaming client's endpoint is no change", []Peer{a}, []Peer{withEndpoint(a, "192.0.2.7:40000")}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ups, rms := NewSet(tc.have).Diff(NewSet(tc.want))
			if !reflect.DeepEqual(ups, tc.upserts) || !reflect.DeepEqual(rms, tc.removes) {
				t.Fatalf("Diff = %v, %v; want %v, %v", ups, rms, tc.upserts, tc.removes)
			}
		})
	}
}

func TestInterfaceEqual(t *testing.T) {
	base := Interface{LocationID: "l", PrivateKey: key(1), Address: netip.MustParsePrefix("10.0.0.1/24"), ListenPort: 51820, MTU: 1420,
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}
	if !base.Equal(base) {
		t.Fatal("an interface differs from itself")
	}
	for name, change := range map[string]func(*Interface){
		"location":    func(i *Interface) { i.LocationID = "m" },
		"key":         func(i *Interface) { i.PrivateKey = key(2) },
		"address":     func(i *Interface) { i.Address = netip.MustParsePrefix("10.0.0.2/24") },
		"port":        func(i *Interface) { i.ListenPort++ },
		"MTU":         func(i *Interface) { i.MTU = 1380 },
		"allowed IPs": func(i *Interface) { i.AllowedIPs = nil },
	} {
		other := base
		change(&other)
		if base.Equal(other) {
			t.Errorf("a new %s is the same interface", name)
		}
	}
}
