package service

import (
	"slices"
	"strings"

	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// methodPasskey is MfaMethod 3, MFA_METHOD_WEBAUTHN: a passkey or security
// key. It is named here so that a location can be limited to it in words
// people read.
const methodPasskey = mfa.WebAuthn

// OfferedMethods are the second factors this server offers, in the order
// forms list them; a location that names none accepts all of them.
var OfferedMethods = []mfa.Method{mfa.TOTP, mfa.Email, mfa.WebAuthn}

// methodNames names each second factor for people: on a form, in a
// sentence ("accepts only …"), and as what to set up. A method without
// names is not one the server knows.
func methodNames(m mfa.Method) (label, proof, setup string) {
	switch m {
	case mfa.TOTP:
		return "Authenticator app", "an authenticator app code", "an authenticator app"
	case mfa.Email:
		return "Emailed code", "an emailed code", "email codes"
	case methodPasskey:
		return "Passkey", "a passkey", "a passkey"
	}
	return "", "", ""
}

// MethodLabel names a method on forms: "Authenticator app".
func MethodLabel(m mfa.Method) string {
	label, _, _ := methodNames(m)
	return label
}

func knownMethod(m mfa.Method) bool { return MethodLabel(m) != "" }

// checkMethods reads the methods a location accepts: known ones only, each
// once, in their numeric order.
func checkMethods(list []mfa.Method) ([]mfa.Method, error) {
	var out []mfa.Method
	for _, m := range list {
		if !knownMethod(m) {
			return nil, fieldErr("allowed_mfa_methods", "%d is not a second factor this server knows; leave the list empty to accept every method", int(m))
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out, nil
}

// allows reports whether a location accepts a method.
func allows(l store.Location, m mfa.Method) bool {
	return len(l.AllowedMFAMethods) == 0 || slices.Contains(l.AllowedMFAMethods, int(m))
}

func locationMethods(l store.Location) []mfa.Method {
	out := make([]mfa.Method, 0, len(l.AllowedMFAMethods))
	for _, m := range l.AllowedMFAMethods {
		out = append(out, mfa.Method(m))
	}
	return out
}

// orList joins words as people do: "a", "a or b", "a, b or c".
func orList(words []string) string {
	if n := len(words); n > 1 {
		return strings.Join(words[:n-1], ", ") + " or " + words[n-1]
	}
	return strings.Join(words, "")
}

// onlyAccepts is the refusal of a method a location does not accept:
// "Office accepts only a passkey", and what the user can do about it.
func onlyAccepts(l store.Location, u User) string {
	var proofs, setups []string
	has := false
	for _, m := range locationMethods(l) {
		_, proof, setup := methodNames(m)
		proofs, setups = append(proofs, proof), append(setups, setup)
		if slices.Contains(Methods(u), m) {
			has = true
		}
	}
	msg := l.Name + " accepts only " + orList(proofs)
	if has && len(proofs) > 1 {
		return msg + "; choose one of them instead."
	}
	if has {
		return msg + "; choose that method instead."
	}
	return msg + ". Set up " + orList(setups) + " in your profile first."
}

func methodList(l store.Location) string {
	if len(l.AllowedMFAMethods) == 0 {
		return "all"
	}
	var names []string
	for _, m := range locationMethods(l) {
		name := methodName(m)
		if m == methodPasskey && name == "none" {
			name = "webauthn"
		}
		names = append(names, name)
	}
	return strings.Join(names, ",")
}
