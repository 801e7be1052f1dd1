package filter

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/net/bpf"
)

// expressions compiled by both libpcap and this package, whose programs
// must agree on every packet of the corpus.
var expressions = []string{
	"", "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp",
	"not ip", "ip or ip6", "ip and tcp", "ip6 and udp", "tcp or udp", "not tcp and not udp",
	"host 198.18.0.1", "src host 198.18.0.1", "dst host 198.18.0.1", "host 198.18.0.2",
	"src or dst host 198.18.0.1", "src and dst host 198.18.0.1", "ip host 198.18.0.1", "arp host 198.18.0.1",
	"host 2001:db8::1", "src host 2001:db8::1", "dst host 2001:db8::2", "ip6 host 2001:db8::2",
	"net 198.18.0.0/16", "net 198.18.0.0/24", "src net 198.18.0.0/16", "dst net 198.19.0.0/16",
	"net 198.18.0.0 mask 255.255.0.0", "net 198.18.1.0/24", "net 2001:db8::/32", "src net 2001:db8::/64",
	"net 0.0.0.0/0", "net 198.18.0.1/32",
	"port 80", "port 53", "tcp port 80", "udp port 53", "src port 40000", "dst port 80",
	"tcp dst port 80", "udp src port 53", "port 80 or port 443", "port 80 or 443", "not port 22",
	"portrange 1-1024", "tcp portrange 8000-9000", "dst portrange 50-60", "sctp port 9",
	"tcp port 80 and host 198.18.0.1", "host 198.18.0.1 and (port 80 or port 53)",
	"host 198.18.0.1 and port 80 or port 53", "not host 198.18.0.1 and tcp",
	"tcp and not port 80", "ip and not net 198.18.0.0/16", "(tcp or udp) and dst port 53",
	"proto 6", "proto 17", "ip proto 1", "ip6 proto 58", "ip proto tcp", "proto \\udp", "ether proto 0x806",
	"ether proto 0x86dd", "ether host 02:00:00:00:00:01", "ether src 02:00:00:00:00:01",
	"ether dst ff:ff:ff:ff:ff:ff", "broadcast", "multicast", "ether broadcast", "not broadcast",
	"less 64", "greater 100", "less 60 and tcp", "len > 80", "len <= 64", "len == 54", "length > 80", "tcp port 80 and length > 100",
	"igmp", "pim", "vrrp", "carp", "ah", "esp", "igmp or pim", "not esp and ah",
	"link[0] & 1 != 0", "link[12:2] == 0x800", "link[14] == 0x45 or link[16] == 0x45",
	"ip net 198.18", "net 198", "src net 198.18.1", "net 198.18/15", "ip6 host ::1", "ip6 net ::/0", "host ::ffff:198.18.0.1",
	"ether host 020000000001", "ether src 0200.0000.0001", "ether dst 02.00.00.00.00.02", "ether proto \\ip", "ether proto \\ip6",
	"icmp6[0] == 128", "icmp6[icmp6type] == icmp6-echo", "icmp6[icmp6type] == icmp6-echoreply or icmp6[icmp6type] == icmp6-neighborsolicit",
	"icmp6[1] == 0 and ip6", "icmp6[4:2] == 1",
	"llc", "stp", "llc and ether[14] == 0xaa", "not stp and not llc",
	"inbound", "outbound", "outbound and icmp", "ip multicast", "ip broadcast", "ip6 multicast", "not ip multicast and udp",
	"tcp[13] & 2 != 0", "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
	"tcp[tcpflags] == tcp-ack", "tcp[13] = 18", "tcp[0:2] = 40000", "tcp[2:2] > 1023",
	"udp[0:2] = 53", "udp[8:2] = 0x1234", "udp[4:2] > 20",
	"icmp[icmptype] == icmp-echo", "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
	"icmp[0] = 11", "icmp[icmpcode] = 0",
	"ip[6:2] & 0x1fff != 0", "ip[0] & 0xf != 5", "ip[8] < 64", "ip[9] = 17", "ip[2:2] > 100",
	"ip6[6] = 58", "ip6[7] == 64", "ether[12:2] = 0x800", "ether[0] & 1 != 0",
	"ip[2:2] - ((ip[0] & 0xf) << 2) > 40", "tcp[12] >> 4 > 5", "ip[1] & 0xfc == 0",
	"len - 14 > 50", "ip[2:2] * 2 > 200", "ip[2:2] / 2 > 40", "ip[2:2] | 1 == 85",
	"vlan", "vlan 100", "vlan and tcp", "vlan 100 and host 198.18.0.1", "vlan and port 80",
	"not vlan", "tcp or vlan",
	"mpls", "mpls 100", "mpls and ip", "mpls and tcp port 80", "mpls and mpls and ip6", "mpls 16 and udp", "vlan and mpls and host 198.18.0.1",
	"pppoes", "pppoes 0x3b", "pppoes and ip", "pppoes and tcp", "pppoes and udp port 53", "pppoes and ip6 and icmp6", "pppoes and link[0:2] == 0x21",
	"pppoes and mpls", "pppoed", "not pppoes and tcp", "mpls and net 10.0.0.0/8",
	"byte 20 = 0", "byte 23 > 5", "ipx", "atalk", "iso", "isis", "l1", "decnet", "decnet src 1.1", "llc u", "llc i", "ether proto 0x42",
	"ip host 3232279251", "net 10", "host 198.18", "ip6 host 2001:db8::1/128", "net 198.18.0.0 mask 255.255.0.255",
	"portrange bootps-bootpc", "port domain", "src not 198.18.0.1",
	"ip6 protochain 17", "ip protochain 51", "protochain 6", "protochain 17 and not port 53",
	"geneve", "geneve 10", "geneve and tcp src port 22", "geneve and ip6", "geneve and host 198.18.0.1", "geneve and icmp",
	"geneve and ip[9] == 1", "geneve and tcp[13] & 2 != 0", "geneve and geneve", "geneve and udp port 53 and ip6[6] == 17",
}

