package service

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/password"
	"github.com/wicket-vpn/wicket/server/internal/session"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/token"
	"github.com/wicket-vpn/wicket/shared/enrollment"
)

// APITokenTTL is how long a sign-in lasts.
const APITokenTTL = 12 * time.Hour

// EnrollmentTTL is how long an enrollment code can be used.
const EnrollmentTTL = 24 * time.Hour

// Methods lists the second factors a user has on.
func Methods(u User) []mfa.Method {
	var m []mfa.Method
	if u.TOTPEnabled {
		m = append(m, mfa.TOTP)
	}
	if u.EmailMFA {
		m = append(m, mfa.Email)
	}
	if u.Passkeys > 0 {
		m = append(m, mfa.WebAuthn)
	}
	return m
}

func methodsOf(u store.User) []mfa.Method { return Methods(userOf(u)) }

func totpAAD(userID string) []byte        { return []byte("totp:" + userID) }
func totpPendingAAD(userID string) []byte { return []byte("totp-pending:" + userID) }

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
var groupRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// NewUser describes a user to create.
type NewUser struct {
	Username string
	Email    string
	Password string
	Admin    bool
	Groups   []string
}

func checkEmail(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr {
		return "", &fault.Error{Kind: fault.Invalid, Msg: fmt.Sprintf("email: %q is not an email address", addr)}
	}
	return addr, nil
}

func checkGroups(groups []string) ([]string, error) {
	var out []string
	for _, g := range groups {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		if !groupRE.MatchString(g) {
			return nil, fault.New(fault.Invalid, "groups: %q is not a group name (letters, digits, '.', '_' and '-', up to 64)", g)
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}

// CreateUser adds a user. Admin only, except through the local tool (a zero Actor with Admin set).
func (s *Service) CreateUser(ctx context.Context, a Actor, n NewUser) (User, error) {
	if !a.Admin {
		return User{}, a.notAdmin()
	}
	n.Username = strings.TrimSpace(n.Username)
	if !usernameRE.MatchString(n.Username) {
		return User{}, fault.New(fault.Invalid, "username: use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	email, err := checkEmail(n.Email)
	if err != nil {
		return User{}, err
	}
	if err := password.Check(n.Password); err != nil {
		return User{}, fault.New(fault.Invalid, "password: %v", err)
	}
	groups, err := checkGroups(n.Groups)
	if err != nil {
		return User{}, err
	}
	hash, err := password.Hash(ctx, n.Password)
	if err != nil {
		return User{}, err
	}
	u := store.User{ID: newID(), Username: n.Username, Email: email, PasswordHash: hash, Admin: n.Admin, Groups: groups, CreatedAt: s.clock.Now()}
	err = s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "user.created", u.Username, fmt.Sprintf("admin=%t groups=%s", u.Admin, strings.Join(u.Groups, ",")))
	})
	if errors.Is(err, store.ErrConflict) {
		return User{}, fault.New(fault.Conflict, "username: %q is taken", n.Username)
	}
	if err != nil {
		return User{}, err
	}
	s.Sessions.PublishAll()
	return userOf(u), nil
}

var errAdminOnly = fault.New(fault.PermissionDenied, "This needs an admin account.")

// ListUsers returns every user.
func (s *Service) ListUsers(ctx context.Context, a Actor) ([]User, error) {
	if !a.Admin {
		return nil, a.notAdmin()
	}
	list, err := s.store.ListUsers(ctx)
	return usersOf(list), err
}

// GetUser returns one user, for admins.
func (s *Service) GetUser(ctx context.Context, a Actor, id string) (User, error) {
	if !a.Admin {
		return User{}, a.notAdmin()
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return User{}, notFound("user", err)
	}
	return userOf(u), nil
}

// FindUser returns the user with a username, for admins.
func (s *Service) FindUser(ctx context.Context, a Actor, username string) (User, error) {
	if !a.Admin {
		return User{}, a.notAdmin()
	}
	u, err := s.store.UserByUsername(ctx, username)
	if err != nil {
		return User{}, notFound("user", err)
	}
	return userOf(u), nil
}

// UserUpdate changes a user; empty Email and Password keep the current ones.
type UserUpdate struct {
	ID       string
	Email    string
	Admin    bool
	Groups   []string
	Password string
}

// UpdateUser changes a user's email, admin flag, groups and password.
func (s *Service) UpdateUser(ctx context.Context, a Actor, up UserUpdate) (User, error) {
	if !a.Admin {
		return User{}, a.notAdmin()
	}
	groups, err := checkGroups(up.Groups)
	if err != nil {
		return User{}, err
	}
	// Hash before the transaction: argon2 takes a while, and a transaction
	// holds the store.
	var newHash string
	if up.Password != "" {
		if err := password.Check(up.Password); err != nil {
			return User{}, fault.New(fault.Invalid, "password: %v", err)
		}
		if newHash, err = password.Hash(ctx, up.Password); err != nil {
			return User{}, err
		}
	}
	var u store.User
	var groupsChanged bool
	err = s.store.InTx(ctx, func(q *store.Q) error {
		u, err = q.UserByID(ctx, up.ID)
		if err != nil {
			return notFound("user", err)
		}
		if up.Email != "" {
			if u.Email, err = checkEmail(up.Email); err != nil {
				return err
			}
		}
		if newHash != "" {
			u.PasswordHash = newHash
			// A new password signs the user out everywhere, so whoever
			// knew the old one loses their sign-ins too.
			if err := q.DeleteAPITokensOfUser(ctx, u.ID); err != nil {
				return err
			}
		}
		if u.Admin && !up.Admin {
			n, err := q.CountAdmins(ctx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return fault.New(fault.FailedPrecondition, "admin: %s is the last admin; make someone else an admin first", u.Username)
			}
		}
		groupsChanged = !slices.Equal(u.Groups, groups)
		u.Admin, u.Groups = up.Admin, groups
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "user.updated", u.Username, fmt.Sprintf("admin=%t groups=%s password_changed=%t", u.Admin, strings.Join(u.Groups, ","), up.Password != ""))
	})
	if err != nil {
		return User{}, err
	}
	if groupsChanged {
		// Sessions on locations the user may no longer use end now.
		if err := s.endDisallowed(ctx, u, a); err != nil {
			return userOf(u), err
		}
		s.Sessions.PublishAll()
		s.instanceChanged(ctx, u.ID)
	}
	return userOf(u), nil
}

