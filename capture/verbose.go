package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// This file writes what tcpdump -v adds (print-ip.c, print-ip6.c,
// print-tcp.c, print-udp.c): IPv4's header fields on a line of their
// own with the packet's line indented under it, IPv6's in parentheses,
// and the TCP and UDP checksums checked.

// ipProtoNames are tcpdump's names of IP protocols (ipproto.c).
var ipProtoNames = map[byte]string{0: "Options", 1: "ICMP", 2: "IGMP", 4: "IPIP", 6: "TCP", 8: "EGP", 9: "IGRP", 17: "UDP",
	33: "DCCP", 41: "IPv6", 43: "Routing", 44: "Fragment", 46: "RSVP", 47: "GRE", 50: "ESP", 51: "AH", 55: "Mobile IP",
	58: "ICMPv6", 62: "Mobile IP (old)", 88: "EIGRP", 89: "OSPF", 103: "PIM", 108: "Compressed IP", 112: "VRRP",
	113: "PGM", 132: "SCTP", 135: "Mobility"}

func ipProtoName(p byte) string {
	if n, ok := ipProtoNames[p]; ok {
		return n
	}
	return "unknown"
}

// appendVerboseIP appends a packet's line as tcpdump -v prints it, given
// its network header nh (ethertype et), to dst. It uses strconv rather
// than fmt: it runs for every packet with -v, where building strings
// showed as most of the output's time and allocations.
func appendVerboseIP(dst []byte, et uint16, nh []byte, text string) []byte {
	be := binary.BigEndian
	switch {
	case et == 0x800 && len(nh) >= 20 && strings.HasPrefix(text, "IP "):
		tos := nh[1]
		dst = append(dst, "IP (tos 0x"...)
		dst = strconv.AppendUint(dst, uint64(tos), 16)
		switch tos & 3 {
		case 1:
			dst = append(dst, ",ECT(1)"...)
		case 2:
			dst = append(dst, ",ECT(0)"...)
		case 3:
			dst = append(dst, ",CE"...)
		}
		if nh[8] >= 1 {
			dst = append(dst, ", ttl "...)
			dst = strconv.AppendUint(dst, uint64(nh[8]), 10)
		}
		off := be.Uint16(nh[6:])
		dst = append(dst, ", id "...)
		dst = strconv.AppendUint(dst, uint64(be.Uint16(nh[4:])), 10)
		dst = append(dst, ", offset "...)
		dst = strconv.AppendUint(dst, uint64(off&0x1fff)*8, 10)
		dst = append(dst, ", flags ["...)
		sep := ""
		for _, f := range [...]struct {
			bit  uint16
			name string
		}{{0x2000, "+"}, {0x4000, "DF"}, {0x8000, "rsvd"}} {
			if off&f.bit != 0 {
				dst = append(append(dst, sep...), f.name...)
				sep = ", "
			}
		}
		if sep == "" {
			dst = append(dst, "none"...)
		}
		dst = append(dst, "], proto "...)
		dst = append(dst, ipProtoName(nh[9])...)
		dst = append(dst, " ("...)
		dst = strconv.AppendUint(dst, uint64(nh[9]), 10)
		dst = append(dst, "), length "...)
		dst = strconv.AppendUint(dst, uint64(be.Uint16(nh[2:])), 10)
		if ihl := int(nh[0]&0xf) * 4; ihl > 20 && ihl <= len(nh) {
			dst = append(dst, ", options ("...)
			dst = append(dst, ipOptions(nh[20:ihl])...)
			dst = append(dst, ')')
		}
		if ihl := int(nh[0]&0xf) * 4; ihl >= 20 && ihl <= len(nh) {
			if sum := onesSum(0, nh[:ihl]); sum != 0xffff {
				dst = append(dst, ", bad cksum "...)
				dst = strconv.AppendUint(dst, uint64(be.Uint16(nh[10:])), 16)
				dst = append(dst, " (->"...)
				dst = strconv.AppendUint(dst, uint64(shouldBe(nh[:ihl], 10, 0)), 16)
				dst = append(dst, ")!"...)
			}
		}
		dst = append(dst, ")\n    "...)
		return append(dst, text[len("IP "):]...)
	case et == 0x86dd && len(nh) >= 40 && strings.HasPrefix(text, "IP6 "):
		flow := be.Uint32(nh)
		dst = append(dst, "IP6 ("...)
		if flow&0x0ff00000 != 0 {
			dst = append(dst, "class 0x"...)
			dst = appendHex(dst, uint64((flow&0x0ff00000)>>20), 2)
			dst = append(dst, ", "...)
		}
		if flow&0x000fffff != 0 {
			dst = append(dst, "flowlabel 0x"...)
			dst = appendHex(dst, uint64(flow&0x000fffff), 5)
			dst = append(dst, ", "...)
		}
		dst = append(dst, "hlim "...)
		dst = strconv.AppendUint(dst, uint64(nh[7]), 10)
		dst = append(dst, ", next-header "...)
		dst = append(dst, ipProtoName(nh[6])...)
		dst = append(dst, " ("...)
		dst = strconv.AppendUint(dst, uint64(nh[6]), 10)
		dst = append(dst, ") payload length: "...)
		dst = strconv.AppendUint(dst, uint64(be.Uint16(nh[4:])), 10)
		dst = append(dst, ") "...)
		return append(dst, text[len("IP6 "):]...)
	}
	return append(dst, text...)
}

