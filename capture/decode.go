package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// summary is what one line says of a packet, and the fields of its JSON
// record.
type summary struct {
	src, dst     string
	proto        string
	sport, dport int
	flags        string
	// text is tcpdump -n's description after the timestamp. For the
	// common TCP and UDP lines it shares the decoder's buffer (lineText):
	// valid until the decoder describes the next packet.
	text string
}

// decode describes a packet starting at a header of the given ethertype
// (data is the network header onward); quick is tcpdump's -q, which
// leaves TCP and UDP at their lengths.
func decode(ethertype uint16, data []byte, quick bool) summary {
	switch ethertype {
	case 0x0800:
		return decodeIPv4(data, quick)
	case 0x86dd:
		return decodeIPv6(data, quick)
	case 0x0806:
		return decodeARP(data)
	}
	return summary{proto: fmt.Sprintf("ethertype-%#04x", ethertype), text: fmt.Sprintf("ethertype Unknown (%#06x), length %d", ethertype, len(data))}
}

func decodeIPv4(b []byte, quick bool) summary {
	if len(b) < 20 || b[0]>>4 != 4 {
		return summary{proto: "ip", text: "IP truncated-ip"}
	}
	ihl := int(b[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	src := netip.AddrFrom4([4]byte(b[12:16])).String()
	dst := netip.AddrFrom4([4]byte(b[16:20])).String()
	frag := binary.BigEndian.Uint16(b[6:]) & 0x1fff
	if ihl < 20 || ihl > len(b) {
		return summary{src: src, dst: dst, proto: "ip", text: fmt.Sprintf("IP %s > %s: bad header length", src, dst)}
	}
	if total < ihl {
		return summary{src: src, dst: dst, proto: "ip", text: fmt.Sprintf("IP bad-len %d", total)}
	}
	payload := b[ihl:]
	if total >= ihl && total-ihl < len(payload) {
		payload = payload[:total-ihl]
	}
	if frag != 0 {
		return summary{src: src, dst: dst, proto: "ip", text: fmt.Sprintf("IP %s > %s: ip-proto-%d", src, dst, b[9])}
	}
	s := transport("IP", src, dst, int(b[9]), payload, max(total-ihl, 0), int(b[8]), quick)
	return s
}

func decodeIPv6(b []byte, quick bool) summary {
	if len(b) < 40 || b[0]>>4 != 6 {
		return summary{proto: "ip6", text: "IP6 truncated-ip6"}
	}
	src := netip.AddrFrom16([16]byte(b[8:24])).String()
	dst := netip.AddrFrom16([16]byte(b[24:40])).String()
	plen := int(binary.BigEndian.Uint16(b[4:]))
	next, payload := int(b[6]), b[40:]
	name, hbh := "IP6", false
	// Walk the extension headers (RFC 8200 section 4) to the transport.
	for hops := 0; hops < 8; hops++ {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(payload) < 8 {
				return summary{src: src, dst: dst, proto: "ip6", text: fmt.Sprintf("IP6 %s > %s: truncated extension header", src, dst)}
			}
			hbh = hbh || next == 0
			n := 8 * (int(payload[1]) + 1)
			if n > len(payload) {
				n = len(payload)
			}
			plen -= n
			next, payload = int(payload[0]), payload[n:]
			continue
		case 44: // fragment
			if len(payload) < 8 {
				return summary{src: src, dst: dst, proto: "ip6", text: fmt.Sprintf("IP6 %s > %s: truncated fragment header", src, dst)}
			}
			plen -= 8
			next, payload = int(payload[0]), payload[8:]
			continue
		}
		break
	}
	s := transport(name, src, dst, next, payload, plen, int(b[7]), quick)
	if hbh {
		s.text = afterAddrs(s.text, "HBH ")
	}
	return s
}

var tcpFlagNames = []struct {
	bit  byte
	name string
}{{0x01, "F"}, {0x02, "S"}, {0x04, "R"}, {0x08, "P"}, {0x10, "."}, {0x20, "U"}, {0x40, "E"}, {0x80, "W"}}

// tcpFlagText is the TCP flags byte fl as tcpdump prints it between the
// brackets, in its order (ACK before URG), "none" for none.
func tcpFlagText(fl byte) string {
	var buf [8]byte
	b := buf[:0]
	for _, f := range tcpFlagNames {
		if fl&f.bit != 0 {
			b = append(b, f.name...)
		}
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// transport describes an IP payload of protocol proto, length bytes on
// the wire; ttl is the IP header's (VRRP names one that is not 255).
func transport(ipName, src, dst string, proto int, b []byte, length, ttl int, quick bool) summary {
	s := summary{src: src, dst: dst}
	switch proto {
	case 6:
		s.proto = "tcp"
		if len(b) < 20 {
			s.text = fmt.Sprintf("%s %s > %s: tcp truncated", ipName, src, dst)
			return s
		}
		s.sport, s.dport = int(binary.BigEndian.Uint16(b[0:])), int(binary.BigEndian.Uint16(b[2:]))
		seq, ack := binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
		off := int(b[12]>>4) * 4
		fl := b[13]
		s.flags = tcpFlagText(fl)
		data := max(len(b)-off, 0)
		if length > 0 {
			data = max(length-off, 0)
		}
		if quick {
			s.text = fmt.Sprintf("%s %s.%d > %s.%d: tcp %d", ipName, src, s.sport, dst, s.dport, data)
			return s
		}
		var t strings.Builder
		fmt.Fprintf(&t, "%s %s.%d > %s.%d: Flags [%s]", ipName, src, s.sport, dst, s.dport, s.flags)
		if fl&0x02 != 0 || data > 0 || fl&0x01 != 0 || fl&0x04 != 0 {
			if data > 0 {
				fmt.Fprintf(&t, ", seq %d:%d", seq, seq+uint32(data))
			} else {
				fmt.Fprintf(&t, ", seq %d", seq)
			}
		}
		if fl&0x10 != 0 {
			fmt.Fprintf(&t, ", ack %d", ack)
		}
		fmt.Fprintf(&t, ", win %d, length %d", binary.BigEndian.Uint16(b[14:]), data)
		s.text = t.String()
	case 17:
		s.proto = "udp"
		if len(b) < 8 {
			s.text = fmt.Sprintf("%s %s > %s: udp truncated", ipName, src, dst)
			return s
		}
		s.sport, s.dport = int(binary.BigEndian.Uint16(b[0:])), int(binary.BigEndian.Uint16(b[2:]))
		ulen := int(binary.BigEndian.Uint16(b[4:])) - 8
		if quick {
			s.text = fmt.Sprintf("%s %s.%d > %s.%d: UDP, length %d", ipName, src, s.sport, dst, s.dport, ulen)
			return s
		}
		if s.sport == 53 || s.dport == 53 || s.sport == 5353 || s.dport == 5353 {
			if ulen >= 0 && ulen < 12 {
				s.text = fmt.Sprintf("%s %s.%d > %s.%d: %s", ipName, src, s.sport, dst, s.dport, dnsTooShort(ulen))
				return s
			}
			if d := dnsText(b[8:], s.sport == 5353 || s.dport == 5353); d != "" {
				s.text = fmt.Sprintf("%s %s.%d > %s.%d: %s (%d)", ipName, src, s.sport, dst, s.dport, d, ulen)
				return s
			}
		}
		if t := udpApp(s.sport, s.dport, b[8:], appLength(ulen, length-8)); t != "" {
			s.text = fmt.Sprintf("%s %s.%d > %s.%d: %s", ipName, src, s.sport, dst, s.dport, t)
			return s
		}
		s.text = fmt.Sprintf("%s %s.%d > %s.%d: UDP, length %d", ipName, src, s.sport, dst, s.dport, ulen)
	case 1, 58:
		s.proto = "icmp"
		if proto == 58 {
			s.proto = "icmp6"
		}
		if len(b) < 4 {
			s.text = fmt.Sprintf("%s %s > %s: %s truncated", ipName, src, dst, strings.ToUpper(s.proto))
			return s
		}
		s.text = fmt.Sprintf("%s %s > %s: %s, length %d", ipName, src, dst, icmpText(proto, b), max(length, len(b)))
	case 50:
		s.proto = "esp"
		s.text = fmt.Sprintf("%s %s > %s: %s", ipName, src, dst, espText(b, max(length, len(b))))
	case 132:
		s.proto = "sctp"
		if len(b) < 12 {
			s.text = fmt.Sprintf("%s %s > %s: sctp [|sctp]", ipName, src, dst)
			return s
		}
		s.sport, s.dport = int(binary.BigEndian.Uint16(b[0:])), int(binary.BigEndian.Uint16(b[2:]))
		s.text = fmt.Sprintf("%s %s.%d > %s.%d: %s", ipName, src, s.sport, dst, s.dport, sctpText(b, s.sport, s.dport))
	case 112:
		s.proto = "vrrp"
		s.text = fmt.Sprintf("%s %s > %s: %s", ipName, src, dst, vrrpText(b, max(length, len(b)), ttl))
	case 2:
		s.proto = "igmp"
		if quick {
			s.text = fmt.Sprintf("%s %s > %s: igmp", ipName, src, dst)
			break
		}
		s.text = fmt.Sprintf("%s %s > %s: %s", ipName, src, dst, igmpText(b, max(length, len(b))))
	default:
		s.proto = fmt.Sprintf("ip-proto-%d", proto)
		s.text = fmt.Sprintf("%s %s > %s: ip-proto-%d %d", ipName, src, dst, proto, max(length, len(b)))
	}
	return s
}

// igmpText is tcpdump's text of an IGMP message (RFC 1112, 2236, 3376;
// print-igmp.c), length bytes long.
func igmpText(b []byte, length int) string {
	if len(b) < 1 {
		return "[|igmp]"
	}
	group := func() string {
		if len(b) < 8 {
			return "[|igmp]"
		}
		return netip.AddrFrom4([4]byte(b[4:8])).String()
	}
	lenNote := ""
	if length != 8 {
		lenNote = fmt.Sprintf(" [len %d]", length)
	}
	switch b[0] {
	case 0x11:
		if length >= 12 {
			if len(b) < 12 {
				return "igmp query [|igmp]"
			}
			text := "igmp query v3"
			if g := group(); g != "0.0.0.0" {
				text += " [gaddr " + g
				if n := binary.BigEndian.Uint16(b[10:]); n > 0 {
					text += fmt.Sprintf(" { %d source(s) }", n)
				}
				text += "]"
			}
			return text
		}
		if len(b) < 8 {
			return "igmp query [|igmp]"
		}
		text := "igmp query v1"
		if mrt := b[1]; mrt != 0 {
			text = "igmp query v2"
			if mrt != 100 {
				text += " [max resp time " + relTime(int(mrt)/10) + "]"
			}
		}
		if g := group(); g != "0.0.0.0" {
			text += " [gaddr " + g + "]"
		}
		return text + lenNote
	case 0x12:
		return "igmp v1 report " + group() + lenNote
	case 0x16:
		return "igmp v2 report " + group() + lenNote
	case 0x17:
		return "igmp leave " + group() + lenNote
	case 0x22:
		if len(b) < 8 {
			return "igmp v3 report [|igmp]"
		}
		return fmt.Sprintf("igmp v3 report, %d group record(s)", binary.BigEndian.Uint16(b[6:]))
	}
	return fmt.Sprintf("igmp-%d", b[0])
}

// relTime is tcpdump's unsigned_relts_print: "10s", "1m40s", "1h".
func relTime(secs int) string {
	if secs == 0 {
		return "0s"
	}
	var out strings.Builder
	for _, u := range []struct {
		n    int
		unit string
	}{{31536000, "y"}, {604800, "w"}, {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if secs >= u.n {
			fmt.Fprintf(&out, "%d%s", secs/u.n, u.unit)
			secs %= u.n
		}
	}
	return out.String()
}

// unreach4 are tcpdump's words for ICMP unreachable codes; %s is the
// quoted packet's destination.
var unreach4 = []string{
	"net %s unreachable", "host %s unreachable", "", "", "%s unreachable - need to frag",
	"%s unreachable - source route failed", "net %s unreachable - unknown", "host %s unreachable - unknown",
	"src host %s isolated unreachable", "net %s unreachable - admin prohibited", "host %s unreachable - admin prohibited",
	"net %s unreachable - tos prohibited", "host %s unreachable - tos prohibited",
	"host %s unreachable - admin prohibited filter", "host %s unreachable - host precedence violation",
	"host %s unreachable - precedence cutoff",
}

// unreachText says what tcpdump says of an ICMP unreachable quoting q
// (the original IP header and the start of its payload); mtu is the
// next hop's, for "need to frag".
func unreachText(code byte, mtu uint16, q []byte) string {
	if len(q) < 20 || q[0]>>4 != 4 {
		return fmt.Sprintf("unreachable, code %d", code)
	}
	dst := fmt.Sprintf("%d.%d.%d.%d", q[16], q[17], q[18], q[19])
	proto := q[9]
	ihl := int(q[0]&0x0f) * 4
	switch code {
	case 2:
		return fmt.Sprintf("%s protocol %d unreachable", dst, proto)
	case 3:
		if len(q) < ihl+4 {
			return fmt.Sprintf("%s port unreachable", dst)
		}
		port := binary.BigEndian.Uint16(q[ihl+2:])
		switch proto {
		case 6:
			return fmt.Sprintf("%s tcp port %d unreachable", dst, port)
		case 17:
			return fmt.Sprintf("%s udp port %d unreachable", dst, port)
		}
		return fmt.Sprintf("%s protocol %d port %d unreachable", dst, proto, port)
	case 4:
		if mtu != 0 {
			return fmt.Sprintf("%s unreachable - need to frag (mtu %d)", dst, mtu)
		}
	}
	if int(code) < len(unreach4) && unreach4[code] != "" {
		return fmt.Sprintf(unreach4[code], dst)
	}
	return fmt.Sprintf("unreachable, code %d", code)
}

func icmpText(proto int, b []byte) string {
	typ, code := b[0], b[1]
	idSeq := ""
	if len(b) >= 8 {
		idSeq = fmt.Sprintf(", id %d, seq %d", binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]))
	}
	if proto == 1 {
		switch typ {
		case 8:
			return "ICMP echo request" + idSeq
		case 0:
			return "ICMP echo reply" + idSeq
		case 11:
			if code == 1 {
				return "ICMP ip reassembly time exceeded"
			}
			return "ICMP time exceeded in-transit"
		case 3:
			if len(b) < 8 {
				return "ICMP unreachable"
			}
			return "ICMP " + unreachText(code, binary.BigEndian.Uint16(b[6:]), b[8:])
		case 4:
			return "ICMP source quench"
		case 12:
			if len(b) >= 5 {
				return fmt.Sprintf("ICMP parameter problem - octet %d", b[4])
			}
		}
		return fmt.Sprintf("ICMP type-#%d", typ)
	}
	addr6 := func(at int) string {
		if len(b) < at+16 {
			return "[|icmp6]"
		}
		return netip.AddrFrom16([16]byte(b[at : at+16])).String()
	}
	switch typ {
	case 128:
		return "ICMP6, echo request" + idSeq
	case 129:
		return "ICMP6, echo reply" + idSeq
	case 130:
		if len(b) >= 28 {
			return "ICMP6, multicast listener query v2 [gaddr " + addr6(8) + "]"
		}
		return "ICMP6, multicast listener query max resp delay: " + fmt.Sprint(u16(b, 4)) + " addr: " + addr6(8)
	case 131:
		return "ICMP6, multicast listener report max resp delay: " + fmt.Sprint(u16(b, 4)) + " addr: " + addr6(8)
	case 132:
		return "ICMP6, multicast listener done max resp delay: " + fmt.Sprint(u16(b, 4)) + " addr: " + addr6(8)
	case 143:
		if len(b) >= 8 {
			return fmt.Sprintf("ICMP6, multicast listener report v2, %d group record(s)", u16(b, 6))
		}
		return "ICMP6, multicast listener report v2"
	case 133:
		return "ICMP6, router solicitation"
	case 134:
		return "ICMP6, router advertisement"
	case 135:
		return "ICMP6, neighbor solicitation, who has " + addr6(8)
	case 136:
		return "ICMP6, neighbor advertisement, tgt is " + addr6(8)
	case 137:
		return "ICMP6, redirect, " + addr6(8) + " to " + addr6(24)
	case 138:
		return "ICMP6, router renumbering"
	case 2:
		if len(b) >= 8 {
			return fmt.Sprintf("ICMP6, packet too big, mtu %d", binary.BigEndian.Uint32(b[4:]))
		}
	case 3:
		if code == 1 {
			return "ICMP6, time exceeded in-transit (reassembly)"
		}
		return "ICMP6, time exceeded in-transit"
	case 4:
		return "ICMP6, parameter problem"
	case 1:
		return fmt.Sprintf("ICMP6, destination unreachable, code %d", code)
	}
	return fmt.Sprintf("ICMP6, unknown icmp6 type (%d)", typ)
}

func u16(b []byte, at int) uint16 {
	if len(b) < at+2 {
		return 0
	}
	return binary.BigEndian.Uint16(b[at:])
}

func decodeARP(b []byte) summary { return arpLine(b, len(b)) }

// arpHardware and arpProtocol name ARP's address types as tcpdump does
// (print-arp.c's arphrd_values, ethertype_values).
var arpHardware = map[uint16]string{1: "Ethernet", 6: "TokenRing", 7: "ArcNet", 15: "FrameRelay", 19: "ATM (RFC 2225)",
	23: "STRIP", 24: "IEEE 1394", 32: "InfiniBand"}

var arpProtocol = map[uint16]string{0x0800: "IPv4", 0x86dd: "IPv6", 0x0806: "ARP", 0x8035: "Reverse ARP",
	0x8100: "802.1Q", 0x88a8: "802.1Q-QinQ", 0x9100: "802.1Q-9100", 0x9200: "802.1Q-9200", 0x8137: "IPX", 0x809b: "Appletalk"}

// arpLine is tcpdump's line for an ARP packet b (RFC 826), whatever its
// address lengths; length is what followed the link header on the wire,
// padding included. Operations tcpdump does not know are hex-dumped on
// the lines after, as it does.
func arpLine(b []byte, length int) summary {
	s := summary{proto: "arp"}
	if len(b) < 8 {
		s.text = " [|arp]"
		return s
	}
	hrd, pro := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	hln, pln, op := int(b[4]), int(b[5]), binary.BigEndian.Uint16(b[6:])
	sha, spa := 8, 8+hln
	tha, tpa := spa+pln, spa+pln+hln
	if hrd == 19 && len(b) >= 12 {
		// ATM ARP (RFC 2225) lays its lengths out otherwise.
		need := 12 + int(b[4]&0x3f) + int(b[5]&0x3f) + int(b[8]) + int(b[9]&0x3f) + int(b[10]&0x3f) + int(b[11])
		if need > len(b) {
			s.text = " [|arp]"
			return s
		}
	}
	if tpa+pln > len(b) {
		s.text = " [|arp]"
		return s
	}
	proto := func(at int) string {
		switch {
		case pro != 0x0800 && pro != 0x1000:
			return "<wrong proto type>"
		case pln != 4:
			return "<wrong len>"
		}
		return netip.AddrFrom4([4]byte(b[at : at+4])).String()
	}
	link := func(at int) string {
		parts := make([]string, hln)
		for i := range parts {
			parts[i] = fmt.Sprintf("%02x", b[at+i])
		}
		return strings.Join(parts, ":")
	}
	var t strings.Builder
	t.WriteString("ARP, ")
	if pro != 0x0800 && pro != 0x1000 || pln != 4 || hln == 0 {
		hw, ok := arpHardware[hrd]
		if !ok {
			hw = fmt.Sprintf("Unknown Hardware (%d)", hrd)
		}
		pr, ok := arpProtocol[pro]
		if !ok {
			pr = fmt.Sprintf("Unknown Protocol (0x%04x)", pro)
		}
		fmt.Fprintf(&t, "%s (len %d), %s (len %d), length %d", hw, hln, pr, pln, length)
		s.text = t.String()
		return s
	}
	s.src, s.dst = proto(spa), proto(tpa)
	switch op {
	case 1:
		fmt.Fprintf(&t, "Request who-has %s", proto(tpa))
		for _, c := range b[tha : tha+hln] {
			if c != 0 {
				fmt.Fprintf(&t, " (%s)", link(tha))
				break
			}
		}
		fmt.Fprintf(&t, " tell %s", proto(spa))
	case 2:
		fmt.Fprintf(&t, "Reply %s is-at %s", proto(spa), link(sha))
	case 3:
		fmt.Fprintf(&t, "Reverse Request who-is %s tell %s", link(tha), link(sha))
	case 4:
		fmt.Fprintf(&t, "Reverse Reply %s at %s", link(tha), proto(tpa))
	case 8:
		fmt.Fprintf(&t, "Inverse Request who-is %s tell %s", link(tha), link(sha))
	case 9:
		fmt.Fprintf(&t, "Inverse Reply %s at %s", link(sha), proto(spa))
	default:
		fmt.Fprintf(&t, "Unknown (%d) ", op)
		var hex bytes.Buffer
		w := bufio.NewWriter(&hex)
		hexDump(w, b, true)
		w.Flush()
		s.text = t.String() + "\n" + strings.TrimSuffix(hex.String(), "\n")
		return s
	}
	fmt.Fprintf(&t, ", length %d", length)
	s.text = t.String()
	return s
}

// afterAddrs inserts ins after the "SRC > DST: " of a line (addresses
// may hold ": " themselves: "IP6 :: > ff02::16: ...").
func afterAddrs(text, ins string) string {
	i := strings.Index(text, " > ")
	if i < 0 {
		return text
	}
	j := strings.Index(text[i:], ": ")
	if j < 0 {
		return text
	}
	return text[:i+j+2] + ins + text[i+j+2:]
}

// vrrpText is tcpdump's text of a VRRP advertisement (RFC 3768, RFC
// 5798; print-vrrp.c), length bytes long, sent with the IP TTL ttl.
func vrrpText(b []byte, length, ttl int) string {
	if len(b) < 1 {
		return "VRRP [|vrrp]"
	}
	version, typ := b[0]>>4, b[0]&0xf
	name := fmt.Sprintf("unknown type (%d)", typ)
	if typ == 1 {
		name = "Advertisement"
	}
	var t strings.Builder
	fmt.Fprintf(&t, "VRRPv%d, %s", version, name)
	if ttl != 255 {
		fmt.Fprintf(&t, ", (ttl %d)", ttl)
	}
	if version < 2 || version > 3 || typ != 1 {
		return t.String()
	}
	if len(b) < 6 {
		return t.String() + " [|vrrp]"
	}
	fmt.Fprintf(&t, ", vrid %d, prio %d", b[1], b[2])
	if version == 2 {
		auth := map[byte]string{0: "none", 1: "simple", 2: "ah"}[b[4]]
		fmt.Fprintf(&t, ", authtype %s, intvl %ds, length %d", auth, b[5], length)
	} else {
		fmt.Fprintf(&t, ", intvl %dcs, length %d", int(b[4]&0xf)<<8|int(b[5]), length)
	}
	return t.String()
}
