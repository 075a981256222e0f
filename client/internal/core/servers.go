package core

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"connectrpc.com/connect"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
)

// servers are the addresses of one instance's replicas, in the order to
// try them, and the one in use. Every call goes to the one in use; when it
// cannot be reached (or says it is unavailable) the call goes on to the
// next, round the list, and the one that answers stays in use. All of them
// are reached through the instance's HTTP client, which pins the
// certificate fingerprint of enrollment: replicas share the certificate,
// so an address serving another one is never sent anything.
type servers struct {
	http *http.Client

	mu      sync.Mutex
	urls    []string
	cur     string
	clients map[string]wicketv1connect.ClientServiceClient
}

func newServers(hc *http.Client, urls []string) *servers {
	s := &servers{http: hc, clients: map[string]wicketv1connect.ClientServiceClient{}}
	s.set(urls)
	return s
}

// serverURLs is the list to keep for an instance: the addresses the server
// gave, then the enrollment address as a last resort, each once. Only
// https:// addresses are taken: a device token must never travel in the
// clear, whatever a server lists.
func serverURLs(info *v1.InstanceInfo, enrolled string) []string {
	var out []string
	for _, u := range append(append([]string(nil), info.GetReplicaUrls()...), enrolled) {
		u = strings.TrimRight(u, "/")
		if p, err := url.Parse(u); err != nil || p.Scheme != "https" || p.Host == "" {
			continue
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// set replaces the list, keeping the address in use when it is still
// listed, and reports whether the list changed.
func (s *servers) set(urls []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(urls) == 0 || slices.Equal(urls, s.urls) {
		return false
	}
	s.urls = slices.Clone(urls)
	if !slices.Contains(s.urls, s.cur) {
		s.cur = s.urls[0]
	}
	return true
}

// list returns the addresses and the one in use.
func (s *servers) list() (urls []string, cur string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.urls), s.cur
}

// current returns the address in use and its client.
func (s *servers) current() (string, wicketv1connect.ClientServiceClient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, s.clientLocked(s.cur)
}

func (s *servers) clientLocked(u string) wicketv1connect.ClientServiceClient {
	cl := s.clients[u]
	if cl == nil {
		cl = wicketv1connect.NewClientServiceClient(s.http, u)
		s.clients[u] = cl
	}
	return cl
}

// failed moves on from u to the next address, unless another call has
// moved on already. It reports whether there is another address.
func (s *servers) failed(u string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.urls) < 2 {
		return false
	}
	if s.cur == u {
		i := slices.Index(s.urls, u)
		s.cur = s.urls[(i+1)%len(s.urls)]
	}
	return true
}

func (s *servers) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.urls)
}

// describe names the addresses for a message: "https://a" or
// "https://a or https://b".
func (s *servers) describe() string {
	urls, cur := s.list()
	if len(urls) < 2 {
		return cur
	}
	rest := slices.DeleteFunc(urls, func(u string) bool { return u == cur })
	return cur + " or " + strings.Join(rest, " or ")
}

// try runs call against the address in use and, while it fails at the
// connection level, against the next ones in the list, each once; the one
// that answers stays in use. When every one failed, a replica's own words
// ("the gateway is offline") are worth more than a refused connection, so
// the first answer a server sent wins.
//
// A call whose connection broke after it was sent may have been done by
// the lost replica; sending it again is still right: the calls are
// idempotent for the device (GetInstance, Disconnect) or refused once
// spent (an MFA challenge is finished once), and the server keeps a code
// unspent when it answers Unavailable.
func (s *servers) try(ctx context.Context, call func(wicketv1connect.ClientServiceClient) error) error {
	var err, answer error
	for _, u := range s.order() {
		s.mu.Lock()
		cl := s.clientLocked(u)
		s.mu.Unlock()
		if err = call(cl); !unreachable(ctx, err) {
			s.use(u)
			return err
		}
		if answer == nil && connect.IsWireError(err) {
			answer = err
		}
		s.failed(u)
	}
	if answer != nil {
		return answer
	}
	return err
}

// order is the list starting at the address in use.
func (s *servers) order() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := max(slices.Index(s.urls, s.cur), 0)
	return append(slices.Clone(s.urls[i:]), s.urls[:i]...)
}

