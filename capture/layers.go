package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rawkit/rawkit/filter"
)

// decoder parses packets with gopacket's DecodingLayerParser into layer
// values it reuses, so parsing allocates nothing per packet; only the
// text of a printed line does.
type decoder struct {
	eth    layers.Ethernet
	sll    layers.LinuxSLL
	dot1q  layers.Dot1Q
	ip4    layers.IPv4
	ip6    layers.IPv6
	frag   layers.IPv6Fragment
	tcp    layers.TCP
	udp    layers.UDP
	icmp4  layers.ICMPv4
	icmp6  layers.ICMPv6
	arp    layers.ARP
	pay    gopacket.Payload
	first  *gopacket.DecodingLayerParser // from the link header
	ip4p   *gopacket.DecodingLayerParser // raw IP: from the IPv4 header
	ip6p   *gopacket.DecodingLayerParser // raw IP: from the IPv6 header
	found  []gopacket.LayerType
	linkLT filter.LinkType
	// conversations holds, per TCP conversation, the sequence numbers
	// tcpdump makes the others relative to; absolute (-S) keeps none.
	conversations map[tcpKey]*tcpBase
	absolute      bool
	hbh           int      // the hop-by-hop header's length in the packet decoded
	inner         *decoder // a tunnel's inner frames (VXLAN, OTV, Geneve)
	depth         int      // tunnels within tunnels decoded so far
	verbose       int      // tcpdump's -v count: checksums are checked
	quick         int      // tcpdump's -q count: TCP and UDP said by their lengths
	frame         []byte   // the frame being decoded
	// names caches addresses' text: a capture sees few addresses many
	// times, and formatting each one per packet was a third of a
	// printed line's allocations. Emptied when it grows past maxNames.
	names map[addrKey]string
	line  []byte // a line being built, reused
}

type addrKey struct {
	b [16]byte
	n uint8 // 4 or 16: net.IP's text of a 16-byte IPv4-mapped address differs
}

const maxNames = 4096

// addrText is ip.String(), from the cache when ip was seen before.
func (d *decoder) addrText(ip net.IP) string {
	var k addrKey
	k.n = uint8(copy(k.b[:], ip))
	if name, ok := d.names[k]; ok {
		return name
	}
	if d.names == nil || len(d.names) >= maxNames {
		d.names = make(map[addrKey]string, 64)
	}
	name := ip.String()
	d.names[k] = name
	return name
}

// tcpKey names a TCP conversation the same way in both directions.
type tcpKey struct {
	a, b   string
	ab, ba layers.TCPPort
}

type tcpBase struct{ seq, ack uint32 }

func newDecoder(lt filter.LinkType) *decoder {
	d := &decoder{linkLT: lt, found: make([]gopacket.LayerType, 0, 12)}
	all := []gopacket.DecodingLayer{&d.eth, &d.sll, &d.dot1q, &d.ip4, &d.ip6, &d.frag, &d.tcp, &d.udp, &d.icmp4, &d.icmp6, &d.arp, &d.pay}
	parser := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first, all...)
		p.IgnoreUnsupported = true
		return p
	}
	switch lt {
	case filter.Ethernet:
		d.first = parser(layers.LayerTypeEthernet)
	case filter.LinuxSLL:
		d.first = parser(layers.LayerTypeLinuxSLL)
	}
	d.ip4p, d.ip6p = parser(layers.LayerTypeIPv4), parser(layers.LayerTypeIPv6)
	return d
}

// decode describes a whole captured frame.
func (d *decoder) decode(frame []byte) summary { return d.decodeWire(frame, len(frame)) }

// decodeWire is decode for a frame wire bytes long on the wire (more
// than captured when the capture was cut short).
func (d *decoder) decodeWire(frame []byte, wire int) summary {
	d.hbh = 0
	s := d.describe(frame, wire)
	if d.hbh > 0 {
		// tcpdump names a hop-by-hop options header before what follows
		// it: "IP6 a > b: HBH ICMP6, ...".
		s.text = afterAddrs(s.text, "HBH ")
	}
	return s
}

