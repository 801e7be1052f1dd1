package rawsock

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ICMPConn is an ICMP or ICMPv6 socket, raw or datagram. It implements
// net.PacketConn; ReadMsg adds what the kernel says about each packet.
// Reads return the ICMP message without its IP header.
type ICMPConn struct {
	conn
	id int
}

var _ net.PacketConn = (*ICMPConn)(nil)

// ListenICMP opens an ICMP socket as cfg describes. A socket the process
// may not open yields a *PrivilegeError.
func ListenICMP(cfg ICMPConfig) (*ICMPConn, error) {
	if cfg.Family != 4 && cfg.Family != 6 {
		return nil, fmt.Errorf("rawsock: family %d is neither 4 nor 6", cfg.Family)
	}
	var c *ICMPConn
	var err error
	switch cfg.Mode {
	case Privileged:
		c, err = openICMP(cfg, true)
	case Unprivileged:
		c, err = openICMP(cfg, false)
	default:
		c, err = openICMP(cfg, true)
		if isPermission(err) {
			c, err = openICMP(cfg, false)
		}
	}
	if isPermission(err) {
		what := "open an ICMP socket"
		switch cfg.Mode {
		case Privileged:
			what = "open a raw ICMP socket"
		case Unprivileged:
			what = "open an unprivileged ICMP socket"
		}
		// ping_group_range helps only a tool that may use a datagram
		// socket; one that needs a raw socket is told the capability.
		fix := FixPing()
		if cfg.Mode == Privileged {
			fix = FixRaw()
		}
		return nil, &PrivilegeError{Op: what, Fix: fix, Err: err}
	}
	return c, err
}

func openICMP(cfg ICMPConfig, raw bool) (*ICMPConn, error) {
	domain, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if cfg.Family == 6 {
		domain, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	typ := unix.SOCK_DGRAM
	if raw {
		typ = unix.SOCK_RAW
	}
	s, err := openSock(domain, typ, proto, cfg.Unpolled)
	if err != nil {
		return nil, err
	}
	c := &ICMPConn{conn: conn{s: s, family: cfg.Family, raw: raw, proto: proto}, id: cfg.ID & 0xffff}
	if err := c.configure(cfg); err != nil {
		s.file.Close()
		return nil, err
	}
	return c, nil
}

func (c *ICMPConn) configure(cfg ICMPConfig) error {
	// A datagram socket is bound even without a source, so that the
	// kernel assigns its identifier now and ID can report it.
	if err := c.configureCommon(cfg.Options, !c.raw); err != nil {
		return err
	}
	if c.raw {
		return c.attachFilter()
	}
	// A ping socket sees no ICMP error packets, only their report in the
	// error queue (ip(7), IP_RECVERR), which ReadMsg turns back into
	// messages.
	var err error
	if c.family == 4 {
		err = c.s.setInt(unix.IPPROTO_IP, unix.IP_RECVERR, 1, "IP_RECVERR")
	} else {
		err = c.s.setInt(unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1, "IPV6_RECVERR")
	}
	if err != nil {
		return err
	}
	sa, err := unix.Getsockname(c.s.fd)
	if err != nil {
		return os.NewSyscallError("getsockname", err)
	}
	_, c.id = addrOf(sa)
	return nil
}

func (c *conn) setPMTU(mode string) error {
	v4 := map[string]int{"do": unix.IP_PMTUDISC_DO, "dont": unix.IP_PMTUDISC_DONT, "want": unix.IP_PMTUDISC_WANT, "probe": unix.IP_PMTUDISC_PROBE}
	v6 := map[string]int{"do": unix.IPV6_PMTUDISC_DO, "dont": unix.IPV6_PMTUDISC_DONT, "want": unix.IPV6_PMTUDISC_WANT, "probe": unix.IPV6_PMTUDISC_PROBE}
	if c.family == 4 {
		v, ok := v4[mode]
		if !ok {
			return fmt.Errorf("rawsock: path MTU discovery mode %q is not do, dont, want or probe", mode)
		}
		return c.s.setInt(unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, v, "IP_MTU_DISCOVER")
	}
	v, ok := v6[mode]
	if !ok {
		return fmt.Errorf("rawsock: path MTU discovery mode %q is not do, dont, want or probe", mode)
	}
	return c.s.setInt(unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, v, "IPV6_MTU_DISCOVER")
}

// SetTTL sets the time to live or hop limit of later sends.
func (c *conn) SetTTL(ttl int) error {
	if c.family == 4 {
		return c.s.setInt(unix.IPPROTO_IP, unix.IP_TTL, ttl, "IP_TTL")
	}
	return c.s.setInt(unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl, "IPV6_UNICAST_HOPS")
}

// ICMP types and offsets the socket filter reads.
const (
	echoReply4   = 0
	echoReply6   = 129
	ipv4IHLByte  = 0
	icmpTypeOff  = 0
	icmpIDOffset = 4
)

// attachFilter installs a classic BPF program that passes echo replies
// carrying this socket's identifier and ICMP error messages, and drops
// everything else (echo requests, other pingers' replies, ...).
func (c *ICMPConn) attachFilter() error {
	var prog []bpf.Instruction
	if c.family == 4 {
		// A raw IPv4 socket's packets start at the IP header: X = IHL*4.
		// Echo and timestamp replies (0, 14) carrying the identifier.
		prog = []bpf.Instruction{
			bpf.LoadMemShift{Off: ipv4IHLByte},
			bpf.LoadIndirect{Off: icmpTypeOff, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: echoReply4, SkipTrue: 1},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 14, SkipFalse: 3},
			bpf.LoadIndirect{Off: icmpIDOffset, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(c.id), SkipFalse: 4},
			bpf.RetConstant{Val: 0xffff},
			// Errors: destination unreachable 3, source quench 4,
			// redirect 5, time exceeded 11, parameter problem 12.
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 3, SkipTrue: 3},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 11, SkipTrue: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 12, SkipTrue: 1},
			bpf.RetConstant{Val: 0},
			bpf.RetConstant{Val: 0xffff},
		}
	} else {
		// An ICMPv6 raw socket's packets start at the ICMPv6 header.
		prog = []bpf.Instruction{
			bpf.LoadAbsolute{Off: icmpTypeOff, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: echoReply6, SkipFalse: 3},
			bpf.LoadAbsolute{Off: icmpIDOffset, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(c.id), SkipFalse: 4},
			bpf.RetConstant{Val: 0xffff},
			// Errors are types 1 to 4 (RFC 4443 section 2.1).
			bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 4, SkipTrue: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
			bpf.RetConstant{Val: 0xffff},
			bpf.RetConstant{Val: 0},
		}
	}
	return AttachFilter(c.s.fd, prog)
}

