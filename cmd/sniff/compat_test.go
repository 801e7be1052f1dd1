package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// testdata is tcpdump's test material in shared/, beside the repository.
func testdata(t *testing.T, sub string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "testdata", sub)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tcpdump's test material is missing: %v", err)
		}
		t.Skipf("tcpdump's test material (shared/testdata) is not here: %v", err)
	}
	return dir
}

// packets splits tcpdump-style output into one entry per packet: its
// line and the dump lines (tab-indented) that follow it.
func packets(out string) []string {
	var ps []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.HasPrefix(line, "\t") && len(ps) > 0 {
			ps[len(ps)-1] += "\n" + line
			continue
		}
		ps = append(ps, line)
	}
	return ps
}

func read(t *testing.T, name string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, _ := cmd.Output()
	if slices.Contains(args, "-A") {
		return stampedPackets(string(out))
	}
	return packets(string(out))
}

var stampLine = regexp.MustCompile(`^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} `)

// stampedPackets splits -A's output, whose text lines are not indented,
// at the lines that start with a time stamp.
func stampedPackets(out string) []string {
	var ps []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if !stampLine.MatchString(line) && len(ps) > 0 {
			ps[len(ps)-1] += "\n" + line
			continue
		}
		ps = append(ps, line)
	}
	return ps
}

var crafted = regexp.MustCompile(`oobr|overflow|overread|crash|cve|fuzz|bad|invalid|trunc|malformed|bogus|loop|corrupt|over-?run|underflow|uaf|heap|stack`)

// noLinkHeader are the savefiles of link types whose header sniff's -e
// does not print (docs/compat.md): ARCnet's, a Broadcom tag.
var noLinkHeader = regexp.MustCompile(`^(arcnet|brcm)`)

// tcpdump's printing options, on tcpdump's own savefiles: wherever
// sniff's plain line for a packet equals tcpdump -n's, the line with the
// option (and its dump lines) must equal too.
func TestPrintingOptionsLikeTcpdump(t *testing.T) {
	dir := testdata(t, "tcpdump-tests")
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatal("tcpdump is needed (make deps installs it)")
	}
	all, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	// Well-formed captures only, and small ones: crafted files (past
	// out-of-bounds reads and overflows) test robustness elsewhere, and
	// make tcpdump's dumps stop where its printers stopped.
	var files []string
	for _, f := range all {
		name := strings.ToLower(filepath.Base(f))
		if st, err := os.Stat(f); err != nil || st.Size() > 64<<10 || crafted.MatchString(name) {
			continue
		}
		files = append(files, f)
	}
	if len(files) < 50 {
		t.Fatalf("only %d savefiles in %s", len(files), dir)
	}
	files = files[:min(len(files), 150)]
	options := [][]string{{"-t"}, {"-tt"}, {"-ttt"}, {"-tttt"}, {"-ttttt"}, {"-#"}, {"-x"}, {"-xx"}, {"-X"}, {"-XX"}, {"-nn"}, {"-S"}, {"-#", "-tt", "-x"}, {"-q"}, {"-q", "-e"}, {"-e"}}
	compared := map[string]int{}
	for _, f := range files {
		base := read(t, bin, "-n", "-r", f)
		ref := read(t, "tcpdump", "-n", "-r", f)
		if len(base) != len(ref) || len(base) == 0 || len(base) > 2000 {
			continue
		}
		same := map[int]bool{}
		for i := range base {
			same[i] = base[i] == ref[i]
		}
		for _, opt := range options {
			if slices.Contains(opt, "-e") && noLinkHeader.MatchString(filepath.Base(f)) {
				continue
			}
			args := append(append([]string{"-n"}, opt...), "-r", f)
			ours, theirs := read(t, bin, args...), read(t, "tcpdump", args...)
			key := strings.Join(opt, " ")
			if len(ours) != len(theirs) {
				t.Errorf("%s %s: %d packets, tcpdump %d", filepath.Base(f), key, len(ours), len(theirs))
				continue
			}
			for i := range ours {
				if !same[i] {
					continue
				}
				compared[key]++
				if ours[i] != theirs[i] {
					t.Errorf("%s %s, packet %d:\nours:\n%s\ntcpdump:\n%s", filepath.Base(f), key, i+1, ours[i], theirs[i])
					break
				}
			}
		}
	}
	for _, opt := range options {
		key := strings.Join(opt, " ")
		if compared[key] < 100 {
			t.Errorf("%s: only %d packets compared", key, compared[key])
		}
	}
	t.Logf("packets compared per option: %v", compared)
}