// describe is decodeWire's work.
func (d *decoder) describe(frame []byte, wire int) summary {
	p := d.first
	if d.linkLT == filter.RawIP {
		p = d.ip4p
		if len(frame) > 0 && frame[0]>>4 == 6 {
			p = d.ip6p
		}
	}
	d.found = d.found[:0]
	d.frame = frame
	p.DecodeLayers(frame, &d.found) // an error leaves the layers decoded so far
	var s summary
	ipName := ""
	var ipLen int
	has := func(t gopacket.LayerType) bool {
		for _, f := range d.found {
			if f == t {
				return true
			}
		}
		return false
	}
	switch {
	case has(layers.LayerTypeIPv4):
		ipName, s.src, s.dst = "IP", d.addrText(d.ip4.SrcIP), d.addrText(d.ip4.DstIP)
		if total := int(binary.BigEndian.Uint16(d.ip4.Contents[2:])); total < int(d.ip4.IHL)*4 {
			// A total length below the header's (0 from BIG TCP's
			// segmentation offload): tcpdump says so and stops.
			s.proto, s.text = "ip", fmt.Sprintf("IP bad-len %d", total)
			return s
		}
		ipLen = int(d.ip4.Length) - int(d.ip4.IHL)*4
		if d.ip4.FragOffset != 0 {
			s.proto = "ip"
			s.text = fmt.Sprintf("IP %s > %s: ip-proto-%d", s.src, s.dst, d.ip4.Protocol)
			return s
		}
	case has(layers.LayerTypeIPv6):
		ipName, s.src, s.dst = "IP6", d.addrText(d.ip6.SrcIP), d.addrText(d.ip6.DstIP)
		ipLen = int(d.ip6.Length)
		if d.ip6.HopByHop != nil {
			d.hbh = len(d.ip6.HopByHop.Contents)
			ipLen -= d.hbh
		}
		if has(layers.LayerTypeIPv6Fragment) {
			ipLen -= 8
		}
	case has(layers.LayerTypeARP):
		// tcpdump's ARP length is what follows the link header on the
		// wire, padding included.
		off := len(frame) - len(d.arp.Contents) - len(d.arp.Payload)
		return arpLine(frame[off:], wire-off)
	}
	switch {
	case has(layers.LayerTypeTCP):
		return d.tcpText(s, ipName, ipLen)
	case has(layers.LayerTypeUDP):
		s.proto, s.sport, s.dport = "udp", int(d.udp.SrcPort), int(d.udp.DstPort)
		ulen := int(d.udp.Length) - 8
		sum := d.udpSum()
		mdns := s.sport == 5353 || s.dport == 5353
		if d.quick > 0 {
			// -q: no application's decoding, the length alone.
		} else if s.sport == 53 || s.dport == 53 || mdns {
			if ulen >= 0 && ulen < 12 {
				s.text = fmt.Sprintf("%s %s.%d > %s.%d: %s%s", ipName, s.src, s.sport, s.dst, s.dport, sum, dnsTooShort(ulen))
				return s
			}
			if t := dnsText(d.udp.Payload, mdns); t != "" {
				s.text = fmt.Sprintf("%s %s.%d > %s.%d: %s%s (%d)", ipName, s.src, s.sport, s.dst, s.dport, sum, t, ulen)
				return s
			}
		}
		if t := d.tunnel(s.sport, s.dport, d.udp.Payload); t != "" && d.quick == 0 {
			s.text = fmt.Sprintf("%s %s.%d > %s.%d: %s%s", ipName, s.src, s.sport, s.dst, s.dport, sum, t)
			return s
		}
		if t := udpApp(s.sport, s.dport, d.udp.Payload, appLength(ulen, ipLen-8)); t != "" && d.quick == 0 {
			s.text = fmt.Sprintf("%s %s.%d > %s.%d: %s%s", ipName, s.src, s.sport, s.dst, s.dport, sum, t)
			return s
		}
		// The commonest line, built without fmt's boxing of each value.
		b := append(d.line[:0], ipName...)
		b = append(append(append(b, ' '), s.src...), '.')
		b = strconv.AppendInt(b, int64(s.sport), 10)
		b = append(append(append(b, " > "...), s.dst...), '.')
		b = strconv.AppendInt(b, int64(s.dport), 10)
		b = append(append(append(b, ": "...), sum...), "UDP, length "...)
		b = strconv.AppendInt(b, int64(ulen), 10)
		d.line = b
		s.text = lineText(b)
		return s
	case has(layers.LayerTypeICMPv4):
		s.proto = "icmp"
		b := append(d.icmp4.Contents, d.icmp4.Payload...)
		s.text = fmt.Sprintf("%s %s > %s: %s, length %d", ipName, s.src, s.dst, icmpText(1, b), max(ipLen, len(b)))
		return s
	case has(layers.LayerTypeICMPv6):
		s.proto = "icmp6"
		b := append(d.icmp6.Contents, d.icmp6.Payload...)
		s.text = fmt.Sprintf("%s %s > %s: %s, length %d", ipName, s.src, s.dst, icmpText(58, b), max(ipLen, len(b)))
		return s
	}
	// What the parser did not take to a transport (an extension header
	// it does not decode, a truncated packet, another protocol): the
	// byte-level description.
	et, nh := networkOf(d.linkLT, frame)
	return decode(et, nh, d.quick > 0)
}

