// Package passkey holds Wicket's WebAuthn rules: the relying party is the
// server's host name and the only origin its URL; users register passkeys
// and security keys; and every assertion Wicket asks for is bound to what
// it approves. A connection's assertion signs a challenge derived from the
// MFA challenge, the device's public key and the location, so it approves
// that connection and no other; a sign-in's signs one derived from the
// sign-in challenge.
//
// The package keeps no state: registration ceremonies, passkeys and their
// counters live in the store.
package passkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// ErrNoHostName says why a server reached by an IP address cannot use
// passkeys: browsers bind passkeys to a domain name.
var ErrNoHostName = errors.New("passkeys need the server to be reached by a host name, not an IP address")

// ErrCeremony is a browser response that does not verify: a passkey that
// is not the user's, a signature over another challenge, another origin.
var ErrCeremony = errors.New("the passkey's answer does not verify")

// RP is the relying party: the server as passkeys know it.
type RP struct {
	wa *webauthn.WebAuthn
	// ID is the relying party id, the host name of the server's URL.
	ID string
	// Origin is the only origin ceremonies may come from.
	Origin string
}

// New returns the relying party of a server reached at serverURL
// ("https://vpn.example.com:8443"), named name in the person's passkey
// manager.
func New(serverURL, name string) (*RP, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("server URL %q: not an http(s) URL", serverURL)
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return nil, ErrNoHostName
	}
	origin := u.Scheme + "://" + strings.ToLower(u.Host)
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          strings.ToLower(host),
		RPDisplayName: name,
		RPOrigins:     []string{origin},
		// Passkeys where the authenticator can keep them; a security key
		// without room for one still works as a second factor.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("relying party of %s: %w", serverURL, err)
	}
	return &RP{wa: wa, ID: strings.ToLower(host), Origin: origin}, nil
}

// Key is a stored passkey, as the relying party needs it.
type Key struct {
	ID string // the store's id
	// CredentialID and PublicKey are base64url.
	CredentialID   string
	PublicKey      string
	SignCount      uint32
	AAGUID         string // hex
	BackupEligible bool
	Transports     []string
}

// User is an account with its passkeys.
type User struct {
	ID   string // the account's id: the user handle passkeys keep
	Name string
	Keys []Key
}

// waUser is User as the library sees it.
type waUser struct {
	u     User
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string                       { return w.u.Name }
func (w *waUser) WebAuthnDisplayName() string                { return w.u.Name }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func adapt(u User) (*waUser, error) {
	w := &waUser{u: u}
	for _, k := range u.Keys {
		id, err := base64.RawURLEncoding.DecodeString(k.CredentialID)
		if err != nil {
			return nil, fmt.Errorf("passkey %s: credential id: %w", k.ID, err)
		}
		pub, err := base64.RawURLEncoding.DecodeString(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("passkey %s: public key: %w", k.ID, err)
		}
		aaguid, _ := hex.DecodeString(k.AAGUID)
		c := webauthn.Credential{ID: id, PublicKey: pub, Flags: webauthn.CredentialFlags{BackupEligible: k.BackupEligible},
			Authenticator: webauthn.Authenticator{AAGUID: aaguid, SignCount: k.SignCount}}
		for _, t := range k.Transports {
			c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
		}
		w.creds = append(w.creds, c)
	}
	return w, nil
}

// SetupKey names a registration ceremony by its challenge, so that the
// browser's answer finds its own ceremony among several started.
func SetupKey(challenge string) string {
	return hex.EncodeToString(derive("wicket passkey setup v1", challenge))
}

// RegistrationKey is the SetupKey of the ceremony a browser's new
// credential (its JSON) answers.
func RegistrationKey(credential []byte) (string, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrCeremony, detail(err))
	}
	return SetupKey(parsed.Response.CollectedClientData.Challenge), nil
}

