package gateway

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/peers"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func fixedKey(b byte) wgkey.Key {
	var k wgkey.Key
	for i := range k {
		k[i] = b
	}
	return k
}

func at(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }

// TestBatchGolden pins the one configuration a change becomes: removals
// first, then each upsert; a peer whose pre-shared key changed is removed
// and added again, a peer with a new address keeps its key material, and
// a peer created afresh with a known endpoint gets a keepalive that the
// second configuration turns off again.
func TestBatchGolden(t *testing.T) {
	have := peers.NewSet([]peers.Peer{
		{PublicKey: fixedKey(1), PresharedKey: fixedKey(0x11), AllowedIPs: at("10.0.0.2/32")}, // leaves
		{PublicKey: fixedKey(2), PresharedKey: fixedKey(0x12), AllowedIPs: at("10.0.0.3/32")}, // new pre-shared key
		{PublicKey: fixedKey(3), AllowedIPs: at("10.0.0.4/32")},                               // moves
	})
	ups := []peers.Peer{
		{PublicKey: fixedKey(2), PresharedKey: fixedKey(0x22), AllowedIPs: at("10.0.0.3/32"), Endpoint: netip.MustParseAddrPort("192.0.2.2:51000")},
		{PublicKey: fixedKey(3), AllowedIPs: at("10.0.0.40/32"), Endpoint: netip.MustParseAddrPort("192.0.2.3:51000")},
		{PublicKey: fixedKey(4), PresharedKey: fixedKey(0x14), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("fd00::5/128")}},
	}
	cfg, calm := batch(have, ups, []wgkey.Key{fixedKey(1)})
	golden(t, "batch-set.txt", cfg.Encode()+"--- then\n"+calm.Encode())

	if cfg, calm := batch(have, nil, nil); len(cfg.Peers) != 0 || len(calm.Peers) != 0 {
		t.Fatalf("an empty change configures %+v, %+v", cfg, calm)
	}
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
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s:\n%s\nwant\n%s", name, got, want)
	}
}
