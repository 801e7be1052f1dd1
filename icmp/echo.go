package icmp

import (
	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// AppendEcho appends an echo request with the given identifier, sequence
// number and payload to dst and returns the extended buffer.
//
// The ICMPv4 checksum is filled in. The ICMPv6 checksum is left zero: it
// covers a pseudo-header with the source address, which only the kernel
// knows, and Linux computes it for every ICMPv6 socket (RFC 3542 section 3.1).
func AppendEcho(dst []byte, family, id, seq int, payload []byte) ([]byte, error) {
	var typ xicmp.Type = ipv4.ICMPTypeEcho
	if family == 6 {
		typ = ipv6.ICMPTypeEchoRequest
	} else if family != 4 {
		_, err := protocol(family)
		return dst, err
	}
	m := xicmp.Message{Type: typ, Body: &xicmp.Echo{ID: id & 0xffff, Seq: seq & 0xffff, Data: payload}}
	b, err := m.Marshal(nil)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}
