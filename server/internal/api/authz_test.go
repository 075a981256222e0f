package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/token"
	"github.com/wicket-vpn/wicket/shared/wgkey"
)

// The callers of the authorization table, in the order their cells run.
const (
	asAnonymous   = iota // no credentials at all
	asUser               // a signed-in user without admin rights (bob)
	asDevice             // alice's device; for Enroll and FinishMfa, the holder of the right single-use token
	asOtherDevice        // mallory's device, aimed at alice's resources
	asAdmin              // a signed-in admin
	asGateway            // a gateway token of the office location
	numAuthzCallers
)

var authzCallerNames = [numAuthzCallers]string{"anonymous", "user", "device", "other-device", "admin", "gateway"}

// cellOK marks a cell where the call must succeed.
const cellOK connect.Code = 0

const (
	cellUnauth   = connect.CodeUnauthenticated
	cellDenied   = connect.CodePermissionDenied
	cellNotFound = connect.CodeNotFound
)

// authzCells lists the expected outcome for every caller, in caller order.
type authzCells [numAuthzCallers]connect.Code

func cellsOf(anon, user, device, other, admin, gateway connect.Code) authzCells {
	return authzCells{anon, user, device, other, admin, gateway}
}

var (
	// Account calls: any signed-in user, admins included, for themselves.
	accountCells = cellsOf(cellUnauth, cellOK, cellUnauth, cellUnauth, cellOK, cellUnauth)
	// Admin calls: a signed-in user without admin rights is refused.
	adminCells = cellsOf(cellUnauth, cellDenied, cellUnauth, cellUnauth, cellOK, cellUnauth)
	// Gateway calls: only a gateway token; an admin's bearer token is no gateway token.
	gatewayCells = cellsOf(cellUnauth, cellUnauth, cellUnauth, cellUnauth, cellUnauth, cellOK)
)

// authzCaller is one column of the table. Every caller sends its credential both
// as the bearer token and in the request's token field (device_token,
// gateway_token), so a credential of one kind must never pass for another.
type authzCaller struct {
	kind   int
	bearer string
	token  string
	user   *servertest.User // the signed-in user, for the user and admin callers
}

type authzEnv struct {
	s                          *servertest.Server
	admin, bob, alice, mallory *servertest.User
	aliceDev, malloryDev       *servertest.Device
	office, open               *v1.Location // both only for group "eng"; office requires MFA
	gatewayToken               string
	n                          int
}

type authzRow struct {
	procedure string
	want      authzCells
	// call makes the RPC as c, preparing whatever the cell needs first. It
	// returns the RPC's error; a plain (non-Connect) error reports a wrong
	// result or a refused call that changed something anyway.
	call func(ctx context.Context, e *authzEnv, c authzCaller) error
}

func (e *authzEnv) adminActor() service.Actor {
	return service.Actor{UserID: e.admin.ID, Username: e.admin.Username, Admin: true}
}

func (e *authzEnv) seq() int { e.n++; return e.n }

// code advances the clock to a fresh TOTP step and returns its code.
func (e *authzEnv) code(secret string) (string, error) {
	e.s.Clock.Advance(mfa.Period)
	return mfa.TOTPCode(secret, e.s.Clock.Now())
}

func freshPublicKey() (string, error) {
	k, err := wgkey.NewPrivate()
	if err != nil {
		return "", err
	}
	return k.Public().String(), nil
}

func authzID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

const alicePasskeyID = "alice-passkey"

// alicePasskey gives alice a passkey (a stored one: the rows that use it
// never ask it to sign) unless she has it.
func (e *authzEnv) alicePasskey(ctx context.Context) error {
	keys, err := e.s.Store().PasskeysOfUser(ctx, e.alice.ID)
	if err != nil || len(keys) > 0 {
		return err
	}
	return e.s.Store().CreatePasskey(ctx, store.Passkey{ID: alicePasskeyID, UserID: e.alice.ID, Name: "Alice's key", CredentialID: "AAAA", PublicKey: "AAAA", CreatedAt: e.s.Clock.Now()})
}

// resetMFA turns every second factor of u off.
func (e *authzEnv) resetMFA(ctx context.Context, u *servertest.User) error {
	return e.s.Svc.ResetUserMFA(ctx, e.adminActor(), u.ID)
}

// enableTOTP sets TOTP up for u through the API.
func (e *authzEnv) enableTOTP(ctx context.Context, u *servertest.User) (string, error) {
	b, err := e.s.Account.BeginTotpSetup(ctx, servertest.Req(u.Token, &v1.BeginTotpSetupRequest{}))
	if err != nil {
		return "", fmt.Errorf("begin TOTP setup: %v", err)
	}
	code, err := e.code(b.Msg.Secret)
	if err != nil {
		return "", err
	}
	if _, err := e.s.Account.ConfirmTotpSetup(ctx, servertest.Req(u.Token, &v1.ConfirmTotpSetupRequest{Code: code})); err != nil {
		return "", fmt.Errorf("confirm TOTP setup: %v", err)
	}
	return b.Msg.Secret, nil
}