// appendHex appends v in lower-case hexadecimal, zero-padded to width
// digits (fmt's %0*x).
func appendHex(dst []byte, v uint64, width int) []byte {
	var b [16]byte
	h := strconv.AppendUint(b[:0], v, 16)
	for i := len(h); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, h...)
}

// onesSum adds b to sum as RFC 1071's 16-bit ones' complement sum.
func onesSum(sum uint32, b []byte) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// shouldBe is the checksum data would carry at offset at (its 16-bit
// field counted as zero), with pseudo the pseudo-header's sum.
func shouldBe(data []byte, at int, pseudo uint32) uint16 {
	was := binary.BigEndian.Uint16(data[at:])
	sum := uint32(onesSum(pseudo, data)) + uint32(^was)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// pseudoSum is the sum of the transport checksum's pseudo-header (RFC
// 793, RFC 8200 section 8.1).
func pseudoSum(src, dst netip.Addr, proto byte, length int) uint32 {
	var sum uint32
	for _, a := range []netip.Addr{src, dst} {
		b := a.AsSlice()
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	return sum + uint32(proto) + uint32(length)
}

// transportSum checks the TCP or UDP checksum of seg (the whole segment,
// length bytes on the wire): ok, and the value it should carry.
func transportSum(src, dst netip.Addr, proto byte, seg []byte, at int) (ok bool, want uint16) {
	pseudo := pseudoSum(src, dst, proto, len(seg))
	return onesSum(pseudo, seg) == 0xffff, shouldBe(seg, at, pseudo)
}

// ipOptions is tcpdump's list of IPv4 options (print-ip.c ip_optprint).
func ipOptions(b []byte) string {
	names := map[byte]string{0: "EOL", 1: "NOP", 68: "timestamp", 130: "security", 7: "RR", 137: "SSRR", 131: "LSRR", 148: "RA", 82: "traceroute"}
	var out strings.Builder
	for len(b) > 0 {
		if out.Len() > 0 {
			out.WriteByte(',')
		}
		code := b[0]
		name, ok := names[code]
		if !ok {
			name = fmt.Sprintf("unknown %d", code)
		}
		out.WriteString(name)
		n := 1
		if code > 1 {
			if len(b) < 2 || b[1] < 2 || int(b[1]) > len(b) {
				if len(b) >= 2 {
					fmt.Fprintf(&out, " [bad length %d]", b[1])
				}
				break
			}
			n = int(b[1])
		}
		if code == 0 {
			break
		}
		if code == 148 && n >= 4 {
			if v := binary.BigEndian.Uint16(b[2:]); v != 0 {
				fmt.Fprintf(&out, " value %d", v)
			}
		}
		b = b[n:]
	}
	return out.String()
}
