package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// udpApp is tcpdump's text for the protocols it names by UDP port
// (print-udp.c's dispatch), after "SRC.PORT > DST.PORT: "; "" for a
// payload it prints as "UDP, length N". ulen is the payload's length on
// the wire.
func udpApp(sport, dport int, b []byte, ulen int) string {
	port := func(p int) bool { return sport == p || dport == p }
	switch {
	case port(4500) && len(b) >= 8 && binary.BigEndian.Uint32(b) != 0:
		// NAT traversal: ESP inside UDP (RFC 3948); a zero SPI marks
		// ISAKMP instead.
		return "UDP-encap: " + espText(b, ulen)
	case port(500) || port(4500):
		return "" // ISAKMP comes first in tcpdump's order; not decoded here
	case port(49152):
		// Before BFD and the rest, as in tcpdump's order.
		return bcmLIText(b)
	case port(1985):
		return hsrpText(b, ulen)
	case dport == 3784 || dport == 4784 || dport == 6784:
		return bfdText(dport, b, ulen)
	case port(67) || port(68):
		return bootpText(b, ulen)
	case port(123):
		return ntpText(b, ulen)
	case port(646):
		return ldpText(b)
	case port(6696) || port(6697):
		return babelText(b)
	case port(6343):
		return sflowText(b, ulen)
	case sport >= 7000 && sport <= 7009 || dport >= 7000 && dport <= 7009:
		return rxText(b, ulen)
	case port(1645) || port(1812) || port(1646) || port(1813) || port(3799):
		return radiusText(b, ulen)
	case port(546) || port(547):
		return dhcp6Text(b)
	case port(520):
		return ripText(b, ulen)
	case port(5359) && len(b) >= 2 && b[0] == 43 && b[1] == 1:
		// AHCP (print-ahcp.c; magic 43): without -v, the version alone.
		return "AHCP Version 1"
	}
	return ""
}

// bootpText is BOOTP/DHCP (RFC 951, RFC 2131; print-bootp.c) as
// tcpdump prints it without -v.
func bootpText(b []byte, ulen int) string {
	if len(b) < 1 {
		return "BOOTP/DHCP [|bootp]"
	}
	op := map[byte]string{1: "Request", 2: "Reply"}[b[0]]
	if op == "" {
		op = fmt.Sprintf("unknown (0x%02x)", b[0])
	}
	text := "BOOTP/DHCP, " + op
	if len(b) >= 3 && b[1] == 1 && b[2] == 6 && b[0] == 1 {
		if len(b) < 34 {
			return text + " [|bootp]"
		}
		text += " from " + mac(b[28:34])
	}
	return fmt.Sprintf("%s, length %d", text, ulen)
}

// ntpText is NTP (RFC 5905; print-ntp.c) as tcpdump prints it without
// -v: the version and the mode.
func ntpText(b []byte, ulen int) string {
	if len(b) < 1 {
		return "NTP [|ntp]"
	}
	version, mode := (b[0]>>3)&7, b[0]&7
	modes := []string{"unspecified", "symmetric active", "symmetric passive", "Client", "Server", "Broadcast", "Control Message", "Reserved"}
	return fmt.Sprintf("NTPv%d, %s, length %d", version, modes[mode], ulen)
}

// hsrpText is Cisco's Hot Standby Router Protocol (RFC 2281;
// print-hsrp.c) as tcpdump prints it without -v.
func hsrpText(b []byte, ulen int) string {
	if len(b) < 1 {
		return "HSRPv? [|hsrp]"
	}
	var t strings.Builder
	fmt.Fprintf(&t, "HSRPv%d", b[0])
	if b[0] != 0 {
		return t.String()
	}
	if len(b) < 8 {
		return t.String() + " [|hsrp]"
	}
	op := map[byte]string{0: "hello", 1: "coup", 2: "resign"}[b[1]]
	if op == "" {
		op = fmt.Sprintf("unknown (%d)", b[1])
	}
	state := map[byte]string{0: "initial", 1: "learn", 2: "listen", 4: "speak", 8: "standby", 16: "active"}[b[2]]
	if state == "" {
		state = fmt.Sprintf("Unknown (%d)", b[2])
	}
	fmt.Fprintf(&t, "-%s %d: state=%s group=%d ", op, ulen, state, b[6])
	if b[7] != 0 {
		fmt.Fprintf(&t, "[reserved=%d!] ", b[7])
	}
	if len(b) < 20 {
		return t.String() + " [|hsrp]"
	}
	fmt.Fprintf(&t, "addr=%s", netip.AddrFrom4([4]byte(b[16:20])))
	return t.String()
}

