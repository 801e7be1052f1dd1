package icmp

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Quote is the original datagram an ICMP error message carries: its IP
// header fields and the leading bytes of its transport header, enough to
// match the error to the probe that caused it (RFC 792 quotes at least 8
// transport bytes; RFC 1812 and RFC 4443 routers quote more).
type Quote struct {
	Family   int // 4 or 6
	Src, Dst netip.Addr
	// Protocol is the IPv4 protocol or the IPv6 upper-layer next header.
	Protocol int
	// TTL is the time to live or hop limit the datagram had when it
	// reached the router that quoted it.
	TTL int
	// IPID is the IPv4 identification; zero for IPv6.
	IPID uint16
	// TOS is the IPv4 type of service or the IPv6 traffic class.
	TOS int
	// FlowLabel is the IPv6 flow label.
	FlowLabel uint32
	// Transport is the quoted transport header and payload, as many bytes
	// as the router sent.
	Transport []byte
}

// ErrBadQuote reports a quoted datagram too short or malformed to decode.
var ErrBadQuote = errors.New("icmp: malformed quoted datagram")

// ParseQuote decodes b, the original-datagram field of an ICMP error, as
// an IPv4 or IPv6 datagram, picking the version from its first nibble.
func ParseQuote(b []byte) (*Quote, error) {
	if len(b) < 1 {
		return nil, ErrBadQuote
	}
	switch b[0] >> 4 {
	case 4:
		return parseQuote4(b)
	case 6:
		return parseQuote6(b)
	}
	return nil, ErrBadQuote
}

func parseQuote4(b []byte) (*Quote, error) {
	if len(b) < 20 {
		return nil, ErrBadQuote
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || ihl > len(b) {
		return nil, ErrBadQuote
	}
	q := &Quote{
		Family:   4,
		TOS:      int(b[1]),
		IPID:     binary.BigEndian.Uint16(b[4:6]),
		TTL:      int(b[8]),
		Protocol: int(b[9]),
		Src:      netip.AddrFrom4([4]byte(b[12:16])),
		Dst:      netip.AddrFrom4([4]byte(b[16:20])),
	}
	q.Transport = append([]byte(nil), b[ihl:]...)
	return q, nil
}

// IPv6 extension headers that may stand between the fixed header and
// the transport header of a probe (RFC 8200 section 4).
const (
	nextHopByHop  = 0
	nextRouting   = 43
	nextFragment  = 44
	nextDestOpts  = 60
	ipv6HeaderLen = 40
)

func parseQuote6(b []byte) (*Quote, error) {
	if len(b) < ipv6HeaderLen {
		return nil, ErrBadQuote
	}
	q := &Quote{
		Family:    6,
		TOS:       int(binary.BigEndian.Uint16(b[0:2])>>4) & 0xff,
		FlowLabel: binary.BigEndian.Uint32(b[0:4]) & 0xfffff,
		TTL:       int(b[7]),
		Src:       netip.AddrFrom16([16]byte(b[8:24])),
		Dst:       netip.AddrFrom16([16]byte(b[24:40])),
	}
	next, off := int(b[6]), ipv6HeaderLen
	for {
		switch next {
		case nextHopByHop, nextRouting, nextDestOpts:
			if off+2 > len(b) {
				return nil, ErrBadQuote
			}
			next, off = int(b[off]), off+8*(int(b[off+1])+1)
		case nextFragment:
			if off+8 > len(b) {
				return nil, ErrBadQuote
			}
			next, off = int(b[off]), off+8
		default:
			if off > len(b) {
				return nil, ErrBadQuote
			}
			q.Protocol = next
			q.Transport = append([]byte(nil), b[off:]...)
			return q, nil
		}
	}
}

// QuotedEcho returns the identifier and sequence number of an ICMP echo
// request quoted by an error message, and whether the quote holds one.
func (q *Quote) QuotedEcho() (id, seq int, ok bool) {
	if q == nil || len(q.Transport) < 8 {
		return 0, 0, false
	}
	want := 8 // ICMPv4 echo request
	if q.Family == 6 {
		want = 128
	}
	if q.Protocol != ProtocolICMP && q.Protocol != ProtocolICMPv6 || int(q.Transport[0]) != want {
		return 0, 0, false
	}
	t := q.Transport
	return int(binary.BigEndian.Uint16(t[4:6])), int(binary.BigEndian.Uint16(t[6:8])), true
}

// Ports returns the source and destination ports of a quoted TCP, UDP or
// SCTP header, and whether the quote holds one.
func (q *Quote) Ports() (src, dst uint16, ok bool) {
	if q == nil || len(q.Transport) < 4 {
		return 0, 0, false
	}
	switch q.Protocol {
	case 6, 17, 132: // TCP, UDP, SCTP
		return binary.BigEndian.Uint16(q.Transport[0:2]), binary.BigEndian.Uint16(q.Transport[2:4]), true
	}
	return 0, 0, false
}
