package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/mail"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// What the demo sets up. The location routes an office network with one
// host, the intranet page at IntranetAddr, and the tunnel network its
// clients get addresses in. Both are of the demo's own, routed only inside
// the tunnel, so they cannot clash with the machine's.
const (
	InstanceName = "Wicket demo"
	AdminName    = "admin"
	AdminEmail   = "admin@example.com"
	UserName     = "demo"
	UserEmail    = "demo@example.com"
	LocationName = "Demo office"
	// LocationAddress is the gateway's address in the location's network.
	LocationAddress = "10.77.0.1/24"
	// OfficeNetwork comes first in the allowed IPs: the client suggests
	// its first host as an address to try, and that is the page.
	OfficeNetwork = "10.77.1.0/24"
	TunnelNetwork = "10.77.0.0/24"
	// IntranetAddr is the demo web page inside the location.
	IntranetAddr = "10.77.1.1:80"
	// DeviceName is what the enrolled desktop client is called.
	DeviceName = "Demo laptop"
	// Threshold is the location's peer disconnect threshold.
	Threshold = 300 * time.Second

	credentialsFile = "demo.json"
	smtpFrom        = "Wicket demo <wicket@example.com>"
)

// Credentials are what the demo prints on every run. They are kept in
// plain text in the data directory because this is a throwaway demo whose
// whole point is to show them; a real server keeps none of them.
type Credentials struct {
	AdminPassword string `json:"admin_password"`
	UserPassword  string `json:"user_password"`
	// TOTPSecret is the demo user's authenticator secret (base32).
	TOTPSecret string `json:"totp_secret"`
	// AdminTOTPSecret is the admin's: admins sign in with a second factor.
	AdminTOTPSecret string `json:"admin_totp_secret"`
	// OtpauthURL is the same secret as authenticator apps scan it.
	OtpauthURL string `json:"otpauth_url"`
	// LastTOTPStep is the last TOTP time step the demo itself spent: the
	// server takes each code once, so the headless client waits for a
	// newer one.
	LastTOTPStep int64 `json:"last_totp_step,omitempty"`
}

// Seeded is the demo's state after Seed.
type Seeded struct {
	Credentials
	User     service.User
	Location service.Location
}

// userActor is the demo user, as a sign-in that just proved a factor: the
// demo sets the account up as its owner would in the profile.
func (s Seeded) userActor(svc *service.Service) service.Actor {
	return service.Actor{UserID: s.User.ID, Username: s.User.Username, Remote: "wicketd demo", ProvedAt: svc.Now()}
}

var demoAdmin = service.Actor{Username: "wicketd-demo", Admin: true, Remote: "wicketd demo"}

// Seed makes whatever of the demo is missing: the admin, the user with
// TOTP and email codes, SMTP settings (mail goes to the outbox anyway) and
// the location "Demo office" with Internal MFA. What exists is left as it
// is, so a second run reuses the first one's data and an admin's changes
// stay, except that MFA turned off for the demo user is turned on again.
func Seed(ctx context.Context, svc *service.Service, outbox *mail.Outbox, dataDir string, wgPort int) (Seeded, error) {
	path := filepath.Join(dataDir, credentialsFile)
	var out Seeded
	creds, err := loadCredentials(path)
	if err != nil {
		return out, err
	}
	if creds.AdminPassword == "" {
		if _, err := svc.FindUser(ctx, demoAdmin, AdminName); err == nil {
			return out, fmt.Errorf("%s has users but no %s with their passwords: start over with `go tool task demo-reset` (or delete %s)", dataDir, credentialsFile, dataDir)
		}
		creds = Credentials{AdminPassword: newPassword(), UserPassword: newPassword()}
	}
	// Written before anything is made, so that passwords are never lost.
	if err := saveCredentials(path, creds); err != nil {
		return out, err
	}

	admin, err := ensureUser(ctx, svc, service.NewUser{Username: AdminName, Email: AdminEmail, Password: creds.AdminPassword, Admin: true})
	if err != nil {
		return out, err
	}
	if !admin.TOTPEnabled || creds.AdminTOTPSecret == "" {
		if creds.AdminTOTPSecret, err = enableTOTP(ctx, svc, admin); err != nil {
			return out, err
		}
		if err := saveCredentials(path, creds); err != nil {
			return out, err
		}
	}
	u, err := ensureUser(ctx, svc, service.NewUser{Username: UserName, Email: UserEmail, Password: creds.UserPassword})
	if err != nil {
		return out, err
	}
	out.User = u

	if !svc.SMTPConfigured(ctx) {
		// The outbox keeps every message whatever the settings say; saving
		// some makes email codes available, as on a real server.
		if err := svc.UpdateSMTP(ctx, demoAdmin, mail.Settings{Host: "localhost", Port: 25, From: smtpFrom}); err != nil {
			return out, fmt.Errorf("save demo SMTP settings: %w", err)
		}
	}

	if !u.TOTPEnabled || creds.TOTPSecret == "" {
		setup, err := svc.BeginTOTPSetup(ctx, out.userActor(svc))
		if err != nil {
			return out, fmt.Errorf("set up TOTP for %s: %w", UserName, err)
		}
		creds.TOTPSecret, creds.OtpauthURL = setup.Secret, setup.OtpauthURL
		if err := saveCredentials(path, creds); err != nil {
			return out, err
		}
		// The previous step's code (the server allows one step of skew)
		// confirms the setup, so the code an app shows now is still unused
		// for the first connection.
		at := svc.Now().Add(-mfa.Period)
		code, err := mfa.TOTPCode(setup.Secret, at)
		if err != nil {
			return out, err
		}
		if err := svc.ConfirmTOTPSetup(ctx, out.userActor(svc), code); err != nil {
			return out, fmt.Errorf("confirm TOTP for %s: %w", UserName, err)
		}
		creds.LastTOTPStep = mfa.Step(at)
		if err := saveCredentials(path, creds); err != nil {
			return out, err
		}
	}
	if u, err = svc.GetUser(ctx, demoAdmin, u.ID); err != nil {
		return out, err
	}
	if !u.EmailMFA {
		if err := enableEmailCodes(ctx, svc, outbox, out.userActor(svc)); err != nil {
			return out, err
		}
		if u, err = svc.GetUser(ctx, demoAdmin, u.ID); err != nil {
			return out, err
		}
	}
	out.User = u
	out.Credentials = creds

	loc, err := ensureLocation(ctx, svc, wgPort)
	if err != nil {
		return out, err
	}
	out.Location = loc
	return out, nil
}