// emailSetupCode asks for an email setup code for u and reads it from the mail.
func (e *authzEnv) emailSetupCode(ctx context.Context, u *servertest.User) (string, error) {
	e.s.Clock.Advance(mfa.MailInterval)
	n := len(e.s.MailTo(u.Email))
	if _, err := e.s.Account.BeginEmailMfaSetup(ctx, servertest.Req(u.Token, &v1.BeginEmailMfaSetupRequest{})); err != nil {
		return "", fmt.Errorf("begin email setup: %v", err)
	}
	m, err := e.s.Mail.WaitFor(ctx, u.Email, n+1)
	if err != nil {
		return "", err
	}
	var code string
	for _, f := range strings.Fields(m.Body) {
		if mfa.WellFormed(f) {
			code = f
		}
	}
	if code == "" {
		return "", fmt.Errorf("no code in %q", m.Body)
	}
	return code, nil
}

// enroll enrolls a new device for u through the API and returns its id.
func (e *authzEnv) enroll(ctx context.Context, u *servertest.User) (string, error) {
	et, err := e.s.Account.CreateEnrollmentToken(ctx, servertest.Req(u.Token, &v1.CreateEnrollmentTokenRequest{DeviceName: "spare"}))
	if err != nil {
		return "", fmt.Errorf("enrollment token: %v", err)
	}
	pub, err := freshPublicKey()
	if err != nil {
		return "", err
	}
	r, err := e.s.Client.Enroll(ctx, servertest.Req("", &v1.EnrollRequest{EnrollmentToken: et.Msg.EnrollmentToken, DeviceName: "spare", PublicKey: pub}))
	if err != nil {
		return "", fmt.Errorf("enroll: %v", err)
	}
	return r.Msg.DeviceId, nil
}

// aliceSession opens a fresh session of alice's device on the open location.
func (e *authzEnv) aliceSession(ctx context.Context) (string, error) {
	r, err := e.s.Client.Connect(ctx, servertest.Req("", &v1.ConnectRequest{DeviceToken: e.aliceDev.Token, LocationId: e.open.Id}))
	if err != nil {
		return "", fmt.Errorf("open alice's session: %v", err)
	}
	return r.Msg.SessionId, nil
}

// stillActive turns a refused call that ended the session anyway into a failure.
func (e *authzEnv) stillActive(ctx context.Context, sessionID string, err error) error {
	if err == nil {
		return nil
	}
	sess, serr := e.s.Store().SessionByID(ctx, sessionID)
	if serr != nil || !sess.Active() {
		return fmt.Errorf("refused (%v) but the session ended anyway", err)
	}
	return err
}

// scratchUser inserts a user straight into the store (no password hashing),
// for calls that change or remove a user.
func (e *authzEnv) scratchUser(ctx context.Context, totp bool) (store.User, error) {
	name := fmt.Sprintf("scratch-%d", e.seq())
	u := store.User{ID: authzID(), Username: name, Email: name + "@example.com", PasswordHash: "unusable", TOTPEnabled: totp, CreatedAt: e.s.Clock.Now()}
	return u, e.s.Store().CreateUser(ctx, u)
}

func (e *authzEnv) scratchLocation(ctx context.Context) (string, error) {
	n := e.seq()
	l, err := e.s.Svc.CreateLocation(ctx, e.adminActor(), service.LocationSpec{Name: fmt.Sprintf("scratch-%d", n), Address: "10.99.0.1/24", ListenPort: 52000 + n, Endpoint: fmt.Sprintf("127.0.0.1:%d", 52000+n)})
	return l.ID, err
}

