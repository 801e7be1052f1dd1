package rawsock

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The socket error queue (MSG_ERRQUEUE, see ip(7) IP_RECVERR and the
// kernel's timestamping.rst) carries two things here: transmit
// timestamps of every socket, and the ICMP errors of a datagram ping
// socket, which, unlike a raw socket, never sees the error packets
// themselves.

// Origins of a struct sock_extended_err.
const (
	originICMP   = 2
	originICMP6  = 3
	originStamps = 4
)

// errEntry is one message read from the error queue.
type errEntry struct {
	origin     uint8
	typ, code  uint8
	info, data uint32 // ee_info (an MTU), ee_data (a timestamp key)
	offender   netip.Addr
	stamp      time.Time // the transmit timestamp
	kernelTime time.Time // when an ICMP error arrived
	dst        netip.Addr
	payload    []byte // the original datagram's payload (ICMP errors)
}

// readErrQueue reads one error-queue message without waiting.
func (s *sock) readErrQueue(buf []byte) (errEntry, bool) {
	s.emu.Lock()
	defer s.emu.Unlock()
	r := &s.er
	r.b, r.oobCap, r.flags = buf, len(r.oob), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT
	// Control, not Read: a reader may hold the read lock while it waits,
	// and this must not wait at all.
	cerr := s.rc.Control(r.now)
	r.b = nil
	if cerr != nil || r.err != nil {
		return errEntry{}, false
	}
	e := errEntry{dst: r.from.Unmap(), payload: buf[:min(r.n, len(buf))]}
	oob := r.oob[:r.oobn]
	for level, typ, data, rest, ok := nextControl(oob); ok; level, typ, data, rest, ok = nextControl(rest) {
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPING && len(data) >= 16:
			e.stamp = readTimespec(data)
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && len(data) >= 16:
			e.kernelTime = readTimespec(data)
		case (level == unix.IPPROTO_IP && typ == unix.IP_RECVERR || level == unix.IPPROTO_IPV6 && typ == unix.IPV6_RECVERR) && len(data) >= 16:
			ne := binary.NativeEndian
			e.origin, e.typ, e.code = data[4], data[5], data[6]
			e.info, e.data = ne.Uint32(data[8:12]), ne.Uint32(data[12:16])
			e.offender = sockaddrAddr(data[16:])
		}
	}
	return e, true
}

// sockaddrAddr reads the address of a struct sockaddr_in or sockaddr_in6.
func sockaddrAddr(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		if len(b) >= 8 {
			return netip.AddrFrom4([4]byte(b[4:8]))
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			return netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		}
	}
	return netip.Addr{}
}

// queued is an ICMP error taken from the error queue, rebuilt as the
// ICMP message a raw socket would have received.
type queued struct {
	b    []byte
	meta Meta
}

// drainErrQueue reads the error queue empty. ICMP errors are queued for
// ReadMsg; the transmit timestamp numbered key, if met, is returned;
// other timestamps came too late for their send and are dropped.
func (c *conn) drainErrQueue(key uint32, wantKey bool) time.Time {
	var found time.Time
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.errBuf == nil {
		c.errBuf = make([]byte, 1500)
	}
	for {
		e, ok := c.s.readErrQueue(c.errBuf)
		if !ok {
			return found
		}
		switch e.origin {
		case originStamps:
			if wantKey && e.data == key && !e.stamp.IsZero() {
				found = e.stamp
			}
		case originICMP, originICMP6:
			c.mu.Lock()
			c.errs = append(c.errs, queued{b: c.rebuildError(e), meta: Meta{Src: e.offender, TTL: -1, KernelTime: e.kernelTime}})
			c.nerrs.Store(int32(len(c.errs)))
			c.mu.Unlock()
		}
	}
}

// rebuildError turns an error-queue entry back into the ICMP error
// message it came from: its header, and a quote of the original datagram
// whose IP header is rebuilt from what the kernel kept (the protocol and
// the destination), so that package icmp matches it as any other.
func (c *conn) rebuildError(e errEntry) []byte {
	b := []byte{e.typ, e.code, 0, 0, 0, 0, 0, 0}
	if e.origin == originICMP && e.typ == 3 && e.code == 4 {
		binary.BigEndian.PutUint16(b[6:8], uint16(e.info)) // next-hop MTU
	}
	if e.origin == originICMP6 && e.typ == 2 {
		binary.BigEndian.PutUint32(b[4:8], e.info) // packet too big: MTU
	}
	if c.family == 4 {
		h := make([]byte, 20)
		h[0], h[9] = 0x45, 1
		binary.BigEndian.PutUint16(h[2:4], uint16(20+len(e.payload)))
		if e.dst.Is4() {
			d := e.dst.As4()
			copy(h[16:20], d[:])
		}
		b = append(b, h...)
	} else {
		h := make([]byte, 40)
		h[0], h[6] = 0x60, 58
		binary.BigEndian.PutUint16(h[4:6], uint16(len(e.payload)))
		d := e.dst.As16()
		copy(h[24:40], d[:])
		b = append(b, h...)
	}
	return append(b, e.payload...)
}

// popError returns a queued ICMP error, if any.
func (c *conn) popError(b []byte) (int, Meta, bool) {
	if c.nerrs.Load() == 0 {
		return 0, Meta{}, false // every read looks: no lock for the usual answer
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) == 0 {
		return 0, Meta{}, false
	}
	q := c.errs[0]
	c.errs = c.errs[1:]
	c.nerrs.Store(int32(len(c.errs)))
	return copy(b, q.b), q.meta, true
}

// pollFallbackSlice bounds each poll so Close is noticed promptly.
const pollFallbackSlice = 50 * time.Millisecond

// waitByPoll waits for a packet with ppoll(2) instead of the runtime's
// poller: for an unpolled socket (see Options.Unpolled), and as the
// fallback when the runtime refuses. It takes an epoll event that is
// only EPOLLERR — an error-queue message alone, such as a transmit
// timestamp or a ping socket's ICMP error — for a broken descriptor and
// fails reads with "not pollable" until another kind of event comes;
// ppoll has no such notion, so reads go on through it meanwhile. The
// read deadline and Close are looked at every pollFallbackSlice.
func (c *conn) waitByPoll(b []byte) (int, Meta, error) {
	for {
		if c.closed.Load() {
			return 0, Meta{}, c.opError("read", os.ErrClosed)
		}
		if n, m, ok := c.popError(b); ok {
			return n, m, nil
		}
		n, m, err := c.readMsg(b, true)
		if !errors.Is(err, ErrNoPacket) {
			return n, m, err
		}
		wait := pollFallbackSlice
		if dl, ok := c.readDeadline.Load().(time.Time); ok && !dl.IsZero() {
			left := time.Until(dl)
			if left <= 0 {
				return 0, Meta{}, c.opError("read", os.ErrDeadlineExceeded)
			}
			wait = min(wait, left)
		}
		revents, err := c.s.poll(unix.POLLIN, wait)
		if err != nil {
			if c.closed.Load() {
				err = os.ErrClosed
			}
			return 0, Meta{}, c.opError("read", err)
		}
		if revents&unix.POLLERR != 0 {
			c.drainErrQueue(0, false)
		}
	}
}