// AttachFilter assembles prog and attaches it to the socket fd.
func AttachFilter(fd int, prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("rawsock: assemble filter: %w", err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	return nil
}

// Family returns 4 or 6.
func (c *conn) Family() int { return c.family }

// Raw reports whether this is a raw socket (as opposed to a datagram one).
func (c *ICMPConn) Raw() bool { return c.raw }

// ID returns the echo identifier replies must carry: the configured one
// on a raw socket, the kernel-assigned one on a datagram socket (which
// rewrites the identifier of every request it sends).
func (c *ICMPConn) ID() int { return c.id }

func (c *conn) network() string {
	return fmt.Sprintf("ip%d:%d", c.family, c.proto)
}

func (c *conn) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: c.network(), Err: err}
}

// WriteToAddr sends one ICMP message to dst and returns the kernel's
// software transmit timestamp of it, or the zero Time when the kernel
// gave none by the time the send returned.
func (c *ICMPConn) WriteToAddr(b []byte, dst netip.Addr) (time.Time, error) {
	return c.WriteToTTL(b, dst, 0)
}

// WriteToTTL is WriteToAddr with the time to live or hop limit of this
// one packet; 0 keeps the socket's.
func (c *conn) WriteToTTL(b []byte, dst netip.Addr, ttl int) (time.Time, error) {
	if err := c.s.sendto(b, dst, 0, ttl); err != nil {
		return time.Time{}, c.opError("write", err)
	}
	key := c.txKey
	c.txKey++
	if !c.txStamps {
		return time.Time{}, nil
	}
	return c.drainErrQueue(key, true), nil
}

// ReadMsg reads one ICMP message into b and returns its length and what
// the kernel says about it. On a raw IPv4 socket the IP header is removed
// and the TTL read from it.
func (c *conn) ReadMsg(b []byte) (int, Meta, error) {
	return c.readMsg(b, false)
}

// TryReadMsg is ReadMsg without waiting: when no packet is queued it
// returns ErrNoPacket at once. It may run while another goroutine waits
// in ReadMsg; each packet goes to one of them. A sender that expects its
// answer to be queued already (on a fast path the kernel delivers the
// reply within the send call) saves a goroutine hand-off with it.
func (c *conn) TryReadMsg(b []byte) (int, Meta, error) {
	return c.readMsg(b, true)
}

