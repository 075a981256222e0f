package api_test

import (
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// auditDetails returns the details of the audit events with an action.
func auditDetails(t *testing.T, s *servertest.Server, action string) []string {
	t.Helper()
	ev, err := s.Admin.ListAuditEvents(servertest.Ctx(t), servertest.Req(s.AdminToken(), &v1.ListAuditEventsRequest{Action: action}))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ev.Msg.Events {
		out = append(out, e.Detail)
	}
	return out
}

func updateLocation(t *testing.T, s *servertest.Server, l *v1.Location) *v1.Location {
	t.Helper()
	r, err := s.Admin.UpdateLocation(servertest.Ctx(t), servertest.Req(s.AdminToken(), &v1.UpdateLocationRequest{Location: l}))
	if err != nil {
		t.Fatalf("UpdateLocation: %v", err)
	}
	return r.Msg.Location
}

// TestLocationAllowedMethodsAreStoredAndChecked: the list is kept in
// order without repeats on both engines, reaches the devices' view of the
// location, is audited, and anything but a defined method is refused.
func TestLocationAllowedMethodsAreStoredAndChecked(t *testing.T) {
	servertest.EachEngine(t, func(t *testing.T, engine servertest.Option) {
		s := servertest.New(t, engine)
		ctx := servertest.Ctx(t)
		loc := s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL,
			AllowedMfaMethods: []v1.MfaMethod{methodEmail, methodTOTP, methodEmail}})
		if got := loc.AllowedMfaMethods; !slices.Equal(got, []v1.MfaMethod{methodTOTP, methodEmail}) {
			t.Fatalf("allowed methods on create = %v", got)
		}
		loc.AllowedMfaMethods = []v1.MfaMethod{methodTOTP}
		updateLocation(t, s, loc)
		got, err := s.Admin.GetLocation(ctx, servertest.Req(s.AdminToken(), &v1.GetLocationRequest{Id: loc.Id}))
		if err != nil || !slices.Equal(got.Msg.Location.AllowedMfaMethods, []v1.MfaMethod{methodTOTP}) {
			t.Fatalf("GetLocation after limiting to TOTP = %v, %v", got.Msg.GetLocation().GetAllowedMfaMethods(), err)
		}
		if d := auditDetails(t, s, "location.updated"); len(d) == 0 || !strings.Contains(d[0], "methods=totp ") {
			t.Errorf("audit of the change = %q", d)
		}
		u := s.CreateUser("alice")
		dev := s.Enroll(u, "laptop")
		if li := dev.Instance.Locations; len(li) != 1 || !slices.Equal(li[0].AllowedMfaMethods, []v1.MfaMethod{methodTOTP}) {
			t.Fatalf("the device's view of the location = %v", li)
		}

		for _, bad := range [][]v1.MfaMethod{{v1.MfaMethod_MFA_METHOD_UNSPECIFIED}, {methodTOTP, 99}} {
			loc.AllowedMfaMethods = bad
			_, err := s.Admin.UpdateLocation(ctx, servertest.Req(s.AdminToken(), &v1.UpdateLocationRequest{Location: loc}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "allowed_mfa_methods") {
				t.Errorf("allowed methods %v: %v, want InvalidArgument naming the field", bad, err)
			}
		}
		// Empty accepts every method again.
		loc.AllowedMfaMethods = nil
		if l := updateLocation(t, s, loc); len(l.AllowedMfaMethods) != 0 {
			t.Fatalf("allowed methods after clearing = %v", l.AllowedMfaMethods)
		}
		if d := auditDetails(t, s, "location.updated"); !strings.Contains(d[0], "methods=all ") {
			t.Errorf("audit of clearing = %q", d[0])
		}
	})
}

