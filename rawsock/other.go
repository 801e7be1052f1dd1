//go:build !linux

package rawsock

import (
	"errors"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/net/bpf"
)

// rawkit's sockets are Linux's (packet(7) rings, ping sockets, the error
// queue, capabilities): elsewhere every constructor says so, and a tool
// exits 4. The pure packages (icmp, filter, probe, report) build and
// serve on any system.
var errNotLinux = errors.New("rawsock: rawkit's tools run on Linux only, not on " + runtime.GOOS)

type conn struct{}

func (c *conn) SetTTL(int) error { return errNotLinux }
func (c *conn) Family() int      { return 0 }
func (c *conn) WriteToTTL([]byte, netip.Addr, int) (time.Time, error) {
	return time.Time{}, errNotLinux
}
func (c *conn) ReadMsg([]byte) (int, Meta, error)        { return 0, Meta{}, errNotLinux }
func (c *conn) TryReadMsg([]byte) (int, Meta, error)     { return 0, Meta{}, errNotLinux }
func (c *conn) TryReadBatch(*Batch) (int, error)         { return 0, errNotLinux }
func (c *conn) WaitReadable(time.Duration) (bool, error) { return false, errNotLinux }

type batchSys struct{}

func newBatchSys(int) batchSys                   { return batchSys{} }
func (c *conn) Close() error                     { return nil }
func (c *conn) SetDeadline(time.Time) error      { return errNotLinux }
func (c *conn) SetReadDeadline(time.Time) error  { return errNotLinux }
func (c *conn) SetWriteDeadline(time.Time) error { return errNotLinux }
func (c *ICMPConn) WriteToAddr([]byte, netip.Addr) (time.Time, error) {
	return time.Time{}, errNotLinux
}
func (c *ICMPConn) Raw() bool                                        { return false }
func (c *ICMPConn) ID() int                                          { return 0 }
func (c *PacketConn) Cooked() bool                                   { return false }
func (c *PacketConn) Next(time.Duration) (Packet, bool, error)       { return Packet{}, false, errNotLinux }
func (c *PacketConn) NextBatch(time.Duration, []Packet) (int, error) { return 0, errNotLinux }
func (c *PacketConn) Stats() (uint64, uint64, error)                 { return 0, 0, errNotLinux }
func (c *PacketConn) Dropped() (uint64, error)                       { return 0, errNotLinux }
func (c *PacketConn) Close() error                                   { return nil }
func ListenICMP(ICMPConfig) (*ICMPConn, error)                       { return nil, errNotLinux }
func ListenIP(IPConfig) (*IPConn, error)                             { return nil, errNotLinux }
func ListenPacket(PacketConfig) (*PacketConn, error)                 { return nil, errNotLinux }
func SourceFor(netip.Addr, string, netip.Addr) (netip.Addr, error)   { return netip.Addr{}, errNotLinux }
func RouteMTU(netip.Addr, string) (int, error)                       { return 0, errNotLinux }
func AttachFilter(int, []bpf.Instruction) error                      { return errNotLinux }
func EffectiveCapabilities() (uint64, error)                         { return 0, errNotLinux }
func BecomeUser(string) (func() error, error)                        { return nil, errNotLinux }

// DropPrivileges has nothing to drop where no capability was used.
// CapSysPtrace is CAP_SYS_PTRACE's number.
const CapSysPtrace = 19

// DropPrivilegesExcept is DropPrivileges.
func DropPrivilegesExcept(...int) error { return DropPrivileges() }

func DropPrivileges() error {
	if dropDisabled {
		return nil
	}
	return errNotLinux
}

// ICMPConn is an ICMP socket (Linux only).
type ICMPConn struct{ conn }

// IPConn is a raw IP socket (Linux only).
type IPConn struct{ conn }

// PacketConn is a capture socket (Linux only).
type PacketConn struct{}

// InNetns is Linux's; elsewhere only "" (no namespace) runs f.
func InNetns(ns string, f func() error) error {
	if ns != "" {
		return errNotLinux
	}
	return f()
}

// EnterNetnsForGood is Linux's.
func EnterNetnsForGood(ns string) error {
	if ns != "" {
		return errNotLinux
	}
	return nil
}

// ErrNoSuchNamespace is Linux's.
var ErrNoSuchNamespace = errors.New("no such network namespace")

// LinkState is whether an interface's link is up (Linux only).
type LinkState int

// The link states.
const (
	LinkUnknown LinkState = iota
	LinkConnected
	LinkDisconnected
	LinkNotApplicable
)

// Link is LinkUnknown off Linux.
func Link(string, bool) LinkState { return LinkUnknown }
