package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

const nicID = 1

// netTUN is a TUN device backed by a userspace TCP/IP stack. Unlike
// wireguard-go's own netstack package it accepts packets for any
// destination, so that the gateway can forward clients' connections.
type netTUN struct {
	ep       *channel.Endpoint
	stack    *stack.Stack
	events   chan tun.Event
	incoming chan *buffer.View
	notify   *channel.NotificationHandle
	mtu      int
	cancel   context.CancelFunc
}

// newNetTUN makes a userspace TUN that owns addr (the location's gateway
// address) and hands every other TCP and UDP flow to fwd.
func newNetTUN(addr netip.Prefix, mtu int, fwd *forwarder) (*netTUN, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		// Not HandleLocal: in promiscuous mode it would take every source
		// address for one of its own and drop the packet.
		HandleLocal: false,
	})
	ctx, cancel := context.WithCancel(context.Background())
	t := &netTUN{
		ep:       channel.New(1024, uint32(mtu), ""),
		stack:    s,
		events:   make(chan tun.Event, 4),
		incoming: make(chan *buffer.View),
		mtu:      mtu,
		cancel:   cancel,
	}
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	t.notify = t.ep.AddNotify(t)
	if err := s.CreateNIC(nicID, t.ep); err != nil {
		cancel()
		return nil, fmt.Errorf("create userspace interface: %v", err)
	}
	proto := ipv4.ProtocolNumber
	if addr.Addr().Is6() {
		proto = ipv6.ProtocolNumber
	}
	if err := s.AddProtocolAddress(nicID, tcpip.ProtocolAddress{
		Protocol:          proto,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFromSlice(addr.Addr().AsSlice()), PrefixLen: addr.Bits()},
	}, stack.AddressProperties{}); err != nil {
		cancel()
		return nil, fmt.Errorf("assign %s: %v", addr, err)
	}
	s.AddRoute(tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: nicID})
	s.AddRoute(tcpip.Route{Destination: header.IPv6EmptySubnet, NIC: nicID})
	// Accept packets for addresses the stack does not own and answer from
	// them: that is how a flow to a host behind the gateway reaches the
	// forwarder.
	s.SetPromiscuousMode(nicID, true)
	s.SetSpoofing(nicID, true)
	if fwd != nil {
		fwd.ctx = ctx
		fwd.stack = s
		tf := tcp.NewForwarder(s, 0, 2048, fwd.tcp)
		s.SetTransportProtocolHandler(tcp.ProtocolNumber, tf.HandlePacket)
		uf := udp.NewForwarder(s, fwd.udp)
		s.SetTransportProtocolHandler(udp.ProtocolNumber, uf.HandlePacket)
	}
	t.events <- tun.EventUp
	return t, nil
}

func (t *netTUN) Name() (string, error)    { return "wicket-netstack", nil }
func (t *netTUN) File() *os.File           { return nil }
func (t *netTUN) Events() <-chan tun.Event { return t.events }
func (t *netTUN) MTU() (int, error)        { return t.mtu, nil }
func (t *netTUN) BatchSize() int           { return 1 }

func (t *netTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	v, ok := <-t.incoming
	if !ok {
		return 0, os.ErrClosed
	}
	n, err := v.Read(bufs[0][offset:])
	v.Release()
	if err != nil {
		return 0, err
	}
	sizes[0] = n
	return 1, nil
}

func (t *netTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		pkt := b[offset:]
		if len(pkt) == 0 {
			continue
		}
		pb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(pkt)})
		switch pkt[0] >> 4 {
		case 4:
			t.ep.InjectInbound(header.IPv4ProtocolNumber, pb)
		case 6:
			t.ep.InjectInbound(header.IPv6ProtocolNumber, pb)
		default:
			pb.DecRef()
			return 0, syscall.EAFNOSUPPORT
		}
	}
	return len(bufs), nil
}

// WriteNotify moves a packet the stack sent towards WireGuard.
func (t *netTUN) WriteNotify() {
	pkt := t.ep.Read()
	if pkt == nil {
		return
	}
	v := pkt.ToView()
	pkt.DecRef()
	t.incoming <- v
}

func (t *netTUN) Close() error {
	t.cancel()
	t.stack.RemoveNIC(nicID)
	t.stack.Close()
	t.ep.RemoveNotify(t.notify)
	t.ep.Close()
	close(t.events)
	close(t.incoming)
	return nil
}
