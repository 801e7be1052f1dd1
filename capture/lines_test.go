package capture

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	ip6A = net.ParseIP("2001:db8::1")
	ip6B = net.ParseIP("2001:db8::2")
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		if n, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, nl := range ls {
				if ip, ok := nl.(gopacket.NetworkLayer); ok {
					n.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

func ip4(p layers.IPProtocol, src, dst net.IP) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Id: 1, Protocol: p, SrcIP: src, DstIP: dst}
}

func ip6(p layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: ip6A, DstIP: ip6B}
}

// Lines tcpdump 4.99 prints for these packets with -n -t (read from a
// file holding them, the expected text taken from tcpdump itself).
func TestLinesLikeTcpdump(t *testing.T) {
	probe := serialize(t, ip4(layers.IPProtocolUDP, ipA, ipB), &layers.UDP{SrcPort: 40000, DstPort: 53}, gopacket.Payload("abcd"))
	opts := []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 0}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
	dnsAnswer := &layers.DNS{ID: 0x1234, QR: true, RD: true, RA: true,
		Questions: []layers.DNSQuestion{{Name: []byte("example.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers:   []layers.DNSResourceRecord{{Name: []byte("example.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.IP{198, 18, 0, 9}}}}
	cases := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"udp6", serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), &layers.UDP{SrcPort: 40000, DstPort: 9999}, gopacket.Payload("abcd")),
			"IP6 2001:db8::1.40000 > 2001:db8::2.9999: UDP, length 4"},
		{"echo6", serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, gopacket.Payload("ping")),
			"IP6 2001:db8::1 > 2001:db8::2: ICMP6, echo request, id 7, seq 1, length 12"},
		{"port unreachable", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, ipB, ipA), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(probe)),
			"IP 198.18.0.2 > 198.18.0.1: ICMP 198.18.0.2 udp port 53 unreachable, length 40"},
		{"time exceeded", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, net.IP{198, 18, 9, 9}, ipA), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(11, 0)}, gopacket.Payload(probe)),
			"IP 198.18.9.9 > 198.18.0.1: ICMP time exceeded in-transit, length 40"},
		{"arp request", serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
				SourceHwAddress: macA, SourceProtAddress: ipA, DstHwAddress: make([]byte, 6), DstProtAddress: ipB}),
			"ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 46"},
		{"arp reply", serialize(t, eth(layers.EthernetTypeARP),
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 2,
				SourceHwAddress: macB, SourceProtAddress: ipB, DstHwAddress: macA, DstProtAddress: ipA}),
			"ARP, Reply 198.18.0.2 is-at 02:00:00:00:00:02, length 46"},
		{"syn with options", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, ipA, ipB), &layers.TCP{SrcPort: 40001, DstPort: 80, Seq: 1000, SYN: true, Window: 64240, Options: opts}),
			"IP 198.18.0.1.40001 > 198.18.0.2.80: Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"},
		{"syn-ack", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, ipB, ipA), &layers.TCP{SrcPort: 80, DstPort: 40001, Seq: 5000, Ack: 1001, SYN: true, ACK: true, Window: 65160}),
			"IP 198.18.0.2.80 > 198.18.0.1.40001: Flags [S.], seq 5000, ack 1001, win 65160, length 0"},
		{"ack, relative", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, ipA, ipB), &layers.TCP{SrcPort: 40001, DstPort: 80, Seq: 1001, Ack: 5001, ACK: true, Window: 502}),
			"IP 198.18.0.1.40001 > 198.18.0.2.80: Flags [.], ack 1, win 502, length 0"},
		{"data, relative", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, ipA, ipB), &layers.TCP{SrcPort: 40001, DstPort: 80, Seq: 1001, Ack: 5001, ACK: true, PSH: true, Window: 502}, gopacket.Payload("GET / HTTP/1.0\r\n\r\n")),
			"IP 198.18.0.1.40001 > 198.18.0.2.80: Flags [P.], seq 1:19, ack 1, win 502, length 18: HTTP: GET / HTTP/1.0"},
		{"dns answer", serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP, ipB, ipA), &layers.UDP{SrcPort: 53, DstPort: 40000}, dnsAnswer),
			"IP 198.18.0.2.53 > 198.18.0.1.40000: 4660 1/0/0 A 198.18.0.9 (56)"},
	}
	var frames [][]byte
	for _, c := range cases {
		frames = append(frames, c.frame)
	}
	out, _, err := run(t, Options{ReadFile: writePcap(t, frames), Stamps: 1})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d lines for %d packets:\n%s", len(lines), len(cases), out)
	}
	for i, c := range cases {
		if lines[i] != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, lines[i], c.want)
		}
	}
	if os.Getenv("RAWKIT_WRITE_PCAP") != "" {
		os.WriteFile(os.Getenv("RAWKIT_WRITE_PCAP"), mustRead(t, writePcap(t, frames)), 0o644)
	}
}

func mustRead(t *testing.T, name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
