package core

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
)

func TestServerURLsTakesHTTPSOnly(t *testing.T) {
	info := &v1.InstanceInfo{ReplicaUrls: []string{"https://b.example.com/", "http://plain.example.com", "ftp://x", "https://", "https://a.example.com", "https://b.example.com"}}
	got := serverURLs(info, "https://a.example.com")
	if want := []string{"https://b.example.com", "https://a.example.com"}; !slices.Equal(got, want) {
		t.Fatalf("serverURLs = %v, want %v", got, want)
	}
	if got := serverURLs(nil, "https://a.example.com"); !slices.Equal(got, []string{"https://a.example.com"}) {
		t.Fatalf("without replicas: %v", got)
	}
}

// TestTryGoesRoundOnceAndSticks: a call tries the addresses from the one
// in use, each once, keeps the one that answered, and does not go on
// after an answer the server decided.
func TestTryGoesRoundOnceAndSticks(t *testing.T) {
	s := newServers(http.DefaultClient, []string{"https://a", "https://b", "https://c"})
	clientOf := map[wicketv1connect.ClientServiceClient]string{}
	for _, u := range []string{"https://a", "https://b", "https://c"} {
		s.mu.Lock()
		clientOf[s.clientLocked(u)] = u
		s.mu.Unlock()
	}
	down := connect.NewError(connect.CodeUnavailable, errors.New("connection refused"))
	run := func(answers map[string]error) ([]string, error) {
		var tried []string
		err := s.try(context.Background(), func(cl wicketv1connect.ClientServiceClient) error {
			u := clientOf[cl]
			tried = append(tried, u)
			return answers[u]
		})
		return tried, err
	}
	tried, err := run(map[string]error{"https://a": down})
	if err != nil || !slices.Equal(tried, []string{"https://a", "https://b"}) {
		t.Fatalf("a down: tried %v, %v", tried, err)
	}
	if _, cur := s.list(); cur != "https://b" {
		t.Fatalf("in use %s after b answered", cur)
	}
	// A refusal the server decided is not a reason to go on.
	refused := connect.NewError(connect.CodeFailedPrecondition, errors.New("no"))
	if tried, err := run(map[string]error{"https://b": refused}); !errors.Is(err, refused) || !slices.Equal(tried, []string{"https://b"}) {
		t.Fatalf("an answer: tried %v, %v", tried, err)
	}
	// Everything down: each once, from b; nothing answered, so the last
	// refused connection is the error.
	if tried, err := run(map[string]error{"https://a": down, "https://b": down, "https://c": down}); err == nil || !slices.Equal(tried, []string{"https://b", "https://c", "https://a"}) {
		t.Fatalf("all down: tried %v, %v", tried, err)
	}
	// Keeping the address in use across a new list that still has it.
	s.use("https://c")
	if s.set([]string{"https://c", "https://a"}); func() string { _, c := s.list(); return c }() != "https://c" {
		t.Fatal("a new list moved away from the address in use")
	}
	if s.set([]string{"https://d"}); func() string { _, c := s.list(); return c }() != "https://d" {
		t.Fatal("a list without the address in use did not start at its first")
	}
}
