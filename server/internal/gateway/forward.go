package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// DialFunc opens a host connection for a forwarded flow.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// udpIdle is how long a forwarded UDP flow lives without packets.
const udpIdle = 2 * time.Minute

// forwarder relays clients' TCP and UDP flows to destinations inside the
// location's allowed IPs through ordinary host sockets, and refuses the rest.
type forwarder struct {
	ctx     context.Context
	stack   *stack.Stack
	allowed []netip.Prefix
	self    netip.Addr
	dial    DialFunc
	log     *slog.Logger
}

func (f *forwarder) permits(a netip.Addr) bool {
	if a == f.self || !a.IsValid() {
		return false
	}
	for _, p := range f.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func addrOf(a tcpip.Address) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.AsSlice())
	return ip.Unmap()
}

func (f *forwarder) tcp(r *tcp.ForwarderRequest) {
	id := r.ID()
	dst := addrOf(id.LocalAddress)
	if !f.permits(dst) {
		f.log.Debug("refused TCP flow outside the location's allowed IPs", "dst", dst, "port", id.LocalPort)
		r.Complete(true)
		return
	}
	target := net.JoinHostPort(dst.String(), strconv.Itoa(int(id.LocalPort)))
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	host, err := f.dial(ctx, "tcp", target)
	cancel()
	if err != nil {
		f.log.Debug("forwarded TCP dial failed", "dst", target, "err", err)
		r.Complete(true)
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		host.Close()
		r.Complete(true)
		return
	}
	r.Complete(false)
	client := gonet.NewTCPConn(&wq, ep)
	go splice(client, host)
}

// splice copies both ways until both directions end.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}

func (f *forwarder) udp(r *udp.ForwarderRequest) {
	id := r.ID()
	dst := addrOf(id.LocalAddress)
	if !f.permits(dst) {
		f.log.Debug("dropped UDP flow outside the location's allowed IPs", "dst", dst, "port", id.LocalPort)
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		return
	}
	client := gonet.NewUDPConn(&wq, ep)
	target := net.JoinHostPort(dst.String(), strconv.Itoa(int(id.LocalPort)))
	go func() {
		ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
		host, err := f.dial(ctx, "udp", target)
		cancel()
		if err != nil {
			client.Close()
			return
		}
		relayUDP(client, host)
	}()
}

// relayUDP copies datagrams both ways until the flow is idle for udpIdle.
func relayUDP(client, host net.Conn) {
	defer client.Close()
	defer host.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		buf := make([]byte, 65535)
		for {
			src.SetReadDeadline(time.Now().Add(udpIdle))
			n, err := src.Read(buf)
			if err != nil {
				break // idle, or one side closed
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go cp(host, client)
	go cp(client, host)
	<-done
}
