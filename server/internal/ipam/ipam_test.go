package ipam

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/store"
)

func TestHosts(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		first string
		n     int
	}{
		{"10.0.0.1/29", "10.0.0.2", 5}, // .0 network, .1 gateway, .7 broadcast
		{"10.0.0.6/29", "10.0.0.1", 5}, // gateway in the middle
		{"10.0.0.1/30", "10.0.0.2", 1},
		{"fd00::1/125", "fd00::2", 6},
	} {
		p, err := ParsePool(tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		p.Hosts(func(a netip.Addr) bool { got = append(got, a.String()); return true })
		if len(got) != tc.n || got[0] != tc.first {
			t.Errorf("%s: hosts %v, want %d starting at %s", tc.addr, got, tc.n, tc.first)
		}
	}
}

func TestAddressFor(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	loc := store.Location{ID: "l1", Name: "L", Address: "10.0.0.1/30", ListenPort: 1, Endpoint: "x:1", KeepaliveSeconds: 25, PeerDisconnectThresholdSeconds: 300, MTU: 1420, PrivateKey: "k", PublicKey: "p"}
	if err := st.CreateLocation(ctx, loc); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a1, err := AddressFor(ctx, st.Q, loc, "dev1", now)
	if err != nil || a1 != "10.0.0.2/32" {
		t.Fatalf("first = %q, %v", a1, err)
	}
	again, err := AddressFor(ctx, st.Q, loc, "dev1", now)
	if err != nil || again != a1 {
		t.Fatalf("not stable: %q, %v", again, err)
	}
	if _, err := AddressFor(ctx, st.Q, loc, "dev2", now); !errors.Is(err, ErrPoolFull) {
		t.Fatalf("full pool: %v", err)
	}
}