func (c *conn) readMsg(b []byte, now bool) (int, Meta, error) {
	if n, m, ok := c.popError(b); ok {
		return n, m, nil
	}
	var oob [256]byte
	m := Meta{TTL: -1}
	var n, oobn int
	var from netip.Addr
	var err error
	if now {
		n, oobn, from, err = c.s.recvmsgNow(b, oob[:])
		if err == unix.EAGAIN {
			if !c.raw {
				c.drainErrQueue(0, false)
				if n, m, ok := c.popError(b); ok {
					return n, m, nil
				}
			}
			return 0, m, ErrNoPacket
		}
	} else {
		var idle func() bool
		if !c.raw {
			// A ping socket's ICMP errors arrive in its error queue, which
			// the poller reports as readable: look there when the
			// ordinary queue is empty.
			idle = func() bool {
				c.drainErrQueue(0, false)
				c.mu.Lock()
				defer c.mu.Unlock()
				return len(c.errs) > 0
			}
		}
		if c.s.unpolled {
			return c.waitByPoll(b)
		}
		var idled bool
		n, oobn, from, idled, err = c.s.recvmsg(b, oob[:], idle)
		if idled {
			if n, m, ok := c.popError(b); ok {
				return n, m, nil
			}
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !c.closed.Load() {
			var se *os.SyscallError
			if !errors.As(err, &se) {
				// The runtime's poller refused (see waitByPoll).
				return c.waitByPoll(b)
			}
		}
	}
	if err != nil {
		return 0, m, c.opError("read", err)
	}
	return c.finishRead(b, n, oob[:oobn], from, m)
}

// finishRead fills in m from a datagram's control messages and sender,
// and on a raw IPv4 socket takes the IP header off b (reading the TTL).
func (c *conn) finishRead(b []byte, n int, oob []byte, from netip.Addr, m Meta) (int, Meta, error) {
	parseControl(oob, &m)
	m.Src = from.Unmap()
	if c.raw && c.family == 4 {
		if n < 20 {
			return 0, m, c.opError("read", errors.New("short IPv4 header"))
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || ihl > n {
			return 0, m, c.opError("read", errors.New("bad IPv4 header length"))
		}
		m.TTL = int(b[8])
		n = copy(b, b[ihl:n])
	}
	return n, m, nil
}

// ReadFrom implements net.PacketConn.
func (c *ICMPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, m, err := c.ReadMsg(b)
	if err != nil {
		return 0, nil, err
	}
	return n, &netAddr{network: c.network(), addr: m.Src}, nil
}

// WriteTo implements net.PacketConn; addr is a *net.IPAddr, *net.UDPAddr
// or any net.Addr whose String is an IP address.
func (c *ICMPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.IPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		ip, _ = netip.ParseAddr(addr.String())
	}
	if !ip.IsValid() {
		return 0, c.opError("write", fmt.Errorf("bad address %v", addr))
	}
	if _, err := c.WriteToAddr(b, ip.Unmap()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close closes the socket, unblocking any pending read.
func (c *conn) Close() error {
	c.closed.Store(true)
	err := c.s.file.Close()
	c.s.closeRing()
	return err
}

// PrepareWriteThenRead readies WriteToAddrThenTryRead's single system
// call (an io_uring of the socket) and reports whether it has one: only
// a raw socket, on a kernel that allows io_uring, does. Without,
// WriteToAddrThenTryRead makes two calls. It turns the socket's
// transmit timestamps off: reading one back would cost a call more a
// send, and a caller sending this way times its probes itself.
func (c *conn) PrepareWriteThenRead() bool {
	if c.txStamps && unix.SetsockoptInt(c.s.fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, 0) == nil {
		c.txStamps = false
	}
	if !c.raw || c.txStamps || c.closed.Load() {
		return false
	}
	return c.s.openRing()
}

// WriteToAddrThenTryRead is WriteToAddr and then TryReadMsg into rb, made
// in one system call once PrepareWriteThenRead has found the means
// (io_uring); otherwise in two. werr is the send's
// error, rerr the read's (ErrNoPacket when nothing was queued). A flood
// sends its next probe when the last is answered, and on a fast path the
// answer is queued before the send returns.
func (c *conn) WriteToAddrThenTryRead(b []byte, dst netip.Addr, rb []byte) (n int, m Meta, rerr, werr error) {
	if c.raw && !c.txStamps && !c.closed.Load() && c.nerrs.Load() == 0 {
		var oob [256]byte
		used, n, oobn, from, rerr, werr := c.s.sendRecvNow(b, dst, 0, rb, oob[:])
		if used {
			werr = c.opError("write", werr)
			m = Meta{TTL: -1}
			switch {
			case rerr == unix.EAGAIN:
				return 0, m, ErrNoPacket, werr
			case rerr != nil:
				return 0, m, c.opError("read", rerr), werr
			}
			n, m, rerr = c.finishRead(rb, n, oob[:oobn], from, m)
			return n, m, rerr, werr
		}
	}
	if _, werr = c.WriteToTTL(b, dst, 0); werr != nil {
		return 0, Meta{}, nil, werr
	}
	n, m, rerr = c.TryReadMsg(rb)
	return n, m, rerr, nil
}

// LocalAddr implements net.PacketConn.
func (c *ICMPConn) LocalAddr() net.Addr {
	sa, err := unix.Getsockname(c.s.fd)
	if err != nil {
		return nil
	}
	a, _ := addrOf(sa)
	return &netAddr{network: c.network(), addr: a}
}

// SetDeadline implements net.PacketConn.
func (c *conn) SetDeadline(t time.Time) error {
	c.readDeadline.Store(t)
	if c.s.unpolled {
		return nil // the waits read readDeadline
	}
	return c.s.file.SetDeadline(t)
}

// SetReadDeadline implements net.PacketConn; a past time unblocks a
// pending read with os.ErrDeadlineExceeded.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Store(t)
	if c.s.unpolled {
		return nil // the waits read readDeadline
	}
	return c.s.file.SetReadDeadline(t)
}

// SetWriteDeadline implements net.PacketConn.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if c.s.unpolled {
		return nil // an unpolled send waits for room until Close
	}
	return c.s.file.SetWriteDeadline(t)
}
