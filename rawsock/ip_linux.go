package rawsock

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// IPConn is a raw socket of one IP protocol.
type IPConn struct {
	conn
}

// ListenIP opens a raw socket as cfg describes. Without CAP_NET_RAW it
// returns a *PrivilegeError.
func ListenIP(cfg IPConfig) (*IPConn, error) {
	domain := unix.AF_INET
	switch cfg.Family {
	case 4:
	case 6:
		domain = unix.AF_INET6
	default:
		return nil, fmt.Errorf("rawsock: family %d is neither 4 nor 6", cfg.Family)
	}
	s, err := openSock(domain, unix.SOCK_RAW, cfg.Protocol, cfg.Unpolled)
	if isPermission(err) {
		return nil, &PrivilegeError{Op: fmt.Sprintf("open a raw IPv%d socket", cfg.Family), Fix: FixRaw(), Err: err}
	}
	if err != nil {
		return nil, err
	}
	c := &IPConn{conn{s: s, family: cfg.Family, raw: true, proto: cfg.Protocol}}
	filter := cfg.Filter
	if filter == nil {
		filter = []bpf.Instruction{bpf.RetConstant{Val: 0}}
	}
	if err := AttachFilter(s.fd, filter); err != nil {
		s.file.Close()
		return nil, err
	}
	if err := c.configureCommon(cfg.Options, false); err != nil {
		s.file.Close()
		return nil, err
	}
	return c, nil
}

// SourceFor returns the local address the kernel would send from toward
// dst, given an interface or source address to bind to (either may be
// zero). It sends nothing: connecting a UDP socket only picks a route.
func SourceFor(dst netip.Addr, iface string, src netip.Addr) (netip.Addr, error) {
	if src.IsValid() {
		return src, nil
	}
	fd, err := routeSocket(dst, iface)
	if err != nil {
		return netip.Addr{}, err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.Addr{}, os.NewSyscallError("getsockname", err)
	}
	a, _ := addrOf(sa)
	return a.Unmap(), nil
}

// RouteMTU returns the MTU of the kernel's route toward dst (through
// iface, if not ""), path MTU discoveries included.
func RouteMTU(dst netip.Addr, iface string) (int, error) {
	fd, err := routeSocket(dst, iface)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	level, opt := unix.IPPROTO_IP, unix.IP_MTU
	if dst.Is6() && !dst.Is4In6() {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_MTU
	}
	mtu, err := unix.GetsockoptInt(fd, level, opt)
	return mtu, os.NewSyscallError("getsockopt IP_MTU", err)
}

// routeSocket is a UDP socket connected toward dst: the kernel has
// routed it, and nothing was sent.
func routeSocket(dst netip.Addr, iface string) (int, error) {
	domain := unix.AF_INET
	if dst.Is6() && !dst.Is4In6() {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if iface != "" {
		if err := bindToDevice(fd, iface); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	if err := unix.Connect(fd, sockaddr(dst.Unmap(), 9)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("no route to %v: %w", dst, os.NewSyscallError("connect", err))
	}
	return fd, nil
}

// bindToDevice binds fd to the interface iface (SO_BINDTODEVICE).
func bindToDevice(fd int, iface string) error {
	err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
	if errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("%s: %w", iface, ErrNoSuchInterface)
	}
	return os.NewSyscallError("setsockopt SO_BINDTODEVICE "+iface, err)
}
