package api_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/seal"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/store"
	"github.com/wicket-vpn/wicket/server/internal/store/storetest"
)

// Replicas share one PostgreSQL database; each test runs two or three
// in-process wicketd replicas on it, each with its own listener, hub and
// session manager, linked only through the database.

// TestReplicaFinishesChallengeStartedOnAnother: a client whose first call
// reached replica A and whose second reached B (a load balancer between
// them) connects.
func TestReplicaFinishesChallengeStartedOnAnother(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres())
	b := a.Replica()
	ctx := servertest.Ctx(t)
	loc := a.MFALocation("Office")
	u := a.CreateUser("alice")
	a.EnableTOTP(u)
	d := a.Enroll(u, "laptop")

	st, err := a.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := b.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: a.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatalf("FinishMfa on the other replica: %v", err)
	}
	if fin.Msg.SessionId == "" || fin.Msg.Tunnel.GetPresharedKey() == "" {
		t.Fatalf("FinishMfa answered %v", fin.Msg)
	}
	// The challenge is spent for every replica.
	_, err = a.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: a.TOTPCode(u.TOTPSecret)}))
	if err == nil {
		t.Fatal("the challenge finished on B was accepted again on A")
	}
}

// TestReplicaWatcherHearsOtherReplicas: a client watching replica B hears
// of an admin's change made on A, and of its session ended on A.
func TestReplicaWatcherHearsOtherReplicas(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres())
	b := a.Replica()
	ctx := servertest.Ctx(t)
	loc := a.MFALocation("Office")
	u := a.CreateUser("alice")
	a.EnableTOTP(u)
	d := a.Enroll(u, "laptop")

	w := openWatch(t, b, d.Token, d.Instance.ConfigVersion)
	checkWatchers(t, b, 1)

	loc.PeerDisconnectThresholdSeconds = 450
	if _, err := a.Admin.UpdateLocation(ctx, servertest.Req(a.AdminToken(), &v1.UpdateLocationRequest{Location: loc})); err != nil {
		t.Fatal(err)
	}
	inst := w.nextInstance()
	if li := instanceLocation(inst, loc.Id); li.GetPeerDisconnectThresholdSeconds() != 450 {
		t.Fatalf("B pushed location %v", li)
	}

	st, err := a.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := a.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: a.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Admin.DisconnectSession(ctx, servertest.Req(a.AdminToken(), &v1.DisconnectSessionRequest{SessionId: fin.Msg.SessionId})); err != nil {
		t.Fatal(err)
	}
	ended := w.nextEnded()
	if ended.SessionId != fin.Msg.SessionId || ended.Reason != v1.SessionEndReason_SESSION_END_REASON_ADMIN || ended.Message == "" {
		t.Fatalf("B pushed the session end %v", ended)
	}
}

