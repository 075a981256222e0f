package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/wicket-vpn/wicket/shared/hostname"
)

// A SOCKS5 server (RFC 1928) that supports what browsers and command-line
// tools use: no authentication and the CONNECT command, with IPv4, IPv6 and
// domain-name destinations. It is small enough to own rather than depend on
// a library, and it dials through the tunnel rather than the host.

const (
	socksVersion = 5

	socksNoAuth       = 0x00
	socksNoAcceptable = 0xff

	socksCmdConnect = 0x01

	socksAtypIPv4   = 0x01
	socksAtypDomain = 0x03
	socksAtypIPv6   = 0x04

	socksSucceeded           = 0x00
	socksGeneralFailure      = 0x01
	socksNotAllowed          = 0x02
	socksNetworkUnreachable  = 0x03
	socksHostUnreachable     = 0x04
	socksConnectionRefused   = 0x05
	socksTTLExpired          = 0x06
	socksCommandNotSupported = 0x07
	socksAddrNotSupported    = 0x08
)

// socksHandshakeTimeout bounds how long a client may take to say where it
// wants to go, so idle connections do not pile up.
const socksHandshakeTimeout = 30 * time.Second

type dialer interface {
	dial(ctx context.Context, host string, port uint16) (net.Conn, error)
}

type socksServer struct {
	ln   net.Listener
	d    dialer
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newSOCKSServer(ln net.Listener, d dialer, log *slog.Logger) *socksServer {
	ctx, stop := context.WithCancel(context.Background())
	return &socksServer{ln: ln, d: d, log: slogOrDiscard(log), ctx: ctx, stop: stop, conns: map[net.Conn]struct{}{}}
}

func (s *socksServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("SOCKS5 proxy stopped accepting", "err", err)
			}
			return
		}
		if !s.track(c, true) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(c, false)
			defer c.Close()
			s.handle(c)
		}()
	}
}

// track adds or removes a connection so close can end them all; it
// reports false once the server is closing.
func (s *socksServer) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.ctx.Err() != nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// close stops accepting, ends every open connection and waits for them.
func (s *socksServer) close() error {
	s.stop()
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *socksServer) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(socksHandshakeTimeout))
	host, port, err := socksHandshake(c)
	if err != nil {
		s.log.Debug("SOCKS5 handshake failed", "client", c.RemoteAddr(), "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, socksHandshakeTimeout)
	up, err := s.d.dial(ctx, host, port)
	cancel()
	if err != nil {
		s.log.Debug("SOCKS5 connect failed", "dest", net.JoinHostPort(host, fmt.Sprint(port)), "err", err)
		writeSOCKSReply(c, replyCode(err), netip.AddrPort{})
		return
	}
	defer up.Close()
	var bound netip.AddrPort
	if a, ok := up.LocalAddr().(*net.TCPAddr); ok {
		bound = a.AddrPort()
	}
	if err := writeSOCKSReply(c, socksSucceeded, bound); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	if !s.track(up, true) {
		return
	}
	defer s.track(up, false)
	pipe(c, up)
}

// socksHandshake reads the greeting and the request, answers the greeting,
// and returns the destination of a CONNECT. Errors after the greeting have
// been answered with a SOCKS reply already.
func socksHandshake(c net.Conn) (host string, port uint16, err error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return "", 0, err
	}
	if hdr[0] != socksVersion {
		return "", 0, fmt.Errorf("not SOCKS5 (version %d)", hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return "", 0, err
	}
	if !strings.ContainsRune(string(methods), socksNoAuth) {
		c.Write([]byte{socksVersion, socksNoAcceptable})
		return "", 0, errors.New("client offers no method without authentication")
	}
	if _, err := c.Write([]byte{socksVersion, socksNoAuth}); err != nil {
		return "", 0, err
	}
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return "", 0, err
	}
	if req[0] != socksVersion {
		return "", 0, fmt.Errorf("bad request version %d", req[0])
	}
	switch req[3] {
	case socksAtypIPv4:
		var a [4]byte
		if _, err := io.ReadFull(c, a[:]); err != nil {
			return "", 0, err
		}
		host = netip.AddrFrom4(a).String()
	case socksAtypIPv6:
		var a [16]byte
		if _, err := io.ReadFull(c, a[:]); err != nil {
			return "", 0, err
		}
		host = netip.AddrFrom16(a).String()
	case socksAtypDomain:
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return "", 0, err
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(c, name); err != nil {
			return "", 0, err
		}
		host = string(name)
	default:
		writeSOCKSReply(c, socksAddrNotSupported, netip.AddrPort{})
		return "", 0, fmt.Errorf("address type %d not supported", req[3])
	}
	var p [2]byte
	if _, err := io.ReadFull(c, p[:]); err != nil {
		return "", 0, err
	}
	if req[1] != socksCmdConnect {
		writeSOCKSReply(c, socksCommandNotSupported, netip.AddrPort{})
		return "", 0, fmt.Errorf("command %d not supported (only CONNECT)", req[1])
	}
	// A name that cannot be a host is refused here rather than handed to
	// a resolver; some clients send IP literals as names, which is fine.
	if req[3] == socksAtypDomain {
		if _, err := netip.ParseAddr(host); err != nil && !hostname.Valid(host) {
			writeSOCKSReply(c, socksHostUnreachable, netip.AddrPort{})
			return "", 0, fmt.Errorf("%q is not a host name", host)
		}
	}
	return host, binary.BigEndian.Uint16(p[:]), nil
}

