package icmp

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ipv4Header builds a 20-byte IPv4 header for a quoted datagram.
func ipv4Header(proto, ttl int, id uint16, src, dst string, payloadLen int) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:4], uint16(20+payloadLen))
	binary.BigEndian.PutUint16(h[4:6], id)
	h[8], h[9] = byte(ttl), byte(proto)
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	return h
}

func ipv6Header(next, hops int, src, dst string, payloadLen int) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:6], uint16(payloadLen))
	h[6], h[7] = byte(next), byte(hops)
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
	return h
}

func mustMarshal(t testing.TB, m xicmp.Message) []byte {
	t.Helper()
	b, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEchoRoundTrip(t *testing.T) {
	for _, family := range []int{4, 6} {
		b, err := AppendEcho(nil, family, 0x1234, 0xbeef, []byte("payload"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(family, b)
		if err != nil {
			t.Fatalf("family %d: %v", family, err)
		}
		if m.Kind != KindEchoRequest || m.ID != 0x1234 || m.Seq != 0xbeef || string(m.Data) != "payload" {
			t.Errorf("family %d: got %+v", family, m)
		}
	}
	if _, err := AppendEcho(nil, 5, 1, 1, nil); err == nil {
		t.Error("family 5 accepted")
	}
}

func TestEchoIDAndSeqWrap(t *testing.T) {
	b, _ := AppendEcho(nil, 4, 0x12345, 0x10001, nil)
	m, _ := Parse(4, b)
	if m.ID != 0x2345 || m.Seq != 1 {
		t.Errorf("id %#x seq %d: want 16-bit wrap", m.ID, m.Seq)
	}
}

func TestParseErrors(t *testing.T) {
	echo4, _ := AppendEcho(nil, 4, 77, 5, make([]byte, 8))
	quote4 := append(ipv4Header(1, 1, 0xabcd, "198.18.0.2", "198.18.3.2", len(echo4)), echo4...)
	echo6, _ := AppendEcho(nil, 6, 77, 6, make([]byte, 8))
	quote6 := append(ipv6Header(58, 1, "2001:db8::2", "2001:db8:3::2", len(echo6)), echo6...)
	udp := []byte{0x82, 0x9a, 0x82, 0x9b, 0, 16, 0x12, 0x34}
	quoteUDP := append(ipv4Header(17, 1, 9, "198.18.0.2", "198.18.3.2", len(udp)), udp...)

	tests := []struct {
		name     string
		family   int
		msg      xicmp.Message
		kind     Kind
		mtu      int
		annot    string
		describe string
		quoteSeq int
		ports    [2]uint16
	}{
		{
			name: "v4 time exceeded quoting echo", family: 4,
			msg:  xicmp.Message{Type: ipv4.ICMPTypeTimeExceeded, Body: &xicmp.TimeExceeded{Data: quote4}},
			kind: KindTimeExceeded, describe: "Time to live exceeded", quoteSeq: 5,
		},
		{
			name: "v4 host unreachable", family: 4,
			msg:  xicmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 1, Body: &xicmp.DstUnreach{Data: quote4}},
			kind: KindDestUnreachable, annot: "!H", describe: "Destination Host Unreachable", quoteSeq: 5,
		},
		{
			name: "v4 admin prohibited quoting udp", family: 4,
			msg:  xicmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 13, Body: &xicmp.DstUnreach{Data: quoteUDP}},
			kind: KindDestUnreachable, annot: "!X", describe: "Packet filtered", quoteSeq: -1, ports: [2]uint16{0x829a, 0x829b},
		},
		{
			name: "v4 port unreachable", family: 4,
			msg:  xicmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 3, Body: &xicmp.DstUnreach{Data: quoteUDP}},
			kind: KindDestUnreachable, annot: "", describe: "Destination Port Unreachable", quoteSeq: -1, ports: [2]uint16{0x829a, 0x829b},
		},
		{
			name: "v6 time exceeded quoting echo", family: 6,
			msg:  xicmp.Message{Type: ipv6.ICMPTypeTimeExceeded, Body: &xicmp.TimeExceeded{Data: quote6}},
			kind: KindTimeExceeded, describe: "Time exceeded: Hop limit", quoteSeq: 6,
		},
		{
			name: "v6 packet too big", family: 6,
			msg:  xicmp.Message{Type: ipv6.ICMPTypePacketTooBig, Body: &xicmp.PacketTooBig{MTU: 1280, Data: quote6}},
			kind: KindPacketTooBig, mtu: 1280, annot: "!F-1280", describe: "Packet too big: mtu=1280", quoteSeq: 6,
		},
		{
			name: "v6 admin prohibited", family: 6,
			msg:  xicmp.Message{Type: ipv6.ICMPTypeDestinationUnreachable, Code: 1, Body: &xicmp.DstUnreach{Data: quote6}},
			kind: KindDestUnreachable, annot: "!X", describe: "Destination unreachable: Administratively prohibited", quoteSeq: 6,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.family, mustMarshal(t, tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != tt.kind || !m.IsError() {
				t.Errorf("kind %v, want error kind %v", m.Kind, tt.kind)
			}
			if m.MTU != tt.mtu {
				t.Errorf("mtu %d, want %d", m.MTU, tt.mtu)
			}
			if got := m.Annotation(); got != tt.annot {
				t.Errorf("annotation %q, want %q", got, tt.annot)
			}
			if got := m.Describe(); got != tt.describe {
				t.Errorf("describe %q, want %q", got, tt.describe)
			}
			if m.Quote == nil {
				t.Fatal("no quote")
			}
			id, seq, ok := m.Quote.QuotedEcho()
			if tt.quoteSeq < 0 {
				if ok {
					t.Errorf("quoted echo found in a non-echo quote")
				}
				src, dst, ok := m.Quote.Ports()
				if !ok || [2]uint16{src, dst} != tt.ports {
					t.Errorf("ports %d %d %v, want %v", src, dst, ok, tt.ports)
				}
				return
			}
			if !ok || id != 77 || seq != tt.quoteSeq {
				t.Errorf("quoted echo id %d seq %d ok %v", id, seq, ok)
			}
			wantDst := "198.18.3.2"
			if tt.family == 6 {
				wantDst = "2001:db8:3::2"
			}
			if m.Quote.Dst.String() != wantDst || m.Quote.TTL != 1 {
				t.Errorf("quote dst %v ttl %d", m.Quote.Dst, m.Quote.TTL)
			}
		})
	}
}

