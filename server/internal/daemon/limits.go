package daemon

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/wicket-vpn/wicket/proto/gen/wicket/v1" // registers the descriptors streamingProcedures reads
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
	"github.com/wicket-vpn/wicket/server/internal/api"
	"github.com/wicket-vpn/wicket/server/internal/mfa"
)

// MaxHeaderBytes bounds a request's headers. Wicket's largest are the web
// pages' cookies, a few kilobytes.
const MaxHeaderBytes = 64 << 10

// Timeouts bound how long a connection may take. Zero fields get the
// defaults.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers (default 10 s).
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included (default 30 s),
	// so a body trickled a byte at a time cannot hold a connection.
	Read time.Duration
	// Write bounds writing a response (default 60 s: a call may wait for
	// a mail server). A stream has no overall limit, but each of its
	// messages must be written within Write.
	Write time.Duration
	// Idle bounds a kept-alive connection between requests (default 2 min).
	Idle time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.ReadHeader == 0 {
		t.ReadHeader = 10 * time.Second
	}
	if t.Read == 0 {
		t.Read = 30 * time.Second
	}
	t.ReadHeader = min(t.ReadHeader, t.Read)
	if t.Write == 0 {
		t.Write = 60 * time.Second
	}
	if t.Idle == 0 {
		t.Idle = 2 * time.Minute
	}
	return t
}

func (d *Daemon) timeouts() Timeouts { return d.Opts.Timeouts.withDefaults() }

// Limit sets srv's deadlines and header limit; Serve and the test harness
// both use it.
func (d *Daemon) Limit(srv *http.Server) {
	t := d.timeouts()
	srv.ReadHeaderTimeout = t.ReadHeader
	srv.ReadTimeout = t.Read
	srv.WriteTimeout = t.Write
	srv.IdleTimeout = t.Idle
	srv.MaxHeaderBytes = MaxHeaderBytes
	srv.ErrorLog = slog.NewLogLogger(d.Opts.Log.Handler(), slog.LevelDebug)
}

// limitBodies bounds every request body, whatever handler reads it: the
// API's largest message, gzip's overhead included. Connect refuses a larger
// message by itself, but reads the rest of the body to discard it; this
// stops that read too, and ends the connection.
func limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, api.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// streamingProcedures lists the paths of the API's streams, from the
// services' descriptors, so a stream added later is treated as one.
var streamingProcedures = sync.OnceValue(func() map[string]bool {
	paths := map[string]bool{}
	protoregistry.GlobalFiles.RangeFilesByPackage("wicket.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				if md.IsStreamingServer() || md.IsStreamingClient() {
					paths["/"+string(sd.FullName())+"/"+string(md.Name())] = true
				}
			}
		}
		return true
	})
	return paths
})

// longCalls are unary calls that wait for a person: AwaitMfa answers when
// the person has confirmed the connection in a browser.
var longCalls = map[string]bool{
	wicketv1connect.ClientServiceAwaitMfaProcedure: true,
}

// streamDeadlines lets streams (instance watches, gateway peer syncs) live
// past the server's write deadline, which bounds a whole response: each
// message must be written within write instead, so a client that stops
// reading is still cut off. The read deadline stays: it bounds reading the
// stream's one request message, and once that is read net/http lifts it
// (HTTP/1.1) or it has nothing left to cut (HTTP/2).
func streamDeadlines(next http.Handler, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if longCalls[r.URL.Path] {
			// A call that waits for a person answers within its
			// challenge's life, not the write deadline.
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(mfa.ChallengeTTL + write))
			next.ServeHTTP(w, r)
			return
		}
		if !streamingProcedures()[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Time{})
		next.ServeHTTP(&perWrite{ResponseWriter: w, rc: rc, timeout: write}, r)
	})
}

// perWrite gives every write and flush of a stream its own deadline, and
// clears it afterwards: a stream may be quiet for hours, but a message the
// client does not take within the timeout ends it.
type perWrite struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (p *perWrite) Write(b []byte) (int, error) {
	p.rc.SetWriteDeadline(time.Now().Add(p.timeout))
	defer p.rc.SetWriteDeadline(time.Time{})
	return p.ResponseWriter.Write(b)
}

func (p *perWrite) Flush() {
	p.rc.SetWriteDeadline(time.Now().Add(p.timeout))
	defer p.rc.SetWriteDeadline(time.Time{})
	p.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (p *perWrite) Unwrap() http.ResponseWriter { return p.ResponseWriter }
