package mail

import "net"

// TreatAsRemote makes s consider every server remote, so that the refusal to
// send credentials in plain text can be tested against a loopback server.
func TreatAsRemote(s *Sender) {
	s.isLoopback = func(net.Addr) bool { return false }
}
