package rawsock

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sock is a non-blocking socket, registered with the runtime poller
// unless unpolled.
type sock struct {
	file     *os.File
	rc       syscall.RawConn
	fd       int // valid while file is open; for setsockopt at set-up only
	unpolled bool

	// The state of the read and the write in progress, bound once: a
	// closure per call would put its variables on the heap, two
	// allocations per packet at hundreds of thousands a second.
	rmu sync.Mutex
	rd  readOp
	wmu sync.Mutex
	wr  writeOp
	// A read that does not wait (TryReadMsg) and the error queue's are
	// made also while a reader waits (holding rmu): their own state.
	nmu sync.Mutex
	nr  readOp
	emu sync.Mutex
	er  readOp
	// A recvmmsg (TryReadBatch).
	bmu sync.Mutex
	br  batchOp
	// A ppoll (WaitReadable, an unpolled socket's read); an unpolled
	// send's, under wmu.
	pmu sync.Mutex
	po  pollOp
	wpo pollOp
	// A send and a read that does not wait, made together (uring), under
	// wmu and nmu; ringOff once the kernel refused a ring, or Close.
	ring    *uring
	ringOff bool
	// A sendmmsg (WriteBatch), under wmu.
	sb *sendBatch
}

type readOp struct {
	b       []byte
	oob     [512]byte
	oobCap  int
	flags   int
	idle    func() bool
	n, oobn int
	from    netip.Addr
	idled   bool
	err     error
	wait    func(uintptr) bool // do, for RawConn.Read
	now     func(uintptr)      // once, for RawConn.Control
}

func (r *readOp) once(fd uintptr) {
	r.n, r.oobn, r.from, r.err = sysRecvmsg(int(fd), r.b, r.oob[:r.oobCap], r.flags)
}

func (r *readOp) do(fd uintptr) bool {
	r.once(fd)
	if r.err == unix.EAGAIN && r.idle != nil && r.idle() {
		r.idled, r.err = true, nil
		return true
	}
	return r.err != unix.EAGAIN
}

type writeOp struct {
	b         []byte
	to        netip.Addr
	port, ttl int
	err       error
	fn        func(uintptr) bool
	now       func(uintptr) // once, for RawConn.Control (an unpolled socket)
}

func (w *writeOp) once(fd uintptr) { w.do(fd) }

func (w *writeOp) do(fd uintptr) bool {
	if w.ttl > 0 {
		w.err = sysSendmsgTTL(int(fd), w.b, w.to, w.port, w.ttl)
	} else {
		w.err = sysSendto(int(fd), w.b, w.to, w.port)
	}
	return w.err != unix.EAGAIN
}

// openSock opens a socket; an unpolled one is kept out of the runtime's
// poller (see Options.Unpolled).
func openSock(domain, typ, proto int, unpolled bool) (*sock, error) {
	flags := unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	if unpolled {
		// os.NewFile registers a non-blocking descriptor with the poller
		// and leaves a blocking one alone: made non-blocking after.
		flags = unix.SOCK_CLOEXEC
	}
	fd, err := unix.Socket(domain, typ|flags, proto)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "rawsock")
	if unpolled {
		if err := unix.SetNonblock(fd, true); err != nil {
			f.Close()
			return nil, os.NewSyscallError("fcntl", err)
		}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &sock{file: f, rc: rc, fd: fd, unpolled: unpolled}
	s.rd.wait, s.wr.fn, s.wr.now, s.nr.now, s.er.now, s.br.now, s.po.now, s.wpo.now = s.rd.do, s.wr.do, s.wr.once, s.nr.once, s.er.once, s.br.once, s.po.once, s.wpo.once
	return s, nil
}

func (s *sock) setInt(level, opt, v int, name string) error {
	if err := unix.SetsockoptInt(s.fd, level, opt, v); err != nil {
		return os.NewSyscallError("setsockopt "+name, err)
	}
	return nil
}

// recvmsg reads one datagram into b and its control messages into oob,
// waiting in the poller until one arrives or the read deadline passes.
// When the queue is empty it calls idle, if not nil, and when idle
// returns true stops waiting and reports idled.
func (s *sock) recvmsg(b, oob []byte, idle func() bool) (n, oobn int, from netip.Addr, idled bool, err error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	r := &s.rd
	r.b, r.oobCap, r.flags, r.idle, r.idled = b, min(len(oob), len(r.oob)), unix.MSG_TRUNC, idle, false
	cerr := s.rc.Read(r.wait)
	r.b, r.idle = nil, nil
	if cerr != nil {
		return 0, 0, r.from, false, cerr
	}
	if r.err != nil {
		return 0, 0, r.from, false, os.NewSyscallError("recvmsg", r.err)
	}
	if r.idled {
		return 0, 0, r.from, true, nil
	}
	oobn = copy(oob, r.oob[:r.oobn])
	return min(r.n, len(b)), oobn, r.from, false, nil
}