func TestSameAsLibpcap(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump (libpcap) is needed for the differential test: make deps installs it")
		}
		t.Skip("needs tcpdump (libpcap) as the reference: apt-get install tcpdump")
	}
	compared := 0
	for _, lt := range []LinkType{Ethernet, LinuxSLL, RawIP, LinuxSLL2, Null, Loop, IPv4, IPv6} {
		pkts := tableCorpus(t, lt)
		for _, expr := range expressions {
			lib := libpcapCompile(expr, lt) // (tables_test.go)
			theirs, err := lib.prog, lib.err
			ours, oerr := Compile(expr, lt, DefaultSnaplen)
			if err != nil {
				// libpcap refuses it on this link type; so must we.
				if oerr == nil {
					t.Errorf("%s %q: libpcap refuses it, we compile it", lt, expr)
				}
				continue
			}
			if oerr != nil {
				t.Errorf("%s %q: %v", lt, expr, oerr)
				continue
			}
			vmOurs, err := NewMatcher(ours)
			if err != nil {
				t.Errorf("%s %q: our program is invalid: %v", lt, expr, err)
				continue
			}
			vmTheirs, err := NewMatcher(theirs)
			if err != nil {
				t.Fatalf("%s %q: libpcap's program: %v", lt, expr, err)
			}
			compared++
			for _, p := range pkts {
				// Whole, and captured short of its wire length (len,
				// less and greater are about the wire).
				for _, caplen := range []int{len(p.b), min(len(p.b), 34)} {
					a := vmOurs.Match(p.b[:caplen], len(p.b))
					b := vmTheirs.Match(p.b[:caplen], len(p.b))
					if a != b {
						t.Errorf("%s %q on %s (%d of %d bytes captured): ours %v, libpcap %v", lt, expr, p.name, caplen, len(p.b), a, b)
					}
				}
			}
		}
	}
	if compared < 200 {
		t.Errorf("only %d expression/link-type pairs compared", compared)
	}
	t.Logf("%d expression/link-type pairs agree with libpcap on every packet of the corpus", compared)
}

type packet struct {
	name string
	b    []byte
}

