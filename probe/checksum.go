package probe

import (
	"encoding/binary"
	"net/netip"
)

// Sum is a running Internet checksum (RFC 1071): a ones'-complement sum
// of 16-bit words. The zero value is an empty sum.
type Sum uint32

// Add adds b, padded with a zero byte if its length is odd.
func (s Sum) Add(b []byte) Sum {
	for len(b) >= 2 {
		s += Sum(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += Sum(b[0]) << 8
	}
	return s
}

// Add16 adds one 16-bit word.
func (s Sum) Add16(v uint16) Sum { return s + Sum(v) }

// Fold returns the 16-bit ones'-complement sum (not yet complemented).
func (s Sum) Fold() uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// Checksum is the checksum field value: the complement of the fold.
func (s Sum) Checksum() uint16 { return ^s.Fold() }

// PseudoHeader is the sum of the IPv4 (RFC 768) or IPv6 (RFC 8200
// section 8.1) pseudo-header for a transport segment of length n.
func PseudoHeader(src, dst netip.Addr, proto, n int) Sum {
	var s Sum
	s = s.Add(src.AsSlice()).Add(dst.AsSlice())
	if src.Is4() {
		return s.Add16(uint16(proto)).Add16(uint16(n))
	}
	return s.Add16(uint16(n >> 16)).Add16(uint16(n)).Add16(uint16(proto))
}

// onesSub returns a - b in ones'-complement arithmetic.
func onesSub(a, b uint16) uint16 {
	s := uint32(a) + uint32(^b)
	s = s>>16 + s&0xffff
	return uint16(s)
}
