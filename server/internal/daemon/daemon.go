// Package daemon assembles wicketd's HTTP handler: the Connect services,
// health and readiness, and the metrics served on their own listener. The
// real server and the test harness share it.
package daemon

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wicket-vpn/wicket/server/internal/api"
	"github.com/wicket-vpn/wicket/server/internal/fault"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

// readyTimeout bounds readiness's write: a database that takes longer is
// as good as unavailable to the requests queueing behind it.
const readyTimeout = 5 * time.Second

// metrics are a server's Prometheus metrics.
type metrics struct {
	reg   *prometheus.Registry
	calls *prometheus.CounterVec
}

func newMetrics(svc *service.Service) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wicket_rpc_total", Help: "Connect calls served, by procedure and result code.",
	}, []string{"procedure", "code"})
	reg.MustRegister(calls)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wicket_sessions_active", Help: "Active VPN sessions.",
	}, func() float64 {
		n, err := svc.ActiveSessionCount(context.Background())
		if err != nil {
			return 0
		}
		return float64(n)
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wicket_watchers", Help: "Clients watching their instance.",
	}, func() float64 { return float64(svc.Watchers()) }))
	if f := svc.Fanout(); f != nil {
		st := f.Stats()
		counter := func(name, help string, v *atomic.Uint64) {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) }))
		}
		counter("wicket_replica_notifications_sent_total", "Notifications sent to the other replicas (LISTEN/NOTIFY).", &st.Sent)
		counter("wicket_replica_notifications_received_total", "Notifications received from the other replicas.", &st.Received)
		counter("wicket_replica_listen_reconnects_total", "Times the connection listening to the other replicas was made again (notifications may have been lost; every peer set was recomputed).", &st.Reconnects)
		counter("wicket_replica_send_errors_total", "Failed attempts to notify the other replicas (retried).", &st.SendErrors)
		delay := prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "wicket_replica_notification_delay_seconds", Help: "How long notifications from other replicas took to arrive (by both machines' clocks).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		})
		reg.MustRegister(delay)
		st.ObserveDelay(func(d time.Duration) { delay.Observe(d.Seconds()) })
	}
	return &metrics{reg: reg, calls: calls}
}

// Handler returns wicketd's HTTPS handler: the API, /healthz and /readyz.
// extra, when set, serves every path the API does not (the web pages).
// Metrics are not here: MetricsHandler serves them on a listener of their
// own, so the public port tells nobody how busy the server is.
func (d *Daemon) Handler(extra http.Handler) http.Handler {
	svc, log := d.Service, d.Opts.Log
	mux := http.NewServeMux()
	api.New(svc, log, api.WithHeartbeat(d.Opts.Heartbeat)).Register(mux, connect.WithInterceptors(countCalls(d.metrics.calls)))
	// Liveness: the process answers and can read its database.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := svc.CheckReadable(r.Context()); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	// Readiness: the server can also save, so requests sent to it will
	// succeed. See Service.CheckWritable for why this writes.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := svc.CheckWritable(ctx); err != nil {
			reason := notReady(err)
			log.Warn("not ready", "reason", reason, "err", err)
			http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ready\n"))
	})
	if extra != nil {
		mux.Handle("/", extra)
	}
	return limitBodies(streamDeadlines(securityHeaders(mux), d.timeouts().Write))
}

// notReady says why readiness failed, for the admin or orchestrator that
// asks; the cause of a storage failure is SQLite's own words.
func notReady(err error) string {
	var fe *fault.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the database did not save within " + readyTimeout.String()
	case service.IsUnavailable(err) && errors.As(err, &fe) && fe.Err != nil:
		return "the database cannot save: " + fe.Err.Error()
	}
	return "the database cannot save; the details are in the server log"
}

// MetricsHandler serves Prometheus metrics at /metrics.
func (d *Daemon) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	return mux
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