// TestStartMfaWithMethodTheLocationDoesNotAccept: a location limited to
// the authenticator app refuses an emailed code before any mail goes out,
// says which method it takes, and what to set up when the account lacks it;
// a location with no list takes both.
func TestStartMfaWithMethodTheLocationDoesNotAccept(t *testing.T) {
	s := servertest.New(t)
	office := s.CreateLocation(&v1.Location{Name: "Office", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL,
		AllowedMfaMethods: []v1.MfaMethod{methodTOTP}})
	lab := s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.20.0.1/24", MfaMode: v1.LocationMfaMode_LOCATION_MFA_MODE_INTERNAL})

	alice := s.CreateUser("alice")
	s.EnableTOTP(alice)
	s.EnableEmail(alice)
	ad := s.Enroll(alice, "laptop")
	mails := len(s.MailTo(alice.Email))
	_, err := mfaStartErr(s, ad, office.Id, methodEmail)
	const want = "Office accepts only an authenticator app code; choose that method instead."
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("StartMfa with email on Office = %v, want FailedPrecondition %q", err, want)
	}
	if n := len(s.MailTo(alice.Email)); n != mails {
		t.Fatalf("a refused method still mailed a code (%d mails, had %d)", n, mails)
	}
	if d := auditDetails(t, s, "mfa.refused"); len(d) != 1 || !strings.Contains(d[0], "reason=method_not_allowed") || !strings.Contains(d[0], "location=Office") {
		t.Errorf("audit of the refusal = %q", d)
	}
	st := mfaStart(t, s, ad, office.Id, methodTOTP)
	s.Clock.Advance(mfa.Period)
	if fin := mfaFinishOK(t, s, st.ChallengeToken, s.TOTPCode(alice.TOTPSecret)); fin.SessionId == "" {
		t.Fatal("no session")
	}
	mfaStart(t, s, ad, lab.Id, methodEmail) // no list: every method

	bob := s.CreateUser("bob")
	s.EnableEmail(bob)
	bd := s.Enroll(bob, "laptop")
	_, err = mfaStartErr(s, bd, office.Id, methodEmail)
	const setUp = "Office accepts only an authenticator app code. Set up an authenticator app in your profile first."
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.HasSuffix(err.Error(), setUp) {
		t.Fatalf("StartMfa for an account without the accepted method = %v, want %q", err, setUp)
	}
}

// TestLimitingMethodsEndsWeakerSessionsAndUnfinishedChallenges: when the
// admin stops accepting a method, the sessions it opened end and a code for
// a challenge started with it no longer opens one.
func TestLimitingMethodsEndsWeakerSessionsAndUnfinishedChallenges(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	office := s.MFALocation("Office")
	alice := s.CreateUser("alice")
	s.EnableTOTP(alice)
	s.EnableEmail(alice)
	d := s.Enroll(alice, "laptop")
	st := mfaStart(t, s, d, office.Id, methodTOTP)
	s.Clock.Advance(mfa.Period)
	fin := mfaFinishOK(t, s, st.ChallengeToken, s.TOTPCode(alice.TOTPSecret))
	s.Clock.Advance(mfa.Period)
	pending := mfaStart(t, s, d, office.Id, methodTOTP)

	office.AllowedMfaMethods = []v1.MfaMethod{methodEmail}
	updateLocation(t, s, office)
	sess, err := s.Store().SessionByID(ctx, fin.SessionId)
	if err != nil || sess.Active() || sess.EndReason != int(v1.SessionEndReason_SESSION_END_REASON_LOCATION_CHANGED) {
		t.Fatalf("the TOTP session after limiting Office to email = %+v, %v", sess, err)
	}
	s.Clock.Advance(mfa.Period)
	_, err = mfaFinish(s, pending.ChallengeToken, s.TOTPCode(alice.TOTPSecret))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "Office accepts only an emailed code") {
		t.Fatalf("FinishMfa of a TOTP challenge after the change = %v", err)
	}
	if list, _ := s.Store().ListSessions(ctx, store.SessionFilter{LocationID: office.Id, ActiveOnly: true}); len(list) != 0 {
		t.Fatalf("a session opened anyway: %+v", list)
	}
}
