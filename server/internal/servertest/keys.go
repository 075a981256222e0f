package servertest

import (
	"testing"

	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// NewKeyPair returns a fresh WireGuard key pair, base64.
func NewKeyPair(t testing.TB) (priv, pub string) {
	t.Helper()
	k, err := wgkey.NewPrivate()
	if err != nil {
		t.Fatal(err)
	}
	return k.String(), k.Public().String()
}