// bfdText is Bidirectional Forwarding Detection's control packet (RFC
// 5880, 5883, 7130; print-bfd.c) as tcpdump prints it without -v.
func bfdText(dport int, b []byte, ulen int) string {
	if len(b) < 2 {
		return "BFD [|bfd]"
	}
	version := b[0] >> 5
	if version != 1 {
		return ""
	}
	kind := map[int]string{3784: "Control", 4784: "Multihop", 6784: "Lag"}[dport]
	state := []string{"AdminDown", "Down", "Init", "Up"}[b[1]>>6]
	var flags []string
	for _, f := range []struct {
		bit  byte
		name string
	}{{0x20, "Poll"}, {0x10, "Final"}, {0x08, "Control Plane Independent"}, {0x04, "Authentication Present"}, {0x02, "Demand"}, {0x01, "Multipoint"}} {
		if b[1]&f.bit != 0 {
			flags = append(flags, f.name)
		}
	}
	if len(flags) == 0 {
		flags = []string{"none"}
	}
	return fmt.Sprintf("BFDv%d, %s, State %s, Flags: [%s], length: %d", version, kind, state, strings.Join(flags, ", "), ulen)
}

// ldpText is the Label Distribution Protocol's PDUs (RFC 5036;
// print-ldp.c) as tcpdump prints them without -v: the first PDU's
// header, when there is more than a header and a message header.
func ldpText(b []byte) string {
	if len(b) <= 10+8 {
		return ""
	}
	if version := binary.BigEndian.Uint16(b); version != 1 {
		return fmt.Sprintf("LDP version %d packet not supported", version)
	}
	return fmt.Sprintf("LDP, Label-Space-ID: %s:%d, pdu-length: %d", netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[8:]), binary.BigEndian.Uint16(b[2:]))
}

// bcmLIText is Broadcom's lawful-intercept shim (print-bcm-li.c) as
// tcpdump prints it without -v.
func bcmLIText(b []byte) string {
	if len(b) < 4 {
		return fmt.Sprintf(" (length %d < 4) (invalid)", len(b))
	}
	shim := binary.BigEndian.Uint32(b)
	name := func(m map[uint32]string, v uint32) string {
		if n, ok := m[v]; ok {
			return n
		}
		return "unknown"
	}
	return fmt.Sprintf("BCM-LI-SHIM: direction %s, pkt-type %s, pkt-subtype %s, li-id %d",
		name(map[uint32]string{1: "unused", 2: "egress", 3: "ingress"}, shim>>29&7),
		name(map[uint32]string{4: "undecided", 5: "ipv4", 6: "ipv6", 7: "ethernet"}, shim>>25&0xf),
		name(map[uint32]string{1: "single VLAN tag", 2: "double VLAN tag", 3: "untagged"}, shim>>22&7), shim&0x3fffff)
}

// sflowText is an sFlow datagram's header (sFlow version 5;
// print-sflow.c) as tcpdump prints it without -v.
func sflowText(b []byte, ulen int) string {
	if len(b) < 4 {
		return "sFlow [|sflow]"
	}
	version := binary.BigEndian.Uint32(b)
	if version != 5 {
		return fmt.Sprintf("sFlow version %d packet not supported", version)
	}
	if ulen < 28 {
		return fmt.Sprintf("sFlowv5 [length %d < 28] (invalid)", ulen)
	}
	if len(b) < 8 {
		return "sFlowv5 [|sflow]"
	}
	var agent, family string
	switch binary.BigEndian.Uint32(b[4:]) {
	case 1:
		if len(b) < 16 {
			return "sFlowv5 [|sflow]"
		}
		family, agent = "IPv4", netip.AddrFrom4([4]byte(b[8:12])).String()
		b = b[12:]
	case 2:
		if len(b) < 28 {
			return "sFlowv5 [|sflow]"
		}
		family, agent = "IPv6", netip.AddrFrom16([16]byte(b[8:24])).String()
		b = b[24:]
	default:
		return "sFlowv5 (invalid)"
	}
	if len(b) < 4 {
		return "sFlowv5 [|sflow]"
	}
	return fmt.Sprintf("sFlowv5, %s agent %s, agent-id %d, length %d", family, agent, binary.BigEndian.Uint32(b), ulen)
}

// espText is an ESP packet's header (RFC 4303; print-esp.c) as tcpdump
// prints it: the SPI and sequence number.
func espText(b []byte, length int) string {
	if len(b) < 8 {
		return "ESP [|esp]"
	}
	return fmt.Sprintf("ESP(spi=0x%08x,seq=0x%x), length %d", binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), length)
}

// dhcp6Text is a DHCPv6 message (RFC 8415; print-dhcp6.c) as tcpdump
// prints it without -v: its type.
func dhcp6Text(b []byte) string {
	if len(b) < 1 {
		return "dhcp6 [|dhcp6]"
	}
	names := []string{1: "solicit", 2: "advertise", 3: "request", 4: "confirm", 5: "renew", 6: "rebind", 7: "reply", 8: "release",
		9: "decline", 10: "reconfigure", 11: "inf-req", 12: "relay-fwd", 13: "relay-reply", 14: "leasequery", 15: "leasequery-reply"}
	if int(b[0]) < len(names) && names[b[0]] != "" {
		return "dhcp6 " + names[b[0]]
	}
	return fmt.Sprintf("dhcp6 msgtype-%d", b[0])
}