// firstStreamMsg returns the first message of a server stream.
func firstStreamMsg[T any](stream *connect.ServerStreamForClient[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	if stream.Receive() {
		return stream.Msg(), nil
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("the stream ended without a message")
}

// ownInstance checks that a device sees its own user's instance, and only
// the locations its user's groups allow.
func (e *authzEnv) ownInstance(c authzCaller, inst *v1.InstanceInfo) error {
	want, locs := "alice", 2
	if c.kind == asOtherDevice {
		want, locs = "mallory", 0
	}
	if inst.GetUsername() != want || len(inst.GetLocations()) != locs {
		return fmt.Errorf("instance of %q with %d locations, want %q with %d", inst.GetUsername(), len(inst.GetLocations()), want, locs)
	}
	return nil
}

var authzRows = []authzRow{
	// ClientService: a device token authenticates.
	{
		procedure: wicketv1connect.ClientServiceEnrollProcedure,
		// The enrollment token is the credential: without one the field is
		// missing (InvalidArgument, as the contract says for empty fields);
		// any other token is refused.
		want: cellsOf(connect.CodeInvalidArgument, cellUnauth, cellOK, cellUnauth, cellUnauth, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			et, err := e.s.Svc.CreateEnrollmentToken(ctx, service.Actor{UserID: e.alice.ID, Username: e.alice.Username, ProvedAt: e.s.Clock.Now()}, "spare")
			if err != nil {
				return err
			}
			tok := c.token
			if c.kind == asDevice {
				tok = et.Token
			}
			pub, err := freshPublicKey()
			if err != nil {
				return err
			}
			r, err := e.s.Client.Enroll(ctx, servertest.Req(c.bearer, &v1.EnrollRequest{EnrollmentToken: tok, DeviceName: "spare", PublicKey: pub}))
			if err != nil {
				return err
			}
			if r.Msg.Instance.GetUsername() != "alice" || r.Msg.DeviceToken == "" {
				return fmt.Errorf("enrolled %v", r.Msg)
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.ClientServiceGetInstanceProcedure,
		want:      cellsOf(cellUnauth, cellUnauth, cellOK, cellOK, cellUnauth, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Client.GetInstance(ctx, servertest.Req(c.bearer, &v1.GetInstanceRequest{DeviceToken: c.token}))
			if err != nil {
				return err
			}
			return e.ownInstance(c, r.Msg.Instance)
		},
	},
	{
		procedure: wicketv1connect.ClientServiceWatchInstanceProcedure,
		want:      cellsOf(cellUnauth, cellUnauth, cellOK, cellOK, cellUnauth, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			m, err := firstStreamMsg(e.s.Client.WatchInstance(ctx, servertest.Req(c.bearer, &v1.WatchInstanceRequest{DeviceToken: c.token})))
			if err != nil {
				return err
			}
			return e.ownInstance(c, m.Instance)
		},
	},
	{
		procedure: wicketv1connect.ClientServiceConnectProcedure,
		// Mallory's groups do not allow the location.
		want: cellsOf(cellUnauth, cellUnauth, cellOK, cellDenied, cellUnauth, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Client.Connect(ctx, servertest.Req(c.bearer, &v1.ConnectRequest{DeviceToken: c.token, LocationId: e.open.Id}))
			if err != nil {
				return err
			}
			if r.Msg.SessionId == "" || r.Msg.Tunnel.GetAddress() == "" || r.Msg.Tunnel.GetPresharedKey() != "" {
				return fmt.Errorf("connected with %v", r.Msg)
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.ClientServiceStartMfaProcedure,
		want:      cellsOf(cellUnauth, cellUnauth, cellOK, cellDenied, cellUnauth, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Client.StartMfa(ctx, servertest.Req(c.bearer, &v1.StartMfaRequest{DeviceToken: c.token, LocationId: e.office.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
			if err != nil {
				return err
			}
			if r.Msg.ChallengeToken == "" {
				return errors.New("no challenge token")
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.ClientServiceFinishMfaProcedure,
		// The challenge token is the credential: without one the field is
		// missing; another kind of token is refused like an unknown one.
		want: cellsOf(connect.CodeInvalidArgument, cellUnauth, cellOK, cellUnauth, cellUnauth, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			tok := c.token
			if c.kind == asDevice {
				st, err := e.s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: e.aliceDev.Token, LocationId: e.office.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
				if err != nil {
					return fmt.Errorf("start: %v", err)
				}
				tok = st.Msg.ChallengeToken
			}
			code, err := e.code(e.alice.TOTPSecret)
			if err != nil {
				return err
			}
			r, err := e.s.Client.FinishMfa(ctx, servertest.Req(c.bearer, &v1.FinishMfaRequest{ChallengeToken: tok, Code: code}))
			if err != nil {
				return err
			}
			if r.Msg.Tunnel.GetPresharedKey() == "" {
				return errors.New("an MFA session without a pre-shared key")
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.ClientServiceAwaitMfaProcedure,
		// As FinishMfa: the challenge token is the credential.
		want: cellsOf(connect.CodeInvalidArgument, cellUnauth, cellOK, cellUnauth, cellUnauth, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			tok := c.token
			if c.kind == asDevice {
				if err := e.alicePasskey(ctx); err != nil {
					return err
				}
				st, err := e.s.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: e.aliceDev.Token, LocationId: e.office.Id, Method: v1.MfaMethod_MFA_METHOD_WEBAUTHN}))
				if err != nil {
					return fmt.Errorf("start: %v", err)
				}
				tok = st.Msg.ChallengeToken
				// The approval page's work, done to the store: this row
				// is about who may wait for it.
				if ok, err := e.s.Store().DecideChallenge(ctx, hex.EncodeToString(token.Hash(tok)), true, e.s.Clock.Now()); err != nil || !ok {
					return fmt.Errorf("approve: %v %v", ok, err)
				}
			}
			r, err := e.s.Client.AwaitMfa(ctx, servertest.Req(c.bearer, &v1.AwaitMfaRequest{ChallengeToken: tok}))
			if err != nil {
				return err
			}
			if r.Msg.Tunnel.GetPresharedKey() == "" {
				return errors.New("an MFA session without a pre-shared key")
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.ClientServiceDisconnectProcedure,
		// Alice's session: mallory's device may not even learn it exists.
		want: cellsOf(cellUnauth, cellUnauth, cellOK, cellNotFound, cellUnauth, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			id, err := e.aliceSession(ctx)
			if err != nil {
				return err
			}
			_, err = e.s.Client.Disconnect(ctx, servertest.Req(c.bearer, &v1.DisconnectRequest{DeviceToken: c.token, SessionId: id}))
			return e.stillActive(ctx, id, err)
		},
	},

	// AccountService: a signed-in user's bearer token.
	{
		procedure: wicketv1connect.AccountServiceLoginProcedure,
		// Signing in needs no token: a password is the credential, and a
		// bearer token of any kind beside it changes nothing.
		want: cellsOf(cellOK, cellOK, cellOK, cellOK, cellOK, cellOK),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			if err := e.resetMFA(ctx, e.bob); err != nil {
				return err
			}
			r, err := e.s.Account.Login(ctx, servertest.Req(c.bearer, &v1.LoginRequest{Username: e.bob.Username, Password: e.bob.Password}))
			if err != nil {
				return err
			}
			if r.Msg.Token == "" {
				return errors.New("no token")
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.AccountServiceSendLoginCodeProcedure,
		// The sign-in challenge is the credential, as for FinishMfa.
		want: cellsOf(connect.CodeInvalidArgument, cellUnauth, cellOK, cellUnauth, cellUnauth, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			tok := c.token
			if c.kind == asDevice {
				lr, err := e.s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: e.alice.Username, Password: e.alice.Password}))
				if err != nil {
					return fmt.Errorf("login: %v", err)
				}
				tok = lr.Msg.MfaChallenge
				e.s.Clock.Advance(mfa.MailInterval)
			}
			r, err := e.s.Account.SendLoginCode(ctx, servertest.Req(c.bearer, &v1.SendLoginCodeRequest{MfaChallenge: tok}))
			if err != nil {
				return err
			}
			if r.Msg.SentTo == "" {
				return errors.New("no address")
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.AccountServiceFinishLoginProcedure,
		// The sign-in challenge is the credential, as for FinishMfa.
		want: cellsOf(connect.CodeInvalidArgument, cellUnauth, cellOK, cellUnauth, cellUnauth, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			tok := c.token
			if c.kind == asDevice {
				lr, err := e.s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: e.alice.Username, Password: e.alice.Password}))
				if err != nil {
					return fmt.Errorf("login: %v", err)
				}
				tok = lr.Msg.MfaChallenge
			}
			code, err := e.code(e.alice.TOTPSecret)
			if err != nil {
				return err
			}
			r, err := e.s.Account.FinishLogin(ctx, servertest.Req(c.bearer, &v1.FinishLoginRequest{MfaChallenge: tok, Code: code}))
			if err != nil {
				return err
			}
			if r.Msg.Token == "" {
				return errors.New("no token")
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.AccountServiceGetProfileProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Account.GetProfile(ctx, servertest.Req(c.bearer, &v1.GetProfileRequest{}))
			if err != nil {
				return err
			}
			if r.Msg.Username != c.user.Username {
				return fmt.Errorf("profile of %q for %q", r.Msg.Username, c.user.Username)
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.AccountServiceBeginTotpSetupProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			if c.user != nil {
				if err := e.resetMFA(ctx, c.user); err != nil {
					return err
				}
			}
			r, err := e.s.Account.BeginTotpSetup(ctx, servertest.Req(c.bearer, &v1.BeginTotpSetupRequest{}))
			if err != nil {
				return err
			}
			if r.Msg.Secret == "" || !strings.Contains(r.Msg.OtpauthUrl, c.user.Username) {
				return fmt.Errorf("setup %q %q", r.Msg.Secret, r.Msg.OtpauthUrl)
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.AccountServiceConfirmTotpSetupProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			code := "123456"
			if c.user != nil {
				if err := e.resetMFA(ctx, c.user); err != nil {
					return err
				}
				b, err := e.s.Account.BeginTotpSetup(ctx, servertest.Req(c.user.Token, &v1.BeginTotpSetupRequest{}))
				if err != nil {
					return fmt.Errorf("begin: %v", err)
				}
				if code, err = e.code(b.Msg.Secret); err != nil {
					return err
				}
			}
			_, err := e.s.Account.ConfirmTotpSetup(ctx, servertest.Req(c.bearer, &v1.ConfirmTotpSetupRequest{Code: code}))
			return err
		},
	},
	{
		procedure: wicketv1connect.AccountServiceDisableTotpProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			code := "123456"
			if c.user != nil {
				if err := e.resetMFA(ctx, c.user); err != nil {
					return err
				}
				secret, err := e.enableTOTP(ctx, c.user)
				if err != nil {
					return err
				}
				if code, err = e.code(secret); err != nil {
					return err
				}
			}
			_, err := e.s.Account.DisableTotp(ctx, servertest.Req(c.bearer, &v1.DisableTotpRequest{Code: code}))
			return err
		},
	},
	{
		procedure: wicketv1connect.AccountServiceBeginEmailMfaSetupProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			e.s.Clock.Advance(mfa.MailInterval)
			r, err := e.s.Account.BeginEmailMfaSetup(ctx, servertest.Req(c.bearer, &v1.BeginEmailMfaSetupRequest{}))
			if err != nil {
				return err
			}
			if r.Msg.SentTo == "" {
				return errors.New("sent to nobody")
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.AccountServiceConfirmEmailMfaSetupProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			code := "123456"
			if c.user != nil {
				var err error
				if code, err = e.emailSetupCode(ctx, c.user); err != nil {
					return err
				}
			}
			_, err := e.s.Account.ConfirmEmailMfaSetup(ctx, servertest.Req(c.bearer, &v1.ConfirmEmailMfaSetupRequest{Code: code}))
			return err
		},
	},
	{
		procedure: wicketv1connect.AccountServiceDisableEmailMfaProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			if c.user != nil {
				code, err := e.emailSetupCode(ctx, c.user)
				if err != nil {
					return err
				}
				if _, err := e.s.Account.ConfirmEmailMfaSetup(ctx, servertest.Req(c.user.Token, &v1.ConfirmEmailMfaSetupRequest{Code: code})); err != nil {
					return fmt.Errorf("enable email codes: %v", err)
				}
			}
			_, err := e.s.Account.DisableEmailMfa(ctx, servertest.Req(c.bearer, &v1.DisableEmailMfaRequest{}))
			return err
		},
	},
	{
		procedure: wicketv1connect.AccountServiceCreateEnrollmentTokenProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Account.CreateEnrollmentToken(ctx, servertest.Req(c.bearer, &v1.CreateEnrollmentTokenRequest{DeviceName: "phone"}))
			if err != nil {
				return err
			}
			if r.Msg.EnrollmentToken == "" || r.Msg.EnrollmentCode == "" {
				return fmt.Errorf("token %v", r.Msg)
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.AccountServiceListDevicesProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Account.ListDevices(ctx, servertest.Req(c.bearer, &v1.ListDevicesRequest{}))
			if err != nil {
				return err
			}
			for _, d := range r.Msg.Devices {
				if d.Username != c.user.Username {
					return fmt.Errorf("%s sees %s's device %s", c.user.Username, d.Username, d.Id)
				}
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.AccountServiceDeleteDeviceProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			target := e.aliceDev.ID
			if c.user != nil {
				if c.kind == asUser {
					// Another user's device is not found, not deleted.
					_, err := e.s.Account.DeleteDevice(ctx, servertest.Req(c.bearer, &v1.DeleteDeviceRequest{DeviceId: e.aliceDev.ID}))
					if connect.CodeOf(err) != cellNotFound {
						return fmt.Errorf("deleting alice's device as bob: %v, want NotFound", err)
					}
				}
				var err error
				if target, err = e.enroll(ctx, c.user); err != nil {
					return err
				}
			}
			_, err := e.s.Account.DeleteDevice(ctx, servertest.Req(c.bearer, &v1.DeleteDeviceRequest{DeviceId: target}))
			if _, derr := e.s.Store().DeviceByID(ctx, e.aliceDev.ID); derr != nil {
				return fmt.Errorf("alice's device is gone (%v) after %v", derr, err)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AccountServiceCreateConfigDeviceProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			if c.kind == asUser {
				// Open is only for group eng: bob gets no static peer there.
				_, err := e.s.Account.CreateConfigDevice(ctx, servertest.Req(c.bearer, &v1.CreateConfigDeviceRequest{Name: "phone", LocationId: e.open.Id}))
				if connect.CodeOf(err) != cellDenied {
					return fmt.Errorf("a config for a location of another group: %v, want PermissionDenied", err)
				}
			}
			loc, err := e.scratchLocation(ctx)
			if err != nil {
				return err
			}
			r, err := e.s.Account.CreateConfigDevice(ctx, servertest.Req(c.bearer, &v1.CreateConfigDeviceRequest{Name: "phone", LocationId: loc}))
			if err != nil {
				return err
			}
			if r.Msg.Device.GetUsername() != c.user.Username || !strings.Contains(r.Msg.Config, "PrivateKey = ") {
				return fmt.Errorf("config device %v", r.Msg.Device)
			}
			return nil
		},
	},

	{
		procedure: wicketv1connect.AccountServiceBeginPasskeySetupProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Account.BeginPasskeySetup(ctx, servertest.Req(c.bearer, &v1.BeginPasskeySetupRequest{}))
			if err != nil {
				return err
			}
			if !strings.Contains(r.Msg.OptionsJson, `"challenge"`) {
				return fmt.Errorf("options %s", r.Msg.OptionsJson)
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.AccountServiceFinishPasskeySetupProcedure,
		// A signed-in user gets as far as the browser's answer, which is
		// no passkey here.
		want: cellsOf(cellUnauth, connect.CodeInvalidArgument, cellUnauth, cellUnauth, connect.CodeInvalidArgument, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			if c.user != nil {
				if _, err := e.s.Account.BeginPasskeySetup(ctx, servertest.Req(c.bearer, &v1.BeginPasskeySetupRequest{})); err != nil {
					return fmt.Errorf("begin: %v", err)
				}
			}
			_, err := e.s.Account.FinishPasskeySetup(ctx, servertest.Req(c.bearer, &v1.FinishPasskeySetupRequest{Name: "key", CredentialJson: `{"id":"AAAA","type":"public-key"}`}))
			return err
		},
	},
	{
		procedure: wicketv1connect.AccountServiceListPasskeysProcedure,
		want:      accountCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			if err := e.alicePasskey(ctx); err != nil {
				return err
			}
			r, err := e.s.Account.ListPasskeys(ctx, servertest.Req(c.bearer, &v1.ListPasskeysRequest{}))
			if err != nil {
				return err
			}
			if len(r.Msg.Passkeys) != 0 {
				return fmt.Errorf("%s sees passkeys %v", c.user.Username, r.Msg.Passkeys)
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.AccountServiceDeletePasskeyProcedure,
		// Alice's passkey: nobody else may even learn it exists.
		want: cellsOf(cellUnauth, cellNotFound, cellUnauth, cellUnauth, cellNotFound, cellUnauth),
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			if err := e.alicePasskey(ctx); err != nil {
				return err
			}
			_, err := e.s.Account.DeletePasskey(ctx, servertest.Req(c.bearer, &v1.DeletePasskeyRequest{Id: alicePasskeyID}))
			if keys, kerr := e.s.Store().PasskeysOfUser(ctx, e.alice.ID); kerr != nil || len(keys) != 1 {
				return fmt.Errorf("alice's passkeys %v (%v) after %v", keys, kerr, err)
			}
			return err
		},
	},

	// AdminService: an admin's bearer token.
	{
		procedure: wicketv1connect.AdminServiceListLocationsProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Admin.ListLocations(ctx, servertest.Req(c.bearer, &v1.ListLocationsRequest{}))
			if err == nil && len(r.Msg.Locations) < 2 {
				return fmt.Errorf("locations %v", r.Msg.Locations)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceGetLocationProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Admin.GetLocation(ctx, servertest.Req(c.bearer, &v1.GetLocationRequest{Id: e.office.Id}))
			if err == nil && r.Msg.Location.GetName() != e.office.Name {
				return fmt.Errorf("location %v", r.Msg.Location)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceCreateLocationProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			n := e.seq()
			name := fmt.Sprintf("new-%d", n)
			_, err := e.s.Admin.CreateLocation(ctx, servertest.Req(c.bearer, &v1.CreateLocationRequest{Location: &v1.Location{Name: name, Address: "10.98.0.1/24", ListenPort: uint32(52000 + n), Endpoint: "127.0.0.1:51998"}}))
			if err != nil {
				locs, lerr := e.s.Store().ListLocations(ctx)
				if lerr != nil {
					return lerr
				}
				for _, l := range locs {
					if l.Name == name {
						return fmt.Errorf("refused (%v) but created the location", err)
					}
				}
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceUpdateLocationProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			id, err := e.scratchLocation(ctx)
			if err != nil {
				return err
			}
			l, err := e.s.Store().LocationByID(ctx, id)
			if err != nil {
				return err
			}
			_, err = e.s.Admin.UpdateLocation(ctx, servertest.Req(c.bearer, &v1.UpdateLocationRequest{Location: &v1.Location{
				Id: id, Name: l.Name, Address: l.Address, ListenPort: uint32(l.ListenPort), Endpoint: l.Endpoint, PeerDisconnectThresholdSeconds: 900,
			}}))
			after, lerr := e.s.Store().LocationByID(ctx, id)
			if lerr != nil {
				return lerr
			}
			if err != nil && after.PeerDisconnectThresholdSeconds != l.PeerDisconnectThresholdSeconds {
				return fmt.Errorf("refused (%v) but changed the location", err)
			}
			if err == nil && after.PeerDisconnectThresholdSeconds != 900 {
				return fmt.Errorf("threshold %d after update", after.PeerDisconnectThresholdSeconds)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceDeleteLocationProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			id, err := e.scratchLocation(ctx)
			if err != nil {
				return err
			}
			_, err = e.s.Admin.DeleteLocation(ctx, servertest.Req(c.bearer, &v1.DeleteLocationRequest{Id: id}))
			if _, lerr := e.s.Store().LocationByID(ctx, id); err != nil && lerr != nil {
				return fmt.Errorf("refused (%v) but deleted the location", err)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceCreateUserProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			name := fmt.Sprintf("new-%d", e.seq())
			_, err := e.s.Admin.CreateUser(ctx, servertest.Req(c.bearer, &v1.CreateUserRequest{Username: name, Email: name + "@example.com", Password: "a-long-password", Admin: true}))
			if _, uerr := e.s.Store().UserByUsername(ctx, name); err != nil && uerr == nil {
				return fmt.Errorf("refused (%v) but created the user", err)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceListUsersProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Admin.ListUsers(ctx, servertest.Req(c.bearer, &v1.ListUsersRequest{}))
			if err == nil && len(r.Msg.Users) < 4 {
				return fmt.Errorf("users %v", r.Msg.Users)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceUpdateUserProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			// Every caller tries to make bob an admin.
			_, err := e.s.Admin.UpdateUser(ctx, servertest.Req(c.bearer, &v1.UpdateUserRequest{Id: e.bob.ID, Email: e.bob.Email, Admin: true}))
			u, uerr := e.s.Store().UserByID(ctx, e.bob.ID)
			if uerr != nil {
				return uerr
			}
			if err != nil {
				if u.Admin {
					return fmt.Errorf("refused (%v) but bob is an admin now", err)
				}
				return err
			}
			if !u.Admin {
				return errors.New("bob is not an admin after the update")
			}
			_, err = e.s.Svc.UpdateUser(ctx, e.adminActor(), service.UserUpdate{ID: e.bob.ID, Admin: false})
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceDeleteUserProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			u, err := e.scratchUser(ctx, false)
			if err != nil {
				return err
			}
			_, err = e.s.Admin.DeleteUser(ctx, servertest.Req(c.bearer, &v1.DeleteUserRequest{Id: u.ID}))
			if _, uerr := e.s.Store().UserByID(ctx, u.ID); err != nil && uerr != nil {
				return fmt.Errorf("refused (%v) but deleted the user", err)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceResetUserMfaProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			u, err := e.scratchUser(ctx, true)
			if err != nil {
				return err
			}
			_, err = e.s.Admin.ResetUserMfa(ctx, servertest.Req(c.bearer, &v1.ResetUserMfaRequest{Id: u.ID}))
			after, uerr := e.s.Store().UserByID(ctx, u.ID)
			if uerr != nil {
				return uerr
			}
			if (err != nil) != after.TOTPEnabled {
				return fmt.Errorf("after %v TOTP is on = %t", err, after.TOTPEnabled)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceGetSmtpSettingsProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Admin.GetSmtpSettings(ctx, servertest.Req(c.bearer, &v1.GetSmtpSettingsRequest{}))
			if err == nil && r.Msg.Host != e.s.Mail.Host() {
				return fmt.Errorf("settings %v", r.Msg)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceUpdateSmtpSettingsProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			host := "smtp.attacker.example"
			if c.kind == asAdmin {
				host = e.s.Mail.Host() // the admin keeps the working settings
			}
			_, err := e.s.Admin.UpdateSmtpSettings(ctx, servertest.Req(c.bearer, &v1.UpdateSmtpSettingsRequest{
				Host: host, Port: uint32(e.s.Mail.Port()), From: "wicket@example.com", Tls: v1.SmtpTls_SMTP_TLS_NONE,
			}))
			v, verr := e.s.Svc.GetSMTP(ctx, e.adminActor())
			if verr != nil {
				return verr
			}
			if v.Settings.Host != e.s.Mail.Host() {
				return fmt.Errorf("after %v the SMTP host is %q", err, v.Settings.Host)
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceSendTestEmailProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			_, err := e.s.Admin.SendTestEmail(ctx, servertest.Req(c.bearer, &v1.SendTestEmailRequest{To: "postmaster@example.com"}))
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceListSessionsProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			_, err := e.s.Admin.ListSessions(ctx, servertest.Req(c.bearer, &v1.ListSessionsRequest{}))
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceDisconnectSessionProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			id, err := e.aliceSession(ctx)
			if err != nil {
				return err
			}
			_, err = e.s.Admin.DisconnectSession(ctx, servertest.Req(c.bearer, &v1.DisconnectSessionRequest{SessionId: id}))
			return e.stillActive(ctx, id, err)
		},
	},
	{
		procedure: wicketv1connect.AdminServiceListAuditEventsProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Admin.ListAuditEvents(ctx, servertest.Req(c.bearer, &v1.ListAuditEventsRequest{Limit: 10}))
			if err == nil && len(r.Msg.Events) == 0 {
				return errors.New("no audit events")
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceCreateGatewayTokenProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Admin.CreateGatewayToken(ctx, servertest.Req(c.bearer, &v1.CreateGatewayTokenRequest{LocationId: e.office.Id}))
			if err == nil && r.Msg.GatewayToken == "" {
				return errors.New("empty gateway token")
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceListGatewayTokensProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			r, err := e.s.Admin.ListGatewayTokens(ctx, servertest.Req(c.bearer, &v1.ListGatewayTokensRequest{LocationId: e.office.Id}))
			if err == nil && len(r.Msg.Tokens) == 0 {
				return errors.New("the office's gateway token is not listed")
			}
			return err
		},
	},
	{
		procedure: wicketv1connect.AdminServiceRevokeGatewayTokenProcedure,
		want:      adminCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			t, plain, err := e.s.Svc.CreateGatewayToken(ctx, e.adminActor(), service.NewGatewayToken{LocationID: e.office.Id, Name: fmt.Sprintf("scratch-%d", e.seq())})
			if err != nil {
				return err
			}
			_, err = e.s.Admin.RevokeGatewayToken(ctx, servertest.Req(c.bearer, &v1.RevokeGatewayTokenRequest{Id: t.ID}))
			if _, lerr := e.s.Svc.GatewayLocation(ctx, plain); (lerr == nil) != (err != nil) {
				return fmt.Errorf("revoking answered %v, and the token then answered %v", err, lerr)
			}
			return err
		},
	},

	// GatewayService: a gateway token.
	{
		procedure: wicketv1connect.GatewayServiceSyncPeersProcedure,
		want:      gatewayCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			m, err := firstStreamMsg(e.s.Gateway.SyncPeers(ctx, servertest.Req(c.bearer, &v1.SyncPeersRequest{GatewayToken: c.token})))
			if err != nil {
				return err
			}
			if m.Snapshot.GetInterface().GetLocationId() != e.office.Id {
				return fmt.Errorf("first message %v, want the office's snapshot", m)
			}
			return nil
		},
	},
	{
		procedure: wicketv1connect.GatewayServiceReportStatsProcedure,
		want:      gatewayCells,
		call: func(ctx context.Context, e *authzEnv, c authzCaller) error {
			_, err := e.s.Gateway.ReportStats(ctx, servertest.Req(c.bearer, &v1.ReportStatsRequest{GatewayToken: c.token, Stats: []*v1.PeerStats{
				{PublicKey: e.aliceDev.PublicKey, RxBytes: 1, TxBytes: 1},
			}}))
			return err
		},
	},
}

// everyProcedure lists the procedures of the four services from their
// generated handler interfaces.
func everyProcedure() []string {
	services := []struct {
		name    string
		handler reflect.Type
	}{
		{wicketv1connect.ClientServiceName, reflect.TypeFor[wicketv1connect.ClientServiceHandler]()},
		{wicketv1connect.AccountServiceName, reflect.TypeFor[wicketv1connect.AccountServiceHandler]()},
		{wicketv1connect.AdminServiceName, reflect.TypeFor[wicketv1connect.AdminServiceHandler]()},
		{wicketv1connect.GatewayServiceName, reflect.TypeFor[wicketv1connect.GatewayServiceHandler]()},
	}
	var out []string
	for _, svc := range services {
		for i := range svc.handler.NumMethod() {
			out = append(out, "/"+svc.name+"/"+svc.handler.Method(i).Name)
		}
	}
	return out
}

func TestAuthzTableCoversEveryRPC(t *testing.T) { checkAuthzCoverage(t) }

// checkAuthzCoverage fails when an RPC has no row (or a row no RPC).
func checkAuthzCoverage(t *testing.T) {
	t.Helper()
	rows := map[string]bool{}
	for _, r := range authzRows {
		if rows[r.procedure] {
			t.Errorf("%s has two rows", r.procedure)
		}
		rows[r.procedure] = true
	}
	all := everyProcedure()
	if len(all) < len(authzRows)/2 {
		t.Fatalf("reflection found only %d procedures: %v", len(all), all)
	}
	for _, p := range all {
		if !rows[p] {
			t.Errorf("%s has no row in the authorization table", p)
		}
		delete(rows, p)
	}
	for p := range rows {
		t.Errorf("row %s names no procedure of the services", p)
	}
}

// TestAuthz calls every RPC as every kind of caller through the real HTTP
// stack and checks the Connect code of each cell.
func TestAuthz(t *testing.T) {
	checkAuthzCoverage(t)
	if t.Failed() {
		t.FailNow()
	}
	s := servertest.New(t, servertest.WithHostName("localhost")) // passkeys need a host name
	ctx := servertest.Ctx(t)
	e := &authzEnv{s: s}
	e.admin = s.AdminUser()
	e.office = s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL, AllowedGroups: []string{"eng"}})
	e.open = s.CreateLocation(&v1.Location{Name: "Open", Address: "10.20.0.1/24", AllowedGroups: []string{"eng"}})
	e.bob = s.CreateUser("bob")
	e.alice = s.CreateUser("alice", "eng")
	s.EnableTOTP(e.alice)
	s.EnableEmail(e.alice)
	e.mallory = s.CreateUser("mallory", "sales")
	e.aliceDev = s.Enroll(e.alice, "alice-laptop")
	e.malloryDev = s.Enroll(e.mallory, "mallory-laptop")
	gt, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(s.AdminToken(), &v1.CreateGatewayTokenRequest{LocationId: e.office.Id}))
	if err != nil {
		t.Fatal(err)
	}
	e.gatewayToken = gt.Msg.GatewayToken

	proved := s.Clock.Now()
	for _, row := range authzRows {
		// Rows reset factors and move the clock on; the callers keep what
		// a signed-in person would have: an admin with a second factor,
		// and sign-ins that proved theirs within the step-up window.
		if p, err := s.Svc.Profile(ctx, e.adminActor()); err != nil {
			t.Fatal(err)
		} else if len(p.Methods) == 0 {
			secret, err := e.enableTOTP(ctx, e.admin)
			if err != nil {
				t.Fatal(err)
			}
			e.admin.TOTPSecret = secret
		}
		if s.Clock.Now().Sub(proved) > service.StepUpWindow/2 {
			s.Login(e.alice)
			s.Login(e.admin)
			proved = s.Clock.Now()
		}
		callers := [numAuthzCallers]authzCaller{
			asAnonymous:   {kind: asAnonymous},
			asUser:        {kind: asUser, bearer: e.bob.Token, token: e.bob.Token, user: e.bob},
			asDevice:      {kind: asDevice, bearer: e.aliceDev.Token, token: e.aliceDev.Token},
			asOtherDevice: {kind: asOtherDevice, bearer: e.malloryDev.Token, token: e.malloryDev.Token},
			asAdmin:       {kind: asAdmin, bearer: e.admin.Token, token: e.admin.Token, user: e.admin},
			asGateway:     {kind: asGateway, bearer: e.gatewayToken, token: e.gatewayToken},
		}
		name := strings.TrimPrefix(row.procedure, "/wicket.v1.")
		for _, c := range callers {
			t.Run(name+"/"+authzCallerNames[c.kind], func(t *testing.T) {
				// A short deadline: a stream that never answers fails the cell.
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				err := row.call(cctx, e, c)
				got := cellOK
				if err != nil {
					got = connect.CodeOf(err)
				}
				want := row.want[c.kind]
				if got != want {
					t.Errorf("%s as %s: got %s (%v), want %s", row.procedure, authzCallerNames[c.kind], cellName(got), err, cellName(want))
				}
			})
		}
	}
}

func cellName(c connect.Code) string {
	if c == cellOK {
		return "success"
	}
	return c.String()
}