func (d *decoder) tcpText(s summary, ipName string, ipLen int) summary {
	t := &d.tcp
	s.proto, s.sport, s.dport = "tcp", int(t.SrcPort), int(t.DstPort)
	s.flags = tcpFlags(t)
	data := max(ipLen-int(t.DataOffset)*4, 0)
	seq, ack := d.relative(s, t)
	// Built with strconv in a buffer kept from packet to packet: the
	// commonest line, where fmt's boxing of each value showed.
	b := append(d.line[:0], ipName...)
	b = append(append(append(b, ' '), s.src...), '.')
	b = strconv.AppendInt(b, int64(s.sport), 10)
	b = append(append(append(b, " > "...), s.dst...), '.')
	b = strconv.AppendInt(b, int64(s.dport), 10)
	if d.quick > 0 {
		// -q: the segment's length alone.
		b = strconv.AppendInt(append(b, ": tcp "...), int64(data), 10)
		d.line = b
		s.text = lineText(b)
		return s
	}
	b = append(append(append(b, ": Flags ["...), s.flags...), ']')
	if d.verbose > 0 {
		if seg, src, dst, ok := d.segment(t.Contents, ipLen); ok {
			good, want := transportSum(src, dst, 6, seg, 16)
			b = appendHex(append(b, ", cksum 0x"...), uint64(t.Checksum), 4)
			if good {
				b = append(b, " (correct)"...)
			} else {
				b = append(appendHex(append(b, " (incorrect -> 0x"...), uint64(want), 4), ')')
			}
		}
	}
	if t.SYN || data > 0 || t.FIN || t.RST || d.verbose > 1 {
		b = strconv.AppendUint(append(b, ", seq "...), uint64(seq), 10)
		if data > 0 {
			b = strconv.AppendUint(append(b, ':'), uint64(seq+uint32(data)), 10)
		}
	}
	if t.ACK {
		b = strconv.AppendUint(append(b, ", ack "...), uint64(ack), 10)
	}
	b = strconv.AppendUint(append(b, ", win "...), uint64(t.Window), 10)
	if t.URG {
		b = strconv.AppendUint(append(b, ", urg "...), uint64(t.Urgent), 10)
	}
	if len(t.Options) > 0 {
		b = append(b, ", options ["...)
		for i, o := range t.Options {
			if i > 0 {
				b = append(b, ',')
			}
			if o.OptionType == 30 {
				b = append(b, mptcpOption(o.OptionData, t.SYN, t.ACK)...)
				continue
			}
			b = append(b, tcpOption(o)...)
		}
		b = append(b, ']')
	}
	b = strconv.AppendInt(append(b, ", length "...), int64(data), 10)
	if data > 0 {
		pay := t.Payload
		if len(pay) > data {
			pay = pay[:data] // Ethernet padding is not the segment's
		}
		port := func(p layers.TCPPort) bool { return t.SrcPort == p || t.DstPort == p }
		switch {
		case port(179):
			b = append(b, ": BGP"...) // tcpdump's BGP printer says no more without -v
		case port(646):
			b = append(b, ldpText(pay)...) // no separator: tcpdump's own
		case port(6653) || port(6633):
			b = append(b, ": OpenFlow"...)
		case port(6379):
			b = append(b, respText(pay)...)
		case port(53) && len(pay) >= 2:
			// DNS over TCP: each message after its 2-byte length.
			if t := dnsText(pay[2:], false); t != "" {
				b = append(append(append(b, ' '), t...), " ("...)
				b = append(strconv.AppendInt(b, int64(data-2), 10), ')')
			}
		case port(22):
			b = append(b, sshText(pay)...)
		case port(80) || port(8080):
			b = append(b, httpText(pay, d.verbose > 0)...)
		}
	}
	d.line = b
	s.text = lineText(b)
	return s
}