// corpus builds packets of every kind the expressions tell apart.
func corpus(lt LinkType) []packet {
	var out []packet
	add := func(name string, l3 []byte, ethertype uint16, dst []byte, vlan int) {
		switch lt {
		case Ethernet:
			h := append([]byte{}, dst...)
			h = append(h, 2, 0, 0, 0, 0, 1)
			if vlan >= 0 {
				h = binary.BigEndian.AppendUint16(h, 0x8100)
				h = binary.BigEndian.AppendUint16(h, uint16(vlan))
			}
			h = binary.BigEndian.AppendUint16(h, ethertype)
			out = append(out, packet{name, append(h, l3...)})
		case LinuxSLL:
			if vlan >= 0 {
				return
			}
			h := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
			h = binary.BigEndian.AppendUint16(h, ethertype)
			out = append(out, packet{name, append(h, l3...)})
		case RawIP:
			if vlan >= 0 || ethertype != 0x800 && ethertype != 0x86dd {
				return
			}
			out = append(out, packet{name, l3})
		}
	}
	unicast := []byte{2, 0, 0, 0, 0, 2}
	bcast := []byte{255, 255, 255, 255, 255, 255}
	mcast := []byte{1, 0, 0x5e, 0, 0, 1}
	a1, a2, a3 := []byte{198, 18, 0, 1}, []byte{198, 18, 1, 2}, []byte{198, 19, 0, 9}
	s1 := []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	s2 := []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
	s3 := []byte{0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}
	tcpSeg := func(sport, dport uint16, flags byte) []byte {
		b := make([]byte, 20)
		binary.BigEndian.PutUint16(b[0:], sport)
		binary.BigEndian.PutUint16(b[2:], dport)
		b[12], b[13] = 0x50, flags
		return b
	}
	udpSeg := func(sport, dport uint16, payload []byte) []byte {
		b := make([]byte, 8)
		binary.BigEndian.PutUint16(b[0:], sport)
		binary.BigEndian.PutUint16(b[2:], dport)
		binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
		return append(b, payload...)
	}
	icmpMsg := func(typ, code byte) []byte { return []byte{typ, code, 0, 0, 0, 1, 0, 1, 1, 2, 3, 4} }
	v4 := func(proto byte, src, dst []byte, l4 []byte, opts int, frag uint16, ttl byte) []byte {
		h := make([]byte, 20+opts)
		h[0] = 0x45 + byte(opts/4)
		binary.BigEndian.PutUint16(h[2:], uint16(len(h)+len(l4)))
		binary.BigEndian.PutUint16(h[6:], frag)
		h[8], h[9] = ttl, proto
		copy(h[12:], src)
		copy(h[16:], dst)
		for i := 20; i < len(h); i++ {
			h[i] = 1 // NOP options
		}
		return append(h, l4...)
	}
	v6 := func(next byte, src, dst []byte, l4 []byte, frag bool) []byte {
		h := make([]byte, 40)
		h[0], h[7] = 0x60, 64
		if frag {
			h[6] = 44
			l4 = append([]byte{next, 0, 0, 0, 0, 0, 0, 1}, l4...)
		} else {
			h[6] = next
		}
		binary.BigEndian.PutUint16(h[4:], uint16(len(l4)))
		copy(h[8:], src)
		copy(h[24:], dst)
		return append(h, l4...)
	}
	arp := func(op byte, spa, tpa []byte) []byte {
		b := []byte{0, 1, 8, 0, 6, 4, 0, op, 2, 0, 0, 0, 0, 1}
		b = append(b, spa...)
		b = append(b, 0, 0, 0, 0, 0, 0)
		return append(b, tpa...)
	}
	for _, dst := range [][]byte{unicast, bcast, mcast} {
		for _, vlan := range []int{-1, 100, 200} {
			if vlan >= 0 && dst[0] != 2 {
				continue
			}
			add("tcp syn 80", v4(6, a1, a2, tcpSeg(40000, 80, 2), 0, 0, 64), 0x800, dst, vlan)
			add("tcp syn-ack from 80", v4(6, a2, a1, tcpSeg(80, 40000, 0x12), 0, 0, 63), 0x800, dst, vlan)
			add("tcp ack 443", v4(6, a3, a1, tcpSeg(443, 1024, 0x10), 0, 0, 60), 0x800, dst, vlan)
			add("tcp options ihl 6", v4(6, a1, a3, tcpSeg(22, 8080, 0x18), 4, 0, 64), 0x800, dst, vlan)
			add("tcp later fragment", v4(6, a1, a2, tcpSeg(40000, 80, 2), 0, 0x00b9, 64), 0x800, dst, vlan)
			add("tcp first fragment MF", v4(6, a1, a2, tcpSeg(40000, 80, 2), 0, 0x2000, 64), 0x800, dst, vlan)
			add("udp dns query", v4(17, a1, a2, udpSeg(40000, 53, []byte{0x12, 0x34, 1, 0}), 0, 0, 64), 0x800, dst, vlan)
			add("udp dns reply", v4(17, a2, a1, udpSeg(53, 40000, []byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}), 0, 0, 64), 0x800, dst, vlan)
			add("udp 9000", v4(17, a3, a2, udpSeg(5000, 9000, make([]byte, 100)), 0, 0, 64), 0x800, dst, vlan)
			add("sctp 9", v4(132, a1, a2, udpSeg(9, 9, make([]byte, 4)), 0, 0, 64), 0x800, dst, vlan)
			add("icmp echo", v4(1, a1, a2, icmpMsg(8, 0), 0, 0, 64), 0x800, dst, vlan)
			add("icmp echo reply", v4(1, a2, a1, icmpMsg(0, 0), 0, 0, 64), 0x800, dst, vlan)
			add("icmp time exceeded", v4(1, a3, a1, icmpMsg(11, 0), 0, 0, 255), 0x800, dst, vlan)
			add("icmp unreachable", v4(1, a3, a1, icmpMsg(3, 3), 0, 0, 64), 0x800, dst, vlan)
			add("ip proto 47", v4(47, a1, a2, make([]byte, 8), 0, 0, 64), 0x800, dst, vlan)
			add("udp to 224.0.0.1", v4(17, a1, []byte{224, 0, 0, 1}, udpSeg(5000, 5000, nil), 0, 0, 1), 0x800, dst, vlan)
			add("udp to 255.255.255.255", v4(17, a1, []byte{255, 255, 255, 255}, udpSeg(68, 67, nil), 0, 0, 64), 0x800, dst, vlan)
			add("ipv6 udp to ff02::1", v6(17, s1, []byte{0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, udpSeg(5000, 5000, nil), false), 0x86dd, dst, vlan)
			for _, proto := range []byte{2, 50, 51, 103, 112} { // igmp esp ah pim vrrp
				add(fmt.Sprintf("ip proto %d", proto), v4(proto, a1, a2, make([]byte, 8), 0, 0, 64), 0x800, dst, vlan)
				add(fmt.Sprintf("ipv6 proto %d", proto), v6(proto, s1, s2, make([]byte, 8), false), 0x86dd, dst, vlan)
				add(fmt.Sprintf("ipv6 frag proto %d", proto), v6(proto, s1, s2, make([]byte, 8), true), 0x86dd, dst, vlan)
			}
			add("ipv6 tcp 80", v6(6, s1, s2, tcpSeg(40000, 80, 2), false), 0x86dd, dst, vlan)
			add("ipv6 tcp frag", v6(6, s1, s2, tcpSeg(40000, 80, 2), true), 0x86dd, dst, vlan)
			add("ipv6 udp 53", v6(17, s2, s3, udpSeg(53, 40000, make([]byte, 20)), false), 0x86dd, dst, vlan)
			add("ipv6 icmp6 echo", v6(58, s1, s3, []byte{128, 0, 0, 0, 0, 1, 0, 1}, false), 0x86dd, dst, vlan)
			add("ipv6 icmp6 frag", v6(58, s3, s1, []byte{129, 0, 0, 0, 0, 1, 0, 1}, true), 0x86dd, dst, vlan)
			add("ipv6 sctp", v6(132, s1, s2, udpSeg(9, 9, nil), false), 0x86dd, dst, vlan)
			add("arp request", arp(1, a1, a2), 0x806, dst, vlan)
			add("arp reply", arp(2, a3, a1), 0x806, dst, vlan)
			add("rarp", arp(3, a1, a3), 0x8035, dst, vlan)
			add("other ethertype", make([]byte, 46), 0x88cc, dst, vlan)
			add("802.3 stp", append([]byte{0x42, 0x42, 0x03}, make([]byte, 35)...), 38, dst, vlan)
			add("802.3 snap", append([]byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0}, make([]byte, 30)...), 38, dst, vlan)
			add("802.3 novell raw", append([]byte{0xff, 0xff}, make([]byte, 36)...), 38, dst, vlan)
			add("802.2 stp (cooked protocol 4)", append([]byte{0x42, 0x42, 0x03}, make([]byte, 35)...), 4, dst, vlan)
			add("truncated ipv4", v4(6, a1, a2, nil, 0, 0, 64)[:12], 0x800, dst, vlan)
			add("truncated tcp", v4(6, a1, a2, tcpSeg(40000, 80, 2)[:6], 0, 0, 64), 0x800, dst, vlan)
			add("truncated ipv6", v6(6, s1, s2, nil, false)[:30], 0x86dd, dst, vlan)
		}
	}
	if lt == LinuxSLL {
		// Sent by this host (PACKET_OUTGOING), for inbound and outbound.
		for _, p := range out[:len(out)/2] {
			b := append([]byte{}, p.b...)
			b[1] = 4
			out = append(out, packet{p.name + " outgoing", b})
		}
	}
	return out
}

