package rawsock

import (
	"net/netip"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A send and a read that does not wait, in one system call: io_uring
// (io_uring_setup(2), io_uring_enter(2)) with a sendmsg and a recvmsg
// submitted together, both not waiting (MSG_DONTWAIT), issued in order.
// A flood sends a probe when the last one is answered; on a fast path
// (veth, loopback) the kernel delivers the answer within the send, so
// the recvmsg right behind it finds it queued. One system call a probe
// where iputils makes two (sendto, recvmsg), on machines where a system
// call's entry and exit cost more than the work in it. (The ring's own
// descriptor is not registered, IORING_REGISTER_RING_FDS: a registration
// is the registering thread's, and a goroutine moves between threads.)

// io_uring's ABI (include/uapi/linux/io_uring.h).
const (
	uringOpSendmsg    = 9
	uringOpRecvmsg    = 10
	uringEnterGetEv   = 1 << 0 // IORING_ENTER_GETEVENTS
	uringFeatSingleMm = 1 << 0 // IORING_FEAT_SINGLE_MMAP
	uringSqeFixedFile = 1 << 0 // IOSQE_FIXED_FILE
	uringSqeLink      = 1 << 2 // IOSQE_IO_LINK: the next waits for this one, and is cancelled if it fails
	uringSqeHardLink  = 1 << 3 // IOSQE_IO_HARDLINK: the next waits for this one, whatever its result
	uringRegFiles     = 2      // IORING_REGISTER_FILES
	uringRegProbe     = 8      // IORING_REGISTER_PROBE
	uringOpSupported  = 1 << 0 // IO_URING_OP_SUPPORTED
	uringOffSQRing    = 0
	uringOffCQRing    = 0x8000000
	uringOffSQEs      = 0x10000000
	uringEntries      = 64 // a chain's 3 x uringChainMax operations fit
)

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	_                                                                      [3]uint32
	sq                                                                     struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, _ uint32
		_                                                           uint64
	}
	cq struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, _ uint32
		_                                                           uint64
	}
}

// uringSQE is struct io_uring_sqe (64 bytes) as a sendmsg or recvmsg
// uses it.
type uringSQE struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64 // the struct msghdr
	len      uint32 // 1
	msgFlags uint32
	userData uint64
	_        [3]uint64
}

// uringCQE is struct io_uring_cqe.
type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

type uringProbe struct {
	lastOp, opsLen uint8
	_              uint16
	_              [3]uint32
	ops            [64]struct {
		op, _ uint8
		flags uint16
		_     uint32
	}
}

// uring is one socket's ring and the arguments of its two operations,
// kept here, on the heap, while the kernel reads them.
type uring struct {
	fd    int
	fixed bool // the socket is registered: no file lookup an operation
	maps  [][]byte

	sqHead, sqTail, sqMask *uint32
	sqArray                []uint32
	sqes                   []uringSQE
	cqHead, cqTail, cqMask *uint32
	cqes                   []uringCQE

	// call is the operation under way, for RawConn.Control (now, bound
	// once) where the socket is not registered: the descriptor stays
	// open through it.
	call uringCall
	now  func(uintptr)

	send, recv       unix.Msghdr
	sendIov, recvIov unix.Iovec
	sa4              unix.RawSockaddrInet4
	sa6              unix.RawSockaddrInet6
	from             unix.RawSockaddrAny
	oob              [256]byte

	chain *uringChain // a chain's arguments, made on its first use
	// res is the result of each operation, by its number (reap).
	res [uringResults]int32
}

type uringCall struct {
	b, rb      []byte
	to         netip.Addr
	port       int
	n, oobn    int
	from       netip.Addr
	rerr, werr error
	ok         bool
}

func (u *uring) do(fd uintptr) {
	c := &u.call
	c.n, c.oobn, c.from, c.rerr, c.werr, c.ok = u.sendRecvNow(int(fd), c.b, c.to, c.port, c.rb)
}