// ripText is a RIP message (RFC 2453; print-rip.c) as tcpdump prints it
// without -v: the version, the command and the length.
func ripText(b []byte, ulen int) string {
	if len(b) < 2 {
		return "RIP [|rip]"
	}
	cmds := map[byte]string{1: "Request", 2: "Response", 3: "Trace on", 4: "Trace off", 5: "Poll", 6: "Poll Entry"}
	cmd, ok := cmds[b[0]]
	if !ok {
		cmd = fmt.Sprintf("unknown command (%d)", b[0])
	}
	switch b[1] {
	case 1, 2:
		return fmt.Sprintf("RIPv%d, %s, length: %d", b[1], cmd, ulen)
	}
	return fmt.Sprintf("RIPv%d, length: %d", b[1], ulen)
}

// appLength is the length tcpdump's UDP printer hands a protocol's: the
// UDP header's, or what the IP header leaves for it when that is less.
func appLength(ulen, ipLeft int) int {
	if ipLeft > 0 && ipLeft < ulen {
		return ipLeft
	}
	return ulen
}

// rxText is an AFS Rx packet's header (print-rx.c) as tcpdump prints it
// without -v, and an acknowledgement's ranges; the AFS calls inside the
// first data packet of a call are not decoded.
func rxText(b []byte, ulen int) string {
	if len(b) < 28 {
		return " [|rx]"
	}
	types := map[byte]string{1: "data", 2: "ack", 3: "busy", 4: "abort", 5: "ackall", 6: "challenge", 7: "response", 8: "debug", 9: "params", 13: "version"}
	typ := b[20]
	name, ok := types[typ]
	if !ok {
		name = fmt.Sprintf("type %d", typ)
	}
	t := " rx " + name
	if typ == 2 {
		a := b[28:]
		if len(a) < 18 {
			return t + " [|rx]"
		}
		first := binary.BigEndian.Uint32(a[4:])
		reasons := map[byte]string{1: "ack requested", 2: "duplicate packet", 3: "out of sequence", 4: "exceeds window",
			5: "no buffer space", 6: "ping", 7: "ping response", 8: "delay", 9: "idle"}
		reason, ok := reasons[a[16]]
		if !ok {
			reason = fmt.Sprintf("#%d", a[16])
		}
		t += fmt.Sprintf(" first %d serial %d reason %s", first, binary.BigEndian.Uint32(a[12:]), reason)
		n := int(a[17])
		if n > 0 {
			if len(a) < 18+n {
				return t + " [|rx]"
			}
			acks := a[18 : 18+n]
			t += rxRanges(acks, 1, " acked ", first) + rxRanges(acks, 0, " nacked ", first)
		}
	}
	return t + fmt.Sprintf(" (%d)", ulen)
}

// rxRanges lists the packets whose ack byte is want, ranges collapsed
// ("acked 3-5,8"), as print-rx.c does.
func rxRanges(acks []byte, want byte, label string, first uint32) string {
	var t strings.Builder
	start, last := -2, -2
	for i, a := range acks {
		switch {
		case a == want && last == -2:
			t.WriteString(label + fmt.Sprint(first+uint32(i)))
			start = i
			last = i
		case a == want && last != i-1:
			fmt.Fprintf(&t, ",%d", first+uint32(i))
			start = i
			last = i
		case a == want:
			last = i
		case last == i-1 && start != last:
			fmt.Fprintf(&t, "-%d", first+uint32(i)-1)
		}
	}
	if last == len(acks)-1 && start != last {
		fmt.Fprintf(&t, "-%d", first+uint32(len(acks))-1)
	}
	return t.String()
}

// radiusText is a RADIUS packet's header (RFC 2865, 2866, 5176;
// print-radius.c) as tcpdump prints it without -v.
func radiusText(b []byte, ulen int) string {
	if len(b) < 4 {
		return "RADIUS [|radius]"
	}
	codes := map[byte]string{1: "Access-Request", 2: "Access-Accept", 3: "Access-Reject", 4: "Accounting-Request",
		5: "Accounting-Response", 11: "Access-Challenge", 12: "Status-Server", 13: "Status-Client",
		40: "Disconnect-Request", 41: "Disconnect-ACK", 42: "Disconnect-NAK", 43: "CoA-Request", 44: "CoA-ACK", 45: "CoA-NAK"}
	name, ok := codes[b[0]]
	if !ok {
		name = "Unknown Command"
	}
	return fmt.Sprintf("RADIUS, %s (%d), id: 0x%02x length: %d", name, b[0], b[1], ulen)
}