// packetLines counts the lines of -r output that stand for a packet:
// those that start with the time stamp, or with tcpdump's bracketed
// notes for a record it cannot print ("[Invalid header: ...]", "[Error
// converting time]").
func packetLines(out []byte) int {
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && (line[0] >= '0' && line[0] <= '9' || line[0] == '[') {
			n++
		}
	}
	return n
}

// Every savefile of tcpdump's and libpcap's tests: sniff reads as many
// packets as tcpdump (libpcap) does, refuses what it refuses, and never
// panics or hangs, crafted files for past CVEs included.
func TestEverySavefileCount(t *testing.T) {
	var files []string
	for _, sub := range []string{"tcpdump-tests", "libpcap-tests"} {
		dir := testdata(t, sub)
		for _, pat := range []string{"*.pcap", "*.pcapng", "*.cap"} {
			m, _ := filepath.Glob(filepath.Join(dir, pat))
			files = append(files, m...)
		}
	}
	if len(files) < 500 {
		t.Fatalf("only %d savefiles", len(files))
	}
	same := 0
	for _, f := range files {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ref := exec.CommandContext(ctx, "tcpdump", "-n", "-q", "-r", f)
		ref.Env = append(os.Environ(), "TZ=UTC")
		theirs, refErr := ref.Output()
		ours := exec.CommandContext(ctx, bin, "-n", "-r", f)
		ours.Env = ref.Env
		var stderr bytes.Buffer
		ours.Stderr = &stderr
		out, err := ours.Output()
		hung := ctx.Err() != nil
		cancel()
		name := filepath.Base(f)
		switch {
		case hung:
			t.Errorf("%s: did not finish in 20 s", name)
		case strings.Contains(stderr.String(), "panic") || strings.Contains(stderr.String(), "goroutine "):
			t.Errorf("%s: panic\n%s", name, stderr.String())
		case packetLines(out) != packetLines(theirs):
			t.Errorf("%s: %d packets, tcpdump %d (tcpdump: %v; ours: %v %s)", name, packetLines(out), packetLines(theirs), refErr, err, stderr.String())
		default:
			same++
		}
	}
	t.Logf("%d of %d savefiles read with tcpdump's packet count", same, len(files))
}

// tcpdumpLines are the packet lines of -n -t output (continuations left
// out), for a line-by-line comparison.
func tcpdumpLines(out []byte) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" && l[0] != ' ' && l[0] != '\t' {
			lines = append(lines, l)
		}
	}
	return lines
}

