package core

import (
	"slices"
	"testing"
)

// TestOfferedMethods: a location's list limits what is offered, an empty
// one takes every method, and with nothing to offer the answer says what
// to set up and where.
func TestOfferedMethods(t *testing.T) {
	both := InstanceView{URL: "https://vpn.example.com/", EnabledMethods: []Method{MethodEmail, MethodTOTP}}
	emailOnly := InstanceView{URL: "https://vpn.example.com", EnabledMethods: []Method{MethodEmail}}
	for _, tc := range []struct {
		name    string
		inst    InstanceView
		loc     LocationView
		offer   []Method
		problem string
	}{
		{"every method", both, LocationView{Name: "Office"}, []Method{MethodTOTP, MethodEmail}, ""},
		{"limited", both, LocationView{Name: "Office", LimitsMethods: true, AllowedMethods: []Method{MethodEmail}}, []Method{MethodEmail}, ""},
		{"none the account has", emailOnly, LocationView{Name: "Office", LimitsMethods: true, AllowedMethods: []Method{MethodTOTP}}, nil,
			"Office accepts only an authenticator app code, which your account does not have. Set up an authenticator app in your profile (https://vpn.example.com/profile) first."},
		// A method this client does not know (a passkey, say) is not "every method".
		{"unknown to this client", both, LocationView{Name: "Office", LimitsMethods: true}, nil,
			"Office accepts only second factors this version of Wicket does not offer; update Wicket."},
		{"no factor yet", InstanceView{}, LocationView{Name: "Office"}, nil,
			"Your account has no second factor yet. Set up an authenticator app, email codes or a passkey in your profile first."},
	} {
		offer, problem := OfferedMethods(tc.inst, tc.loc)
		if !slices.Equal(offer, tc.offer) || problem != tc.problem {
			t.Errorf("%s: %v, %q; want %v, %q", tc.name, offer, problem, tc.offer, tc.problem)
		}
	}
}