// lineText is a line just built in a decoder's buffer as a string,
// without a copy: it is valid until that decoder's next describe, which
// reuses the buffer. Every reader of a summary uses its text at once
// (the output writes it or copies it into its own line, the JSON writer
// encodes it); one that keeps it must clone it. A string a packet was
// the last allocation of printing the common lines: without it a
// printing capture runs no collection, which would scan gopacket's 5 MB
// of tables each time (1M packets: 646 -> 491 ns a packet, peak RSS
// 15.7 -> 11.8 MiB).
func lineText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// tcpFlags is t's flags as tcpdump prints them between the brackets.
func tcpFlags(t *layers.TCP) string {
	var fl byte
	for i, on := range [...]bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR} {
		if on {
			fl |= 1 << i
		}
	}
	return tcpFlagText(fl)
}

// relative gives the sequence and acknowledgement numbers as tcpdump
// prints them: from the first packet of a conversation that acknowledges
// (or a new SYN), the others relative to it, unless -S.
func (d *decoder) relative(s summary, t *layers.TCP) (uint32, uint32) {
	seq, ack := t.Seq, t.Ack
	if d.absolute || !t.ACK {
		return seq, ack
	}
	key, rev := tcpKey{a: s.src, b: s.dst, ab: t.SrcPort, ba: t.DstPort}, false
	if s.src > s.dst || s.src == s.dst && t.SrcPort > t.DstPort {
		key, rev = tcpKey{a: s.dst, b: s.src, ab: t.DstPort, ba: t.SrcPort}, true
	}
	if d.conversations == nil {
		d.conversations = map[tcpKey]*tcpBase{}
	}
	base, ok := d.conversations[key]
	if !ok || t.SYN {
		if rev {
			base = &tcpBase{seq: ack - 1, ack: seq}
		} else {
			base = &tcpBase{seq: seq, ack: ack - 1}
		}
		if len(d.conversations) < 1<<16 { // bounded: a long capture of many flows
			d.conversations[key] = base
		}
		return seq, ack
	}
	if rev {
		return seq - base.ack, ack - base.seq
	}
	return seq - base.seq, ack - base.ack
}

// tcpOption is one option as tcpdump lists it.
func tcpOption(o layers.TCPOption) string {
	v := o.OptionData
	switch o.OptionType {
	case layers.TCPOptionKindEndList:
		return "eol"
	case layers.TCPOptionKindNop:
		return "nop"
	case layers.TCPOptionKindMSS:
		if len(v) == 2 {
			return fmt.Sprintf("mss %d", binary.BigEndian.Uint16(v))
		}
	case layers.TCPOptionKindWindowScale:
		if len(v) == 1 {
			return fmt.Sprintf("wscale %d", v[0])
		}
	case layers.TCPOptionKindSACKPermitted:
		return "sackOK"
	case layers.TCPOptionKindSACK:
		if len(v)%8 == 0 {
			var b strings.Builder
			fmt.Fprintf(&b, "sack %d", len(v)/8)
			for i := 0; i+8 <= len(v); i += 8 {
				fmt.Fprintf(&b, " {%d:%d}", binary.BigEndian.Uint32(v[i:]), binary.BigEndian.Uint32(v[i+4:]))
			}
			return b.String()
		}
	case layers.TCPOptionKindTimestamps:
		if len(v) == 8 {
			return fmt.Sprintf("TS val %d ecr %d", binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:]))
		}
	}
	switch {
	case o.OptionType == 19 && len(v) == 16:
		return fmt.Sprintf("md5 shared secret not supplied with -M, can't check - %x", v)
	case (o.OptionType == 253 || o.OptionType == 254) && len(v) >= 2:
		return fmt.Sprintf("exp-%x", v[:2]) // RFC 6994's experiment id
	}
	return fmt.Sprintf("unknown-%d 0x%x", o.OptionType, v)
}