// BeginRegistration returns the options for navigator.credentials.create
// (as JSON), the ceremony state to keep until FinishRegistration, and the
// ceremony's SetupKey. The user's passkeys are excluded, so one
// authenticator is not added twice.
func (rp *RP) BeginRegistration(u User) (options, ceremony, key string, err error) {
	w, err := adapt(u)
	if err != nil {
		return "", "", "", err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range w.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := rp.wa.BeginRegistration(w, webauthn.WithExclusions(exclude))
	if err != nil {
		return "", "", "", err
	}
	opts, err := json.Marshal(creation)
	if err != nil {
		return "", "", "", err
	}
	state, err := json.Marshal(session)
	if err != nil {
		return "", "", "", err
	}
	return string(opts), string(state), SetupKey(session.Challenge), nil
}

// FinishRegistration verifies the browser's new credential (its JSON)
// against the ceremony state and returns the passkey to store (without
// its store id).
func (rp *RP) FinishRegistration(u User, ceremony string, credential []byte) (Key, error) {
	w, err := adapt(u)
	if err != nil {
		return Key{}, err
	}
	var session webauthn.SessionData
	if err := json.Unmarshal([]byte(ceremony), &session); err != nil {
		return Key{}, fmt.Errorf("passkey setup state: %w", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %s", ErrCeremony, detail(err))
	}
	c, err := rp.wa.CreateCredential(w, session, parsed)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %s", ErrCeremony, detail(err))
	}
	k := Key{
		CredentialID:   base64.RawURLEncoding.EncodeToString(c.ID),
		PublicKey:      base64.RawURLEncoding.EncodeToString(c.PublicKey),
		SignCount:      c.Authenticator.SignCount,
		BackupEligible: c.Flags.BackupEligible,
	}
	if len(c.Authenticator.AAGUID) > 0 && !bytes.Equal(c.Authenticator.AAGUID, make([]byte, len(c.Authenticator.AAGUID))) {
		k.AAGUID = hex.EncodeToString(c.Authenticator.AAGUID)
	}
	for _, t := range c.Transport {
		k.Transports = append(k.Transports, string(t))
	}
	return k, nil
}

// Challenge labels keep the challenges of different purposes apart, so
// that an assertion for one can never count as one for another.
const (
	connectLabel = "wicket passkey connect v1"
	signInLabel  = "wicket passkey sign-in v1"
)

// ConnectChallenge is the WebAuthn challenge that approves one connection:
// the MFA challenge (its stored hash, itself the hash of 32 random bytes),
// the device's WireGuard public key and the location.
func ConnectChallenge(challengeHash, devicePublicKey, locationID string) []byte {
	return derive(connectLabel, challengeHash, devicePublicKey, locationID)
}

// SignInChallenge is the WebAuthn challenge that finishes one sign-in (or
// step-up) challenge.
func SignInChallenge(challengeHash string) []byte {
	return derive(signInLabel, challengeHash)
}

// derive hashes the label and parts, each prefixed with its length so that
// no two different lists of parts hash alike.
func derive(label string, parts ...string) []byte {
	h := sha256.New()
	for _, p := range append([]string{label}, parts...) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// AssertionOptions returns the options for navigator.credentials.get (as
// JSON) asking one of the user's passkeys to sign challenge.
func (rp *RP) AssertionOptions(u User, challenge []byte) (string, error) {
	assertion, _, _, err := rp.beginLogin(u, challenge)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(assertion)
	return string(b), err
}

func (rp *RP) beginLogin(u User, challenge []byte) (*protocol.CredentialAssertion, *webauthn.SessionData, *waUser, error) {
	w, err := adapt(u)
	if err != nil {
		return nil, nil, nil, err
	}
	a, s, err := rp.wa.BeginLogin(w, webauthn.WithChallenge(challenge))
	return a, s, w, err
}

// Use is a verified assertion: which passkey signed and its new counter.
type Use struct {
	KeyID     string
	SignCount uint32
	// Cloned: the counter did not go up, so another copy of the key may
	// exist.
	Cloned bool
}

// VerifyAssertion checks the browser's assertion (its JSON): one of the
// user's passkeys signed challenge, at the relying party's origin.
func (rp *RP) VerifyAssertion(u User, challenge []byte, assertion []byte) (Use, error) {
	_, session, w, err := rp.beginLogin(u, challenge)
	if err != nil {
		return Use{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(assertion)
	if err != nil {
		return Use{}, fmt.Errorf("%w: %s", ErrCeremony, detail(err))
	}
	c, err := rp.wa.ValidateLogin(w, *session, parsed)
	if err != nil {
		return Use{}, fmt.Errorf("%w: %s", ErrCeremony, detail(err))
	}
	for i, k := range w.creds {
		if bytes.Equal(k.ID, c.ID) {
			return Use{KeyID: u.Keys[i].ID, SignCount: c.Authenticator.SignCount, Cloned: c.Authenticator.CloneWarning}, nil
		}
	}
	return Use{}, fmt.Errorf("%w: no passkey of the user signed", ErrCeremony)
}

// detail is the library's reason, for logs and audit events.
func detail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return pe.Details
	}
	return err.Error()
}
