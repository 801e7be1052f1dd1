package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	ipA  = net.IP{198, 18, 0, 1}
	ipB  = net.IP{198, 18, 0, 2}
	t0   = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
)

// frame serializes an Ethernet frame of the given layers above IPv4.
func frame(t testing.TB, proto layers.IPProtocol, l4 ...gopacket.SerializableLayer) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Protocol: proto, SrcIP: ipA, DstIP: ipB}
	all := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip}
	for _, l := range l4 {
		if n, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			n.SetNetworkLayerForChecksum(ip)
		}
	}
	all = append(all, l4...)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, all...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// threePackets are a DNS query over UDP, an echo request and a SYN.
func threePackets(t testing.TB) [][]byte {
	dns := &layers.DNS{ID: 0x1234, RD: true, Questions: []layers.DNSQuestion{{Name: []byte("example.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	return [][]byte{
		frame(t, layers.IPProtocolUDP, &layers.UDP{SrcPort: 40000, DstPort: 53}, dns),
		frame(t, layers.IPProtocolICMPv4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}, gopacket.Payload("ping")),
		frame(t, layers.IPProtocolTCP, &layers.TCP{SrcPort: 40001, DstPort: 80, Seq: 1000, SYN: true, Window: 64240}),
	}
}

// fakeSource hands out queued packets (filtered by the program the
// kernel would run), then those of gen if set, forever; else waits.
type fakeSource struct {
	mu      sync.Mutex
	queue   []rawsock.Packet
	gen     func() rawsock.Packet
	vm      *bpf.VM
	cooked  bool
	dropped uint64
	errs    []error // returned, one per call, once the queue is empty
	closed  bool
	got     uint64
}

func (f *fakeSource) listen(cfg rawsock.PacketConfig) (Source, error) {
	if cfg.Iface == "nosuch0" {
		return nil, errors.New("route ip+net: no such network interface")
	}
	f.cooked = cfg.Iface == "any"
	if cfg.Filter != nil {
		vm, err := bpf.NewVM(cfg.Filter)
		if err != nil {
			return nil, err
		}
		f.vm = vm
	}
	return f, nil
}

// NextBatch hands one packet a call: the engine must not rely on more.
func (f *fakeSource) NextBatch(timeout time.Duration, pkts []rawsock.Packet) (int, error) {
	p, ok, err := f.Next(timeout)
	if !ok {
		return 0, err
	}
	pkts[0] = p
	return 1, err
}

func (f *fakeSource) Next(timeout time.Duration) (rawsock.Packet, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.queue) > 0 {
		p := f.queue[0]
		f.queue = f.queue[1:]
		if f.cooked {
			p.Data = p.Data[14:] // "any" hands packets from the network header
		}
		if f.vm != nil {
			if n, _ := f.vm.Run(p.Data); n == 0 {
				continue
			}
		}
		f.got++
		return p, true, nil
	}
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return rawsock.Packet{}, false, err
	}
	if f.gen != nil {
		time.Sleep(20 * time.Microsecond)
		f.got++
		return f.gen(), true, nil
	}
	f.mu.Unlock()
	time.Sleep(min(timeout, 2*time.Millisecond))
	f.mu.Lock()
	return rawsock.Packet{}, false, nil
}

func (f *fakeSource) Stats() (uint64, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got, f.dropped, nil
}

func (f *fakeSource) Close() error { f.closed = true; return nil }

func packets(frames [][]byte) []rawsock.Packet {
	var out []rawsock.Packet
	for i, b := range frames {
		out = append(out, rawsock.Packet{Data: b, Length: len(b), Time: t0.Add(time.Duration(i) * time.Millisecond),
			Ifindex: 1, Protocol: 0x0800, VLAN: -1, HAType: 1, Outgoing: i%2 == 0})
	}
	return out
}

