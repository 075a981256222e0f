package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	v1 "github.com/wicket-vpn/wicket/proto/gen/wicket/v1"
	"github.com/wicket-vpn/wicket/proto/gen/wicket/v1/wicketv1connect"
	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/servertest"
	"github.com/wicket-vpn/wicket/server/internal/tlscert"
)

// gzipZeros is a gzip file of mib MiB of zeros, made of one-MiB members (a
// gzip file may hold several; it decompresses as their concatenation), so
// the test need not compress a gigabyte. Deflate shrinks zeros about a
// thousand times: a GiB is about a megabyte.
func gzipZeros(t *testing.T, mib int) []byte {
	t.Helper()
	var one bytes.Buffer
	zw, err := gzip.NewWriterLevel(&one, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(make([]byte, 1<<20))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.Repeat(one.Bytes(), mib)
}

// letters reads as n bytes of 'a' without holding them.
type letters struct{ n int64 }

func (l *letters) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), l.n)]
	for i := range p {
		p[i] = 'a'
	}
	l.n -= int64(len(p))
	return len(p), nil
}

// heap reads the bytes allocated so far and, after collecting garbage, the
// bytes of live objects.
func heap() (allocated, live uint64) {
	runtime.GC()
	runtime.GC() // a second cycle empties the pools' victim caches
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// TestBodyBombsRefused throws what an attacker without an account can send
// at Login: gzip bombs (a GiB of zeros in a megabyte, over the body limit;
// 900 MiB in 0.95 MB, under it, so only decompression can stop it) as
// Connect JSON and binary, and 50 MB of plain JSON. Each is refused with
// ResourceExhausted while the server allocates a few MB at most and keeps
// nothing; the bomb under the limit is refused without being decompressed
// whole: it costs less CPU than decompressing half of it.
func TestBodyBombsRefused(t *testing.T) {
	s := servertest.New(t)
	over, under := gzipZeros(t, 1024), gzipZeros(t, 900)
	t.Logf("gzip of 1 GiB of zeros: %d bytes; of 900 MiB: %d bytes", len(over), len(under))

	// What decompressing half of the smaller bomb costs here.
	half := cpuTime()
	zr, err := gzip.NewReader(bytes.NewReader(under[:len(under)/2]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		t.Fatal(err)
	}
	half = cpuTime() - half

	cases := []struct {
		name, contentType, encoding string
		body                        func() io.Reader
		inflates                    bool
	}{
		{"gzip bomb over the body limit, JSON", "application/json", "gzip", func() io.Reader { return bytes.NewReader(over) }, false},
		{"gzip bomb over the body limit, proto", "application/proto", "gzip", func() io.Reader { return bytes.NewReader(over) }, false},
		{"gzip bomb under the body limit, JSON", "application/json", "gzip", func() io.Reader { return bytes.NewReader(under) }, true},
		{"gzip bomb under the body limit, proto", "application/proto", "gzip", func() io.Reader { return bytes.NewReader(under) }, true},
		{"50 MB of JSON", "application/json", "", func() io.Reader {
			return io.MultiReader(strings.NewReader(`{"username":"`), &letters{50 << 20}, strings.NewReader(`","password":"x"}`))
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(servertest.Ctx(t), http.MethodPost, s.URL+"/wicket.v1.AccountService/Login", c.body())
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.contentType)
			req.Header.Set("Connect-Protocol-Version", "1")
			if c.encoding != "" {
				req.Header.Set("Content-Encoding", c.encoding)
			}
			allocated0, live0 := heap()
			cpu0 := cpuTime()
			resp, err := s.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			cpu := cpuTime() - cpu0
			allocated1, live1 := heap()
			var e struct{ Code, Message string }
			json.Unmarshal(answer, &e)
			t.Logf("HTTP %d %s %q; allocated %.1f MB, live heap %+.1f MB, CPU %v (half decompressed here: %v)",
				resp.StatusCode, e.Code, e.Message, mb(allocated1-allocated0), mb(live1)-mb(live0), cpu, half)
			if e.Code != "resource_exhausted" {
				t.Errorf("answer %d %q, want resource_exhausted", resp.StatusCode, answer)
			}
			if a := allocated1 - allocated0; a > 16<<20 {
				t.Errorf("the request made the server allocate %.1f MB", mb(a))
			}
			if live1 > live0+4<<20 {
				t.Errorf("the live heap grew by %.1f MB", mb(live1)-mb(live0))
			}
			if c.inflates && half > 0 && cpu > half {
				t.Errorf("refusing the bomb took %v of CPU, more than decompressing half of it (%v)", cpu, half)
			}
		})
	}

	// The server still answers.
	s.AdminToken()
}

func mb(n uint64) float64 { return float64(n) / 1e6 }

// short are deadlines a test can wait out.
var short = daemon.Timeouts{Read: 300 * time.Millisecond, Write: 300 * time.Millisecond}

// trickleHTTP1 sends Login's headers over HTTP/1.1 with a body announced
// at 100 kB, then trickles it a byte every 20 ms. It returns once the server
// closes the connection, failing the test when the server still reads after
// 15 s.
func trickleHTTP1(t *testing.T, s *servertest.Server) {
	t.Helper()
	cfg := tlscert.PinnedConfig(s.Daemon.Fingerprint)
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.URL, "https://"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /wicket.v1.AccountService/Login HTTP/1.1\r\nHost: wicket\r\nContent-Type: application/json\r\nConnect-Protocol-Version: 1\r\nContent-Length: 100000\r\n\r\n{")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	answer, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still reads a trickled body after 15 s")
	}
	t.Logf("HTTP/1.1: the server closed the connection (%v) after answering %q", err, firstLine(answer))
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\r\n")
	return line
}