// newUring sets up a ring of uringEntries for the socket fd; nil when
// the kernel has no io_uring, refuses it (kernel.io_uring_disabled, a
// seccomp filter) or lacks sendmsg and recvmsg on it.
func newUring(fd int) *uring {
	var p uringParams
	rfd, _, errno := unix.RawSyscall(unix.SYS_IO_URING_SETUP, uringEntries, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil
	}
	u := &uring{fd: int(rfd)}
	var probe uringProbe
	if _, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, rfd, uringRegProbe, uintptr(unsafe.Pointer(&probe)), uintptr(len(probe.ops)), 0, 0); errno != 0 ||
		probe.ops[uringOpSendmsg].flags&uringOpSupported == 0 || probe.ops[uringOpRecvmsg].flags&uringOpSupported == 0 {
		u.close()
		return nil
	}
	sqSize := int(p.sq.array + p.sqEntries*4)
	cqSize := int(p.cq.cqes + p.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	if p.features&uringFeatSingleMm != 0 {
		sqSize = max(sqSize, cqSize)
	}
	mmap := func(off int64, size int) unsafe.Pointer {
		m, err := unix.Mmap(u.fd, off, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil
		}
		u.maps = append(u.maps, m)
		return unsafe.Pointer(&m[0])
	}
	sq := mmap(uringOffSQRing, sqSize)
	cq := sq
	if p.features&uringFeatSingleMm == 0 && sq != nil {
		cq = mmap(uringOffCQRing, cqSize)
	}
	sqes := mmap(uringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(uringSQE{})))
	if sq == nil || cq == nil || sqes == nil {
		u.close()
		return nil
	}
	u.sqHead = (*uint32)(unsafe.Add(sq, p.sq.head))
	u.sqTail = (*uint32)(unsafe.Add(sq, p.sq.tail))
	u.sqMask = (*uint32)(unsafe.Add(sq, p.sq.ringMask))
	u.sqArray = unsafe.Slice((*uint32)(unsafe.Add(sq, p.sq.array)), p.sqEntries)
	u.sqes = unsafe.Slice((*uringSQE)(sqes), p.sqEntries)
	u.cqHead = (*uint32)(unsafe.Add(cq, p.cq.head))
	u.cqTail = (*uint32)(unsafe.Add(cq, p.cq.tail))
	u.cqMask = (*uint32)(unsafe.Add(cq, p.cq.ringMask))
	u.cqes = unsafe.Slice((*uringCQE)(unsafe.Add(cq, p.cq.cqes)), p.cqEntries)
	// A registered socket spares each operation the lookup and the
	// reference count of its file (atomic in a threaded process).
	fds := [1]int32{int32(fd)}
	_, _, errno = unix.Syscall6(unix.SYS_IO_URING_REGISTER, rfd, uringRegFiles, uintptr(unsafe.Pointer(&fds[0])), 1, 0, 0)
	u.fixed = errno == 0
	u.now = u.do
	u.send.Iov, u.recv.Iov = &u.sendIov, &u.recvIov
	u.send.SetIovlen(1)
	u.recv.SetIovlen(1)
	return u
}

func (u *uring) close() {
	for _, m := range u.maps {
		unix.Munmap(m)
	}
	u.maps = nil
	unix.Close(u.fd)
}

// push queues an operation on msg, numbered op; link is 0 or one of
// the link flags.
func (u *uring) push(fd int, opcode uint8, msg *unix.Msghdr, flags int, op uint64, link uint8) {
	tail := *u.sqTail
	i := tail & *u.sqMask
	e := uringSQE{opcode: opcode, flags: link, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(msg))), len: 1, msgFlags: uint32(flags), userData: op}
	if u.fixed {
		e.fd, e.flags = 0, link|uringSqeFixedFile
	}
	u.sqes[i] = e
	u.sqArray[i] = i
	atomic.StoreUint32(u.sqTail, tail+1)
}

// setTo makes msg's destination to and port.
func (u *uring) setTo(msg *unix.Msghdr, to netip.Addr, port int) {
	if to.Is4() || to.Is4In6() {
		u.sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: to.Unmap().As4()}
		setPort(&u.sa4.Port, port)
		msg.Name, msg.Namelen = (*byte)(unsafe.Pointer(&u.sa4)), unix.SizeofSockaddrInet4
	} else {
		u.sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: to.As16()}
		setPort(&u.sa6.Port, port)
		msg.Name, msg.Namelen = (*byte)(unsafe.Pointer(&u.sa6)), unix.SizeofSockaddrInet6
	}
}

// reap submits the operations queued and collects their results in
// u.res, by operation number, until want have completed; false when
// the ring failed. Every operation queued ends without waiting (a read
// finds nothing, a link is cancelled), so their completions follow at
// once.
func (u *uring) reap(want int) bool {
	for want > 0 {
		// What the kernel has not taken yet is submitted again (after a
		// signal interrupted the call, say).
		pending := *u.sqTail - atomic.LoadUint32(u.sqHead)
		_, _, errno := unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(u.fd), uintptr(pending), uintptr(want), uringEnterGetEv, 0, 0)
		if errno != 0 && errno != unix.EINTR && errno != unix.EAGAIN && errno != unix.EBUSY {
			return false
		}
		for head := *u.cqHead; head != atomic.LoadUint32(u.cqTail); head++ {
			c := u.cqes[head&*u.cqMask]
			if c.userData < uint64(len(u.res)) {
				u.res[c.userData] = c.res
				want--
			}
			atomic.StoreUint32(u.cqHead, head+1)
		}
	}
	return true
}