func writeSOCKSReply(c net.Conn, code byte, bound netip.AddrPort) error {
	b := []byte{socksVersion, code, 0}
	a := bound.Addr().Unmap()
	switch {
	case a.Is4():
		b = append(b, socksAtypIPv4)
		b = append(b, a.AsSlice()...)
	case a.Is6():
		b = append(b, socksAtypIPv6)
		b = append(b, a.AsSlice()...)
	default:
		b = append(b, socksAtypIPv4, 0, 0, 0, 0)
	}
	b = binary.BigEndian.AppendUint16(b, bound.Port())
	_, err := c.Write(b)
	return err
}

// replyCode maps a dial error to the closest SOCKS5 reply, so the client
// program can tell a refused port from an unreachable network.
func replyCode(err error) byte {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errNotRouted):
		return socksNotAllowed
	case errors.Is(err, syscall.ECONNREFUSED):
		return socksConnectionRefused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), isTimeout(err):
		return socksTTLExpired
	case errors.Is(err, syscall.EHOSTUNREACH):
		return socksHostUnreachable
	case errors.Is(err, syscall.ENETUNREACH):
		return socksNetworkUnreachable
	case errors.As(err, &dnsErr):
		// The name did not resolve (a DNS timeout was answered above).
		return socksHostUnreachable
	}
	if code, ok := netstackReply(err); ok {
		return code
	}
	return socksGeneralFailure
}

// netstackReplies maps the errors of the tunnel's network stack to
// replies. gVisor's gonet adapter hands a failed connect on as a
// *net.OpError whose Err is errors.New of the tcpip error's String, so the
// error's type is gone and its text, as gVisor itself writes it, is what
// is left to recognise it by.
var netstackReplies = map[string]byte{
	(&tcpip.ErrConnectionRefused{}).String():  socksConnectionRefused,
	(&tcpip.ErrTimeout{}).String():            socksTTLExpired,
	(&tcpip.ErrHostUnreachable{}).String():    socksHostUnreachable,
	(&tcpip.ErrNetworkUnreachable{}).String(): socksNetworkUnreachable,
}

// isTimeout reports whether err, or an error it wraps, says it is a
// timeout the way net.Error does.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func netstackReply(err error) (byte, bool) {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "connect" || op.Err == nil {
		return 0, false
	}
	code, ok := netstackReplies[op.Err.Error()]
	return code, ok
}

// pipe copies both ways until either side is done, then closes both.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Half-close where possible so request/response protocols finish.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
}
