package api_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
)

// TestGatewayTokensListedWithNameUseAndExpiry checks what an admin needs to
// find a token to revoke: which gateway it is, when it was last used and
// when it stops working; and that only admins see or revoke tokens.
func TestGatewayTokensListedWithNameUseAndExpiry(t *testing.T) {
	s := servertest.New(t)
	ctx := servertest.Ctx(t)
	admin := s.AdminToken()
	office := s.MFALocation("Office")
	lab := s.CreateLocation(&v1.Location{Name: "Lab", Address: "10.20.0.1/24"})
	created := s.Clock.Now()
	expires := created.Add(90 * 24 * time.Hour)
	gw, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(admin, &v1.CreateGatewayTokenRequest{LocationId: office.Id, Name: " office-gw-1 ", ExpiresAt: timestamppb.New(expires)}))
	if err != nil {
		t.Fatal(err)
	}
	if got := gw.Msg.Token; got.GetId() == "" || got.GetName() != "office-gw-1" || !got.GetExpiresAt().AsTime().Equal(expires) || got.GetLastUsedAt() != nil {
		t.Fatalf("created token %v", got)
	}
	if _, err := s.Admin.CreateGatewayToken(ctx, servertest.Req(admin, &v1.CreateGatewayTokenRequest{LocationId: lab.Id})); err != nil {
		t.Fatal(err)
	}
	list := func(locationID string) []*v1.GatewayToken {
		t.Helper()
		r, err := s.Admin.ListGatewayTokens(ctx, servertest.Req(admin, &v1.ListGatewayTokensRequest{LocationId: locationID}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Msg.Tokens
	}
	report := func() {
		t.Helper()
		if _, err := s.Gateway.ReportStats(ctx, servertest.Req("", &v1.ReportStatsRequest{GatewayToken: gw.Msg.GatewayToken})); err != nil {
			t.Fatal(err)
		}
	}

	// The listing never carries the token itself, only what identifies it.
	toks := list(office.Id)
	if len(toks) != 1 || toks[0].Id != gw.Msg.Token.Id || toks[0].Name != "office-gw-1" || toks[0].LocationId != office.Id ||
		!toks[0].CreatedAt.AsTime().Equal(created) || !toks[0].ExpiresAt.AsTime().Equal(expires) || toks[0].LastUsedAt != nil {
		t.Fatalf("office tokens before any use: %v", toks)
	}
	if n := len(list("")); n != 2 {
		t.Fatalf("%d tokens over every location, want 2", n)
	}

	// The first use is recorded; the next within a minute is not written.
	s.Clock.Advance(10 * time.Second)
	firstUse := s.Clock.Now()
	report()
	s.Clock.Advance(30 * time.Second)
	report()
	if got := list(office.Id)[0].LastUsedAt; got == nil || !got.AsTime().Equal(firstUse) {
		t.Fatalf("last use %v, want %v", got, firstUse)
	}
	s.Clock.Advance(40 * time.Second)
	report()
	if got := list(office.Id)[0].LastUsedAt; got == nil || !got.AsTime().Equal(s.Clock.Now()) {
		t.Fatalf("last use %v a minute later, want %v", got, s.Clock.Now())
	}

	// An expiry in the past would make a token that never works.
	_, err = s.Admin.CreateGatewayToken(ctx, servertest.Req(admin, &v1.CreateGatewayTokenRequest{LocationId: office.Id, ExpiresAt: timestamppb.New(s.Clock.Now().Add(-time.Hour))}))
	wantField(t, err, "expires_at")

	// Someone who is signed in but no admin may not see, make or revoke tokens.
	bob := s.CreateUser("bob")
	_, err = s.Admin.ListGatewayTokens(ctx, servertest.Req(bob.Token, &v1.ListGatewayTokensRequest{LocationId: office.Id}))
	wantCode(t, err, connect.CodePermissionDenied, "")
	_, err = s.Admin.CreateGatewayToken(ctx, servertest.Req(bob.Token, &v1.CreateGatewayTokenRequest{LocationId: office.Id}))
	wantCode(t, err, connect.CodePermissionDenied, "")
	_, err = s.Admin.RevokeGatewayToken(ctx, servertest.Req(bob.Token, &v1.RevokeGatewayTokenRequest{Id: gw.Msg.Token.Id}))
	wantCode(t, err, connect.CodePermissionDenied, "")
	report() // still valid
	_, err = s.Admin.ListGatewayTokens(ctx, servertest.Req("", &v1.ListGatewayTokensRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated, "")

	// Revoking takes it off the list, refuses it, and is audited.
	if _, err := s.Admin.RevokeGatewayToken(ctx, servertest.Req(admin, &v1.RevokeGatewayTokenRequest{Id: gw.Msg.Token.Id})); err != nil {
		t.Fatal(err)
	}
	if toks := list(office.Id); len(toks) != 0 {
		t.Fatalf("revoked token still listed: %v", toks)
	}
	_, err = s.Gateway.ReportStats(ctx, servertest.Req("", &v1.ReportStatsRequest{GatewayToken: gw.Msg.GatewayToken}))
	wantCode(t, err, connect.CodeUnauthenticated, "This gateway token was revoked; create a new one on the Gateways page.")
	_, err = s.Admin.RevokeGatewayToken(ctx, servertest.Req(admin, &v1.RevokeGatewayTokenRequest{Id: gw.Msg.Token.Id}))
	wantCode(t, err, connect.CodeNotFound, "")
	for _, action := range []string{"gateway_token.created", "gateway_token.revoked"} {
		ev, err := s.Admin.ListAuditEvents(ctx, servertest.Req(admin, &v1.ListAuditEventsRequest{Action: action}))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(ev.Msg.Events, func(e *v1.AuditEvent) bool {
			return e.Subject == "Office" && e.Actor == "admin" && strings.Contains(e.Detail, "token="+gw.Msg.Token.Id+` name="office-gw-1"`)
		}) {
			t.Fatalf("no %s event of the token: %v", action, ev.Msg.Events)
		}
	}
}
