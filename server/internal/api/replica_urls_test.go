package api_test

import (
	"slices"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

func replicaURLs(t *testing.T, s *servertest.Server, d *servertest.Device) []string {
	t.Helper()
	resp, err := s.Client.GetInstance(servertest.Ctx(t), servertest.Req("", &v1.GetInstanceRequest{DeviceToken: d.Token}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.Instance.ReplicaUrls
}

// TestInstanceListsReplicas: every replica on one PostgreSQL database
// lists the instance's servers to its clients, itself first; one that
// stopped announcing drops out after the window, and the admin's fixed
// addresses come last.
func TestInstanceListsReplicas(t *testing.T) {
	a := servertest.New(t, servertest.WithPostgres())
	b := a.Replica()
	d := a.Enroll(a.CreateUser("alice"), "laptop")
	if d.Instance.Url != a.URL || !slices.Equal(d.Instance.ReplicaUrls, []string{a.URL, b.URL}) {
		t.Fatalf("enrollment through A: url %s, replicas %v; want %s first, then %s", d.Instance.Url, d.Instance.ReplicaUrls, a.URL, b.URL)
	}
	if got := replicaURLs(t, a, d); !slices.Equal(got, []string{a.URL, b.URL}) {
		t.Fatalf("A lists %v, want [%s %s]", got, a.URL, b.URL)
	}
	if got := replicaURLs(t, b, d); !slices.Equal(got, []string{b.URL, a.URL}) {
		t.Fatalf("B lists %v, want [%s %s]", got, b.URL, a.URL)
	}

	// B stops announcing itself (as a killed replica does): after the
	// window A lists only itself; B's next announcement brings it back.
	a.Clock.Advance(service.ReplicaWindow + time.Second)
	if got := replicaURLs(t, a, d); !slices.Equal(got, []string{a.URL}) {
		t.Fatalf("after %v without a word from B, A lists %v", service.ReplicaWindow, got)
	}
	if err := b.Svc.AnnounceReplica(servertest.Ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	if got := replicaURLs(t, a, d); !slices.Equal(got, []string{a.URL, b.URL}) {
		t.Fatalf("after B announced itself again, A lists %v", got)
	}

	// A third replica with the admin's load balancer address: replicas'
	// own URLs in order, then the fixed one, each once.
	const lb = "https://vpn.example.com:8443"
	c := a.Replica(servertest.WithReplicaURLs(lb, lb))
	if err := a.Svc.AnnounceReplica(servertest.Ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	others := []string{b.URL, c.URL}
	slices.Sort(others)
	want := append(append([]string{a.URL}, others...), lb)
	if got := replicaURLs(t, a, d); !slices.Equal(got, want) {
		t.Fatalf("A lists %v, want %v", got, want)
	}
}

// TestInstanceReplicaURLsOnSQLite: a server on SQLite is alone on its
// database, so it lists itself (and its fixed addresses) only, whatever
// an earlier run announced.
func TestInstanceReplicaURLsOnSQLite(t *testing.T) {
	const lb = "https://vpn.example.com:8443"
	s := servertest.New(t, servertest.WithSQLite(), servertest.WithReplicaURLs(lb))
	d := s.Enroll(s.CreateUser("alice"), "laptop")
	if got := replicaURLs(t, s, d); !slices.Equal(got, []string{s.URL, lb}) {
		t.Fatalf("lists %v, want [%s %s]", got, s.URL, lb)
	}
	// An address an earlier run announced under other flags.
	if err := s.Store().SeenReplicas(servertest.Ctx(t), []store.Replica{{URL: "https://old.example.com:8443"}}, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Second)
	if err := s.Svc.AnnounceReplica(servertest.Ctx(t), []string{lb}); err != nil {
		t.Fatal(err)
	}
	if got := replicaURLs(t, s, d); !slices.Equal(got, []string{s.URL, lb}) {
		t.Fatalf("after announcing, lists %v, want [%s %s]", got, s.URL, lb)
	}
}
