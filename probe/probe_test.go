package probe

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

var (
	src4 = netip.MustParseAddr("198.18.0.1")
	dst4 = netip.MustParseAddr("198.18.3.2")
	src6 = netip.MustParseAddr("2001:db8::1")
	dst6 = netip.MustParseAddr("2001:db8:3::2")
)

func TestUDPChecksumCarriesID(t *testing.T) {
	for _, a := range [][2]netip.Addr{{src4, dst4}, {src6, dst6}} {
		for _, id := range []uint16{1, 2, 0x1234, 0xfffe, 0xffff} {
			for _, n := range []int{0, 10, 11, 60} {
				b, err := UDP(nil, a[0], a[1], 40000, 33434, id, n)
				if err != nil {
					t.Fatal(err)
				}
				h, _ := ParseUDP(b)
				if h.Checksum != id || h.SrcPort != 40000 || h.DstPort != 33434 || int(h.Length) != len(b) {
					t.Errorf("%v id %#x n %d: header %+v", a[1], id, n, h)
				}
				if !UDPChecksumOK(a[0], a[1], b) {
					t.Errorf("%v id %#x n %d: checksum does not verify", a[1], id, n)
				}
			}
		}
	}
	if _, err := UDP(nil, src4, dst4, 1, 2, 0, 10); err == nil {
		t.Error("id 0 accepted")
	}
}

func TestICMPEchoChecksumIsConstant(t *testing.T) {
	for _, fam := range []int{4, 6} {
		src, dst := src4, dst4
		var pseudo Sum
		if fam == 6 {
			src, dst = src6, dst6
		}
		for _, seq := range []uint16{0, 1, 2, 999, 0xffff} {
			b := ICMPEcho(nil, fam, src, dst, 0x4242, seq, 0xbeef, 40)
			if got := binary.BigEndian.Uint16(b[2:4]); got != 0xbeef {
				t.Errorf("family %d seq %d: checksum %#x", fam, seq, got)
			}
			if fam == 6 {
				pseudo = PseudoHeader(src, dst, ProtoICMPv6, len(b))
			}
			if pseudo.Add(b).Fold() != 0xffff {
				t.Errorf("family %d seq %d: checksum does not verify", fam, seq)
			}
			if binary.BigEndian.Uint16(b[6:8]) != seq || binary.BigEndian.Uint16(b[4:6]) != 0x4242 {
				t.Errorf("family %d: id/seq wrong", fam)
			}
		}
	}
}

func TestTCPSyn(t *testing.T) {
	for _, a := range [][2]netip.Addr{{src4, dst4}, {src6, dst6}} {
		b := TCPSyn(nil, a[0], a[1], 40000, 80, 0xdeadbeef)
		if PseudoHeader(a[0], a[1], ProtoTCP, len(b)).Add(b).Fold() != 0xffff {
			t.Errorf("%v: checksum does not verify", a[1])
		}
		h, ok := ParseTCP(b)
		if !ok || h.Seq != 0xdeadbeef || h.Flags != FlagSYN || h.SrcPort != 40000 || h.DstPort != 80 {
			t.Errorf("%v: %+v", a[1], h)
		}
	}
	if _, ok := ParseTCP(make([]byte, 13)); ok {
		t.Error("short TCP header accepted")
	}
}

func TestProbesAllocateNothing(t *testing.T) {
	buf := make([]byte, 0, 1500)
	payload := []byte("query")
	if n := testing.AllocsPerRun(100, func() {
		buf = TCPSyn(buf[:0], src4, dst4, 1, 2, 3)
		buf = UDPWithPayload(buf[:0], src6, dst6, 1, 53, payload)
	}); n != 0 {
		t.Errorf("%v allocations per probe", n)
	}
	b := UDPWithPayload(nil, src4, dst4, 40000, 53, payload)
	if !UDPChecksumOK(src4, dst4, b) || string(b[8:]) != "query" {
		t.Errorf("UDP probe with payload: %x", b)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(TCPSyn(nil, src4, dst4, 1, 2, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseTCP(b)
		ParseUDP(b)
	})
}

// An echo of a probe's payload names the probe.
func TestUDPEchoID(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.2.2")
	for _, id := range []uint16{1, 2, 0x7fff, 0xfffe} {
		b, err := UDP(nil, src, dst, 40000, 53, id, 32)
		if err != nil {
			t.Fatal(err)
		}
		if got := UDPEchoID(src, dst, 40000, 53, b[8:]); got != id {
			t.Errorf("id %d: echo names %d", id, got)
		}
	}
}

func TestTCPAckAndTimestamp(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.1.2")
	b := TCPAck(nil, src, dst, 40000, 80, 7, 0xdeadbeef)
	h, ok := ParseTCP(b)
	if !ok || h.Flags != FlagACK || h.Ack != 0xdeadbeef || h.Seq != 7 || h.DstPort != 80 {
		t.Fatalf("%+v", h)
	}
	if PseudoHeader(src, dst, ProtoTCP, len(b)).Add(b).Fold() != 0xffff {
		t.Error("bad TCP checksum")
	}
	ts := ICMPTimestamp(nil, 0x1234, 5, 1000)
	if ts[0] != 13 || len(ts) != 20 || Sum(0).Add(ts).Fold() != 0xffff {
		t.Errorf("timestamp request %x", ts)
	}
}

func TestIPv4Header(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.1.2")
	h := IPv4Header([]byte{0xff}, src, dst, ProtoTCP, 20)[1:]
	if len(h) != 20 || h[0] != 0x45 || binary.BigEndian.Uint16(h[2:]) != 40 || h[6] != 0x40 || h[8] != 64 || h[9] != ProtoTCP ||
		netip.AddrFrom4([4]byte(h[12:16])) != src || netip.AddrFrom4([4]byte(h[16:20])) != dst {
		t.Errorf("header % x", h)
	}
}
