package rawsock

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The hot-path system calls, made directly. x/sys's Recvmsg asks the
// kernel for the socket's protocol (a getsockopt) on every call on a raw
// socket, and Syscall tells the scheduler the thread may block, so a send
// that carries a whole round trip through the kernel (as on veth) hands
// the P to another thread. Every socket here is non-blocking: these calls
// never sleep, so RawSyscall is right for them.

// sysRecvmsg is recvmsg(2); from is the sender's address, if any.
func sysRecvmsg(fd int, b, oob []byte, flags int) (n, oobn int, from netip.Addr, err error) {
	var rsa unix.RawSockaddrAny
	var iov unix.Iovec
	if len(b) > 0 {
		iov.Base = &b[0]
		iov.SetLen(len(b))
	}
	msg := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&rsa)), Namelen: unix.SizeofSockaddrAny, Iov: &iov}
	msg.SetIovlen(1)
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	r, _, errno := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if errno != 0 {
		return 0, 0, netip.Addr{}, errno
	}
	return int(r), int(msg.Controllen), rawSockaddrAddr(&rsa), nil
}

// rawSockaddrAddr is the address of an IPv4 or IPv6 socket address, or the
// zero Addr.
func rawSockaddrAddr(rsa *unix.RawSockaddrAny) netip.Addr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		return netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(rsa)).Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(rsa)).Addr)
	}
	return netip.Addr{}
}

// sysSendto is sendto(2) to an IPv4 or IPv6 address and port.
func sysSendto(fd int, b []byte, to netip.Addr, port int) error {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	var errno unix.Errno
	if to.Is4() || to.Is4In6() {
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: to.Unmap().As4()}
		setPort(&sa.Port, port)
		_, _, errno = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(b)), 0,
			uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
	} else {
		sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: to.As16()}
		setPort(&sa.Port, port)
		_, _, errno = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(b)), 0,
			uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet6)
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// setPort stores a port in network byte order.
func setPort(field *uint16, port int) {
	b := (*[2]byte)(unsafe.Pointer(field))
	b[0], b[1] = byte(port>>8), byte(port)
}

// sysSendmsgTTL is sendmsg(2) to an address and port with the time to
// live (IP_TTL) or hop limit (IPV6_HOPLIMIT) of this one packet given as
// a control message, so probes of many TTLs can leave one socket without a
// setsockopt between them.
func sysSendmsgTTL(fd int, b []byte, to netip.Addr, port, ttl int) error {
	var iov unix.Iovec
	if len(b) > 0 {
		iov.Base = &b[0]
		iov.SetLen(len(b))
	}
	var oob [32]byte // a cmsghdr and an int, aligned
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.SetLen(unix.CmsgLen(4))
	*(*int32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = int32(ttl)
	msg := unix.Msghdr{Iov: &iov, Control: &oob[0]}
	msg.SetIovlen(1)
	msg.SetControllen(unix.CmsgSpace(4))
	var sa4 unix.RawSockaddrInet4
	var sa6 unix.RawSockaddrInet6
	if to.Is4() || to.Is4In6() {
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_TTL
		sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: to.Unmap().As4()}
		setPort(&sa4.Port, port)
		msg.Name, msg.Namelen = (*byte)(unsafe.Pointer(&sa4)), unix.SizeofSockaddrInet4
	} else {
		h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT
		sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: to.As16()}
		setPort(&sa6.Port, port)
		msg.Name, msg.Namelen = (*byte)(unsafe.Pointer(&sa6)), unix.SizeofSockaddrInet6
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
