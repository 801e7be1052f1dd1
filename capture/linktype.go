package capture

import (
	"encoding/binary"
	"fmt"

	"github.com/rawkit/rawkit/filter"
)

// Savefiles of other link types are read by rewriting each packet into
// one of the three the filter compiler and the printer know, with nothing
// lost that they use: BSD loopback (NULL, LOOP) and raw IPv4/IPv6 become
// raw IP, Linux cooked v2 becomes cooked v1.
const (
	linkNull      = 0
	linkRawAlt    = 12 // DLT_RAW's number on most systems
	linkRawAlt2   = 14 // ... and on OpenBSD
	linkLoop      = 108
	linkIPv4      = 228
	linkIPv6      = 229
	linkLinuxSLL2 = 276
	linkArcnet    = 129 // ARCNET_LINUX: RFC 1051 and RFC 1201 frames
	linkIPoIB     = 242 // IP over InfiniBand (RFC 4391)
	linkBRCMPre   = 282 // a 4-byte Broadcom switch tag before Ethernet
)

// linkTypeMask keeps the link type of a savefile header's field, whose
// upper bits carry the FCS length (libpcap's LT_LINKTYPE).
const linkTypeMask = 0x03FFFFFF

// linkAdapter turns a savefile's packets into ones of a known link type.
type linkAdapter struct {
	file  uint32          // the file's link type, masked
	as    filter.LinkType // what the packets are handed on as
	known bool            // false: the link type is printed, not decoded
	// native is the filter's link type when the filter compiler knows
	// the file's own (it then runs on the frame as the file has it, as
	// libpcap's does: link[] and the cooked v2 fields mean what they do
	// in tcpdump).
	native  filter.LinkType
	filters bool
}

// filterType is the link type filters are compiled for, and whether they
// run before the frame is rewritten.
func (a linkAdapter) filterType() (filter.LinkType, bool) {
	if a.filters {
		return a.native, true
	}
	return a.as, false
}

func newLinkAdapter(fileType uint32) linkAdapter {
	lt := fileType & linkTypeMask
	a := linkAdapter{file: lt, known: true}
	switch lt {
	case linkEthernet, linkBRCMPre:
		a.as = filter.Ethernet
	case linkLinuxSLL, linkLinuxSLL2, linkArcnet, linkIPoIB:
		a.as = filter.LinuxSLL
	case linkRaw, linkRawAlt, linkRawAlt2, linkIPv4, linkIPv6, linkNull, linkLoop:
		a.as = filter.RawIP
	default:
		a.known = false
		a.as = filter.RawIP
	}
	switch lt {
	case linkRawAlt, linkRawAlt2:
		a.native, a.filters = filter.RawIP, true
	default:
		a.native, a.filters = filter.LinkTypeOfDLT(int(lt))
	}
	return a
}

// adapt rewrites one packet in place; ok is false for a packet too short
// for its link header, which is handed on unchanged.
func (a linkAdapter) adapt(data []byte, wire int) ([]byte, int, bool) {
	switch a.file {
	case linkNull, linkLoop:
		if len(data) < 4 {
			return data, wire, false
		}
		return data[4:], wire - 4, true
	case linkLinuxSLL2:
		// v2: protocol, reserved, ifindex, hatype, pkttype, addrlen,
		// address[8] (20 bytes); v1: pkttype, hatype, addrlen,
		// address[8], protocol (16 bytes).
		if len(data) < 20 {
			return data, wire, false
		}
		proto := binary.BigEndian.Uint16(data[0:])
		hatype := binary.BigEndian.Uint16(data[8:])
		pkttype, addrlen := data[10], data[11]
		var addr [8]byte
		copy(addr[:], data[12:20])
		v1 := data[4:20]
		binary.BigEndian.PutUint16(v1[0:], uint16(pkttype))
		binary.BigEndian.PutUint16(v1[2:], hatype)
		binary.BigEndian.PutUint16(v1[4:], uint16(addrlen))
		copy(v1[6:14], addr[:])
		binary.BigEndian.PutUint16(v1[14:], proto)
		return data[4:], wire - 4, true
	case linkArcnet, linkIPoIB:
		return cookedFrom(a.file, data, wire)
	case linkBRCMPre:
		// tcpdump shows the tag only with -e.
		if len(data) < 4 {
			return data, wire, false
		}
		return data[4:], wire - 4, true
	}
	return data, wire, true
}

// rewrites reports whether adapt changes the file's frames.
func (a linkAdapter) rewrites() bool {
	switch a.file {
	case linkNull, linkLoop, linkLinuxSLL2, linkArcnet, linkIPoIB, linkBRCMPre:
		return true
	}
	return false
}

// cookedFrom rewrites an ARCNET or IP-over-InfiniBand frame as a Linux
// cooked v1 one: the protocol its header names, then what follows it.
func cookedFrom(lt uint32, data []byte, wire int) ([]byte, int, bool) {
	var proto uint16
	hdr := 0
	switch lt {
	case linkIPoIB:
		// Two 20-byte hardware addresses, the protocol, 2 reserved bytes.
		if len(data) < 44 {
			return data, wire, false
		}
		proto, hdr = binary.BigEndian.Uint16(data[40:]), 44
	case linkArcnet:
		// Source, destination, offset, then the ARCNET protocol: RFC
		// 1051's old types end the header there; RFC 1201's add a flag
		// and a sequence number (print-arcnet.c).
		if len(data) < 5 {
			return data, wire, false
		}
		typ := data[4]
		hdr = 8
		if typ == 0xf0 || typ == 0xf1 || typ == 0xf2 {
			hdr = 5
		}
		if len(data) < hdr {
			return data, wire, false
		}
		proto = map[byte]uint16{0xd4: 0x0800, 0xf0: 0x0800, 0xd5: 0x0806, 0xf1: 0x0806, 0xc4: 0x86dd}[typ]
		if proto == 0 {
			return data, wire, false
		}
	}
	out := make([]byte, 16+len(data)-hdr)
	binary.BigEndian.PutUint16(out[14:], proto)
	copy(out[16:], data[hdr:])
	return out, wire - hdr + 16, true
}

// name is the link type as tcpdump names it in "reading from file".
func (a linkAdapter) name() string {
	if n, ok := linkNames[a.file]; ok {
		return n
	}
	return fmt.Sprintf("%d", a.file)
}

var linkNames = map[uint32]string{
	linkNull: "NULL (BSD loopback)", linkEthernet: "EN10MB (Ethernet)", linkRaw: "RAW (Raw IP)",
	linkRawAlt: "RAW (Raw IP)", linkLoop: "LOOP (OpenBSD loopback)", linkLinuxSLL: "LINUX_SLL (Linux cooked v1)",
	linkIPv4: "IPV4 (Raw IPv4)", linkIPv6: "IPV6 (Raw IPv6)", linkLinuxSLL2: "LINUX_SLL2 (Linux cooked v2)",
	linkArcnet: "ARCNET_LINUX (Linux ARCNET)", linkIPoIB: "IPOIB (RFC 4391 IP-over-Infiniband)",
	linkBRCMPre: "DSA_TAG_BRCM_PREPEND (Broadcom tag (prepended))",
}
