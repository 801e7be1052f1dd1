// Package fakenet is a simulated network for the engines' unit tests:
// a path of routers and hosts behind it that answer probes as Linux
// hosts do (RFC 792 and RFC 4443 errors quoting the probe, echo replies,
// TCP SYN-ACK or RST, UDP answers), with per-hop delay, loss and local
// send errors. It implements rawsock.Network, so an engine runs on it
// unchanged: no privilege, no lab, no packet on any wire.
package fakenet

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rawkit/rawkit/probe"
	"github.com/rawkit/rawkit/rawsock"
	"golang.org/x/net/bpf"
)

// Port states a Host gives its ports.
const (
	Open     = "open"     // TCP: SYN-ACK; UDP: the payload echoed back
	Closed   = "closed"   // TCP: RST; UDP: ICMP port unreachable
	Filtered = "filtered" // no answer
	Reject   = "reject"   // ICMP administratively prohibited
)

// Host is a destination.
type Host struct {
	TCP        map[uint16]string // port -> state; others are DefaultTCP
	UDP        map[uint16]string // port -> state; others are DefaultUDP
	DefaultTCP string            // "" is Closed
	DefaultUDP string            // "" is Closed
	NoEcho     bool              // ignore ICMP echo requests
	// Unreachable makes the last router answer every probe with a host
	// unreachable instead of delivering it.
	Unreachable bool
}

func (h *Host) tcp(port uint16) string {
	if s, ok := h.TCP[port]; ok {
		return s
	}
	if h.DefaultTCP != "" {
		return h.DefaultTCP
	}
	return Closed
}

func (h *Host) udp(port uint16) string {
	if s, ok := h.UDP[port]; ok {
		return s
	}
	if h.DefaultUDP != "" {
		return h.DefaultUDP
	}
	return Closed
}

// Sent is one packet an engine wrote.
type Sent struct {
	Proto int // probe.ProtoTCP, ProtoUDP, ProtoICMP or ProtoICMPv6
	Dst   netip.Addr
	TTL   int
	Data  []byte
}

// Net is a network: the client (Source4, Source6) reaches every host
// through the routers of Path, in order, then the host itself.
type Net struct {
	Source4, Source6 netip.Addr
	// Path are the routers between the client and the hosts; an invalid
	// Addr is a silent router (it sends no time exceeded).
	Path  []netip.Addr
	Hosts map[netip.Addr]*Host
	// HopDelay is the one-way delay of each link: an answer from hop k
	// (the host is len(Path)+1) arrives 2·k·HopDelay after the probe.
	HopDelay time.Duration
	// Later delays the answers read by sockets of a protocol
	// (probe.ProtoICMP, ...) by that much more: a reader the machine
	// runs late.
	Later map[int]time.Duration
	// Drop, when set, decides per packet whether a link loses it: the
	// probe (toward true) or its answer (toward false).
	Drop func(toward bool) bool
	// WriteErr, when set, is the error a send to dst fails with (a
	// local firewall's EPERM, no route), nil to send.
	WriteErr func(dst netip.Addr) error
	// MTU, when set, is the largest packet the hop after Path[MTUHop-1]
	// carries; larger ones are answered with "fragmentation needed"
	// (packet too big) by that router.
	MTU, MTUHop int

	mu    sync.Mutex
	conns []*Conn
	sent  []Sent
}

var _ rawsock.Network = (*Net)(nil)

// SentPackets is every packet written so far, in order.
func (n *Net) SentPackets() []Sent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Sent(nil), n.sent...)
}

// ListenICMP opens an ICMP socket that receives every ICMP message of
// its family.
func (n *Net) ListenICMP(cfg rawsock.ICMPConfig) (rawsock.Conn, error) {
	proto := probe.ProtoICMP
	if cfg.Family == 6 {
		proto = probe.ProtoICMPv6
	}
	return n.add(&Conn{family: cfg.Family, proto: proto, icmp: true, keep: true, df: dontFragment(cfg.Options)}), nil
}

