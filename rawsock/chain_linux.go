package rawsock

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A chain: a flood's probes, each sent when the read behind the one
// before found a datagram, in one io_uring_enter. The ring runs
// send, read, send, read, ... as linked operations (IOSQE_IO_LINK): a
// read that finds nothing queued fails, and the kernel cancels the
// sends behind it, so no probe goes out before the last one's answer
// came, as iputils' flood waits. On a fast path (veth, loopback) the
// answer is queued within its send, and sixteen probes cost one system
// call where iputils makes thirty-two. Each send names its transmit
// timestamp (SCM_TS_OPT_ID, Linux 6.13), and reads of the error queue,
// linked behind the last read whatever its result (IOSQE_IO_HARDLINK),
// fetch them in the same call: a probe's RTT runs from the kernel's
// transmit timestamp to its receive timestamp, the same measure as a
// probe sent alone.

const (
	// uringChainMax is the most probes of a chain: three operations
	// each in a ring of uringEntries.
	uringChainMax = 16
	// Operation numbers: sendRecvNow's 1 and 2, a chain's sends, reads
	// and reads of the error queue.
	uringChainSend = 3
	uringChainRecv = uringChainSend + uringChainMax
	uringChainErrq = uringChainRecv + uringChainMax
	uringResults   = uringChainErrq + uringChainMax
)

// uringChain is a chain's arguments, kept on the heap while the kernel
// reads them.
type uringChain struct {
	send, recv, errq [uringChainMax]unix.Msghdr
	sendIov, recvIov [uringChainMax]unix.Iovec
	from             [uringChainMax]unix.RawSockaddrAny
	oob, errOOB      [uringChainMax][256]byte
	txID             [uringChainMax][24]byte // a cmsghdr and its SCM_TS_OPT_ID
}

// PrepareChain readies WriteChain, and returns the most probes a chain
// sends: 0 when it cannot, and WriteChain is not to be called. It needs
// a raw socket with transmit timestamps, io_uring, and Linux 6.13 or
// later (SCM_TS_OPT_ID).
func (c *conn) PrepareChain() int {
	if !c.raw || !c.txStamps || c.closed.Load() || !kernelAtLeast(6, 13) || !c.s.openRing() {
		return 0
	}
	if c.chainKey == 0 {
		// Far from the kernel's own count, which numbers the stamps of
		// the sends made without a chain (a full send buffer's, a
		// fallback's): a late one of those is never taken for a chained
		// probe's.
		c.chainKey = 1 << 31
	}
	return uringChainMax
}

// WriteChain sends ps[0].B to dst and reads what is queued; while each
// read finds a datagram, it sends the next probe and reads again; then
// it reads the transmit timestamps. All in one system call, after
// PrepareChain. It returns how many probes it sent: ps[:n] hold the
// results, and a probe after them was not sent. A failed send ends the
// chain, as does a read that found nothing.
func (c *conn) WriteChain(dst netip.Addr, ps []ChainProbe) int {
	ps = ps[:min(len(ps), uringChainMax)]
	if len(ps) == 0 {
		return 0
	}
	s := c.s
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.nmu.Lock()
	defer s.nmu.Unlock()
	if s.ring == nil || c.closed.Load() {
		return c.chainByCalls(dst, ps)
	}
	u := s.ring
	key := c.chainKey
	var ok bool
	if u.fixed {
		// As in sendRecvNow: a registered socket is the ring's own.
		ok = u.sendChain(0, dst, ps, key)
	} else if s.rc.Control(func(fd uintptr) { ok = u.sendChain(int(fd), dst, ps, key) }) != nil {
		return c.chainByCalls(dst, ps) // closed: its send says so
	}
	if !ok {
		s.closeRingLocked()
		return c.chainByCalls(dst, ps)
	}
	n := 0
	for i := range ps {
		p := &ps[i]
		if !p.Sent {
			break
		}
		n++
		if i == 0 && errors.Is(p.WErr, unix.EAGAIN) {
			// The send buffer is full: the ordinary send waits for room.
			s.nmu.Unlock()
			p.WErr = s.sendtoLocked(p.B, dst, 0, 0)
			s.nmu.Lock()
		}
		p.WErr = c.opError("write", p.WErr)
		switch {
		case p.RErr == nil:
			p.N, p.Meta, p.RErr = c.finishRead(p.RB, p.N, u.chain.oob[i][:u.chain.recv[i].Controllen], rawSockaddrAddr(&u.chain.from[i]), Meta{TTL: -1})
		case p.RErr != ErrNoPacket:
			p.RErr = c.opError("read", p.RErr)
		}
	}
	c.chainKey += uint32(n)
	return n
}