// use makes u the address in use, when it is still listed.
func (s *servers) use(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.urls, u) {
		s.cur = u
	}
}

// unreachable reports whether a unary call failed without the server
// deciding anything: it could not be reached, the connection broke
// mid-answer, or it (or a proxy before it) answered Unavailable. The
// caller's own deadline or cancellation is not the server's failure.
func unreachable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable:
		return true
	case connect.CodeUnknown, connect.CodeInternal:
		return !connect.IsWireError(err)
	}
	return false
}

// streamLost reports whether a watch stream ended in a way another
// replica may not share: it fell silent, or failed for any reason but an
// answer about the device itself (unknown, refused, throttled).
func streamLost(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if errors.Is(err, errSilent) {
		return true
	}
	var ce *Error
	if !errors.As(err, &ce) {
		return false // not the server's doing (the keyring, say)
	}
	switch ce.Code {
	case connect.CodeUnauthenticated, connect.CodePermissionDenied, connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeResourceExhausted, connect.CodeNotFound:
		return false
	}
	return true
}

// failoverClient is the instance's ClientService: each unary call goes
// through servers.try. WatchInstance is opened on the address in use; the
// watch loop moves on itself when a stream is lost.
type failoverClient struct{ s *servers }

func call[Req, Resp any](ctx context.Context, s *servers, req *connect.Request[Req],
	m func(wicketv1connect.ClientServiceClient, context.Context, *connect.Request[Req]) (*connect.Response[Resp], error)) (*connect.Response[Resp], error) {
	var resp *connect.Response[Resp]
	err := s.try(ctx, func(cl wicketv1connect.ClientServiceClient) error {
		// A fresh request per attempt: a sent one carries the state of
		// its call.
		r := connect.NewRequest(req.Msg)
		for k, v := range req.Header() {
			r.Header()[k] = slices.Clone(v)
		}
		var err error
		resp, err = m(cl, ctx, r)
		return err
	})
	return resp, err
}

func (f failoverClient) Enroll(ctx context.Context, req *connect.Request[v1.EnrollRequest]) (*connect.Response[v1.EnrollResponse], error) {
	return call(ctx, f.s, req, wicketv1connect.ClientServiceClient.Enroll)
}

func (f failoverClient) GetInstance(ctx context.Context, req *connect.Request[v1.GetInstanceRequest]) (*connect.Response[v1.GetInstanceResponse], error) {
	return call(ctx, f.s, req, wicketv1connect.ClientServiceClient.GetInstance)
}

func (f failoverClient) WatchInstance(ctx context.Context, req *connect.Request[v1.WatchInstanceRequest]) (*connect.ServerStreamForClient[v1.WatchInstanceResponse], error) {
	_, cl := f.s.current()
	return cl.WatchInstance(ctx, req)
}

func (f failoverClient) Connect(ctx context.Context, req *connect.Request[v1.ConnectRequest]) (*connect.Response[v1.ConnectResponse], error) {
	return call(ctx, f.s, req, wicketv1connect.ClientServiceClient.Connect)
}

func (f failoverClient) StartMfa(ctx context.Context, req *connect.Request[v1.StartMfaRequest]) (*connect.Response[v1.StartMfaResponse], error) {
	return call(ctx, f.s, req, wicketv1connect.ClientServiceClient.StartMfa)
}

func (f failoverClient) FinishMfa(ctx context.Context, req *connect.Request[v1.FinishMfaRequest]) (*connect.Response[v1.FinishMfaResponse], error) {
	return call(ctx, f.s, req, wicketv1connect.ClientServiceClient.FinishMfa)
}

func (f failoverClient) Disconnect(ctx context.Context, req *connect.Request[v1.DisconnectRequest]) (*connect.Response[v1.DisconnectResponse], error) {
	return call(ctx, f.s, req, wicketv1connect.ClientServiceClient.Disconnect)
}

// AwaitMfa waits on the address in use; a replica that dies meanwhile
// fails the wait, and the next one takes it (the approval is in the
// database).
func (f failoverClient) AwaitMfa(ctx context.Context, req *connect.Request[v1.AwaitMfaRequest]) (*connect.Response[v1.FinishMfaResponse], error) {
	return call(ctx, f.s, req, wicketv1connect.ClientServiceClient.AwaitMfa)
}
