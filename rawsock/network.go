package rawsock

import (
	"net/netip"
	"time"
)

// A Conn is what a probing engine needs of a raw IP or ICMP socket:
// *IPConn and *ICMPConn are Conns, and tests substitute fakes.
type Conn interface {
	// ReadMsg reads one packet (without its IP header) and what the
	// kernel says about it; it fails once the Conn is closed.
	ReadMsg(b []byte) (int, Meta, error)
	// WriteToTTL sends b to dst with time to live ttl (0 keeps the
	// socket's) and returns the kernel's transmit time, or the zero
	// Time when there is none.
	WriteToTTL(b []byte, dst netip.Addr, ttl int) (time.Time, error)
	Close() error
}

var (
	_ Conn = (*IPConn)(nil)
	_ Conn = (*ICMPConn)(nil)
)

// A Network opens sockets and answers routing questions. System is the
// kernel's; an engine's tests give it a simulated one, so that its logic
// runs without privilege or a lab.
type Network interface {
	ListenICMP(ICMPConfig) (Conn, error)
	ListenIP(IPConfig) (Conn, error)
	// SourceFor is the address packets to dst leave from (src itself
	// when valid).
	SourceFor(dst netip.Addr, iface string, src netip.Addr) (netip.Addr, error)
	// RouteMTU is the MTU of the route to dst.
	RouteMTU(dst netip.Addr, iface string) (int, error)
}

// System is the kernel's network, in the calling thread's namespace.
var System Network = systemNetwork{}

type systemNetwork struct{}

func (systemNetwork) ListenICMP(cfg ICMPConfig) (Conn, error) {
	c, err := ListenICMP(cfg)
	if err != nil {
		return nil, err // not a non-nil interface around a nil *ICMPConn
	}
	return c, nil
}

func (systemNetwork) ListenIP(cfg IPConfig) (Conn, error) {
	c, err := ListenIP(cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (systemNetwork) SourceFor(dst netip.Addr, iface string, src netip.Addr) (netip.Addr, error) {
	return SourceFor(dst, iface, src)
}

func (systemNetwork) RouteMTU(dst netip.Addr, iface string) (int, error) {
	return RouteMTU(dst, iface)
}