// TestReplicasSweepEndSessionOnce: every replica sweeps, at the same
// moment; an idle session ends once, with one audit event, and its
// device's watcher on another replica hears of it once.
func TestReplicasSweepEndSessionOnce(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres())
	b, c := a.Replica(), a.Replica()
	ctx := servertest.Ctx(t)
	loc := a.MFALocation("Office")
	u := a.CreateUser("alice")
	a.EnableTOTP(u)
	d := a.Enroll(u, "laptop")
	st, err := a.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_TOTP}))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := a.Client.FinishMfa(ctx, servertest.Req("", &v1.FinishMfaRequest{ChallengeToken: st.Msg.ChallengeToken, Code: a.TOTPCode(u.TOTPSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	w := openWatch(t, c, d.Token, 0)
	w.nextInstance()

	a.Clock.Advance(time.Duration(loc.PeerDisconnectThresholdSeconds+60) * time.Second)
	replicas := []*servertest.Server{a, b, c}
	ends := make([]int, len(replicas))
	errs := make([]error, len(replicas))
	var start, wg sync.WaitGroup
	start.Add(1)
	for i, r := range replicas {
		wg.Go(func() {
			start.Wait()
			ends[i], errs[i] = r.Svc.Sessions.Sweep(context.Background())
		})
	}
	start.Done()
	wg.Wait()
	total := 0
	for i := range replicas {
		if errs[i] != nil {
			t.Fatalf("replica %d swept with %v", i, errs[i])
		}
		total += ends[i]
	}
	if total != 1 {
		t.Fatalf("the replicas ended %v sessions, want one in all", ends)
	}
	events, err := a.Svc.ListAudit(ctx, service.Actor{Username: "test", Admin: true}, service.AuditFilter{Action: "session.ended", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Subject == fin.Msg.SessionId {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d session.ended audit events for the session, want 1", n)
	}
	if ended := w.nextEnded(); ended.SessionId != fin.Msg.SessionId || ended.Reason != v1.SessionEndReason_SESSION_END_REASON_IDLE {
		t.Fatalf("C pushed %v", ended)
	}
}

// TestReplicaWithAnotherMasterKeyRefusesToStart: a replica whose master
// key cannot open the database's secrets says so and does not start.
func TestReplicaWithAnotherMasterKeyRefusesToStart(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres())
	a.MFALocation("Office")
	d, err := openDaemon(t, t.TempDir(), a.Database) // a data directory of its own: a new master key
	if err == nil {
		d.Close()
		t.Fatal("a replica with another master key started")
	}
	if !strings.Contains(err.Error(), "same master key") {
		t.Fatalf("refused with %q; want it to say the replicas need the same master key", err)
	}
}

func openDaemon(t *testing.T, dir, database string) (*daemon.Daemon, error) {
	t.Helper()
	return daemon.Open(servertest.Ctx(t), daemon.Options{DataDir: dir, Database: database, URL: "https://127.0.0.1:1"})
}

// TestReplicasStartTogether: three replicas starting at once on an empty
// database end with one schema and one instance.
func TestReplicasStartTogether(t *testing.T) {
	db := storetest.URL(t)
	first := t.TempDir()
	if _, err := seal.LoadOrCreate(first, ""); err != nil {
		t.Fatal(err)
	}
	dirs := []string{first, t.TempDir(), t.TempDir()}
	key, err := os.ReadFile(filepath.Join(first, seal.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs[1:] {
		if err := os.WriteFile(filepath.Join(dir, seal.KeyFileName), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	daemons := make([]*daemon.Daemon, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Go(func() { daemons[i], errs[i] = openDaemon(t, dir, db) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d did not start: %v", i, err)
		}
		defer daemons[i].Close()
	}
	ids := map[string]bool{}
	for _, d := range daemons {
		ids[d.Service.InstanceID()] = true
	}
	if len(ids) != 1 {
		t.Fatalf("the replicas started %d instances: %v", len(ids), ids)
	}
}

// TestReplicaListenerReconnects: the database drops the connections the
// replicas listen on (a restart, a failover, an admin); a change made
// meanwhile still reaches the client watching B, which looks again once
// it listens again.
func TestReplicaListenerReconnects(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres())
	b := a.Replica()
	ctx := servertest.Ctx(t)
	loc := a.MFALocation("Office")
	u := a.CreateUser("alice")
	d := a.Enroll(u, "laptop")
	w := openWatch(t, b, d.Token, d.Instance.ConfigVersion)
	checkWatchers(t, b, 1)

	u2, err := url.Parse(a.Database)
	if err != nil {
		t.Fatal(err)
	}
	admin := storetest.Admin(t)
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
		strings.TrimPrefix(u2.Path, "/"), store.ListenerName).Scan(&n); err != nil || n != 2 {
		t.Fatalf("ended %d listening connections (%v), want the two replicas'", n, err)
	}
	loc.PeerDisconnectThresholdSeconds = 450
	if _, err := a.Admin.UpdateLocation(ctx, servertest.Req(a.AdminToken(), &v1.UpdateLocationRequest{Location: loc})); err != nil {
		t.Fatal(err)
	}
	inst := w.nextInstance()
	if li := instanceLocation(inst, loc.Id); li.GetPeerDisconnectThresholdSeconds() != 450 {
		t.Fatalf("B pushed location %v", li)
	}
	if b.Svc.Fanout().Stats().Reconnects.Load() == 0 {
		t.Fatal("B did not count its listener's reconnection")
	}
}

// TestReplicaWakesPasskeyWaitDecidedElsewhere: a device waits in AwaitMfa
// on replica B while the person answers the passkey page served by A; B
// hears of the decision from A at once, not at its next look at the store
// (set here to an hour).
func TestReplicaWakesPasskeyWaitDecidedElsewhere(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres(), servertest.WithHostName("localhost"), servertest.WithApprovalPoll(time.Hour))
	b := a.Replica()
	ctx := servertest.Ctx(t)
	loc := a.MFALocation("Office")
	u := a.CreateUser("alice")
	d := a.Enroll(u, "laptop")
	if err := a.Store().CreatePasskey(ctx, store.Passkey{ID: "pk-1", UserID: u.ID, Name: "key", CredentialID: "AAAA", PublicKey: "AAAA", CreatedAt: a.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	st, err := a.Client.StartMfa(ctx, servertest.Req("", &v1.StartMfaRequest{DeviceToken: d.Token, LocationId: loc.Id, Method: v1.MfaMethod_MFA_METHOD_WEBAUTHN}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.Client.AwaitMfa(ctx, servertest.Req("", &v1.AwaitMfaRequest{ChallengeToken: st.Msg.ChallengeToken}))
		done <- err
	}()
	// Decided only once B waits, so that only a word from A can wake it.
	for deadline := time.Now().Add(10 * time.Second); b.Svc.PasskeyWaits() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the device never waited on B")
		}
	}
	if err := a.Svc.RefusePasskey(ctx, st.Msg.ChallengeToken, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		wantCode(t, err, connect.CodePermissionDenied, "The connection was refused on the passkey page. Connect again to start over.")
	case <-time.After(15 * time.Second):
		t.Fatal("the device waiting on B did not hear that A's page refused the connection")
	}
}
