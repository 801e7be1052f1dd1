package neighbour

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Link is an attached Ethernet link a target is on.
type Link struct {
	Index int
	Name  string
	HW    net.HardwareAddr
	Src   netip.Addr // the address the kernel sends to the target from
}

// OnLink reports the Ethernet link dst is directly on (the route to it
// has no gateway), in the calling thread's network namespace. iface,
// when given, must be that link. Not for this host's own addresses,
// loopback, multicast or broadcast targets.
func OnLink(dst netip.Addr, iface string) (Link, bool) {
	if !dst.IsValid() || dst.IsLoopback() || dst.IsMulticast() || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return Link{}, false
	}
	routes, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil || len(routes) == 0 {
		return Link{}, false
	}
	r := routes[0]
	if r.Gw != nil || r.Type == unix.RTN_LOCAL || r.Type == unix.RTN_BROADCAST || r.Type == unix.RTN_MULTICAST {
		return Link{}, false
	}
	l, err := netlink.LinkByIndex(r.LinkIndex)
	if err != nil {
		return Link{}, false
	}
	a := l.Attrs()
	if a.EncapType != "ether" || len(a.HardwareAddr) != 6 || iface != "" && a.Name != iface {
		return Link{}, false
	}
	src, _ := netip.AddrFromSlice(r.Src)
	return Link{Index: a.Index, Name: a.Name, HW: a.HardwareAddr, Src: src.Unmap()}, true
}

// Answer is a host's reply: its address and link-layer address.
type Answer struct {
	Addr netip.Addr
	HW   net.HardwareAddr
	At   time.Time
	Len  int // the ARP message's, or the IPv6 packet's length
}

// Conn sends ARP requests or neighbour solicitations on one link and
// reads the answers.
type Conn struct {
	fd   int
	file *os.File // the socket in Go's poller: Close ends a blocked Read
	raw  syscall.RawConn
	six  bool
	link Link
}

// Listen opens the socket for family fam (4: ARP over a packet socket,
// 6: ICMPv6) on link. Needs CAP_NET_RAW.
func Listen(fam int, link Link) (*Conn, error) {
	c := &Conn{six: fam == 6, link: link}
	var err error
	if c.six {
		c.fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		if err != nil {
			return nil, err
		}
		// Only neighbour advertisements; hop limit 255, as RFC 4861 has
		// a solicitation leave; out of the link's interface.
		var filter unix.ICMPv6Filter
		for i := range filter.Data {
			filter.Data[i] = 0xffffffff
		}
		filter.Data[136>>5] &^= 1 << (136 & 31)
		if err = unix.SetsockoptICMPv6Filter(c.fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &filter); err == nil {
			err = unix.SetsockoptInt(c.fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255)
		}
		if err == nil {
			err = unix.SetsockoptInt(c.fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, link.Index)
		}
		if err == nil {
			err = unix.SetsockoptInt(c.fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255)
		}
		if err == nil {
			err = unix.BindToDevice(c.fd, link.Name)
		}
	} else {
		c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return nil, err
		}
		err = unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: link.Index})
	}
	if err == nil {
		err = unix.SetNonblock(c.fd, true)
	}
	if err != nil {
		unix.Close(c.fd)
		return nil, err
	}
	c.file = os.NewFile(uintptr(c.fd), "neighbour")
	if c.raw, err = c.file.SyscallConn(); err != nil {
		c.file.Close()
		return nil, err
	}
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Ask sends one request for dst from src (the link's address for it).
// It returns its length as nmap counts it: the ARP message, or the IPv6
// packet.
func (c *Conn) Ask(dst, src netip.Addr) (int, error) {
	if c.six {
		// The solicitation, to dst's solicited-node multicast address,
		// with our link-layer address.
		b := make([]byte, 32)
		b[0] = 135
		d := dst.As16()
		copy(b[8:24], d[:])
		b[24], b[25] = 1, 1
		copy(b[26:32], c.link.HW)
		group := [16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: d[13], 14: d[14], 15: d[15]}
		sa := &unix.SockaddrInet6{Addr: group, ZoneId: uint32(c.link.Index)}
		if err := unix.Sendto(c.fd, b, 0, sa); err != nil {
			return 0, err
		}
		return 40 + len(b), nil
	}
	// ARP request: Ethernet, IPv4, who has dst, tell src.
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], unix.ETH_P_IP)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 1)
	copy(b[8:14], c.link.HW)
	s4, d4 := src.As4(), dst.As4()
	copy(b[14:18], s4[:])
	copy(b[24:28], d4[:])
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: c.link.Index, Halen: 6}
	copy(sa.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if err := unix.Sendto(c.fd, b, 0, sa); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Read returns the next answer: an ARP reply, or a neighbour
// advertisement. Close ends a Read.
func (c *Conn) Read() (Answer, error) {
	b := make([]byte, 1500)
	for {
		var n int
		var from unix.Sockaddr
		var err error
		rerr := c.raw.Read(func(fd uintptr) bool {
			n, from, err = unix.Recvfrom(int(fd), b, 0)
			return !errors.Is(err, unix.EAGAIN)
		})
		if rerr != nil {
			return Answer{}, rerr
		}
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return Answer{}, err
		}
		at := time.Now()
		if c.six {
			if a, ok := parseAdvert(b[:n]); ok {
				a.At, a.Len = at, 40+n
				return a, nil
			}
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if a, ok := parseARPReply(b[:n]); ok {
			a.At, a.Len = at, 28
			return a, nil
		}
	}
}

// parseARPReply reads an Ethernet/IPv4 ARP reply: the sender's addresses.
func parseARPReply(b []byte) (Answer, bool) {
	if len(b) < 28 || binary.BigEndian.Uint16(b[0:]) != 1 || binary.BigEndian.Uint16(b[2:]) != unix.ETH_P_IP ||
		b[4] != 6 || b[5] != 4 || binary.BigEndian.Uint16(b[6:]) != 2 {
		return Answer{}, false
	}
	ip, _ := netip.AddrFromSlice(b[14:18])
	return Answer{Addr: ip, HW: append(net.HardwareAddr(nil), b[8:14]...)}, true
}

// parseAdvert reads a neighbour advertisement: its target and the
// target link-layer address option.
func parseAdvert(b []byte) (Answer, bool) {
	if len(b) < 24 || b[0] != 136 || b[1] != 0 {
		return Answer{}, false
	}
	ip, _ := netip.AddrFromSlice(b[8:24])
	a := Answer{Addr: ip}
	for opt := b[24:]; len(opt) >= 8 && opt[1] > 0 && int(opt[1])*8 <= len(opt); opt = opt[int(opt[1])*8:] {
		if opt[0] == 2 {
			a.HW = append(net.HardwareAddr(nil), opt[2:8]...)
		}
	}
	return a, true
}

// Close closes the socket.
func (c *Conn) Close() error { return c.file.Close() }

// Routes is the namespace's main routing table, read once, for OnLink
// over many targets: a route lookup through netlink costs ~20 µs a
// target, a /16 a second and more. Policy rules are not followed (the
// main table's answer stands).
type Routes struct {
	routes []tableRoute
	links  map[int]Link
	local  map[netip.Addr]bool // this host's addresses and broadcast addresses
}

type tableRoute struct {
	pfx      netip.Prefix
	gateway  bool
	link     int
	src      netip.Addr
	priority int
	unicast  bool
}

// ReadRoutes reads the calling thread's namespace's routes and links.
func ReadRoutes() (*Routes, error) {
	r := &Routes{links: map[int]Link{}, local: map[netip.Addr]bool{}}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, err
		}
		for _, rt := range routes {
			if rt.Type == unix.RTN_LOCAL || rt.Type == unix.RTN_BROADCAST {
				if a, ok := netip.AddrFromSlice(rt.Dst.IP); ok && rt.Dst != nil {
					r.local[a.Unmap()] = true
				}
				continue
			}
			if rt.Table != unix.RT_TABLE_MAIN {
				continue
			}
			var pfx netip.Prefix
			if rt.Dst == nil {
				pfx = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
				if fam == netlink.FAMILY_V6 {
					pfx = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
				}
			} else {
				a, ok := netip.AddrFromSlice(rt.Dst.IP)
				ones, _ := rt.Dst.Mask.Size()
				if !ok {
					continue
				}
				pfx = netip.PrefixFrom(a.Unmap(), ones)
			}
			src, _ := netip.AddrFromSlice(rt.Src)
			r.routes = append(r.routes, tableRoute{pfx: pfx, gateway: rt.Gw != nil || len(rt.MultiPath) > 0, link: rt.LinkIndex,
				src: src.Unmap(), priority: rt.Priority, unicast: rt.Type == unix.RTN_UNICAST})
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		a := l.Attrs()
		if a.EncapType == "ether" && len(a.HardwareAddr) == 6 {
			r.links[a.Index] = Link{Index: a.Index, Name: a.Name, HW: a.HardwareAddr}
		}
	}
	return r, nil
}

