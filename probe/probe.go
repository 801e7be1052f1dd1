package probe

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// IP protocol numbers.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// MinUDPLen is the smallest UDP probe: the header and the two payload
// bytes that set its checksum.
const MinUDPLen = 8 + 2

// UDP builds a UDP header and payload of total length n (at least
// MinUDPLen) whose checksum equals id, which must not be 0 (it would mean
// "no checksum" in IPv4 and is invalid in IPv6). src and dst are the
// addresses of the IP header the kernel will add.
func UDP(dst []byte, src, to netip.Addr, sport, dport uint16, id uint16, n int) ([]byte, error) {
	if id == 0 {
		return dst, errors.New("probe: a UDP probe id must not be 0")
	}
	n = max(n, MinUDPLen)
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint16(b[4:6], uint16(n))
	// The payload word at 8 is chosen so that the checksum comes out as
	// id: checksum = ^(rest + word), so word = ^id - rest.
	rest := PseudoHeader(src, to, ProtoUDP, n).Add(b).Fold()
	word := onesSub(^id, rest)
	binary.BigEndian.PutUint16(b[8:10], word)
	binary.BigEndian.PutUint16(b[6:8], id)
	return append(dst, b...), nil
}

// UDPEchoID is the id of the UDP probe from src:sport to to:dport that
// carried payload: the checksum UDP gave it. It reads an echo service's
// answer, whose payload is the probe's, whatever checksum the answer
// itself carries (on a veth link it may be only partial).
func UDPEchoID(src, to netip.Addr, sport, dport uint16, payload []byte) uint16 {
	var h [8]byte
	binary.BigEndian.PutUint16(h[0:2], sport)
	binary.BigEndian.PutUint16(h[2:4], dport)
	binary.BigEndian.PutUint16(h[4:6], uint16(8+len(payload)))
	return ^PseudoHeader(src, to, ProtoUDP, 8+len(payload)).Add(h[:]).Add(payload).Fold()
}

// UDPChecksumOK verifies a whole UDP segment against its pseudo-header.
func UDPChecksumOK(src, dst netip.Addr, seg []byte) bool {
	return PseudoHeader(src, dst, ProtoUDP, len(seg)).Add(seg).Fold() == 0xffff
}

// ICMPEcho builds an echo request whose checksum is the constant flow
// value while the sequence number carries the probe's identity. n is the
// ICMP message length, at least 10 (header and the compensating word).
// The ICMPv6 checksum covers a pseudo-header with both addresses, and the
// kernel computes it itself on every ICMPv6 socket (RFC 3542 section
// 3.1); the compensating word is chosen for that same pseudo-header, so
// the kernel's result is flow too.
func ICMPEcho(dst []byte, family int, src, to netip.Addr, id, seq, flow uint16, n int) []byte {
	n = max(n, 10)
	b := make([]byte, n)
	b[0] = 8
	var s Sum
	if family == 6 {
		b[0] = 128
		s = PseudoHeader(src, to, ProtoICMPv6, n)
	}
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	rest := s.Add(b).Fold()
	// checksum = ^(rest + word) = flow, so word = ^flow - rest.
	word := onesSub(^flow, rest)
	binary.BigEndian.PutUint16(b[8:10], word)
	binary.BigEndian.PutUint16(b[2:4], flow)
	return append(dst, b...)
}

// TCP flags.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagACK = 0x10
)

// TCPSyn appends a 20-byte TCP SYN header with sequence number seq to dst.
// It allocates nothing when dst has room: a scan calls it per probe.
func TCPSyn(dst []byte, src, to netip.Addr, sport, dport uint16, seq uint32) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, 20)...)
	b := dst[start:]
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint32(b[4:8], seq)
	b[12] = 5 << 4 // data offset: 5 words
	b[13] = FlagSYN
	binary.BigEndian.PutUint16(b[14:16], 64240)
	sum := PseudoHeader(src, to, ProtoTCP, len(b)).Add(b).Checksum()
	binary.BigEndian.PutUint16(b[16:18], sum)
	return dst
}