func (s *Service) endDisallowed(ctx context.Context, u store.User, a Actor) error {
	locs, err := s.store.ListLocations(ctx)
	if err != nil {
		return err
	}
	for _, l := range locs {
		if !session.Allowed(l, u.Groups) {
			if _, err := s.Sessions.EndWhere(ctx, store.SessionFilter{LocationID: l.ID, UserID: u.ID}, session.ReasonAdmin, a.name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteUser removes a user, their devices and sessions.
func (s *Service) DeleteUser(ctx context.Context, a Actor, id string) error {
	if !a.Admin {
		return a.notAdmin()
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return notFound("user", err)
	}
	if u.ID == a.UserID {
		return fault.New(fault.FailedPrecondition, "You cannot delete your own account.")
	}
	if _, err := s.Sessions.EndWhere(ctx, store.SessionFilter{UserID: id}, session.ReasonAdmin, a.name()); err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.DeleteUser(ctx, id); err != nil {
			return notFound("user", err)
		}
		return s.audit(ctx, q, a, "user.deleted", u.Username, "")
	})
	if err != nil {
		return err
	}
	s.Sessions.PublishAll()
	return nil
}

// ResetUserMFA turns every second factor of a user off.
func (s *Service) ResetUserMFA(ctx context.Context, a Actor, id string) error {
	if !a.Admin {
		return a.notAdmin()
	}
	err := s.store.InTx(ctx, func(q *store.Q) error {
		u, err := q.UserByID(ctx, id)
		if err != nil {
			return notFound("user", err)
		}
		u.TOTPEnabled, u.TOTPSecret, u.TOTPPending, u.EmailMFA = false, "", "", false
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := q.DeletePasskeysOfUser(ctx, id); err != nil {
			return err
		}
		if err := q.ClearMFAFailures(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "user.mfa_reset", u.Username, "")
	})
	if err != nil {
		return err
	}
	s.instanceChanged(ctx, id)
	return nil
}

// TOTPSetup is a new secret waiting for its confirming code.
type TOTPSetup struct {
	Secret     string
	OtpauthURL string
	QRPNG      []byte
}

// BeginTOTPSetup makes a new TOTP secret for the user to confirm.
func (s *Service) BeginTOTPSetup(ctx context.Context, a Actor) (TOTPSetup, error) {
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return TOTPSetup{}, notFound("user", err)
	}
	if u.TOTPEnabled {
		return TOTPSetup{}, fault.New(fault.FailedPrecondition, "The authenticator app is already set up; disable it first to set up a new one.")
	}
	if err := s.requireProof(a, u); err != nil {
		return TOTPSetup{}, err
	}
	key, err := mfa.NewTOTPKey(s.cfg.InstanceName, u.Username)
	if err != nil {
		return TOTPSetup{}, err
	}
	png, err := mfa.QRPNG(key, 256)
	if err != nil {
		return TOTPSetup{}, err
	}
	u.TOTPPending = s.sealString([]byte(key.Secret()), totpPendingAAD(u.ID))
	if err := s.store.SetTOTP(ctx, u.ID, u.TOTPSecret, u.TOTPEnabled, u.TOTPPending); err != nil {
		return TOTPSetup{}, err
	}
	s.auditNow(ctx, a, "mfa.totp_setup_started", u.Username, "")
	return TOTPSetup{Secret: key.Secret(), OtpauthURL: key.URL(), QRPNG: png}, nil
}

// ConfirmTOTPSetup turns TOTP on when code matches the pending secret; it
// counts as proving a factor for the actor's sign-in.
func (s *Service) ConfirmTOTPSetup(ctx context.Context, a Actor, code string) error {
	if err := checkCodeFormat(code); err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return notFound("user", err)
	}
	if u.TOTPPending == "" {
		return fault.New(fault.FailedPrecondition, "Start the authenticator app setup first.")
	}
	_, err = s.prove(ctx, a, proof{userID: u.ID, totp: true, pending: true, what: "totp_setup"}, code, func(q *store.Q, u store.User, _ mfa.Method) error {
		secret, err := s.openString(u.TOTPPending, totpPendingAAD(u.ID))
		if err != nil {
			return err
		}
		if err := q.SetTOTP(ctx, u.ID, s.sealString(secret, totpAAD(u.ID)), true, ""); err != nil {
			return err
		}
		if err := s.markProved(ctx, q, a); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "mfa.totp_enabled", u.Username, "")
	})
	if err != nil {
		return err
	}
	s.instanceChanged(ctx, u.ID)
	return nil
}

