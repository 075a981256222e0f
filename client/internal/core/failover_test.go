package core_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wicket-vpn/wicket/client/internal/core"
	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/wickettest"
)

// connectTOTP connects an MFA location with the user's authenticator,
// on a fresh step of the harness clock.
func (e *env) connectTOTP(s *wickettest.Server, inst, loc string) core.LocationView {
	e.t.Helper()
	if err := e.c.Connect(ctx(e.t), inst, loc); err != nil {
		e.t.Fatal(err)
	}
	if err := e.c.ChooseMethod(ctx(e.t), inst, loc, core.MethodTOTP); err != nil {
		e.t.Fatal(err)
	}
	s.Clock.Advance(wickettest.TOTPPeriod)
	if err := e.c.SubmitCode(ctx(e.t), inst, loc, s.TOTPCode(e.u.TOTPSecret)); err != nil {
		e.t.Fatal(err)
	}
	return e.wantState(inst, loc, core.Connected)
}

// TestClientFailsOverToTheNextReplica: a client connected through
// replica A of a PostgreSQL instance learns of replica B from A. When A
// goes, the watch stream and the next calls go to B at once; what B says
// of the session is believed (an end there shows as Disconnected), and a
// new MFA connection works through B.
func TestClientFailsOverToTheNextReplica(t *testing.T) {
	e := newEnv(t, []wickettest.Option{wickettest.WithPostgres()})
	a := e.s
	b := a.Replica()
	a.EnableTOTP(e.u)
	loc := a.MFALocation("Office")
	v := e.enroll()
	if !slices.Equal(v.Servers, []string{a.URL, b.URL}) || v.Server != a.URL {
		t.Fatalf("servers %v, in use %s; want [%s %s], in use A", v.Servers, v.Server, a.URL, b.URL)
	}
	e.run(v.ID)
	first := e.connectTOTP(a, v.ID, loc.Id)

	a.Close()
	lost := time.Now()
	e.waitFor("the watch stream on B", func(core.Event) bool {
		iv, _ := e.c.Instance(v.ID)
		return iv.Live && iv.Server == b.URL
	})
	t.Logf("watching B %s after A closed", time.Since(lost).Round(time.Millisecond))
	if err := e.c.Update(ctx(t), v.ID); err != nil {
		t.Fatalf("update with A gone: %v", err)
	}
	if iv, _ := e.c.Instance(v.ID); iv.UpdateError != "" || iv.Server != b.URL || !slices.Equal(iv.Servers, []string{b.URL, a.URL}) {
		t.Fatalf("after the update: server %s of %v, error %q", iv.Server, iv.Servers, iv.UpdateError)
	}
	e.wantState(v.ID, loc.Id, core.Connected)

	// The session ends on B: the client, now B's, shows it.
	if _, err := b.Admin.DisconnectSession(ctx(t), wickettest.Req(b.AdminToken(), &v1.DisconnectSessionRequest{SessionId: first.SessionID})); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the end of the session", func(core.Event) bool {
		l := e.loc(v.ID, loc.Id)
		return l.State == core.Disconnected && l.EndReason == "admin"
	})

	second := e.connectTOTP(b, v.ID, loc.Id)
	if second.SessionID == "" || second.SessionID == first.SessionID {
		t.Fatalf("the connection through B has session %q (the first was %q)", second.SessionID, first.SessionID)
	}

	// The addresses are kept with the instance, the one that answered last first.
	again := e.newCore()
	if iv := again.Instances()[0]; !slices.Equal(iv.Servers, []string{b.URL, a.URL}) || iv.Server != b.URL {
		t.Fatalf("reloaded: servers %v, in use %s", iv.Servers, iv.Server)
	}
}

// TestFailoverSendsNothingToAnImpostor: the addresses an instance lists
// are used with the certificate pinned at enrollment. An address serving
// another certificate gets a TLS handshake and no request (so no device
// token), and a plain http:// address is never contacted at all.
func TestFailoverSendsNothingToAnImpostor(t *testing.T) {
	var conns, requests atomic.Int32
	impostor := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	impostor.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	impostor.EnableHTTP2 = true
	impostor.StartTLS()
	defer impostor.Close()
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var plainConns atomic.Int32
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			plainConns.Add(1)
			c.Close()
		}
	}()

	e := newEnv(t, []wickettest.Option{wickettest.WithReplicaURLs(impostor.URL)})
	if err := e.s.Svc.AnnounceReplica(ctx(t), []string{impostor.URL, "http://" + plain.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	v := e.enroll()
	if !slices.Equal(v.Servers, []string{e.s.URL, impostor.URL}) {
		t.Fatalf("servers %v: want the server and the https impostor only", v.Servers)
	}
	e.s.Close()
	err = e.c.Update(ctx(t), v.ID)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the server") {
		t.Fatalf("update with the server gone: %v", err)
	}
	if conns.Load() == 0 {
		t.Fatal("the client never tried the impostor's address; the test proves nothing")
	}
	if requests.Load() != 0 {
		t.Fatalf("the impostor received %d requests", requests.Load())
	}
	if plainConns.Load() != 0 {
		t.Fatal("the client connected to a plain http:// address")
	}
}