func TestErrors(t *testing.T) {
	for _, expr := range []string{
		"gateway router", "host", "port", "port 70000", "portrange 10-", "tcp[13", "tcp[13:3] = 1",
		"net 198.18.0.1/16", "host not-an-address", "(tcp", "tcp)", "ip and", "frobnicate",
		"ip6 host 198.18.0.1", "ether host 198.18.0.1", "1 / 0 = 1", "tcp port bootpc", "llc frob",
	} {
		if _, err := Compile(expr, Ethernet, DefaultSnaplen); err == nil {
			t.Errorf("%q compiled", expr)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, e := range expressions {
		f.Add(e)
	}
	pkts := corpus(Ethernet)
	f.Fuzz(func(t *testing.T, expr string) {
		for lt := range numLinkTypes {
			prog, err := Compile(expr, lt, DefaultSnaplen)
			if err != nil {
				continue
			}
			if _, err := bpf.Assemble(prog); err != nil {
				t.Fatalf("%s %q compiled to an invalid program: %v", lt, expr, err)
			}
			m, err := NewMatcher(prog)
			if err != nil {
				t.Fatalf("%s %q: the matcher refuses the program: %v", lt, expr, err)
			}
			for _, p := range pkts[:8] {
				m.Match(p.b, len(p.b)) // must not panic or hang
			}
		}
	})
}

// The matcher agrees with x/net/bpf's VM on whole packets, for every
// expression of the corpus.
func FuzzMatchAgreesWithVM(f *testing.F) {
	var progs [][]bpf.Instruction
	var names []string
	for _, e := range expressions {
		p, err := Compile(e, Ethernet, DefaultSnaplen)
		if err != nil {
			continue
		}
		if _, err := bpf.NewVM(p); err != nil {
			continue // an ancillary load (inbound): x/net's VM has none
		}
		progs, names = append(progs, p), append(names, e)
	}
	for _, p := range corpus(Ethernet) {
		f.Add(p.b)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for i, prog := range progs {
			vm, _ := bpf.NewVM(prog)
			m, err := NewMatcher(prog)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := vm.Run(pkt)
			if got := m.Run(pkt, len(pkt)); got != uint32(want) {
				t.Fatalf("%q on % x: matcher %d, VM %d", names[i], pkt, got, want)
			}
		}
	})
}

// len, less and greater are the length on the wire, not the bytes kept.
func TestLengthIsTheWireLength(t *testing.T) {
	pkt := corpus(Ethernet)[0].b
	for _, tc := range []struct {
		expr string
		wire int
		want bool
	}{
		{"greater 1000", 1500, true},
		{"greater 1000", 100, false},
		{"less 200", 1500, false},
		{"len > 1400", 1500, true},
		{"len == 1500", 1500, true},
	} {
		prog, err := Compile(tc.expr, Ethernet, DefaultSnaplen)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := NewMatcher(prog)
		if got := m.Match(pkt[:min(len(pkt), 60)], tc.wire); got != tc.want {
			t.Errorf("%q on a packet of %d bytes on the wire, 60 captured: %v", tc.expr, tc.wire, got)
		}
	}
}