// chainByCalls is WriteChain without a ring: one probe, sent and read
// in two calls.
func (c *conn) chainByCalls(dst netip.Addr, ps []ChainProbe) int {
	p := &ps[0]
	*p = ChainProbe{B: p.B, RB: p.RB, Sent: true}
	if err := c.s.sendtoLocked(p.B, dst, 0, 0); err != nil {
		p.WErr = c.opError("write", err)
		p.RErr = ErrNoPacket
		return 1
	}
	// Its timestamp is numbered by the kernel's count, not ours: it is
	// let go, and the probe's RTT is taken from our clock.
	c.drainErrQueue(0, false)
	var oob [256]byte
	n, oobn, from, err := c.s.recvmsgNowLocked(p.RB, oob[:])
	switch {
	case err == unix.EAGAIN:
		p.RErr = ErrNoPacket
	case err != nil:
		p.RErr = c.opError("read", err)
	default:
		p.N, p.Meta, p.RErr = c.finishRead(p.RB, n, oob[:oobn], from, Meta{TTL: -1})
	}
	return 1
}

// sendChain queues and runs a chain (see WriteChain) on the socket fd
// (its index when registered); transmit timestamps are numbered from
// key. It fills in ps' Sent, WErr, N and RErr (nil: a datagram was
// read, its control messages in u.chain.oob) and Stamp; false when the
// ring failed.
func (u *uring) sendChain(fd int, to netip.Addr, ps []ChainProbe, key uint32) bool {
	if u.chain == nil {
		u.chain = new(uringChain)
	}
	ch := u.chain
	k := len(ps)
	for i := range ps {
		p := &ps[i]
		*p = ChainProbe{B: p.B, RB: p.RB}
		ch.sendIov[i] = unix.Iovec{}
		if len(p.B) > 0 {
			ch.sendIov[i].Base = &p.B[0]
			ch.sendIov[i].SetLen(len(p.B))
		}
		ch.send[i] = unix.Msghdr{Iov: &ch.sendIov[i]}
		ch.send[i].SetIovlen(1)
		u.setTo(&ch.send[i], to, 0)
		// struct cmsghdr, then the timestamp's number.
		id := ch.txID[i][:]
		ne := binary.NativeEndian
		ne.PutUint64(id[0:8], uint64(unix.CmsgLen(4)))
		ne.PutUint32(id[8:12], unix.SOL_SOCKET)
		ne.PutUint32(id[12:16], unix.SCM_TS_OPT_ID)
		ne.PutUint32(id[16:20], key+uint32(i))
		ch.send[i].Control = &id[0]
		ch.send[i].SetControllen(unix.CmsgSpace(4))

		ch.recvIov[i] = unix.Iovec{}
		if len(p.RB) > 0 {
			ch.recvIov[i].Base = &p.RB[0]
			ch.recvIov[i].SetLen(len(p.RB))
		}
		ch.recv[i] = unix.Msghdr{Iov: &ch.recvIov[i], Name: (*byte)(unsafe.Pointer(&ch.from[i])), Namelen: unix.SizeofSockaddrAny}
		ch.recv[i].SetIovlen(1)
		ch.recv[i].Control = &ch.oob[i][0]
		ch.recv[i].SetControllen(len(ch.oob[i]))

		ch.errq[i] = unix.Msghdr{Control: &ch.errOOB[i][0]}
		ch.errq[i].SetControllen(len(ch.errOOB[i]))
	}
	for i := range k {
		u.push(fd, uringOpSendmsg, &ch.send[i], unix.MSG_DONTWAIT, uint64(uringChainSend+i), uringSqeLink)
		link := uint8(uringSqeLink)
		if i == k-1 {
			link = uringSqeHardLink // the timestamps are read whatever this read finds
		}
		u.push(fd, uringOpRecvmsg, &ch.recv[i], unix.MSG_TRUNC|unix.MSG_DONTWAIT, uint64(uringChainRecv+i), link)
	}
	for i := range k {
		link := uint8(uringSqeHardLink)
		if i == k-1 {
			link = 0
		}
		u.push(fd, uringOpRecvmsg, &ch.errq[i], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT, uint64(uringChainErrq+i), link)
	}
	if !u.reap(3 * k) {
		return false
	}
	sent := 0
	for i := range ps {
		p := &ps[i]
		sres, rres := u.res[uringChainSend+i], u.res[uringChainRecv+i]
		if sres == -int32(unix.ECANCELED) || sres == -int32(unix.EAGAIN) && i > 0 {
			break // not sent (a full send buffer ends the chain too)
		}
		p.Sent = true
		sent++
		if sres < 0 {
			p.WErr = os.NewSyscallError("sendmsg", unix.Errno(-sres))
		}
		switch {
		case rres >= 0:
			p.N = min(int(rres), len(p.RB))
		case rres == -int32(unix.EAGAIN) || rres == -int32(unix.ECANCELED):
			p.RErr = ErrNoPacket
		default:
			p.RErr = os.NewSyscallError("recvmsg", unix.Errno(-rres))
		}
	}
	errqRead := u.res[uringChainErrq] != -int32(unix.ECANCELED)
	if !errqRead && sent > 0 {
		// The chain broke before its end, and its reads of the error
		// queue were cancelled with it: read the timestamps now.
		for i := range sent {
			ch.errq[i].SetControllen(len(ch.errOOB[i]))
			link := uint8(uringSqeHardLink)
			if i == sent-1 {
				link = 0
			}
			u.push(fd, uringOpRecvmsg, &ch.errq[i], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT, uint64(uringChainErrq+i), link)
		}
		if !u.reap(sent) {
			return false
		}
		errqRead = true
	}
	for i := range k {
		if !errqRead || u.res[uringChainErrq+i] < 0 {
			break
		}
		stamp, id, ok := txStampOf(ch.errOOB[i][:ch.errq[i].Controllen])
		if ok && id-key < uint32(sent) {
			ps[id-key].Stamp = stamp
		}
	}
	for i := range k {
		ch.sendIov[i].Base, ch.recvIov[i].Base = nil, nil // keep no buffer alive
	}
	return true
}

