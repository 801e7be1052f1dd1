package rawsock

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sock is a non-blocking socket registered with the runtime poller.
type sock struct {
	file *os.File
	rc   syscall.RawConn
	fd   int // valid while file is open; for setsockopt at set-up only
}

func openSock(domain, typ, proto int) (*sock, error) {
	fd, err := unix.Socket(domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "rawsock")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &sock{file: f, rc: rc, fd: fd}, nil
}

func (s *sock) setInt(level, opt, v int, name string) error {
	if err := unix.SetsockoptInt(s.fd, level, opt, v); err != nil {
		return os.NewSyscallError("setsockopt "+name, err)
	}
	return nil
}

// recvmsg reads one datagram, waiting in the poller until one arrives or
// the read deadline passes. When the queue is empty it calls idle, if not
// nil, and when idle returns true stops waiting and reports idled.
func (s *sock) recvmsg(b, oob []byte, idle func() bool) (n, oobn int, from netip.Addr, idled bool, err error) {
	cerr := s.rc.Read(func(fd uintptr) bool {
		n, oobn, from, err = sysRecvmsg(int(fd), b, oob, unix.MSG_TRUNC)
		if err == unix.EAGAIN && idle != nil && idle() {
			idled, err = true, nil
			return true
		}
		return err != unix.EAGAIN
	})
	if cerr != nil {
		return 0, 0, from, false, cerr
	}
	if err != nil {
		return 0, 0, from, false, os.NewSyscallError("recvmsg", err)
	}
	if idled {
		return 0, 0, from, true, nil
	}
	return min(n, len(b)), oobn, from, false, nil
}

// recvmsgNow reads one queued datagram, or returns unix.EAGAIN at once.
func (s *sock) recvmsgNow(b, oob []byte) (n, oobn int, from netip.Addr, err error) {
	cerr := s.rc.Control(func(fd uintptr) {
		n, oobn, from, err = sysRecvmsg(int(fd), b, oob, unix.MSG_TRUNC|unix.MSG_DONTWAIT)
	})
	if cerr != nil {
		return 0, 0, from, cerr
	}
	if err == unix.EAGAIN {
		return 0, 0, from, err
	}
	if err != nil {
		return 0, 0, from, os.NewSyscallError("recvmsg", err)
	}
	return min(n, len(b)), oobn, from, nil
}

// sendto sends b to an address and port; a ttl above 0 sets the time to
// live or hop limit of this packet alone.
func (s *sock) sendto(b []byte, to netip.Addr, port, ttl int) error {
	var err error
	cerr := s.rc.Write(func(fd uintptr) bool {
		if ttl > 0 {
			err = sysSendmsgTTL(int(fd), b, to, port, ttl)
		} else {
			err = sysSendto(int(fd), b, to, port)
		}
		return err != unix.EAGAIN
	})
	if cerr != nil {
		return cerr
	}
	if err != nil {
		return os.NewSyscallError("sendto", err)
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
	eachControl(oob, func(level, typ int32, data []byte) {
		ne := binary.NativeEndian
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
	})
}

// eachControl calls f for each control message in oob.
func eachControl(oob []byte, f func(level, typ int32, data []byte)) {
	ne := binary.NativeEndian
	for len(oob) >= unix.SizeofCmsghdr {
		// struct cmsghdr: a size_t length, then int level and int type.
		var hlen int
		if unix.SizeofPtr == 8 {
			hlen = int(ne.Uint64(oob[0:8]))
		} else {
			hlen = int(ne.Uint32(oob[0:4]))
		}
		if hlen < unix.SizeofCmsghdr || hlen > len(oob) {
			return
		}
		level := int32(ne.Uint32(oob[unix.SizeofPtr:]))
		typ := int32(ne.Uint32(oob[unix.SizeofPtr+4:]))
		f(level, typ, oob[unix.SizeofCmsghdr:hlen])
		oob = oob[min(cmsgAlign(hlen), len(oob)):]
	}
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