func capture(t *testing.T, src *fakeSource, opts Options) (string, string, error) {
	t.Helper()
	opts.Listen = src.listen
	if opts.Iface == "" {
		opts.Iface = "v0"
	}
	if opts.Count == 0 && opts.Duration == 0 {
		opts.Duration = 150 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := Run(ctx, opts, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// The lines of a live capture are those of the same packets read back
// from a file: one printer, whatever the source.
func TestLiveLinesEqualFileLines(t *testing.T) {
	frames := threePackets(t)
	src := &fakeSource{queue: packets(frames)}
	out, stderr, err := capture(t, src, Options{Count: 3, Stamps: 2})
	if err != nil {
		t.Fatalf("%v %s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, want := range []string{
		"1796126400.000000 IP 198.18.0.1.40000 > 198.18.0.2.53: 4660+ A? example.com. (29)",
		"1796126400.001000 IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 7, seq 1, length 12",
		"1796126400.002000 IP 198.18.0.1.40001 > 198.18.0.2.80: Flags [S], seq 1000, win 64240, length 0",
	} {
		if lines[i] != want {
			t.Errorf("line %d\n got %q\nwant %q", i, lines[i], want)
		}
	}
	if !strings.Contains(stderr, "3 packets captured\n3 packets received by filter\n0 packets dropped by kernel\n") {
		t.Errorf("tallies: %q", stderr)
	}
	file := writePcap(t, frames)
	got, _, err := run(t, Options{ReadFile: file, Stamps: 2})
	if err != nil || got != out {
		t.Errorf("-r: %v\n%s\nlive:\n%s", err, got, out)
	}
}

func run(t *testing.T, opts Options) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), opts, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func writePcap(t *testing.T, frames [][]byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "in.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newPcapWriter(f, linkEthernet, 262144)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range frames {
		w.write(t0.Add(time.Duration(i)*time.Millisecond), b, len(b))
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return name
}

func TestLiveFilter(t *testing.T) {
	for _, tc := range []struct {
		iface, filter string
		want          string
	}{
		{"v0", "icmp", "ICMP echo request"},
		{"any", "icmp", "ICMP echo request"},
		{"v0", "tcp port 80", "Flags [S]"},
		{"any", "udp and port 53", "A? example.com."},
	} {
		src := &fakeSource{queue: packets(threePackets(t))}
		out, _, err := capture(t, src, Options{Iface: tc.iface, Filter: tc.filter, Count: 1})
		if err != nil || strings.Count(out, "\n") != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("-i %s %q: %v\n%s", tc.iface, tc.filter, err, out)
		}
	}
}

func TestDirection(t *testing.T) {
	for dir, want := range map[string]int{"in": 1, "out": 2, "inout": 3} {
		src := &fakeSource{queue: packets(threePackets(t))}
		out, _, err := capture(t, src, Options{Direction: dir})
		if err != nil || strings.Count(out, "\n") != want {
			t.Errorf("-Q %s: %v, %d lines, want %d\n%s", dir, err, strings.Count(out, "\n"), want, out)
		}
	}
	if _, _, err := capture(t, &fakeSource{}, Options{Direction: "sideways"}); report.ExitCode(err) != report.ExitUsage {
		t.Errorf("-Q sideways: %v", err)
	}
}

// A capture under endless traffic stops soon after --duration or a
// cancel: the stop is a bound, not a wait for quiet.
func TestStopIsBoundedUnderEndlessTraffic(t *testing.T) {
	frames := threePackets(t)
	gen := func() rawsock.Packet {
		return rawsock.Packet{Data: frames[1], Length: len(frames[1]), Time: time.Now(), VLAN: -1, HAType: 1}
	}
	begin := time.Now()
	_, stderr, err := capture(t, &fakeSource{gen: gen}, Options{Duration: 200 * time.Millisecond, WriteFile: filepath.Join(t.TempDir(), "x.pcap")})
	if d := time.Since(begin); err != nil || d > 1500*time.Millisecond {
		t.Errorf("--duration 200ms under traffic: %v after %v (%s)", err, d, stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	begin = time.Now()
	src := &fakeSource{gen: gen}
	err = Run(ctx, Options{Iface: "v0", Listen: src.listen, WriteFile: filepath.Join(t.TempDir(), "y.pcap")}, &bytes.Buffer{}, &bytes.Buffer{})
	if d := time.Since(begin); err != nil || d > 1500*time.Millisecond {
		t.Errorf("cancel under traffic: %v after %v", err, d)
	}
}

func TestInterfaceGoneAndDown(t *testing.T) {
	src := &fakeSource{queue: packets(threePackets(t)), errs: []error{rawsock.ErrInterfaceDown, rawsock.ErrInterfaceGone}}
	out, stderr, err := capture(t, src, Options{Duration: 5 * time.Second})
	if report.ExitCode(err) != report.ExitNetwork || !strings.Contains(err.Error(), "the interface disappeared") {
		t.Errorf("exit %d: %v", report.ExitCode(err), err)
	}
	if strings.Count(out, "\n") != 3 || !strings.Contains(stderr, "3 packets captured") {
		t.Errorf("the packets before the loss are kept:\n%s\n%s", out, stderr)
	}
}

func TestKernelDropsExit1(t *testing.T) {
	src := &fakeSource{queue: packets(threePackets(t)), dropped: 5}
	_, stderr, err := capture(t, src, Options{})
	if report.ExitCode(err) != report.ExitNetwork || !strings.Contains(stderr, "5 packets dropped by kernel") {
		t.Errorf("exit %d (%v): %q", report.ExitCode(err), err, stderr)
	}
}

func TestNoSuchInterface(t *testing.T) {
	_, _, err := capture(t, &fakeSource{}, Options{Iface: "nosuch0"})
	if report.ExitCode(err) != report.ExitUsage {
		t.Errorf("exit %d: %v", report.ExitCode(err), err)
	}
}

func TestJSONRecords(t *testing.T) {
	src := &fakeSource{queue: packets(threePackets(t))}
	out, _, err := capture(t, src, Options{JSON: true, Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var last map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if last["type"] == "packet" {
			n++
		}
	}
	if n != 3 || last["type"] != "summary" || last["captured"] != 3.0 {
		t.Errorf("%d packet records, last %v", n, last)
	}
}

func TestExpects(t *testing.T) {
	for _, tc := range []struct {
		expect string
		filter string
		ok     bool
	}{
		{"count>=3", "", true},
		{"count>=4", "", false},
		{"none", "arp", true},
		{"none", "icmp", false},
	} {
		exp, err := report.ParseExpects([]string{tc.expect}, Metrics)
		if err != nil {
			t.Fatal(err)
		}
		src := &fakeSource{queue: packets(threePackets(t))}
		_, _, err = capture(t, src, Options{Filter: tc.filter, Expects: exp})
		if (err == nil) != tc.ok {
			t.Errorf("--expect %s with %q: %v", tc.expect, tc.filter, err)
		}
	}
}

// Each printing option changes the lines as tcpdump's does.
func TestPrintingOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"-e", Options{LinkHeader: true}, "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 71: 198.18.0.1.40000 > "},
		{"-v", Options{Verbose: 1}, "IP (tos 0x0, ttl 64, id 4660, offset 0, flags [none], proto UDP (17), length 57)\n    198.18.0.1.40000 > 198.18.0.2.53: "},
		{"-t", Options{Stamps: 1}, "IP 198.18.0.1.40000 > 198.18.0.2.53:"},
		{"-tttt", Options{Stamps: 4}, "2026-12-01 12:00:00.000000 IP "},
		{"-ttt", Options{Stamps: 3}, " 00:00:00.001000 IP 198.18.0.1 > 198.18.0.2: ICMP"},
		{"-x", Options{HexOnly: true}, "\t0x0000:  4500 0039 1234 0000 4011 dc58 c612 0001\n"},
		{"-X", Options{Hex: true}, "\t0x0020:  0001 0000 0000 0000 0765 7861 6d70 6c65  .........example\n"},
		{"-A", Options{ASCII: true}, "example"},
		{"-XX", Options{Hex: true, WithLink: true}, "\t0x0000:  0200 0000 0002 0200 0000 0001 0800 4500"},
		{"-#", Options{Number: true}, "    1  "},
		{"-S", Options{AbsoluteSeq: true}, "seq 1000,"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := run(t, Options{ReadFile: writePcap(t, threePackets(t)), Verbose: tc.opts.Verbose, LinkHeader: tc.opts.LinkHeader,
				Stamps: tc.opts.Stamps, Hex: tc.opts.Hex, HexOnly: tc.opts.HexOnly, ASCII: tc.opts.ASCII, WithLink: tc.opts.WithLink,
				Number: tc.opts.Number, AbsoluteSeq: tc.opts.AbsoluteSeq})
			if err != nil || !strings.Contains(out, tc.want) {
				t.Errorf("%v: no %q in\n%s", err, tc.want, out)
			}
		})
	}
}

// What -w writes, -r reads back, pcap and pcapng alike, with the filter.
func TestWriteThenRead(t *testing.T) {
	for _, name := range []string{"out.pcap", "out.pcapng"} {
		file := filepath.Join(t.TempDir(), name)
		src := &fakeSource{queue: packets(threePackets(t))}
		out, _, err := capture(t, src, Options{WriteFile: file, Count: 3})
		if err != nil || out != "" {
			t.Fatalf("-w %s: %v %q", name, err, out)
		}
		got, stderr, err := run(t, Options{ReadFile: file, Filter: "tcp or icmp", Stamps: 1})
		if err != nil || strings.Count(got, "\n") != 2 || !strings.HasPrefix(stderr, "reading from file "+file+", link-type EN10MB (Ethernet)") {
			t.Errorf("-r %s: %v %q\n%s", name, err, stderr, got)
		}
	}
}

// -C with -W keeps that many files, the oldest reused, as tcpdump.
func TestRotationBySize(t *testing.T) {
	dir := t.TempDir()
	var q []rawsock.Packet
	for range 40 {
		q = append(q, packets(threePackets(t))...)
	}
	src := &fakeSource{queue: q}
	_, _, err := capture(t, src, Options{WriteFile: filepath.Join(dir, "r"), RotateSize: 1000, KeepFiles: 3, Count: 120})
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "r0 r1 r2" {
		t.Errorf("files %v, want r0 r1 r2", names)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a capture file at all"), 0o644)
	for _, o := range []Options{{ReadFile: filepath.Join(dir, "missing")}, {ReadFile: junk}, {ReadFile: writePcap(t, threePackets(t)), Filter: "port"}} {
		if _, _, err := run(t, o); report.ExitCode(err) != report.ExitUsage {
			t.Errorf("%+v: exit %d (%v)", o, report.ExitCode(err), err)
		}
	}
	// A truncated file: what came before the cut, then an error.
	b, _ := os.ReadFile(writePcap(t, threePackets(t)))
	cut := filepath.Join(dir, "cut")
	os.WriteFile(cut, b[:len(b)-10], 0o644)
	out, _, err := run(t, Options{ReadFile: cut})
	if err == nil || strings.Count(out, "\n") != 2 {
		t.Errorf("truncated: %v\n%s", err, out)
	}
}

func TestPrintFilterProgram(t *testing.T) {
	out, _, err := capture(t, &fakeSource{}, Options{Filter: "icmp", PrintFilter: 1, Iface: "eth0"})
	want := "(000) ldh      [12]\n(001) jeq      #0x800           jt 2\tjf 5\n(002) ldb      [23]\n" +
		"(003) jeq      #0x1             jt 4\tjf 5\n(004) ret      #262144\n(005) ret      #0\n"
	if err != nil || out != want {
		t.Errorf("-d: %v\n%s", err, out)
	}
	out, _, _ = capture(t, &fakeSource{}, Options{Filter: "icmp", PrintFilter: 2, Iface: "eth0"})
	if !strings.HasPrefix(out, "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 3, 0x00000800 },\n") {
		t.Errorf("-dd:\n%s", out)
	}
	out, _, _ = capture(t, &fakeSource{}, Options{Filter: "icmp", PrintFilter: 3, Iface: "eth0"})
	if !strings.HasPrefix(out, "6\n40 0 0 12\n21 0 3 2048\n") {
		t.Errorf("-ddd:\n%s", out)
	}
}
