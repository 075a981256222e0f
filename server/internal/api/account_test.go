package api_test

import (
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// A password changed by an admin signs the user out everywhere, so whoever
// knew the old password loses their sign-ins.
func TestPasswordChangeEndsSignIns(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	u := s.CreateUser("carol")
	if _, err := s.Account.GetProfile(ctx, servertest.Req(u.Token, &v1.GetProfileRequest{})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admin.UpdateUser(ctx, servertest.Req(s.AdminToken(), &v1.UpdateUserRequest{Id: u.ID, Password: "a brand new password"})); err != nil {
		t.Fatal(err)
	}
	_, err := s.Account.GetProfile(ctx, servertest.Req(u.Token, &v1.GetProfileRequest{}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("old sign-in after a password change: %v", err)
	}
	u.Password = "a brand new password"
	s.Login(u)
	if _, err := s.Account.GetProfile(ctx, servertest.Req(u.Token, &v1.GetProfileRequest{})); err != nil {
		t.Fatal(err)
	}
}

// Wrong passwords do not lock an account out: anyone knowing a username
// could otherwise keep its owner from connecting.
func TestWrongPasswordsDoNotLockOut(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	u := s.CreateUser("dave")
	for range 8 {
		_, err := s.Account.Login(ctx, servertest.Req("", &v1.LoginRequest{Username: "dave", Password: "not the password"}))
		wantCode(t, err, connect.CodeUnauthenticated, "Wrong username or password.")
	}
	s.Login(u)
}