// enableTOTP gives an account an authenticator app (a new one when its
// secret is not known here) and returns the secret.
func enableTOTP(ctx context.Context, svc *service.Service, u service.User) (string, error) {
	a := service.Actor{UserID: u.ID, Username: u.Username, Remote: "wicketd demo", ProvedAt: svc.Now()}
	if u.TOTPEnabled {
		if err := svc.ResetUserMFA(ctx, demoAdmin, u.ID); err != nil {
			return "", err
		}
	}
	setup, err := svc.BeginTOTPSetup(ctx, a)
	if err != nil {
		return "", fmt.Errorf("set up TOTP for %s: %w", u.Username, err)
	}
	// The previous step's code confirms it, so the code an app shows now
	// is still unused for signing in.
	code, err := mfa.TOTPCode(setup.Secret, svc.Now().Add(-mfa.Period))
	if err != nil {
		return "", err
	}
	if err := svc.ConfirmTOTPSetup(ctx, a, code); err != nil {
		return "", fmt.Errorf("confirm TOTP for %s: %w", u.Username, err)
	}
	return setup.Secret, nil
}

func ensureUser(ctx context.Context, svc *service.Service, n service.NewUser) (service.User, error) {
	u, err := svc.FindUser(ctx, demoAdmin, n.Username)
	if err == nil {
		return u, nil
	}
	if fault.KindOf(err) != fault.NotFound {
		return u, err
	}
	u, err = svc.CreateUser(ctx, demoAdmin, n)
	if err != nil {
		return u, fmt.Errorf("create the demo user %s: %w", n.Username, err)
	}
	return u, nil
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// enableEmailCodes turns email codes on as a user does in the profile: the
// server mails a confirming code (to the outbox) and the code is typed back.
func enableEmailCodes(ctx context.Context, svc *service.Service, outbox *mail.Outbox, a service.Actor) error {
	before := len(outbox.Messages())
	if _, err := svc.BeginEmailSetup(ctx, a); err != nil {
		return fmt.Errorf("set up email codes for %s: %w", a.Username, err)
	}
	msgs := outbox.Messages()
	if len(msgs) == before {
		return fmt.Errorf("set up email codes for %s: no mail reached the outbox", a.Username)
	}
	code := sixDigits.FindString(msgs[0].Body)
	if code == "" {
		return fmt.Errorf("set up email codes for %s: no code in the mail %q", a.Username, msgs[0].Subject)
	}
	if err := svc.ConfirmEmailSetup(ctx, a, code); err != nil {
		return fmt.Errorf("confirm email codes for %s: %w", a.Username, err)
	}
	return nil
}

func ensureLocation(ctx context.Context, svc *service.Service, wgPort int) (service.Location, error) {
	locs, err := svc.ListLocations(ctx, demoAdmin)
	if err != nil {
		return service.Location{}, err
	}
	for _, l := range locs {
		if l.Name == LocationName {
			return l, nil
		}
	}
	on := true
	l, err := svc.CreateLocation(ctx, demoAdmin, service.LocationSpec{
		Name:                           LocationName,
		Address:                        LocationAddress,
		ListenPort:                     wgPort,
		Endpoint:                       fmt.Sprintf("127.0.0.1:%d", wgPort),
		AllowedIPs:                     []string{OfficeNetwork, TunnelNetwork},
		MFA:                            &on,
		PeerDisconnectThresholdSeconds: int(Threshold / time.Second),
	})
	if err != nil {
		return l, fmt.Errorf("create the location %q: %w", LocationName, err)
	}
	return l, nil
}

func loadCredentials(path string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s is damaged (%v): start over with `go tool task demo-reset`", path, err)
	}
	return c, nil
}

func saveCredentials(path string, c Credentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// newPassword is 16 characters that are easy to read and type (no 0/o or
// 1/l/i), in groups of four: about 80 bits.
func newPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	var s strings.Builder
	for i := range 16 {
		if i > 0 && i%4 == 0 {
			s.WriteByte('-')
		}
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		s.WriteByte(alphabet[n.Int64()])
	}
	return s.String()
}
