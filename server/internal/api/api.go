// Package api serves Wicket's Connect-RPC services. Handlers only translate
// between protobuf and the domain (package service) and map domain errors to
// Connect codes in one place.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// API implements the four services over a Service.
type API struct {
	svc       *service.Service
	log       *slog.Logger
	heartbeat time.Duration
}

// DefaultHeartbeat is how often a quiet WatchInstance stream carries a
// heartbeat: a client that misses two knows the connection is dead.
const DefaultHeartbeat = 15 * time.Second

// Option changes the API.
type Option func(*API)

// WithHeartbeat sets the heartbeat interval of watch streams (real time:
// it is about connections, not about the service's clock).
func WithHeartbeat(d time.Duration) Option {
	return func(a *API) {
		if d > 0 {
			a.heartbeat = d
		}
	}
}

// New returns the API over svc.
func New(svc *service.Service, log *slog.Logger, opts ...Option) *API {
	a := &API{svc: svc, log: log, heartbeat: DefaultHeartbeat}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Register mounts every service on mux.
func (a *API) Register(mux *http.ServeMux, opts ...connect.HandlerOption) {
	opts = append(append([]connect.HandlerOption{connect.WithInterceptors(a.errorInterceptor())}, limits()...), opts...)
	mux.Handle(wicketv1connect.NewClientServiceHandler(&clientService{a}, opts...))
	mux.Handle(wicketv1connect.NewAccountServiceHandler(&accountService{a}, opts...))
	mux.Handle(wicketv1connect.NewAdminServiceHandler(&adminService{a}, opts...))
	mux.Handle(wicketv1connect.NewGatewayServiceHandler(&gatewayService{a}, opts...))
}

// errorInterceptor maps domain errors to Connect errors for every call.
func (a *API) errorInterceptor() connect.Interceptor {
	return &errMapper{a: a}
}

type errMapper struct{ a *API }

func (m *errMapper) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		resp, err := next(ctx, req)
		return resp, m.a.toConnect(req.Spec().Procedure, err)
	}
}

func (m *errMapper) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (m *errMapper) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return m.a.toConnect(conn.Spec().Procedure, next(ctx, conn))
	}
}

var codes = map[fault.Kind]connect.Code{
	fault.Invalid:            connect.CodeInvalidArgument,
	fault.Unauthenticated:    connect.CodeUnauthenticated,
	fault.PermissionDenied:   connect.CodePermissionDenied,
	fault.NotFound:           connect.CodeNotFound,
	fault.FailedPrecondition: connect.CodeFailedPrecondition,
	fault.Exhausted:          connect.CodeResourceExhausted,
	fault.Conflict:           connect.CodeAlreadyExists,
	fault.Unavailable:        connect.CodeUnavailable,
}

func (a *API) toConnect(procedure string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return connect.NewError(connect.CodeCanceled, err)
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		if fe.Kind == fault.Unavailable && fe.Err != nil {
			// The person is told to try again; the admin needs the cause.
			a.log.Warn("request failed: unavailable", "procedure", procedure, "err", fe.Err)
		}
		if code, ok := codes[fe.Kind]; ok {
			return connect.NewError(code, errors.New(fe.Msg))
		}
	}
	if errors.Is(err, service.ErrNotFound) {
		return connect.NewError(connect.CodeNotFound, errors.New("not found"))
	}
	a.log.Error("request failed", "procedure", procedure, "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("the server failed; the admin will find the details in its log"))
}

func remote(peer connect.Peer) string {
	host, _, err := net.SplitHostPort(peer.Addr)
	if err != nil {
		return peer.Addr
	}
	return host
}

func bearer(h http.Header) string {
	v := h.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// user authenticates the bearer token of a request.
func (a *API) user(ctx context.Context, h http.Header, peer connect.Peer) (service.Actor, service.User, error) {
	return a.svc.Authenticate(ctx, bearer(h), remote(peer))
}
