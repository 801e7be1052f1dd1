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
