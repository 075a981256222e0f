package demo

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wicket-vpn/wicket/server/internal/gateway"
	"github.com/wicket-vpn/wicket/shared/humantime"
)

// Intranet is the one host of the demo location: a small web page served
// on loopback. The embedded gateway forwards flows from the tunnel to their
// destination through host sockets; Dial sends those for IntranetAddr to
// this page, so the location has something to reach without touching the
// machine's network. Every other destination is dialled as addressed.
type Intranet struct {
	ln    net.Listener
	srv   *http.Server
	visit atomic.Int64
}

// StartIntranet serves the page on a free loopback port until Close; log
// (nil: none) gets the HTTP server's complaints.
func StartIntranet(log *slog.Logger) (*Intranet, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the demo intranet page: %w", err)
	}
	in := &Intranet{ln: ln}
	in.srv = &http.Server{Handler: http.HandlerFunc(in.serve), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go in.srv.Serve(ln)
	return in, nil
}

// Close stops the page.
func (in *Intranet) Close() error { return in.srv.Close() }

// Dial is the embedded gateway's DialFunc.
func (in *Intranet) Dial() gateway.DialFunc {
	var d net.Dialer
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if strings.HasPrefix(network, "tcp") && address == IntranetAddr {
			return d.DialContext(ctx, "tcp", in.ln.Addr().String())
		}
		return d.DialContext(ctx, network, address)
	}
}

// URL is the page's address inside the location.
func URL() string { return "http://" + strings.TrimSuffix(IntranetAddr, ":80") + "/" }

// PageTitle is the title of the intranet page, which tests and the
// headless demo look for.
const PageTitle = "Demo office intranet"

var page = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;background:#f5f6f8;color:#1c2230;margin:0;padding:3rem 1rem}
main{max-width:40rem;margin:auto;background:#fff;border:1px solid #e2e5ea;border-radius:10px;padding:1.5rem 2rem}
h1{font-size:1.5rem;margin:0 0 .75rem}code{background:#eef0f3;border-radius:4px;padding:.05em .35em}
ol{padding-left:1.2rem}.muted{color:#5d6678;font-size:.9rem}
</style></head>
<body><main>
<h1>{{.Title}}</h1>
<p>You reached <code>{{.URL}}</code>, a host inside the location “{{.Location}}”. It is not on your network: this request went</p>
<ol>
<li>from your program to the Wicket client's SOCKS5 proxy,</li>
<li>through the WireGuard tunnel the client brought up after your second factor,</li>
<li>to the location's gateway in wicketd, which forwarded it to this page.</li>
</ol>
<p>Leave the tunnel idle for {{.Threshold}} and the server removes the peer; the next connection asks for a code again.</p>
<p class="muted">Visit {{.Visit}} · served at {{.Time}} by wicketd demo</p>
</main></body></html>
`))

func (in *Intranet) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, map[string]any{
		"Title": PageTitle, "URL": URL(), "Location": LocationName, "Threshold": humantime.Duration(Threshold),
		"Visit": in.visit.Add(1), "Time": time.Now().UTC().Format("15:04:05 UTC"),
	})
}
