package capture

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// DNS and text-protocol lines as tcpdump 4.99 prints them with -n -t
// (the expected text taken from tcpdump reading these packets).
func TestDNSAndTextLinesLikeTcpdump(t *testing.T) {
	q := func(name string, typ layers.DNSType) []layers.DNSQuestion {
		return []layers.DNSQuestion{{Name: []byte(name), Type: typ, Class: layers.DNSClassIN}}
	}
	rr := func(name string, typ layers.DNSType) layers.DNSResourceRecord {
		return layers.DNSResourceRecord{Name: []byte(name), Type: typ, Class: layers.DNSClassIN, TTL: 300}
	}
	cname := rr("www.example.com", layers.DNSTypeCNAME)
	cname.CNAME = []byte("example.com")
	a := rr("example.com", layers.DNSTypeA)
	a.IP = net.IP{198, 18, 0, 9}
	aaaa := rr("example.com", layers.DNSTypeAAAA)
	aaaa.IP = net.ParseIP("2001:db8::9")
	mx := rr("example.com", layers.DNSTypeMX)
	mx.MX = layers.DNSMX{Preference: 10, Name: []byte("mail.example.com")}
	txt := rr("example.com", layers.DNSTypeTXT)
	txt.TXTs = [][]byte{[]byte("v=spf1 -all")}
	srv := rr("_sip._udp.example.com", layers.DNSTypeSRV)
	srv.SRV = layers.DNSSRV{Priority: 10, Weight: 20, Port: 5060, Name: []byte("sip.example.com")}
	soa := rr("example.com", layers.DNSTypeSOA)
	soa.SOA = layers.DNSSOA{MName: []byte("ns.example.com"), RName: []byte("admin.example.com"), Serial: 1, Refresh: 2, Retry: 3, Expire: 4, Minimum: 5}
	opt := layers.DNSResourceRecord{Type: layers.DNSTypeOPT, Class: 1232}
	msgs := []*layers.DNS{
		{ID: 1, RD: true, Questions: q("example.com", layers.DNSTypeA), Additionals: []layers.DNSResourceRecord{opt}},
		{ID: 2, QR: true, RD: true, RA: true, Questions: q("www.example.com", layers.DNSTypeA), Answers: []layers.DNSResourceRecord{cname, a}},
		{ID: 3, QR: true, RD: true, RA: true, Questions: q("example.com", layers.DNSTypeAAAA), Answers: []layers.DNSResourceRecord{aaaa}},
		{ID: 4, QR: true, AA: true, RD: true, Questions: q("example.com", layers.DNSTypeMX), Answers: []layers.DNSResourceRecord{mx, txt}},
		{ID: 5, QR: true, RD: true, RA: true, Questions: q("_sip._udp.example.com", layers.DNSTypeSRV), Answers: []layers.DNSResourceRecord{srv}},
		{ID: 6, QR: true, RD: true, RA: true, ResponseCode: layers.DNSResponseCodeNXDomain, Questions: q("nx.example.com", layers.DNSTypeA), Authorities: []layers.DNSResourceRecord{soa}},
		{ID: 7, QR: true, RD: true, RA: true, ResponseCode: layers.DNSResponseCodeServFail, Questions: q("example.com", layers.DNSTypePTR)},
		{ID: 8, RD: true, Questions: q("9.0.18.198.in-addr.arpa", layers.DNSTypePTR)},
	}
	var frames [][]byte
	for i, m := range msgs {
		sport, dport := layers.UDPPort(40000+i), layers.UDPPort(53)
		src, dst := ipA, ipB
		if m.QR {
			sport, dport, src, dst = dport, sport, dst, src
		}
		frames = append(frames, serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP, src, dst), &layers.UDP{SrcPort: sport, DstPort: dport}, m))
	}
	tcp := func(sport, dport layers.TCPPort, payload string) []byte {
		return serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, ipA, ipB),
			&layers.TCP{SrcPort: sport, DstPort: dport, Seq: 100, Ack: 200, ACK: true, PSH: true, Window: 500}, gopacket.Payload(payload))
	}
	frames = append(frames,
		tcp(80, 41000, "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"),
		tcp(41001, 8080, "POST /api HTTP/1.1\r\nHost: x\r\n"),
		tcp(41002, 80, "\x01\x02binary body"),
		tcp(41003, 80, "GET /no-line-end"),
		tcp(22, 41004, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
		tcp(41005, 22, "\x00\x00\x01\x0c\x0a\x14 key exchange"),
	)
	want := []string{
		"IP 198.18.0.1.40000 > 198.18.0.2.53: 1+ [1au] A? example.com. (40)",
		"IP 198.18.0.2.53 > 198.18.0.1.40001: 2 2/0/0 CNAME example.com., A 198.18.0.9 (100)",
		"IP 198.18.0.2.53 > 198.18.0.1.40002: 3 1/0/0 AAAA 2001:db8::9 (68)",
		"IP 198.18.0.2.53 > 198.18.0.1.40003: 4*- 2/0/0 MX mail.example.com. 10, TXT \"v=spf1 -all\" (107)",
		"IP 198.18.0.2.53 > 198.18.0.1.40004: 5 1/0/0 SRV sip.example.com.:5060 10 20 (95)",
		"IP 198.18.0.2.53 > 198.18.0.1.40005: 6 NXDomain 0/1/0 (110)",
		"IP 198.18.0.2.53 > 198.18.0.1.40006: 7 ServFail 0/0/0 (29)",
		"IP 198.18.0.1.40007 > 198.18.0.2.53: 8+ PTR? 9.0.18.198.in-addr.arpa. (41)",
		"IP 198.18.0.1.80 > 198.18.0.2.41000: Flags [P.], seq 100:130, ack 200, win 500, length 30: HTTP: HTTP/1.1 200 OK",
		"IP 198.18.0.1.41001 > 198.18.0.2.8080: Flags [P.], seq 100:129, ack 200, win 500, length 29: HTTP: POST /api HTTP/1.1",
		"IP 198.18.0.1.41002 > 198.18.0.2.80: Flags [P.], seq 100:113, ack 200, win 500, length 13: HTTP",
		"IP 198.18.0.1.41003 > 198.18.0.2.80: Flags [P.], seq 100:116, ack 200, win 500, length 16: HTTP: GET /no-line-end [|http]",
		"IP 198.18.0.1.22 > 198.18.0.2.41004: Flags [P.], seq 100:132, ack 200, win 500, length 32: SSH: SSH-2.0-OpenSSH_9.2p1 Debian-2",
		"IP 198.18.0.1.41005 > 198.18.0.2.22: Flags [P.], seq 100:119, ack 200, win 500, length 19",
	}
	file := writePcap(t, frames)
	if os.Getenv("RAWKIT_WRITE_PCAP") != "" {
		os.WriteFile(os.Getenv("RAWKIT_WRITE_PCAP"), mustRead(t, file), 0o644)
	}
	out, _, err := run(t, Options{ReadFile: file, Stamps: 1})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("packet %d:\n got %q\nwant %q", i+1, lines[i], want[i])
		}
	}
}
