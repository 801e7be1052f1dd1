package trace

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/probe"
)

var (
	src   = netip.MustParseAddr("198.18.0.1")
	dst   = netip.MustParseAddr("198.18.3.2")
	r1    = netip.MustParseAddr("198.18.0.2")
	other = netip.MustParseAddr("198.18.9.9")
)

// newTestTracer is a tracer without sockets, for matching.
func newTestTracer(m Method) *tracer {
	o := Options{Method: m, Target: dst.String()}
	o.validate()
	t := &tracer{opts: o, dst: dst, src: src, family: 4, byID: map[uint16]*probeRec{},
		icmpID: 0x4242, cookie: 0x7777, sport: 40000, flowSum: 0x1111, limit: 30}
	return t
}

func ipPacket(proto int, dst netip.Addr, payload []byte) []byte {
	h := make([]byte, 20)
	h[0], h[8], h[9] = 0x45, 1, byte(proto)
	binary.BigEndian.PutUint16(h[2:4], uint16(20+len(payload)))
	s, d := src.As4(), dst.As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	return append(h, payload...)
}

func timeExceeded(t *testing.T, quote []byte, exts ...xicmp.Extension) *icmp.Message {
	t.Helper()
	b, err := (&xicmp.Message{Type: ipv4.ICMPTypeTimeExceeded, Body: &xicmp.TimeExceeded{Data: quote, Extensions: exts}}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := icmp.Parse(4, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func unreachable(t *testing.T, code int, quote []byte) *icmp.Message {
	t.Helper()
	b, _ := (&xicmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: code, Body: &xicmp.DstUnreach{Data: quote}}).Marshal(nil)
	m, err := icmp.Parse(4, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatch(t *testing.T) {
	udp := func(sport uint16, id uint16, to netip.Addr) []byte {
		b, _ := probe.UDP(nil, src, to, sport, 33434, id, 32)
		return ipPacket(probe.ProtoUDP, to, b)
	}
	syn := func(sport uint16, seq uint32, to netip.Addr) []byte {
		return ipPacket(probe.ProtoTCP, to, probe.TCPSyn(nil, src, to, sport, 80, seq))
	}
	echo := func(id, seq uint16, to netip.Addr) []byte {
		return ipPacket(probe.ProtoICMP, to, probe.ICMPEcho(nil, 4, src, to, id, seq, 0x1111, 32))
	}
	mpls := &xicmp.MPLSLabelStack{Class: 1, Type: 1, Labels: []xicmp.MPLSLabel{{Label: 16001, S: true, TTL: 1}}}
	tests := []struct {
		name    string
		method  Method
		msg     *icmp.Message
		from    netip.Addr
		match   bool
		reached bool
		annot   string
		mpls    int
	}{
		{name: "udp time exceeded", method: UDP, msg: timeExceeded(t, udp(40000, 5, dst)), from: r1, match: true},
		{name: "udp second flow", method: UDP, msg: timeExceeded(t, udp(40001, 5, dst)), from: r1, match: false}, // one path only
		{name: "udp other flow range", method: UDP, msg: timeExceeded(t, udp(41000, 5, dst)), from: r1},
		{name: "udp to another host", method: UDP, msg: timeExceeded(t, udp(40000, 5, other)), from: r1},
		{name: "udp unknown id", method: UDP, msg: timeExceeded(t, udp(40000, 99, dst)), from: r1},
		{name: "udp port unreachable from dst", method: UDP, msg: unreachable(t, 3, udp(40000, 5, dst)), from: dst, match: true, reached: true},
		{name: "udp host unreachable", method: UDP, msg: unreachable(t, 1, udp(40000, 5, dst)), from: r1, match: true, annot: "!H"},
		{name: "udp with mpls", method: UDP, msg: timeExceeded(t, udp(40000, 5, dst), mpls), from: r1, match: true, mpls: 1},
		{name: "tcp time exceeded", method: TCP, msg: timeExceeded(t, syn(40000, 0x7777<<16|5, dst)), from: r1, match: true},
		{name: "tcp wrong cookie", method: TCP, msg: timeExceeded(t, syn(40000, 0x7778<<16|5, dst)), from: r1},
		{name: "icmp time exceeded", method: ICMP, msg: timeExceeded(t, echo(0x4242, 5, dst)), from: r1, match: true},
		{name: "icmp other pinger", method: ICMP, msg: timeExceeded(t, echo(0x4343, 5, dst)), from: r1},
		{name: "udp method ignores icmp quote", method: UDP, msg: timeExceeded(t, echo(0x4242, 5, dst)), from: r1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestTracer(tt.method)
			pr := &probeRec{id: 5, ttl: 1, sent: true}
			tr.byID[5] = pr
			p, r := tr.match(tt.msg, tt.from)
			if (p != nil) != tt.match {
				t.Fatalf("matched %v, want %v", p != nil, tt.match)
			}
			if p == nil {
				return
			}
			if p != pr || r.addr != tt.from || r.reached != tt.reached || r.annotation != tt.annot || len(r.mpls) != tt.mpls {
				t.Errorf("reply %+v", r)
			}
		})
	}
}

func TestMatchEchoReplyAndTCPAnswers(t *testing.T) {
	tr := newTestTracer(ICMP)
	pr := &probeRec{id: 7, sent: true}
	tr.byID[7] = pr
	reply := &icmp.Message{Kind: icmp.KindEchoReply, ID: 0x4242, Seq: 7}
	if p, r := tr.match(reply, dst); p != pr || !r.reached {
		t.Error("echo reply from the destination not matched")
	}
	if p, _ := tr.match(reply, other); p != nil {
		t.Error("echo reply from another host matched")
	}
	tr = newTestTracer(TCP)
	tr.byID[7] = pr
	synack := func(sport, dport uint16, flags uint8, ack uint32) []byte {
		b := make([]byte, 20)
		binary.BigEndian.PutUint16(b[0:2], sport)
		binary.BigEndian.PutUint16(b[2:4], dport)
		binary.BigEndian.PutUint32(b[8:12], ack)
		b[13] = flags
		return b
	}
	for _, tt := range []struct {
		name string
		b    []byte
		from netip.Addr
		ok   bool
	}{
		{"syn-ack", synack(80, 40000, probe.FlagSYN|probe.FlagACK, 0x7777<<16|7+1), dst, true},
		{"rst", synack(80, 40000, probe.FlagRST|probe.FlagACK, 0x7777<<16|7+1), dst, true},
		{"wrong cookie", synack(80, 40000, probe.FlagSYN|probe.FlagACK, 0x7778<<16|7+1), dst, false},
		{"other host", synack(80, 40000, probe.FlagSYN|probe.FlagACK, 0x7777<<16|7+1), other, false},
		{"other port", synack(81, 40000, probe.FlagSYN|probe.FlagACK, 0x7777<<16|7+1), dst, false},
		{"plain ack", synack(80, 40000, probe.FlagACK, 0x7777<<16|7+1), dst, false},
	} {
		p, _ := tr.matchTCP(tt.b, tt.from)
		if (p != nil) != tt.ok {
			t.Errorf("%s: matched %v, want %v", tt.name, p != nil, tt.ok)
		}
	}
}

func TestAdaptiveWait(t *testing.T) {
	tr := newTestTracer(UDP)
	if tr.wait() != MaxWait {
		t.Errorf("before any answer: %v", tr.wait())
	}
	tr.maxRTT = 100 * time.Microsecond
	if tr.wait() != MinWait {
		t.Errorf("fast path: %v, want the floor", tr.wait())
	}
	tr.maxRTT = 30 * time.Millisecond
	if tr.wait() != 300*time.Millisecond {
		t.Errorf("30 ms path: %v", tr.wait())
	}
	tr.opts.Wait = time.Second
	if tr.wait() != time.Second {
		t.Errorf("-w 1: %v", tr.wait())
	}
}

func TestHopStatsAndMPLSText(t *testing.T) {
	h := &hopStats{}
	for _, ms := range []float64{1, 3, 0, 2} {
		p := &probeRec{}
		if ms > 0 {
			p.reply = &reply{addr: r1, rtt: time.Duration(ms * float64(time.Millisecond))}
		}
		h.add(p)
	}
	if h.sent != 4 || h.recv != 3 || h.lossPct() != 25 || h.avg() != 2 || h.best != 1 || h.worst != 3 || h.last != 2 {
		t.Errorf("%+v", h)
	}
	if got := h.meanJitter(); got != 1.5 { // |3-1| + |2-3| over 2
		t.Errorf("jitter %v", got)
	}
	got := mplsText([]icmp.MPLSLabel{{Label: 16001, TC: 0, S: false, TTL: 1}, {Label: 3, TC: 5, S: true, TTL: 255}})
	if want := "<MPLS:L=16001,E=0,S=0,T=1> <MPLS:L=3,E=5,S=1,T=255>"; got != want {
		t.Errorf("%s, want %s", got, want)
	}
}