// segment is the transport segment whose header is contents, when it was
// captured whole (length bytes) and is no fragment, with the addresses
// of its checksum's pseudo-header.
func (d *decoder) segment(contents []byte, length int) (seg []byte, src, dst netip.Addr, ok bool) {
	off := cap(d.frame) - cap(contents)
	if off < 0 || off > len(d.frame) || length < len(contents) || off+length > len(d.frame) {
		return nil, src, dst, false
	}
	for _, f := range d.found {
		switch f {
		case layers.LayerTypeIPv6Fragment:
			return nil, src, dst, false
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				return nil, src, dst, false
			}
			src, _ = netip.AddrFromSlice(d.ip4.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(d.ip4.DstIP.To4())
		case layers.LayerTypeIPv6:
			src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
		}
	}
	return d.frame[off : off+length], src, dst, src.IsValid() && dst.IsValid()
}

// udpSum is what tcpdump -v says of a UDP checksum before the payload:
// over IPv6 (where it is mandatory) from -v, over IPv4 from -vv.
func (d *decoder) udpSum() string {
	if d.verbose == 0 {
		return ""
	}
	seg, src, dst, ok := d.segment(d.udp.Contents, int(d.udp.Length))
	if !ok || src.Is4() && d.verbose < 2 {
		return ""
	}
	if src.Is4() && d.udp.Checksum == 0 {
		return "[no cksum] "
	}
	good, want := transportSum(src, dst, 17, seg, 6)
	if good {
		return "[udp sum ok] "
	}
	return fmt.Sprintf("[bad udp cksum 0x%04x -> 0x%04x!] ", d.udp.Checksum, want)
}

// tunnel is tcpdump's text of an Ethernet-carrying tunnel by UDP port,
// the frame inside decoded as a line of its own: VXLAN (RFC 7348) and
// OTV put it on the next line, Geneve (RFC 8926) after ": "; "" for
// none.
func (d *decoder) tunnel(sport, dport int, b []byte) string {
	port := func(p int) bool { return sport == p || dport == p }
	if d.depth >= 3 {
		return ""
	}
	innerText := func(frame []byte, ethertype uint16) string {
		if d.inner == nil {
			d.inner = newDecoder(filter.Ethernet)
			d.inner.absolute, d.inner.depth = d.absolute, d.depth+1
		}
		if ethertype != 0x6558 {
			// Not Ethernet: the network header follows at once.
			return decode(ethertype, frame, d.quick > 0).text
		}
		return d.inner.decode(frame).text
	}
	switch {
	case port(4789), port(8472):
		if len(b) < 8 {
			return ""
		}
		flags := "I"
		if b[0]&0x08 == 0 {
			flags = "none"
		}
		head := fmt.Sprintf("VXLAN, flags [%s] (0x%02x), vni %d", flags, b[0], uint32(b[4])<<16|uint32(b[5])<<8|uint32(b[6]))
		if port(8472) {
			head = fmt.Sprintf("OTV, flags [%s] (0x%02x), overlay %d, instance %d", flags, b[0],
				uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]), uint32(b[4])<<16|uint32(b[5])<<8|uint32(b[6]))
		}
		return head + "\n" + innerText(b[8:], 0x6558)
	case port(6081):
		if len(b) < 8 || b[0]>>6 != 0 {
			return ""
		}
		optLen := int(b[0]&0x3f) * 4
		if len(b) < 8+optLen {
			return ""
		}
		var flags []string
		if b[1]&0x80 != 0 {
			flags = append(flags, "O")
		}
		if b[1]&0x40 != 0 {
			flags = append(flags, "C")
		}
		if len(flags) == 0 {
			flags = []string{"none"}
		}
		text := fmt.Sprintf("Geneve, Flags [%s], vni 0x%x", strings.Join(flags, ", "), uint32(b[4])<<16|uint32(b[5])<<8|uint32(b[6]))
		if optLen > 0 {
			text += fmt.Sprintf(", options [%d bytes]", optLen)
		}
		return text + ": " + innerText(b[8+optLen:], binary.BigEndian.Uint16(b[2:]))
	}
	return ""
}