// sendRecvNow sends b to an address and port and then reads one queued
// datagram into rb and its control messages into u.oob, neither waiting.
// ok is false when the ring failed; then what became of the send is not
// known, and the ring is not to be used again.
func (u *uring) sendRecvNow(fd int, b []byte, to netip.Addr, port int, rb []byte) (n, oobn int, from netip.Addr, rerr, werr error, ok bool) {
	u.sendIov.Base, u.sendIov.Len = nil, 0
	if len(b) > 0 {
		u.sendIov.Base = &b[0]
		u.sendIov.SetLen(len(b))
	}
	u.setTo(&u.send, to, port)
	u.recvIov.Base, u.recvIov.Len = nil, 0
	if len(rb) > 0 {
		u.recvIov.Base = &rb[0]
		u.recvIov.SetLen(len(rb))
	}
	u.recv.Name, u.recv.Namelen = (*byte)(unsafe.Pointer(&u.from)), unix.SizeofSockaddrAny
	u.recv.Control = &u.oob[0]
	u.recv.SetControllen(len(u.oob))
	u.push(fd, uringOpSendmsg, &u.send, unix.MSG_DONTWAIT, 1, 0)
	u.push(fd, uringOpRecvmsg, &u.recv, unix.MSG_TRUNC|unix.MSG_DONTWAIT, 2, 0)
	if !u.reap(2) {
		return 0, 0, netip.Addr{}, nil, nil, false
	}
	sres, rres := u.res[1], u.res[2]
	u.sendIov.Base, u.recvIov.Base = nil, nil // keep no buffer alive
	if sres < 0 {
		werr = unix.Errno(-sres)
	}
	if rres < 0 {
		return 0, 0, netip.Addr{}, unix.Errno(-rres), werr, true
	}
	return int(rres), int(u.recv.Controllen), rawSockaddrAddr(&u.from), nil, werr, true
}

// sendRecvNow is sendto and then recvmsgNow, in one system call when the
// socket's ring serves (see uring); used is false when it does not, and
// nothing was done. The control messages are copied to oob.
func (s *sock) sendRecvNow(b []byte, to netip.Addr, port int, rb, oob []byte) (used bool, n, oobn int, from netip.Addr, rerr, werr error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.nmu.Lock()
	defer s.nmu.Unlock()
	if s.ring == nil {
		return false, 0, 0, netip.Addr{}, nil, nil
	}
	c := &s.ring.call
	c.b, c.to, c.port, c.rb, c.ok = b, to, port, rb, false
	var cerr error
	if s.ring.fixed {
		// The ring holds its own reference to a registered socket and
		// names it by index, not by descriptor: a Close meanwhile
		// cannot send this to another file (callers look at closed
		// first), and RawConn.Control's reference counting (2.5 % of a
		// flood's CPU) is not needed.
		s.ring.do(0)
	} else {
		cerr = s.rc.Control(s.ring.now)
	}
	c.b, c.rb = nil, nil
	if cerr != nil {
		return false, 0, 0, netip.Addr{}, nil, nil // closed: the ordinary send says so
	}
	if !c.ok {
		s.closeRingLocked()
		return false, 0, 0, netip.Addr{}, nil, nil
	}
	n, from, rerr, werr = c.n, c.from, c.rerr, c.werr
	oobn = copy(oob, s.ring.oob[:c.oobn])
	if werr == unix.EAGAIN {
		// The send buffer is full: the ordinary send waits for room.
		s.nmu.Unlock()
		werr = s.sendtoLocked(b, to, port, 0)
		s.nmu.Lock()
	} else if werr != nil {
		werr = os.NewSyscallError("sendmsg", werr)
	}
	if rerr != nil && rerr != unix.EAGAIN {
		rerr = os.NewSyscallError("recvmsg", rerr)
	}
	return true, min(n, len(rb)), oobn, from, rerr, werr
}

// openRing sets up the socket's ring, once; it reports whether there is
// one.
func (s *sock) openRing() bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.nmu.Lock()
	defer s.nmu.Unlock()
	if s.ring == nil && !s.ringOff {
		if s.ring = newUring(s.fd); s.ring == nil {
			s.ringOff = true
		}
	}
	return s.ring != nil
}

// closeRing releases the socket's ring; held by no operation after. It
// waits for a send under way, so Close calls it after closing the
// descriptor, which ends a send waiting for room.
func (s *sock) closeRing() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.nmu.Lock()
	defer s.nmu.Unlock()
	s.closeRingLocked()
}

func (s *sock) closeRingLocked() {
	if s.ring != nil {
		s.ring.close()
		s.ring = nil
	}
	s.ringOff = true
}
