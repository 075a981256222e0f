// Package daemon assembles wicketd's HTTP handler: the Connect services,
// health and metrics. The real server and the test harness share it.
package daemon

import (
	"context"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wicket-vpn/wicket/server/internal/api"
	"github.com/wicket-vpn/wicket/server/internal/service"
	"github.com/wicket-vpn/wicket/server/internal/store"
)

// Handler returns wicketd's HTTP handler. extra, when set, serves every path
// the API does not (the web pages).
func Handler(svc *service.Service, log *slog.Logger, extra http.Handler) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wicket_rpc_total", Help: "Connect calls served, by procedure and result code.",
	}, []string{"procedure", "code"})
	reg.MustRegister(calls)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wicket_sessions_active", Help: "Active VPN sessions.",
	}, func() float64 {
		list, err := svc.Store().ListSessions(context.Background(), store.SessionFilter{ActiveOnly: true})
		if err != nil {
			return 0
		}
		return float64(len(list))
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wicket_watchers", Help: "Clients watching their instance.",
	}, func() float64 { return float64(svc.Hub.Watchers()) }))

	mux := http.NewServeMux()
	api.New(svc, log).Register(mux, connect.WithInterceptors(countCalls(calls)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := svc.Store().ConfigVersion(r.Context()); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if extra != nil {
		mux.Handle("/", extra)
	}
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Strict-Transport-Security", "max-age=31536000")
		h.Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

type callCounter struct{ calls *prometheus.CounterVec }

func countCalls(calls *prometheus.CounterVec) connect.Interceptor { return &callCounter{calls} }

func (c *callCounter) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		resp, err := next(ctx, req)
		c.calls.WithLabelValues(req.Spec().Procedure, codeOf(err)).Inc()
		return resp, err
	}
}

func (c *callCounter) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (c *callCounter) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		err := next(ctx, conn)
		c.calls.WithLabelValues(conn.Spec().Procedure, codeOf(err)).Inc()
		return err
	}
}

func codeOf(err error) string {
	if err == nil {
		return "ok"
	}
	return connect.CodeOf(err).String()
}
