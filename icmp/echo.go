package icmp

import (
	"encoding/binary"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// AppendEcho appends an echo request with the given identifier, sequence
// number and payload to dst and returns the extended buffer.
//
// The ICMPv4 checksum is filled in. The ICMPv6 checksum is left zero: it
// covers a pseudo-header with the source address, which only the kernel
// knows, and Linux computes it for every ICMPv6 socket (RFC 3542 section 3.1).
//
// It encodes as x/net/icmp's Message.Marshal does (TestAppendEchoLikeXNet),
// without its three allocations a probe: a flood sends hundreds of
// thousands a second.
func AppendEcho(dst []byte, family, id, seq int, payload []byte) ([]byte, error) {
	typ := byte(ipv4.ICMPTypeEcho)
	switch family {
	case 4:
	case 6:
		typ = byte(ipv6.ICMPTypeEchoRequest)
	default:
		_, err := protocol(family)
		return dst, err
	}
	start := len(dst)
	dst = append(dst, typ, 0, 0, 0, byte(id>>8), byte(id), byte(seq>>8), byte(seq))
	dst = append(dst, payload...)
	if family == 4 {
		c := checksum(dst[start:])
		dst[start+2], dst[start+3] = byte(c>>8), byte(c)
	}
	return dst, nil
}

// checksum is the Internet checksum of b (RFC 1071), summed eight bytes
// at a time (its section 2(C): the sum is the same in any word size,
// folded with end-around carries): a flood sums every probe.
func checksum(b []byte) uint16 {
	var sum uint64
	for len(b) >= 8 {
		w := binary.BigEndian.Uint64(b)
		sum += w>>32 + w&0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