// TCP lines as tcpdump -n prints them (flags in its order, relative
// sequence numbers, options), and ICMP lines (unreachables named as
// tcpdump names them), over every savefile of tcpdump's tests whose
// packets both read alike: the share identical may only grow (the
// figures reached are the floors; app-layer decodes such as HTTP, BGP
// details or NFS are not done yet).
func TestTCPLinesLikeTcpdump(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdata(t, "tcpdump-tests"), "*.pcap"))
	total, same := 0, 0
	icmpTotal, icmpSame := 0, 0
	arpTotal, arpSame := 0, 0
	dnsTotal, dnsSame := 0, 0
	allTotal, allSame := 0, 0
	// The sniff issue's measure: packets whose top protocol is TCP, UDP
	// (whatever they carry), ICMP, ICMPv6 or ARP, a packet sniff prints
	// otherwise (or not at all) counting as different.
	topTotal, topSame := 0, 0
	dns := regexp.MustCompile(`\.53 > |\.53: `)
	for _, f := range files {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		env := append(os.Environ(), "TZ=UTC")
		ref := exec.CommandContext(ctx, "tcpdump", "-n", "-t", "-r", f)
		ref.Env = env
		theirs, _ := ref.Output()
		ours := exec.CommandContext(ctx, bin, "-n", "-t", "-r", f)
		ours.Env = env
		mine, _ := ours.Output()
		cancel()
		a, b := tcpdumpLines(theirs), tcpdumpLines(mine)
		allTotal += len(a)
		for i, line := range a {
			if topProtocol(line) {
				topTotal++
				if len(a) == len(b) && b[i] == line {
					topSame++
				}
			}
		}
		if len(a) != len(b) {
			continue
		}
		for i := range a {
			if a[i] == b[i] {
				allSame++
			}
			if dns.MatchString(a[i]) && !strings.Contains(a[i], "Flags [") {
				dnsTotal++
				if a[i] == b[i] {
					dnsSame++
				}
			}
			if strings.Contains(a[i], "Flags [") {
				total++
				if a[i] == b[i] {
					same++
				}
			}
			if strings.Contains(a[i], ": ICMP ") {
				icmpTotal++
				if a[i] == b[i] {
					icmpSame++
				}
			}
			if strings.Contains(a[i], "ARP, ") {
				arpTotal++
				if a[i] == b[i] {
					arpSame++
				}
			}
		}
	}
	t.Logf("TCP lines identical to tcpdump -n's: %d of %d; ICMP: %d of %d; ARP: %d of %d; DNS over UDP: %d of %d; every line: %d of %d (%.1f%%)",
		same, total, icmpSame, icmpTotal, arpSame, arpTotal, dnsSame, dnsTotal, allSame, allTotal, 100*float64(allSame)/float64(max(allTotal, 1)))
	t.Logf("packets of TCP, UDP, ICMP, ICMPv6 or ARP printed as tcpdump -n prints them: %d of %d (%.1f%%)", topSame, topTotal, 100*float64(topSame)/float64(max(topTotal, 1)))
	if topTotal < 5000 || topSame < 5514 {
		t.Errorf("TCP/UDP/ICMP/ICMPv6/ARP packets printed as tcpdump -n: %d of %d; reached before: 5514", topSame, topTotal)
	}
	if total < 1500 || same < 1443 {
		t.Errorf("TCP lines identical to tcpdump -n's: %d of %d; reached before: 1443", same, total)
	}
	if dnsTotal < 80 || dnsSame < 82 {
		t.Errorf("DNS lines identical to tcpdump -n's: %d of %d; reached before: 82", dnsSame, dnsTotal)
	}
	if allSame < 5969 {
		t.Errorf("lines identical to tcpdump -n's: %d of %d; reached before: 5969", allSame, allTotal)
	}
	if icmpTotal < 100 || icmpSame < 89 {
		t.Errorf("ICMP lines identical to tcpdump -n's: %d of %d; reached before: 89", icmpSame, icmpTotal)
	}
	eSame, eTotal := formLinesLikeTcpdump(files, "-e")
	t.Logf("with -e, packet lines identical to tcpdump -ne's: %d of %d", eSame, eTotal)
	if eSame < 5374 {
		t.Errorf("-e lines identical to tcpdump -ne's: %d of %d; reached before: 5374", eSame, eTotal)
	}
	vSame, vTotal := verboseLinesLikeTcpdump(files)
	t.Logf("with -v, lines (continuations too) identical to tcpdump -nv's: %d of %d", vSame, vTotal)
	if vSame < 2753 {
		t.Errorf("-v lines identical to tcpdump -nv's: %d of %d; reached before: 2753", vSame, vTotal)
	}
	if arpTotal < 2000 || arpSame < 2265 {
		t.Errorf("ARP lines identical to tcpdump -n's: %d of %d; reached before: 2265", arpSame, arpTotal)
	}
}

// verboseLinesLikeTcpdump compares -v output line by line, the lines
// tcpdump indents under a packet's first line included.
func verboseLinesLikeTcpdump(files []string) (same, total int) {
	return linesLikeTcpdump(files, "-v", func(out []byte) []string { return strings.Split(strings.TrimRight(string(out), "\n"), "\n") })
}

// addrPort matches the start of an IP line whose source has a port:
// "IP 198.18.0.1.53 > " (four dots) or "IP6 2001:db8::1.53 > ".
var addrPort = regexp.MustCompile(`^(IP (\d+\.){4}\d+|IP6 [0-9a-f:]+\.\d+) > `)

// topProtocol reports whether tcpdump's line is of a packet whose top
// protocol is TCP, UDP, ICMP, ICMPv6 or ARP.
func topProtocol(line string) bool {
	return addrPort.MatchString(line) || strings.Contains(line, ": ICMP ") || strings.Contains(line, ": ICMP6,") ||
		strings.Contains(line, ": HBH ICMP6,") || strings.HasPrefix(line, "ARP, ")
}

// formLinesLikeTcpdump compares the packet lines (continuations left
// out) of one printing option on our tool and on tcpdump.
func formLinesLikeTcpdump(files []string, option string) (same, total int) {
	return linesLikeTcpdump(files, option, tcpdumpLines)
}