// DisableTOTP turns TOTP off, proven by a current code of it.
func (s *Service) DisableTOTP(ctx context.Context, a Actor, code string) error {
	if err := checkCodeFormat(code); err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return notFound("user", err)
	}
	if !u.TOTPEnabled {
		return fault.New(fault.FailedPrecondition, "The authenticator app is not set up.")
	}
	_, err = s.prove(ctx, a, proof{userID: u.ID, totp: true, what: "totp_disable"}, code, func(q *store.Q, u store.User, _ mfa.Method) error {
		if err := q.SetTOTP(ctx, u.ID, "", false, u.TOTPPending); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "mfa.totp_disabled", u.Username, "")
	})
	if err != nil {
		return err
	}
	s.instanceChanged(ctx, u.ID)
	return nil
}

// EmailSetup says where a confirming code went.
type EmailSetup struct {
	SentTo    string
	ExpiresAt time.Time
}

// BeginEmailSetup mails a confirming code to the user's address.
func (s *Service) BeginEmailSetup(ctx context.Context, a Actor) (EmailSetup, error) {
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return EmailSetup{}, notFound("user", err)
	}
	settings, err := s.smtpSettings(ctx)
	if err != nil {
		return EmailSetup{}, err
	}
	if !settings.Configured() {
		return EmailSetup{}, errNoSMTP
	}
	if err := s.requireProof(a, u); err != nil {
		return EmailSetup{}, err
	}
	if err := s.checkLockout(ctx, u.ID); err != nil {
		return EmailSetup{}, err
	}
	// The signed-in user confirms the setup; the token only keys the challenge.
	_, hash, err := token.New("wmc_")
	if err != nil {
		return EmailSetup{}, err
	}
	now := s.clock.Now()
	c := store.Challenge{Hash: hexHash(hash), Purpose: store.PurposeEmailSetup, UserID: u.ID, Method: int(mfa.Email), CreatedAt: now, ExpiresAt: now.Add(mfa.ChallengeTTL)}
	if err := s.mailCode(ctx, userOf(u), settings, &c, "Confirm email codes for "+s.cfg.InstanceName); err != nil {
		return EmailSetup{}, err
	}
	if err := s.store.CreateChallenge(ctx, c); err != nil {
		return EmailSetup{}, err
	}
	s.auditNow(ctx, a, "mfa.email_setup_started", u.Username, "")
	return EmailSetup{SentTo: maskAddress(u.Email), ExpiresAt: c.ExpiresAt}, nil
}

// ConfirmEmailSetup turns email codes on with the mailed code; it counts as
// proving a factor for the actor's sign-in.
func (s *Service) ConfirmEmailSetup(ctx context.Context, a Actor, code string) error {
	if err := checkCodeFormat(code); err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return notFound("user", err)
	}
	c, err := s.store.LatestChallenge(ctx, u.ID, store.PurposeEmailSetup)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.clock.Now().Before(c.ExpiresAt)) {
		return fault.New(fault.Unauthenticated, "This code expired or was not requested; send a new one.")
	}
	if err != nil {
		return err
	}
	_, err = s.prove(ctx, a, proof{userID: u.ID, challenge: c.Hash, email: true, what: "email_setup"}, code, func(q *store.Q, u store.User, _ mfa.Method) error {
		if err := q.SetEmailMFA(ctx, u.ID, true); err != nil {
			return err
		}
		if err := s.markProved(ctx, q, a); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "mfa.email_enabled", u.Username, "")
	})
	if err != nil {
		return err
	}
	s.instanceChanged(ctx, u.ID)
	return nil
}