// TestSlowBodyCutOff trickles a request body, over HTTP/1.1 and over
// HTTP/2: the server's read deadline ends the request instead of letting
// the client hold the connection (or stream) and its buffers for as long as
// it likes.
func TestSlowBodyCutOff(t *testing.T) {
	s := servertest.New(t, servertest.WithTimeouts(daemon.Timeouts{Read: 300 * time.Millisecond, Write: 2 * time.Second}))
	trickleHTTP1(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/wicket.v1.AccountService/Login", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pw.Write([]byte("{"))
		for range tick.C {
			if _, err := pw.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	resp, err := s.HTTP.Do(req)
	if ctx.Err() != nil {
		t.Fatalf("the server still reads a trickled HTTP/2 body after 15 s")
	}
	if err != nil {
		t.Logf("HTTP/2: the server ended the stream: %v", err)
		return
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("the request went over %s, not HTTP/2", resp.Proto)
	}
	t.Logf("HTTP/2: the server answered %s", resp.Status)
}

// TestStreamsOutliveDeadlines keeps instance watches open, over HTTP/2 and
// over HTTP/1.1, past the read and write deadlines that cut a slow body
// off: they still get the next change.
func TestStreamsOutliveDeadlines(t *testing.T) {
	s := servertest.New(t)
	u := s.CreateUser("alice")
	d := s.Enroll(u, "laptop")
	admin := s.AdminToken()
	s.RestartWith(servertest.WithTimeouts(short))

	h2 := openWatch(t, s, d.Token, d.Instance.ConfigVersion)
	cfg := tlscert.PinnedConfig(s.Daemon.Fingerprint)
	cfg.NextProtos = []string{"http/1.1"}
	h1client := wicketv1connect.NewClientServiceClient(&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, s.URL)
	stream, err := h1client.WatchInstance(servertest.Ctx(t), servertest.Req("", &v1.WatchInstanceRequest{DeviceToken: d.Token, KnownConfigVersion: d.Instance.ConfigVersion}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Close() })
	h1 := &instanceWatch{t: t, stream: stream}
	checkWatchers(t, s, 2)

	// Cut off after the read deadline, which is as long as the write
	// deadline: both have passed for the watches, opened before.
	trickleHTTP1(t, s)

	if _, err := s.Admin.CreateLocation(servertest.Ctx(t), servertest.Req(admin, &v1.CreateLocationRequest{Location: &v1.Location{Name: "Office", Address: "10.10.0.1/24", Endpoint: "127.0.0.1:51820"}})); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name string
		*instanceWatch
	}{{"HTTP/2", h2}, {"HTTP/1.1", h1}} {
		if !w.stream.Receive() {
			t.Errorf("%s watch ended past the deadlines: %v", w.name, w.stream.Err())
		} else if inst := w.stream.Msg().Instance; inst.GetConfigVersion() <= d.Instance.ConfigVersion {
			t.Errorf("%s watch: %v", w.name, w.stream.Msg())
		}
	}
}