// linesLikeTcpdump runs both tools with option on every file and counts
// the lines split picks that are the same, in files of as many lines.
func linesLikeTcpdump(files []string, option string, split func([]byte) []string) (same, total int) {
	for _, f := range files {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		env := append(os.Environ(), "TZ=UTC")
		ref := exec.CommandContext(ctx, "tcpdump", "-n", "-t", option, "-r", f)
		ref.Env = env
		theirs, _ := ref.Output()
		ours := exec.CommandContext(ctx, bin, "-n", "-t", option, "-r", f)
		ours.Env = env
		mine, _ := ours.Output()
		cancel()
		a, b := split(theirs), split(mine)
		total += len(a)
		if len(a) != len(b) {
			continue
		}
		for i := range a {
			if a[i] == b[i] {
				same++
			}
		}
	}
	return same, total
}

// libpcap's "apply" table: expressions run on its savefiles. sniff -r
// with each must match the packets the installed tcpdump matches (the
// same count), or refuse where tcpdump refuses; refusing what tcpdump
// takes is counted (link types and primitives not supported yet), never
// a different set of packets.
func TestFilterTablesOnSavefiles(t *testing.T) {
	dir := testdata(t, "libpcap-tests")
	raw, err := os.ReadFile(filepath.Join(dir, "filter-tables.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tables struct {
		Apply []struct {
			Expr, Savefile, Netmask string
		}
	}
	if err := json.Unmarshal(raw, &tables); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "TZ=UTC")
		out, err := cmd.Output()
		if ctx.Err() != nil {
			t.Errorf("%s %q: did not finish in 20 s", name, args)
		}
		return out, err
	}
	same, refused := 0, 0
	for _, a := range tables.Apply {
		if a.Netmask != "" {
			continue // pcap_compile's netmask argument: tcpdump has no option for it
		}
		f := filepath.Join(dir, a.Savefile)
		theirs, refErr := run("tcpdump", "-n", "-r", f, a.Expr)
		ours, err := run(bin, "-n", "-r", f, a.Expr)
		switch {
		case refErr != nil && err != nil:
			same++
		case refErr != nil:
			t.Errorf("%s %q: tcpdump refuses it (%v), sniff reads %d packets", a.Savefile, a.Expr, refErr, packetLines(ours))
		case err != nil:
			refused++
		case packetLines(ours) != packetLines(theirs):
			t.Errorf("%s %q: %d packets, tcpdump %d", a.Savefile, a.Expr, packetLines(ours), packetLines(theirs))
		default:
			same++
		}
	}
	t.Logf("libpcap's apply table: %d expressions give tcpdump's packets, %d refused that tcpdump takes", same, refused)
	if same < applyFloor {
		t.Errorf("%d agree with tcpdump, below the floor of %d", same, applyFloor)
	}
}

// applyFloor is the agreement reached on the apply table; it may only rise.
const applyFloor = 137

// -d, -dd and -ddd print a program as tcpdump prints it: wherever sniff's
// program is libpcap's instruction for instruction (-ddd equal), the
// listing (-d) and the C array (-dd) are tcpdump's byte for byte.
func TestProgramListingsLikeTcpdump(t *testing.T) {
	exprs := []string{"icmp", "ip", "arp or rarp", "ip multicast", "ip6 multicast", "ether broadcast", "len > 100",
		"less 60", "ifindex 3", "ether[0] & 1 != 0", "ip[2:2] * 2 > 200", "ip[2:2] / 2 > 40", "ip[2:2] - 4 < 10",
		"tcp[13] >> 4 > 5", "ip[8] << 1 == 128", "ip[1] | 3 == 3", "ip[1] ^ 3 == 3", "ether proto 0x88cc", "vlan 100",
		"mpls 100", "pppoes 1234", "ip6 protochain 17", "byte 8 = 5", "byte 8 < 5", "icmp6", "ip proto 47", "stp"}
	same := 0
	for _, lt := range []string{"EN10MB", "LINUX_SLL", "RAW", "LINUX_SLL2", "NULL"} {
		for _, e := range exprs {
			out := func(name string, d string) string {
				b, _ := exec.Command(name, d, "-y", lt, e).Output()
				return string(b)
			}
			if out("tcpdump", "-ddd") != out(bin, "-ddd") || out("tcpdump", "-ddd") == "" {
				continue
			}
			same++
			for _, d := range []string{"-d", "-dd"} {
				if a, b := out(bin, d), out("tcpdump", d); a != b {
					t.Errorf("%s %s %q:\n%s\ntcpdump:\n%s", lt, d, e, a, b)
				}
			}
		}
	}
	if same < 40 {
		t.Errorf("only %d programs equal to libpcap's to compare listings on", same)
	}
	t.Logf("%d programs equal to libpcap's, listed as tcpdump lists them", same)
}