func TestFragNeededMTU(t *testing.T) {
	echo4, _ := AppendEcho(nil, 4, 1, 1, nil)
	quote := append(ipv4Header(1, 3, 1, "198.18.0.2", "198.18.3.2", len(echo4)), echo4...)
	b := mustMarshal(t, xicmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 4, Body: &xicmp.DstUnreach{Data: quote}})
	binary.BigEndian.PutUint16(b[6:8], 1400)
	m, err := Parse(4, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindPacketTooBig || m.MTU != 1400 || m.Annotation() != "!F-1400" {
		t.Errorf("got kind %v mtu %d annotation %q", m.Kind, m.MTU, m.Annotation())
	}
}

func TestMPLSExtension(t *testing.T) {
	echo4, _ := AppendEcho(nil, 4, 1, 1, nil)
	// RFC 4884 requires the original datagram padded to 128 octets.
	quote := append(ipv4Header(1, 1, 1, "198.18.0.2", "198.18.3.2", len(echo4)), echo4...)
	stack := &xicmp.MPLSLabelStack{Class: 1, Type: 1, Labels: []xicmp.MPLSLabel{
		{Label: 16001, TC: 0, S: false, TTL: 1},
		{Label: 24005, TC: 5, S: true, TTL: 1},
	}}
	b := mustMarshal(t, xicmp.Message{Type: ipv4.ICMPTypeTimeExceeded, Body: &xicmp.TimeExceeded{Data: quote, Extensions: []xicmp.Extension{stack}}})
	m, err := Parse(4, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []MPLSLabel{{Label: 16001, TTL: 1}, {Label: 24005, TC: 5, S: true, TTL: 1}}
	if len(m.MPLS) != 2 || m.MPLS[0] != want[0] || m.MPLS[1] != want[1] {
		t.Errorf("labels %+v, want %+v", m.MPLS, want)
	}
	if id, seq, ok := m.Quote.QuotedEcho(); !ok || id != 1 || seq != 1 {
		t.Errorf("quote lost behind the extension: %d %d %v", id, seq, ok)
	}
}

func TestQuoteIPv6ExtensionHeaders(t *testing.T) {
	udp := []byte{0, 53, 0, 33, 0, 8, 0, 0}
	frag := []byte{17, 0, 0, 1, 0, 0, 0, 9} // fragment header, next = UDP
	b := append(ipv6Header(nextFragment, 2, "2001:db8::2", "2001:db8::1", len(frag)+len(udp)), frag...)
	b = append(b, udp...)
	q, err := ParseQuote(b)
	if err != nil {
		t.Fatal(err)
	}
	if src, dst, ok := q.Ports(); !ok || src != 53 || dst != 33 || q.Protocol != 17 {
		t.Errorf("ports %d %d %v proto %d", src, dst, ok, q.Protocol)
	}
}

// Replies and packets a pinger must not mistake for its own.
func TestMalformedRejected(t *testing.T) {
	tests := []struct {
		name   string
		family int
		b      []byte
	}{
		{"empty", 4, nil},
		{"short header", 4, []byte{0, 0, 0}},
		{"bad family", 5, make([]byte, 16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := Parse(tt.family, tt.b); err == nil {
				t.Errorf("accepted: %+v", m)
			}
		})
	}
	if _, err := ParseQuote([]byte{0x45, 0, 0}); err == nil {
		t.Error("short IPv4 quote accepted")
	}
	if _, err := ParseQuote(bytes.Repeat([]byte{0x60}, 39)); err == nil {
		t.Error("short IPv6 quote accepted")
	}
	if _, err := ParseQuote([]byte{0x4f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}); err == nil {
		t.Error("IHL beyond the quote accepted")
	}
}

// AppendEcho's bytes are x/net/icmp's, for any identifier, sequence
// number and payload (odd lengths too), appended after what dst held.
func TestAppendEchoLikeXNet(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 500 {
		id, seq := r.IntN(1<<17), r.IntN(1<<17) // beyond 16 bits too: truncated as x/net does
		payload := make([]byte, r.IntN(200))
		for i := range payload {
			payload[i] = byte(r.Uint32())
		}
		for _, family := range []int{4, 6} {
			var typ xicmp.Type = ipv4.ICMPTypeEcho
			if family == 6 {
				typ = ipv6.ICMPTypeEchoRequest
			}
			want, err := (&xicmp.Message{Type: typ, Body: &xicmp.Echo{ID: id & 0xffff, Seq: seq & 0xffff, Data: payload}}).Marshal(nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := AppendEcho([]byte("pre"), family, id, seq, payload)
			if err != nil || string(got[:3]) != "pre" || !bytes.Equal(got[3:], want) {
				t.Fatalf("IPv%d id %d seq %d, %d bytes: %x, x/net %x (%v)", family, id, seq, len(payload), got, want, err)
			}
		}
	}
}

// Echo requests and replies, read without x/net, decode as x/net decodes
// them, and do not alias the packet.
func TestParseEchoLikeXNet(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 500 {
		for _, family := range []int{4, 6} {
			types := map[int][]xicmp.Type{4: {ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply}, 6: {ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply}}[family]
			payload := make([]byte, r.IntN(3)*r.IntN(100))
			for i := range payload {
				payload[i] = byte(r.Uint32())
			}
			b, _ := (&xicmp.Message{Type: types[r.IntN(2)], Code: r.IntN(2), Body: &xicmp.Echo{ID: r.IntN(1 << 16), Seq: r.IntN(1 << 16), Data: payload}}).Marshal(nil)
			want, err := xicmp.ParseMessage(map[int]int{4: 1, 6: 58}[family], b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(family, b)
			if err != nil {
				t.Fatal(err)
			}
			e := want.Body.(*xicmp.Echo)
			if got.ID != e.ID || got.Seq != e.Seq || !bytes.Equal(got.Data, e.Data) || (got.Data == nil) != (e.Data == nil) ||
				got.Type != int(b[0]) || got.Code != int(b[1]) || got.Kind != kindOf(family, int(b[0])) {
				t.Fatalf("IPv%d %x: %+v, x/net %+v", family, b, got, e)
			}
			if len(b) > 8 {
				b[8]++
				if got.Data[0] == b[8] {
					t.Fatal("the message aliases the packet")
				}
			}
		}
	}
}