// OnLink is OnLink's answer from the table read: the most specific
// route to dst (the lowest metric among equals) has no gateway and goes
// out of an Ethernet link.
func (r *Routes) OnLink(dst netip.Addr, iface string) (Link, bool) {
	if !dst.IsValid() || dst.IsLoopback() || dst.IsMulticast() || r.local[dst] || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return Link{}, false
	}
	best := -1
	for i, rt := range r.routes {
		if !rt.pfx.Contains(dst) {
			continue
		}
		if best < 0 || rt.pfx.Bits() > r.routes[best].pfx.Bits() ||
			rt.pfx.Bits() == r.routes[best].pfx.Bits() && rt.priority < r.routes[best].priority {
			best = i
		}
	}
	if best < 0 {
		return Link{}, false
	}
	rt := r.routes[best]
	l, ok := r.links[rt.link]
	if rt.gateway || !rt.unicast || !ok || iface != "" && l.Name != iface {
		return Link{}, false
	}
	// The source: the route's, else an address of the link in dst's
	// family (the kernel's choice for a neighbour, in practice).
	l.Src = rt.src
	if !l.Src.IsValid() {
		l.Src = linkSource(rt.link, dst)
	}
	return l, l.Src.IsValid()
}

// linkSource is an address of link index in dst's family, preferring
// one whose prefix holds dst.
func linkSource(index int, dst netip.Addr) netip.Addr {
	link, err := netlink.LinkByIndex(index)
	if err != nil {
		return netip.Addr{}
	}
	fam := netlink.FAMILY_V4
	if dst.Is6() {
		fam = netlink.FAMILY_V6
	}
	addrs, err := netlink.AddrList(link, fam)
	if err != nil {
		return netip.Addr{}
	}
	var any netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		if netip.PrefixFrom(ip.Unmap(), ones).Contains(dst) {
			return ip.Unmap()
		}
		if !any.IsValid() && !ip.IsLinkLocalUnicast() {
			any = ip.Unmap()
		}
	}
	return any
}