// ListenIP opens a raw socket of one protocol; as the kernel's, it keeps
// the received packets its filter passes, none without a filter.
func (n *Net) ListenIP(cfg rawsock.IPConfig) (rawsock.Conn, error) {
	c := &Conn{family: cfg.Family, proto: cfg.Protocol, df: dontFragment(cfg.Options)}
	if cfg.Filter != nil {
		vm, err := bpf.NewVM(cfg.Filter)
		if err != nil {
			return nil, err
		}
		c.filter, c.keep = vm, true
	}
	return n.add(c), nil
}

// SourceFor is src when valid, else the client's address of dst's
// family; a destination not in Hosts has no route.
func (n *Net) SourceFor(dst netip.Addr, _ string, src netip.Addr) (netip.Addr, error) {
	if src.IsValid() {
		return src, nil
	}
	if _, ok := n.Hosts[dst]; !ok {
		return netip.Addr{}, &net.OpError{Op: "connect", Net: "udp", Err: errNoRoute}
	}
	if dst.Is4() {
		return n.Source4, nil
	}
	return n.Source6, nil
}

// errNoRoute is the kernel's, so callers' errors.Is(err, unix.EHOSTUNREACH) holds.
var errNoRoute error = syscall.EHOSTUNREACH

// LocalMTU is the MTU of the client's link and route.
const LocalMTU = 1500

// RouteMTU is LocalMTU.
func (n *Net) RouteMTU(netip.Addr, string) (int, error) { return LocalMTU, nil }

// dontFragment reports a socket that sets DF: the kernel refuses to send
// what exceeds the link's MTU (EMSGSIZE) instead of fragmenting it.
func dontFragment(o rawsock.Options) bool { return o.PMTU == "do" || o.PMTU == "probe" }

func (n *Net) add(c *Conn) *Conn {
	c.net = n
	c.queue = make(chan packet, 4096)
	c.closed = make(chan struct{})
	n.mu.Lock()
	n.conns = append(n.conns, c)
	n.mu.Unlock()
	return c
}

type packet struct {
	b    []byte
	meta rawsock.Meta
}

// Conn is a socket of Net.
type Conn struct {
	net    *Net
	family int
	proto  int
	icmp   bool
	keep   bool
	df     bool
	filter *bpf.VM
	queue  chan packet
	once   sync.Once
	closed chan struct{}
}

var _ rawsock.Conn = (*Conn)(nil)

// ReadMsg waits for the next packet or Close.
func (c *Conn) ReadMsg(b []byte) (int, rawsock.Meta, error) {
	select {
	case p := <-c.queue:
		n := copy(b, p.b)
		p.meta.Truncated = n < len(p.b)
		return n, p.meta, nil
	case <-c.closed:
		return 0, rawsock.Meta{}, net.ErrClosed
	}
}