// DisableEmailMFA turns email codes off; it needs a recently proved factor.
func (s *Service) DisableEmailMFA(ctx context.Context, a Actor) error {
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return notFound("user", err)
	}
	if !u.EmailMFA {
		return fault.New(fault.FailedPrecondition, "Email codes are not set up.")
	}
	if err := s.requireProof(a, u); err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.SetEmailMFA(ctx, u.ID, false); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "mfa.email_disabled", u.Username, "")
	})
	if err != nil {
		return err
	}
	s.instanceChanged(ctx, u.ID)
	return nil
}

// Enrollment is a new enrollment token and the code a user pastes.
type Enrollment struct {
	Token     string
	Code      string
	ExpiresAt time.Time
}

// CreateEnrollmentToken makes a single-use token for a new device of the user.
func (s *Service) CreateEnrollmentToken(ctx context.Context, a Actor, deviceName string) (Enrollment, error) {
	deviceName = strings.TrimSpace(deviceName)
	if len(deviceName) > 64 {
		return Enrollment{}, fault.New(fault.Invalid, "device_name: at most 64 characters")
	}
	if err := checkName("device_name", deviceName); err != nil {
		return Enrollment{}, err
	}
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return Enrollment{}, notFound("user", err)
	}
	if err := s.requireProof(a, u); err != nil {
		return Enrollment{}, err
	}
	plain, hash, err := token.New("wet_")
	if err != nil {
		return Enrollment{}, err
	}
	now := s.clock.Now()
	exp := now.Add(EnrollmentTTL)
	err = s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: hexHash(hash), UserID: a.UserID, DeviceName: deviceName, CreatedAt: now, ExpiresAt: exp}); err != nil {
			return err
		}
		return s.audit(ctx, q, a, "device.enrollment_token_created", a.Username, "device_name="+deviceName)
	})
	if err != nil {
		return Enrollment{}, err
	}
	code := enrollment.Code{URL: s.cfg.URL, Token: plain, Fingerprint: s.cfg.Fingerprint}
	return Enrollment{Token: plain, Code: code.String(), ExpiresAt: exp}, nil
}

// ListDevices returns the user's devices.
func (s *Service) ListDevices(ctx context.Context, a Actor) ([]Device, error) {
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return nil, notFound("user", err)
	}
	list, err := s.store.DevicesOfUser(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	return s.describeDevices(ctx, u, devicesOf(list))
}

// UserDevices returns one user's devices, for admins.
func (s *Service) UserDevices(ctx context.Context, a Actor, userID string) ([]Device, error) {
	if !a.Admin {
		return nil, a.notAdmin()
	}
	list, err := s.store.DevicesOfUser(ctx, userID)
	return devicesOf(list), err
}

// AllDevices returns every user's devices, for admins.
func (s *Service) AllDevices(ctx context.Context, a Actor) ([]Device, error) {
	if !a.Admin {
		return nil, a.notAdmin()
	}
	list, err := s.store.ListDevices(ctx)
	return devicesOf(list), err
}

// DeleteDevice removes one of the user's devices (any device for admins)
// and ends its sessions.
func (s *Service) DeleteDevice(ctx context.Context, a Actor, id string) error {
	d, err := s.store.DeviceByID(ctx, id)
	if err != nil || (d.UserID != a.UserID && !a.Admin) {
		return fault.New(fault.NotFound, "device not found")
	}
	if _, err := s.Sessions.EndWhere(ctx, store.SessionFilter{DeviceID: id}, session.ReasonAdmin, a.name()); err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(q *store.Q) error {
		if err := q.DeleteDevice(ctx, id); err != nil {
			return notFound("device", err)
		}
		return s.audit(ctx, q, a, "device.deleted", d.Name, "device="+d.ID)
	})
	if err != nil {
		return err
	}
	s.Sessions.PublishAll()
	return nil
}

// Profile is what a user sees of their own account.
type Profile struct {
	User    User
	Methods []mfa.Method
	Devices []Device
}

// Profile returns the signed-in user's account.
func (s *Service) Profile(ctx context.Context, a Actor) (Profile, error) {
	u, err := s.store.UserByID(ctx, a.UserID)
	if err != nil {
		return Profile{}, notFound("user", err)
	}
	devs, err := s.store.DevicesOfUser(ctx, u.ID)
	if err != nil {
		return Profile{}, err
	}
	described, err := s.describeDevices(ctx, u, devicesOf(devs))
	if err != nil {
		return Profile{}, err
	}
	return Profile{User: userOf(u), Methods: methodsOf(u), Devices: described}, nil
}