// txStampOf reads a transmit timestamp and its number from the control
// messages of an error-queue read.
func txStampOf(oob []byte) (stamp time.Time, id uint32, ok bool) {
	var isStamp bool
	for level, typ, data, rest, more := nextControl(oob); more; level, typ, data, rest, more = nextControl(rest) {
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPING && len(data) >= 16:
			stamp = readTimespec(data)
		case (level == unix.IPPROTO_IP && typ == unix.IP_RECVERR || level == unix.IPPROTO_IPV6 && typ == unix.IPV6_RECVERR) && len(data) >= 16:
			isStamp = data[4] == originStamps
			id = binary.NativeEndian.Uint32(data[12:16])
		}
	}
	return stamp, id, isStamp && !stamp.IsZero()
}

// kernelAtLeast reports whether the running kernel's release is at
// least major.minor.
func kernelAtLeast(major, minor int) bool {
	kernelVersion.once.Do(func() {
		var uts unix.Utsname
		if unix.Uname(&uts) != nil {
			return
		}
		parts := strings.SplitN(unix.ByteSliceToString(uts.Release[:]), ".", 3)
		if len(parts) < 2 {
			return
		}
		kernelVersion.major, _ = strconv.Atoi(parts[0])
		kernelVersion.minor, _ = strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	})
	return kernelVersion.major > major || kernelVersion.major == major && kernelVersion.minor >= minor
}

var kernelVersion struct {
	once         sync.Once
	major, minor int
}