// Close ends the Conn's reads.
func (c *Conn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// WriteToTTL sends b (an ICMP message or a transport segment) to dst.
func (c *Conn) WriteToTTL(b []byte, dst netip.Addr, ttl int) (time.Time, error) {
	select {
	case <-c.closed:
		return time.Time{}, net.ErrClosed
	default:
	}
	n := c.net
	if n.WriteErr != nil {
		if err := n.WriteErr(dst); err != nil {
			return time.Time{}, err
		}
	}
	if ttl <= 0 {
		ttl = 64
	}
	if hdr := len(ipHeader(dst, dst, 0, 0, 0)); c.df && hdr+len(b) > LocalMTU {
		return time.Time{}, &net.OpError{Op: "sendmsg", Net: "ip", Err: os.NewSyscallError("sendmsg", syscall.EMSGSIZE)}
	}
	now := time.Now()
	n.mu.Lock()
	n.sent = append(n.sent, Sent{Proto: c.proto, Dst: dst, TTL: ttl, Data: append([]byte(nil), b...)})
	n.mu.Unlock()
	src := n.Source4
	if dst.Is6() {
		src = n.Source6
	}
	n.travel(src, dst, c.proto, ttl, append([]byte(nil), b...))
	return now, nil
}

// WriteBatch sends pkts[i] to dsts[i] in order, as rawsock's (sendmmsg):
// it stops at the first that fails, returning how many were sent and
// that one's error.
func (c *Conn) WriteBatch(pkts [][]byte, dsts []netip.Addr) (int, error) {
	for i := range pkts {
		if _, err := c.WriteToTTL(pkts[i], dsts[i], 0); err != nil {
			return i, err
		}
	}
	return len(pkts), nil
}

// TryReadBatch reads the packets queued, up to len(b.Bufs), without
// waiting, as rawsock's (recvmmsg); rawsock.ErrNoPacket when none is.
func (c *Conn) TryReadBatch(b *rawsock.Batch) (int, error) {
	n := 0
	for n < len(b.Bufs) {
		select {
		case p := <-c.queue:
			b.N[n] = copy(b.Bufs[n], p.b)
			b.Meta[n] = p.meta
			b.Meta[n].Truncated = b.N[n] < len(p.b)
			n++
			continue
		case <-c.closed:
			return 0, net.ErrClosed
		default:
		}
		break
	}
	if n == 0 {
		return 0, rawsock.ErrNoPacket
	}
	return n, nil
}

// travel carries a probe hop by hop and schedules what answers it.
func (n *Net) travel(src, dst netip.Addr, proto, ttl int, b []byte) {
	if n.Drop != nil && n.Drop(true) {
		return
	}
	ip := ipHeader(src, dst, proto, 1, len(b))
	quote := append(ip, b...)
	for k, r := range n.Path {
		if ttl == k+1 {
			if r.IsValid() {
				n.answerICMP(k+1, r, src, timeExceeded(dst.Is6()), quote, 0)
			}
			return
		}
		if n.MTU > 0 && n.MTUHop == k+1 && len(ip)+len(b) > n.MTU && r.IsValid() {
			n.answerICMP(k+1, r, src, tooBig(dst.Is6()), quote, n.MTU)
			return
		}
	}
	h := n.Hosts[dst]
	hop := len(n.Path) + 1
	if h == nil {
		return
	}
	if h.Unreachable && len(n.Path) > 0 {
		n.answerICMP(len(n.Path), n.Path[len(n.Path)-1], src, hostUnreach(dst.Is6()), quote, 0)
		return
	}
	switch proto {
	case probe.ProtoICMP, probe.ProtoICMPv6:
		if len(b) < 8 || h.NoEcho || (b[0] != 8 && b[0] != 128 && !(b[0] == 13 && proto == probe.ProtoICMP)) {
			return
		}
		reply := append([]byte(nil), b...)
		switch reply[0] {
		case 8:
			reply[0] = 0
		case 128:
			reply[0] = 129
		case 13:
			reply[0] = 14 // timestamp reply
		}
		n.deliver(hop, dst, src, proto, setChecksum(reply, 2, dst, src, proto))
	case probe.ProtoTCP:
		t, ok := probe.ParseTCP(b)
		if !ok {
			return
		}
		if t.Flags&(probe.FlagSYN|probe.FlagACK) == probe.FlagACK {
			// An ACK of no connection: a RST whose sequence number is
			// the acknowledgement (RFC 9293 3.10.7.1), unless filtered.
			if st := h.tcp(t.DstPort); st != Filtered && st != Reject {
				n.deliver(hop, dst, src, proto, tcpSegment(dst, src, t.DstPort, t.SrcPort, t.Ack, 0, probe.FlagRST))
			}
			return
		}
		if t.Flags&probe.FlagSYN == 0 {
			return
		}
		switch h.tcp(t.DstPort) {
		case Open:
			n.deliver(hop, dst, src, proto, tcpSegment(dst, src, t.DstPort, t.SrcPort, 0x5eed, t.Seq+1, probe.FlagSYN|probe.FlagACK))
		case Closed:
			n.deliver(hop, dst, src, proto, tcpSegment(dst, src, t.DstPort, t.SrcPort, 0, t.Seq+1, probe.FlagRST|probe.FlagACK))
		case Reject:
			n.answerICMP(hop, dst, src, adminProhibited(dst.Is6()), quote, 0)
		}
	case probe.ProtoUDP:
		u, ok := probe.ParseUDP(b)
		if !ok {
			return
		}
		switch h.udp(u.DstPort) {
		case Open:
			n.deliver(hop, dst, src, proto, probe.UDPWithPayload(nil, dst, src, u.DstPort, u.SrcPort, b[8:]))
		case Closed:
			n.answerICMP(hop, dst, src, portUnreach(dst.Is6()), quote, 0)
		case Reject:
			n.answerICMP(hop, dst, src, adminProhibited(dst.Is6()), quote, 0)
		}
	}
}

// ICMP error types and codes as [type, code], per family.
func timeExceeded(v6 bool) [2]byte    { return pick(v6, [2]byte{11, 0}, [2]byte{3, 0}) }
func hostUnreach(v6 bool) [2]byte     { return pick(v6, [2]byte{3, 1}, [2]byte{1, 3}) }
func portUnreach(v6 bool) [2]byte     { return pick(v6, [2]byte{3, 3}, [2]byte{1, 4}) }
func adminProhibited(v6 bool) [2]byte { return pick(v6, [2]byte{3, 13}, [2]byte{1, 1}) }
func tooBig(v6 bool) [2]byte          { return pick(v6, [2]byte{3, 4}, [2]byte{2, 0}) }

func pick(v6 bool, v4t, v6t [2]byte) [2]byte {
	if v6 {
		return v6t
	}
	return v4t
}

// answerICMP sends an ICMP error from router r (hop k) to the client,
// quoting the probe as a router does (RFC 792: the IP header and at least
// 8 bytes; Linux quotes as much as fits).
func (n *Net) answerICMP(k int, r, to netip.Addr, tc [2]byte, quote []byte, mtu int) {
	m := make([]byte, 8, 8+len(quote))
	m[0], m[1] = tc[0], tc[1]
	if mtu > 0 {
		if r.Is6() {
			binary.BigEndian.PutUint32(m[4:], uint32(mtu))
		} else {
			binary.BigEndian.PutUint16(m[6:], uint16(mtu))
		}
	}
	m = append(m, quote...)
	proto := probe.ProtoICMP
	if r.Is6() {
		proto = probe.ProtoICMPv6
	}
	n.deliver(k, r, to, proto, setChecksum(m, 2, r, to, proto))
}

// deliver hands b from src at hop k to every socket that keeps it, after
// the round trip.
func (n *Net) deliver(k int, src, dst netip.Addr, proto int, b []byte) {
	if n.Drop != nil && n.Drop(false) {
		return
	}
	send := func() {
		at := time.Now()
		n.mu.Lock()
		conns := append([]*Conn(nil), n.conns...)
		n.mu.Unlock()
		for _, c := range conns {
			if c.proto != proto || c.family != family(src) || !c.keep {
				continue
			}
			if c.filter != nil {
				in := b
				if src.Is4() {
					in = append(ipHeader(src, dst, proto, 64-k, len(b)), b...)
				}
				if keep, err := c.filter.Run(in); err != nil || keep == 0 {
					continue
				}
			}
			select {
			case c.queue <- packet{b: b, meta: rawsock.Meta{Src: src, TTL: 64 - k, KernelTime: at}}:
			case <-c.closed:
			default: // a full queue drops, as a full socket buffer does
			}
		}
	}
	if d := time.Duration(2*k)*n.HopDelay + n.Later[proto]; d > 0 {
		time.AfterFunc(d, send)
	} else {
		send()
	}
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// ipHeader is the header the kernel puts before a payload of n bytes.
func ipHeader(src, dst netip.Addr, proto, ttl, n int) []byte {
	if src.Is6() {
		h := make([]byte, 40)
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(n))
		h[6], h[7] = byte(proto), byte(ttl)
		s, d := src.As16(), dst.As16()
		copy(h[8:], s[:])
		copy(h[24:], d[:])
		return h
	}
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+n))
	h[8], h[9] = byte(ttl), byte(proto)
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], probe.Sum(0).Add(h).Checksum())
	return h
}

// setChecksum fills the checksum at off: over the pseudo-header for
// ICMPv6 and transports, over the message alone for ICMPv4.
func setChecksum(b []byte, off int, src, dst netip.Addr, proto int) []byte {
	b[off], b[off+1] = 0, 0
	var s probe.Sum
	if proto != probe.ProtoICMP {
		s = probe.PseudoHeader(src, dst, proto, len(b))
	}
	binary.BigEndian.PutUint16(b[off:], s.Add(b).Checksum())
	return b
}

func tcpSegment(src, dst netip.Addr, sport, dport uint16, seq, ack uint32, flags uint8) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = 5 << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], 64240)
	return setChecksum(b, 16, src, dst, probe.ProtoTCP)
}