// TCPAck appends a 20-byte TCP ACK header acknowledging ack to dst: a
// host answers it with a RST whose sequence number is ack (RFC 9293
// 3.10.7.1), whether the port is open or not, which is what nmap's ACK
// ping (-PA) asks.
func TCPAck(dst []byte, src, to netip.Addr, sport, dport uint16, seq, ack uint32) []byte {
	start := len(dst)
	dst = TCPSyn(dst, src, to, sport, dport, seq)
	b := dst[start:]
	b[13] = FlagACK
	binary.BigEndian.PutUint32(b[8:12], ack)
	b[16], b[17] = 0, 0
	binary.BigEndian.PutUint16(b[16:18], PseudoHeader(src, to, ProtoTCP, len(b)).Add(b).Checksum())
	return dst
}

// ICMPTimestamp appends an ICMP timestamp request (RFC 792) with the
// identifier and sequence number and an originate time of ms since
// midnight UT.
func ICMPTimestamp(dst []byte, id, seq uint16, ms uint32) []byte {
	b := make([]byte, 20)
	b[0] = 13
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	binary.BigEndian.PutUint32(b[8:12], ms)
	binary.BigEndian.PutUint16(b[2:4], Sum(0).Add(b).Checksum())
	return append(dst, b...)
}

// TCPHeader is what a prober reads from a TCP segment.
type TCPHeader struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
}

// IPv4Header appends the 20-byte IPv4 header of a datagram of n
// payload bytes of protocol proto from src to to, for a socket that
// sends whole datagrams (IPPROTO_RAW): TTL 64 and DF, as the kernel's
// own header would be; the identification and the checksum left zero
// for the kernel to fill in (raw(7)).
func IPv4Header(dst []byte, src, to netip.Addr, proto uint8, n int) []byte {
	total := 20 + n
	dst = append(dst, 0x45, 0, byte(total>>8), byte(total), 0, 0, 0x40, 0, 64, proto, 0, 0)
	s, d := src.As4(), to.As4()
	dst = append(dst, s[:]...)
	return append(dst, d[:]...)
}

// ParseTCP reads the fixed part of a TCP header.
func ParseTCP(b []byte) (TCPHeader, bool) {
	if len(b) < 14 {
		return TCPHeader{}, false
	}
	return TCPHeader{
		SrcPort: binary.BigEndian.Uint16(b[0:2]),
		DstPort: binary.BigEndian.Uint16(b[2:4]),
		Seq:     binary.BigEndian.Uint32(b[4:8]),
		Ack:     binary.BigEndian.Uint32(b[8:12]),
		Flags:   b[13],
	}, true
}

// UDPHeader is the UDP header of a quoted probe.
type UDPHeader struct {
	SrcPort, DstPort, Length, Checksum uint16
}

// ParseUDP reads a UDP header; a router's quote holds at least these 8
// bytes (RFC 792).
func ParseUDP(b []byte) (UDPHeader, bool) {
	if len(b) < 8 {
		return UDPHeader{}, false
	}
	return UDPHeader{
		SrcPort:  binary.BigEndian.Uint16(b[0:2]),
		DstPort:  binary.BigEndian.Uint16(b[2:4]),
		Length:   binary.BigEndian.Uint16(b[4:6]),
		Checksum: binary.BigEndian.Uint16(b[6:8]),
	}, true
}

// UDPWithPayload appends a UDP header and payload with its real checksum
// to dst, allocating nothing when dst has room.
func UDPWithPayload(dst []byte, src, to netip.Addr, sport, dport uint16, payload []byte) []byte {
	start := len(dst)
	n := 8 + len(payload)
	dst = append(dst, make([]byte, 8)...)
	dst = append(dst, payload...)
	b := dst[start:]
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint16(b[4:6], uint16(n))
	sum := PseudoHeader(src, to, ProtoUDP, n).Add(b).Checksum()
	if sum == 0 {
		sum = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(b[6:8], sum)
	return dst
}
