package core_test

import (
	"testing"

	"github.com/wicket-vpn/wicket/shared/enrollment"
)

// swapFingerprint returns code with the fingerprint of other.
func swapFingerprint(t *testing.T, code, other string) string {
	t.Helper()
	a, err := enrollment.Parse(code)
	if err != nil {
		t.Fatal(err)
	}
	b, err := enrollment.Parse(other)
	if err != nil {
		t.Fatal(err)
	}
	a.Fingerprint = b.Fingerprint
	return a.String()
}
