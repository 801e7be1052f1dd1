package icmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// IP protocol numbers of ICMP for IPv4 and IPv6 (IANA).
const (
	ProtocolICMP   = 1
	ProtocolICMPv6 = 58
)

// Kind classifies a message independently of the IP version.
type Kind int

// The kinds of message the tools act on; everything else is KindOther.
const (
	KindOther Kind = iota
	KindEchoReply
	KindEchoRequest
	KindTimeExceeded
	KindDestUnreachable
	KindPacketTooBig // ICMPv6 packet too big, or ICMPv4 fragmentation needed
	KindParamProblem
)

var kindNames = [...]string{"other", "echo-reply", "echo-request", "time-exceeded", "unreachable", "packet-too-big", "parameter-problem"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Message is a decoded ICMP or ICMPv6 message.
type Message struct {
	// Family is 4 for ICMP, 6 for ICMPv6.
	Family int
	Kind   Kind
	// Type and Code are the raw values from the header.
	Type, Code int

	// ID, Seq and Data are set for echo requests and replies.
	ID, Seq int
	Data    []byte

	// MTU is the next-hop MTU of a packet-too-big or fragmentation-needed
	// message; zero when the router did not say (RFC 1191 section 4).
	MTU int
	// Pointer is the octet offset of a parameter problem.
	Pointer int

	// Quote is the original datagram quoted by an error message, nil for
	// other messages or when the quote is too short to hold an IP header.
	Quote *Quote
	// MPLS is the label stack of an RFC 4950 extension, outermost first.
	MPLS []MPLSLabel
}

// MPLSLabel is one entry of an RFC 4950 MPLS label stack.
type MPLSLabel struct {
	Label int  `json:"label"`
	TC    int  `json:"tc"`
	S     bool `json:"s"`
	TTL   int  `json:"ttl"`
}

// ErrTooShort reports a message shorter than its fixed header.
var ErrTooShort = errors.New("icmp: message too short")

// Parse decodes b, which starts at the ICMP header (no IP header), as an
// ICMP message when family is 4 or an ICMPv6 message when family is 6.
// The returned message does not alias b.
func Parse(family int, b []byte) (*Message, error) {
	proto, err := protocol(family)
	if err != nil {
		return nil, err
	}
	if len(b) < 8 {
		return nil, ErrTooShort
	}
	if kind, id, seq, ok := EchoOf(family, b); ok {
		// Read here, not by x/net (four allocations where two do): a
		// flood or sweep reads hundreds of thousands of replies.
		m := &Message{Family: family, Kind: kind, Type: int(b[0]), Code: int(b[1]), ID: id, Seq: seq}
		if len(b) > 8 {
			m.Data = bytes.Clone(b[8:])
		}
		return m, nil
	}
	xm, err := xicmp.ParseMessage(proto, b)
	if err != nil {
		return nil, fmt.Errorf("icmp: %w", err)
	}
	m := &Message{Family: family, Type: int(b[0]), Code: int(b[1])}
	m.Kind = kindOf(family, m.Type)
	var quoted []byte
	var exts []xicmp.Extension
	switch body := xm.Body.(type) {
	case *xicmp.Echo:
		m.ID, m.Seq, m.Data = body.ID, body.Seq, body.Data
	case *xicmp.TimeExceeded:
		quoted, exts = body.Data, body.Extensions
	case *xicmp.DstUnreach:
		quoted, exts = body.Data, body.Extensions
		if family == 4 && m.Code == 4 {
			m.Kind = KindPacketTooBig
			m.MTU = int(binary.BigEndian.Uint16(b[6:8]))
		}
	case *xicmp.ParamProb:
		quoted, exts = body.Data, body.Extensions
		m.Pointer = int(body.Pointer)
	case *xicmp.PacketTooBig:
		quoted = body.Data
		m.MTU = body.MTU
	}
	if quoted != nil {
		if q, err := ParseQuote(quoted); err == nil {
			m.Quote = q
		}
	}
	for _, e := range exts {
		if ls, ok := e.(*xicmp.MPLSLabelStack); ok {
			for _, l := range ls.Labels {
				m.MPLS = append(m.MPLS, MPLSLabel{Label: l.Label, TC: l.TC, S: l.S, TTL: l.TTL})
			}
		}
	}
	return m, nil
}

// EchoOf reads the header of an echo request or reply of family (4 or 6)
// without allocating: its kind, identifier and sequence number, and
// whether b is one. A loop that handles a reply per probe reads them with
// it and parses only what else arrives.
func EchoOf(family int, b []byte) (kind Kind, id, seq int, ok bool) {
	if len(b) < 8 {
		return 0, 0, 0, false
	}
	switch {
	case family == 4 && (b[0] == byte(ipv4.ICMPTypeEchoReply) || b[0] == byte(ipv4.ICMPTypeEcho)),
		family == 6 && (b[0] == byte(ipv6.ICMPTypeEchoReply) || b[0] == byte(ipv6.ICMPTypeEchoRequest)):
		return kindOf(family, int(b[0])), int(binary.BigEndian.Uint16(b[4:6])), int(binary.BigEndian.Uint16(b[6:8])), true
	}
	return 0, 0, 0, false
}

func protocol(family int) (int, error) {
	switch family {
	case 4:
		return ProtocolICMP, nil
	case 6:
		return ProtocolICMPv6, nil
	}
	return 0, fmt.Errorf("icmp: family %d is neither 4 nor 6", family)
}

func kindOf(family, typ int) Kind {
	if family == 4 {
		switch ipv4.ICMPType(typ) {
		case ipv4.ICMPTypeEchoReply:
			return KindEchoReply
		case ipv4.ICMPTypeEcho:
			return KindEchoRequest
		case ipv4.ICMPTypeTimeExceeded:
			return KindTimeExceeded
		case ipv4.ICMPTypeDestinationUnreachable:
			return KindDestUnreachable
		case ipv4.ICMPTypeParameterProblem:
			return KindParamProblem
		}
		return KindOther
	}
	switch ipv6.ICMPType(typ) {
	case ipv6.ICMPTypeEchoReply:
		return KindEchoReply
	case ipv6.ICMPTypeEchoRequest:
		return KindEchoRequest
	case ipv6.ICMPTypeTimeExceeded:
		return KindTimeExceeded
	case ipv6.ICMPTypeDestinationUnreachable:
		return KindDestUnreachable
	case ipv6.ICMPTypePacketTooBig:
		return KindPacketTooBig
	case ipv6.ICMPTypeParameterProblem:
		return KindParamProblem
	}
	return KindOther
}

// IsError reports whether m is an ICMP error message, one that quotes the
// datagram that caused it.
func (m *Message) IsError() bool {
	switch m.Kind {
	case KindTimeExceeded, KindDestUnreachable, KindPacketTooBig, KindParamProblem:
		return true
	}
	return false
}
