package service

import (
	"testing"

	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// TestOnlyAccepts: the refusal names the methods a location takes, in
// words, and says what to do: choose one the account has, or set one up.
func TestOnlyAccepts(t *testing.T) {
	totpUser := User{TOTPEnabled: true}
	for _, tc := range []struct {
		methods []int
		u       User
		want    string
	}{
		{[]int{1}, totpUser, "Office accepts only an authenticator app code; choose that method instead."},
		{[]int{1}, User{EmailMFA: true}, "Office accepts only an authenticator app code. Set up an authenticator app in your profile first."},
		{[]int{3}, totpUser, "Office accepts only a passkey. Set up a passkey in your profile first."},
		{[]int{1, 3}, totpUser, "Office accepts only an authenticator app code or a passkey; choose one of them instead."},
		{[]int{1, 2, 3}, User{}, "Office accepts only an authenticator app code, an emailed code or a passkey. Set up an authenticator app, email codes or a passkey in your profile first."},
	} {
		if got := onlyAccepts(store.Location{Name: "Office", AllowedMFAMethods: tc.methods}, tc.u); got != tc.want {
			t.Errorf("methods %v: %q, want %q", tc.methods, got, tc.want)
		}
	}
}

// TestCheckMethods: known methods (passkeys included, so that the list
// keeps working when the API defines them) are kept once, in order;
// anything else is refused with the field's name.
func TestCheckMethods(t *testing.T) {
	got, err := checkMethods([]mfa.Method{methodPasskey, mfa.Email, mfa.TOTP, mfa.Email})
	if err != nil || len(got) != 3 || got[0] != mfa.TOTP || got[1] != mfa.Email || got[2] != methodPasskey {
		t.Fatalf("checkMethods = %v, %v", got, err)
	}
	for _, bad := range []mfa.Method{0, -1, 4} {
		if _, err := checkMethods([]mfa.Method{bad}); err == nil || err.Error()[:len("allowed_mfa_methods")] != "allowed_mfa_methods" {
			t.Errorf("method %d: %v", bad, err)
		}
	}
}