// recvmsgNow reads one queued datagram, or returns unix.EAGAIN at once.
func (s *sock) recvmsgNow(b, oob []byte) (n, oobn int, from netip.Addr, err error) {
	s.nmu.Lock()
	defer s.nmu.Unlock()
	return s.recvmsgNowLocked(b, oob)
}

// recvmsgNowLocked is recvmsgNow made holding nmu.
func (s *sock) recvmsgNowLocked(b, oob []byte) (n, oobn int, from netip.Addr, err error) {
	r := &s.nr
	r.b, r.oobCap, r.flags = b, min(len(oob), len(r.oob)), unix.MSG_TRUNC|unix.MSG_DONTWAIT
	cerr := s.rc.Control(r.now)
	r.b = nil
	if cerr != nil {
		return 0, 0, r.from, cerr
	}
	if r.err == unix.EAGAIN {
		return 0, 0, r.from, r.err
	}
	if r.err != nil {
		return 0, 0, r.from, os.NewSyscallError("recvmsg", r.err)
	}
	oobn = copy(oob, r.oob[:r.oobn])
	return min(r.n, len(b)), oobn, r.from, nil
}

// sendto sends b to an address and port; a ttl above 0 sets the time to
// live or hop limit of this packet alone.
func (s *sock) sendto(b []byte, to netip.Addr, port, ttl int) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.sendtoLocked(b, to, port, ttl)
}

// sendtoLocked is sendto made holding wmu.
func (s *sock) sendtoLocked(b []byte, to netip.Addr, port, ttl int) error {
	w := &s.wr
	w.b, w.to, w.port, w.ttl = b, to, port, ttl
	var cerr error
	if s.unpolled {
		cerr = s.sendUnpolled()
	} else {
		cerr = s.rc.Write(w.fn)
	}
	w.b = nil
	if cerr != nil {
		return cerr
	}
	if w.err != nil {
		return os.NewSyscallError("sendto", w.err)
	}
	return nil
}

func sockaddr(a netip.Addr, port int) unix.Sockaddr {
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Addr: a.Unmap().As4(), Port: port}
	}
	return &unix.SockaddrInet6{Addr: a.As16(), Port: port}
}

func addrOf(sa unix.Sockaddr) (netip.Addr, int) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr), sa.Port
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(sa.Addr), sa.Port
	}
	return netip.Addr{}, 0
}

// netAddr is a net.Addr for an address of a raw protocol.
type netAddr struct {
	network string
	addr    netip.Addr
}

func (a *netAddr) Network() string { return a.network }
func (a *netAddr) String() string  { return a.addr.String() }

var _ net.Addr = (*netAddr)(nil)

// parseControl reads the receive timestamp, TTL or hop limit and TOS
// from the control messages of a recvmsg.
func parseControl(oob []byte, m *Meta) {
	ne := binary.NativeEndian
	for level, typ, data, rest, ok := nextControl(oob); ok; level, typ, data, rest, ok = nextControl(rest) {
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && len(data) >= 2*unix.SizeofPtr:
			m.KernelTime = readTimespec(data)
		case level == unix.IPPROTO_IP && typ == unix.IP_TTL && len(data) >= 4,
			level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT && len(data) >= 4:
			m.TTL = int(int32(ne.Uint32(data[0:4])))
		case level == unix.IPPROTO_IP && typ == unix.IP_TOS && len(data) >= 1:
			m.TOS = int(data[0])
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_TCLASS && len(data) >= 4:
			m.TOS = int(int32(ne.Uint32(data[0:4])))
		}
	}
}

// nextControl reads the first control message of oob: its level, type
// and data, and the messages after it; ok is false when there is none.
// (A loop, not a callback: a callback would move oob to the heap.)
func nextControl(oob []byte) (level, typ int32, data, rest []byte, ok bool) {
	ne := binary.NativeEndian
	if len(oob) < unix.SizeofCmsghdr {
		return 0, 0, nil, nil, false
	}
	// struct cmsghdr: a size_t length, then int level and int type.
	var hlen int
	if unix.SizeofPtr == 8 {
		hlen = int(ne.Uint64(oob[0:8]))
	} else {
		hlen = int(ne.Uint32(oob[0:4]))
	}
	if hlen < unix.SizeofCmsghdr || hlen > len(oob) {
		return 0, 0, nil, nil, false
	}
	level = int32(ne.Uint32(oob[unix.SizeofPtr:]))
	typ = int32(ne.Uint32(oob[unix.SizeofPtr+4:]))
	return level, typ, oob[unix.SizeofCmsghdr:hlen], oob[min(cmsgAlign(hlen), len(oob)):], true
}

// readTimespec reads a struct timespec of this platform.
func readTimespec(data []byte) time.Time {
	ne := binary.NativeEndian
	if unix.SizeofPtr == 8 {
		return time.Unix(int64(ne.Uint64(data[0:8])), int64(ne.Uint64(data[8:16])))
	}
	return time.Unix(int64(int32(ne.Uint32(data[0:4]))), int64(ne.Uint32(data[4:8])))
}

func cmsgAlign(n int) int { return (n + unix.SizeofPtr - 1) &^ (unix.SizeofPtr - 1) }
