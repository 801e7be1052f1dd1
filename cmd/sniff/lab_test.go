package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/labtest"
	"github.com/rawkit/rawkit/internal/netlab"
)

var bin string

func TestMain(m *testing.M) { labtest.Main(m, "sniff", &bin) }

type captureResult struct {
	stdout, stderr string
	code           int
}

// during runs sniff in the client namespace while traffic runs, and
// returns what it printed once it stopped by itself (-c or --duration).
func during(t *testing.T, lab *netlab.Lab, args []string, traffic func()) captureResult {
	t.Helper()
	cmd := lab.Command(t.Context(), lab.Client, bin, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	var errText strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			errText.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "listening on") {
				once = true
				close(ready)
			}
		}
		if !once {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("sniff did not start listening")
	}
	traffic()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("sniff %q did not stop\n%s", args, out.String())
	}
	time.Sleep(50 * time.Millisecond)
	return captureResult{out.String(), errText.String(), cmd.ProcessState.ExitCode()}
}

func ping(lab *netlab.Lab, dst string, n int) func() {
	return func() {
		lab.Command(context.Background(), lab.Client, "ping", "-q", "-c", fmt.Sprint(n), "-i", "0.01", dst).Run()
	}
}

func lines(s string) int { return strings.Count(s, "\n") }

func TestExactCountsAndDirection(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	for _, dst := range []string{lab.Server.Addr4.String(), lab.Server.Addr6.String()} {
		proto := "icmp"
		if strings.Contains(dst, ":") {
			proto = "icmp6"
		}
		// On the interface: every echo and reply, exactly.
		c := during(t, lab, []string{"-i", "to-r1", "--duration", "2", proto + " and host " + dst}, ping(lab, dst, 50))
		if n := lines(c.stdout); n != 100 || !strings.Contains(c.stderr, "100 packets captured") || c.code != 0 {
			t.Errorf("%s on to-r1: %d lines, exit %d\n%s", dst, n, c.code, c.stderr)
		}
		// On any, each direction alone.
		for _, dir := range []string{"in", "out"} {
			c := during(t, lab, []string{"-Q", dir, "--duration", "2", proto + " and host " + dst}, ping(lab, dst, 30))
			want := "Out"
			if dir == "in" {
				want = "In"
			}
			if n := lines(c.stdout); n != 30 || strings.Count(c.stdout, " to-r1 "+want+" ") != 30 {
				t.Errorf("%s -Q %s on any: %d lines\n%s", dst, dir, n, c.stdout)
			}
		}
	}
	// A filter the kernel cannot take (protochain jumps back) runs in
	// sniff, on the interface too: every echo and reply, and nothing else.
	dst6 := lab.Server.Addr6.String()
	c := during(t, lab, []string{"-i", "to-r1", "--duration", "2", "ip6 protochain 58 and host " + dst6}, func() {
		ping(lab, dst6, 40)()
		lab.Command(context.Background(), lab.Client, "ping", "-q", "-c", "20", "-i", "0.01", lab.Server.Addr4.String()).Run()
	})
	if n := lines(c.stdout); n != 80 || c.code != 0 {
		t.Errorf("ip6 protochain 58 on to-r1: %d lines, exit %d\n%s", n, c.code, c.stderr)
	}
	// -c stops at the count.
	c = during(t, lab, []string{"-c", "7", "icmp"}, ping(lab, lab.Server.Addr4.String(), 20))
	if n := lines(c.stdout); n != 7 || c.code != 0 {
		t.Errorf("-c 7: %d lines, exit %d", n, c.code)
	}
}

func TestPcapReadBack(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatal("tcpdump is needed to read our files back (make deps installs it)")
	}
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dir := t.TempDir()
	for _, iface := range []string{"to-r1", "any"} {
		file := filepath.Join(dir, iface+".pcap")
		c := during(t, lab, []string{"-i", iface, "-w", file, "--duration", "2", "icmp"}, ping(lab, lab.Server.Addr4.String(), 25))
		if c.code != 0 {
			t.Fatalf("-w on %s: exit %d %s", iface, c.code, c.stderr)
		}
		out, err := exec.Command("tcpdump", "-n", "-r", file).Output()
		if err != nil {
			t.Fatalf("tcpdump -r %s: %v", file, err)
		}
		if n := lines(string(out)); n != 50 {
			t.Errorf("%s: tcpdump reads %d packets, want 50\n%s", iface, n, out)
		}
		// And our own reader, with a filter, agrees.
		ours, err := exec.Command(bin, "-r", file, "icmp[icmptype] == icmp-echo").Output()
		if err != nil || lines(string(ours)) != 25 {
			t.Errorf("%s: sniff -r with a filter: %d lines, %v", iface, lines(string(ours)), err)
		}
	}
}

// tshark reads our pcap and pcapng files with the exact count, and the
// pcapng keeps the interface names; a file is complete after SIGTERM.
func TestFilesReadByTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is needed (make deps installs it)")
		}
		t.Skip("needs tshark: apt-get install tshark")
	}
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dir := t.TempDir()
	for _, name := range []string{"any.pcap", "any.pcapng", "to-r1.pcapng"} {
		iface := strings.Split(name, ".")[0]
		file := filepath.Join(dir, name)
		c := during(t, lab, []string{"-i", iface, "-w", file, "--duration", "2", "icmp"}, ping(lab, lab.Server.Addr4.String(), 20))
		if c.code != 0 {
			t.Fatalf("%s: exit %d %s", name, c.code, c.stderr)
		}
		count, err := exec.Command("tshark", "-r", file, "-T", "fields", "-e", "frame.number").Output()
		if err != nil || lines(string(count)) != 40 {
			t.Errorf("%s: tshark reads %d packets (%v), want 40", name, lines(string(count)), err)
		}
		if strings.HasSuffix(name, ".pcapng") {
			names, err := exec.Command("tshark", "-r", file, "-T", "fields", "-e", "frame.interface_name").Output()
			if err != nil || !strings.Contains(string(names), "to-r1") {
				t.Errorf("%s: interface names %q (%v)", name, names, err)
			}
		}
		// Our reader agrees, pcapng included.
		ours, err := exec.Command(bin, "-r", file).Output()
		if err != nil || lines(string(ours)) != 40 {
			t.Errorf("%s: sniff -r reads %d (%v)", name, lines(string(ours)), err)
		}
	}
	// SIGTERM in the middle: the file holds every packet it counted.
	file := filepath.Join(dir, "term.pcapng")
	cmd := lab.Command(t.Context(), lab.Client, bin, "-w", file, "icmp")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	ping(lab, lab.Server.Addr4.String(), 10)()
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	count, err := exec.Command("tshark", "-r", file, "-T", "fields", "-e", "frame.number").Output()
	if err != nil || lines(string(count)) != 20 || !strings.Contains(errb.String(), "20 packets captured") {
		t.Errorf("after SIGTERM: tshark reads %d (%v); sniff said %q", lines(string(count)), err, errb.String())
	}
}

// -C rotates the file; every file is whole and together they hold every
// packet.
func TestRotation(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dir := t.TempDir()
	base := filepath.Join(dir, "rot.pcap")
	c := during(t, lab, []string{"-i", "to-r1", "-w", base, "-C", "0.002", "--duration", "2", "icmp"}, ping(lab, lab.Server.Addr4.String(), 30))
	if c.code != 0 {
		t.Fatalf("exit %d %s", c.code, c.stderr)
	}
	files, _ := filepath.Glob(base + "*")
	if len(files) < 3 {
		t.Fatalf("-C 0.002 (2000 bytes) over 60 packets of 98 wrote %d files", len(files))
	}
	total := 0
	for _, f := range files {
		out, err := exec.Command("tcpdump", "-n", "-r", f).Output()
		if err != nil {
			t.Errorf("%s: tcpdump cannot read it: %v", f, err)
		}
		total += lines(string(out))
	}
	if total != 60 {
		t.Errorf("%d files hold %d packets, want 60", len(files), total)
	}
}

func TestUsageAndPrivilege(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{})
	for _, args := range [][]string{{"tcp port"}, {"gateway x"}, {"-i", "nosuch0"}, {"-Q", "sideways"}, {"-r", "/nonexistent"}, {"-w", "-", "--json"}} {
		r := labtest.Run(t, lab, lab.Client, 30*time.Second, append([]string{bin}, args...)...)
		if r.Code != 2 || r.Stderr == "" || strings.Contains(r.Stderr, "panic") {
			t.Errorf("%q: exit %d %q; want 2", args, r.Code, r.Stderr)
		}
	}
	r := labtest.Run(t, lab, lab.Client, 30*time.Second, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin, "-c", "1")
	if r.Code != 3 || !strings.Contains(r.Stderr, "setcap") {
		t.Errorf("unprivileged: exit %d %q", r.Code, r.Stderr)
	}
	r = labtest.Run(t, lab, lab.Client, 30*time.Second, bin, "-d", "-i", "to-server", "tcp port 80")
	if r.Code != 0 || !strings.Contains(r.Stdout, "ret") {
		t.Errorf("-d: exit %d\n%s", r.Code, r.Stdout)
	}
}

// -e, -v, -X and -A print what tcpdump prints for the same file.
func TestPrintOptionsLikeTcpdump(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	file := filepath.Join(t.TempDir(), "x.pcap")
	during(t, lab, []string{"-i", "to-r1", "-w", file, "-c", "2", "icmp"}, ping(lab, lab.Server.Addr4.String(), 1))
	for _, flags := range [][]string{{"-e"}, {"-X"}} {
		ours, err := exec.Command(bin, append([]string{"-r", file}, flags...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := exec.Command("tcpdump", append([]string{"-n", "-r", file}, flags...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(ours) != string(theirs) {
			t.Errorf("%v differs from tcpdump:\nours:\n%s\ntcpdump:\n%s", flags, ours, theirs)
		}
	}
}

// startSniff starts sniff in the client namespace and returns once it
// says it is listening.
func startSniff(t *testing.T, lab *netlab.Lab, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := lab.Command(t.Context(), lab.Client, bin, args...)
	errb := &syncBuffer{}
	cmd.Stderr = errb
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(errb.String(), "listening on"); {
		if time.Now().After(deadline) {
			t.Fatalf("sniff %q did not start: %s", args, errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, errb
}

// waitExit waits at most limit for cmd to end and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration, what string) int {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s: sniff still running %v later", what, limit)
		return -1
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A stop is a bound, not a condition: while packets keep coming, SIGINT,
// SIGTERM, SIGHUP and --duration each end a capture within a fraction of
// a second (the bound here is generous: 2 s), with exit 0, the tallies
// printed and a file that holds exactly the packets counted.
func TestStopIsBoundedUnderTraffic(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	// 500 echo requests a second (and their replies) for the whole test.
	flood := lab.Command(t.Context(), lab.Client, "ping", "-q", "-i", "0.002", "-w", "60", lab.Server.Addr4.String())
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flood.Process.Kill(); flood.Wait() })
	dir := t.TempDir()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		for _, iface := range []string{"to-r1", "any"} {
			file := filepath.Join(dir, fmt.Sprintf("%s-%d.pcap", iface, sig))
			cmd, errb := startSniff(t, lab, "-i", iface, "-w", file, "icmp")
			time.Sleep(time.Second)
			cmd.Process.Signal(sig)
			what := fmt.Sprintf("%v on %s", sig, iface)
			if code := waitExit(t, cmd, 2*time.Second, what); code != 0 {
				t.Errorf("%s: exit %d %s", what, code, errb.String())
			}
			var captured int
			if _, err := fmt.Sscanf(errb.String()[strings.Index(errb.String(), "\n")+1:], "%d packets captured", &captured); err != nil || captured < 100 {
				t.Errorf("%s: tallies %q (%v); want at least 100 packets in a second", what, errb.String(), err)
			}
			out, err := exec.Command("tcpdump", "-n", "-r", file).Output()
			if err != nil || lines(string(out)) != captured {
				t.Errorf("%s: the file holds %d packets (%v), sniff counted %d", what, lines(string(out)), err, captured)
			}
		}
	}
	// --duration: ends on time however busy the link.
	start := time.Now()
	cmd, errb := startSniff(t, lab, "-i", "to-r1", "--duration", "1", "icmp")
	if code := waitExit(t, cmd, 3*time.Second, "--duration 1"); code != 0 {
		t.Errorf("--duration 1: exit %d %s", code, errb.String())
	}
	t.Logf("--duration 1 took %v", time.Since(start))
	// A second signal ends a capture whose first cannot finish: stdout
	// is a pipe nobody reads, so the output blocks and the drain with it.
	cmd = lab.Command(t.Context(), lab.Client, bin, "-i", "to-r1", "icmp")
	errb2 := &syncBuffer{}
	cmd.Stderr = errb2
	stdout, _ := cmd.StdoutPipe() // never read
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, cmd, 3*time.Second, "two SIGINTs"); code != 4 || !strings.Contains(errb2.String(), "second signal") {
		t.Errorf("two SIGINTs with a blocked output: exit %d %q; want 4 and a word on the second signal", code, errb2.String())
	}
}

// An interface removed under a capture ends it with exit 1 and tcpdump's
// words; one that only goes down and up again does not end it.
func TestInterfaceLoss(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{})
	ip := func(args ...string) {
		if out, err := lab.Command(t.Context(), lab.Client, "ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	ip("link", "add", "gone0", "type", "veth", "peer", "name", "gone1")
	ip("link", "set", "gone0", "up")
	ip("link", "set", "gone1", "up")
	cmd, errb := startSniff(t, lab, "-i", "gone0")
	ip("link", "set", "gone0", "down")
	time.Sleep(200 * time.Millisecond)
	ip("link", "set", "gone0", "up")
	time.Sleep(200 * time.Millisecond)
	if cmd.ProcessState != nil {
		t.Fatalf("the capture ended when its interface went down: %s", errb.String())
	}
	ip("link", "del", "gone0")
	if code := waitExit(t, cmd, 3*time.Second, "interface removed"); code != 1 || !strings.Contains(errb.String(), "the interface disappeared") || !strings.Contains(errb.String(), "packets captured") {
		t.Errorf("interface removed: exit %d, %q; want 1, 'the interface disappeared' and the tallies", code, errb.String())
	}
}

// tcpdump's options that change how a live capture runs, in the forms a
// runbook types them.
func TestTcpdumpOptionsLive(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dst := lab.Server.Addr4.String()
	dir := t.TempDir()
	os.Chmod(dir, 0o777)

	// Clusters and counted flags: -nni IFACE -c N, -vvv, -ttt.
	c := during(t, lab, []string{"-nni", "to-r1", "-c", "4", "-vvv", "-ttt", "icmp"}, ping(lab, dst, 4))
	// -v puts the packet on a line indented under its IP header's.
	if n := lines(c.stdout) - strings.Count(c.stdout, "\n    "); n != 4 || c.code != 0 || !strings.HasPrefix(c.stdout, " 00:00:00.000000 IP (tos") {
		t.Errorf("-nni to-r1 -c 4 -vvv -ttt: %d lines, exit %d\n%s%s", n, c.code, c.stdout, c.stderr)
	}
	// inbound and outbound: in the kernel on an interface (an ancillary
	// load), here on any.
	for _, iface := range []string{"to-r1", "any"} {
		c := during(t, lab, []string{"-i", iface, "-c", "3", "outbound and icmp"}, ping(lab, dst, 3))
		if n := lines(c.stdout); n != 3 || strings.Count(c.stdout, "echo request") != 3 {
			t.Errorf("-i %s outbound: %d lines\n%s%s", iface, n, c.stdout, c.stderr)
		}
		c = during(t, lab, []string{"-i", iface, "-c", "3", "inbound and icmp"}, ping(lab, dst, 3))
		if n := lines(c.stdout); n != 3 || strings.Count(c.stdout, "echo reply") != 3 {
			t.Errorf("-i %s inbound: %d lines\n%s%s", iface, n, c.stdout, c.stderr)
		}
	}
	// -F: the expression from a file, comments removed.
	ffile := filepath.Join(dir, "filter")
	os.WriteFile(ffile, []byte("# only the replies\nicmp[icmptype] == icmp-echoreply\n"), 0o644)
	c = during(t, lab, []string{"-i", "to-r1", "-F", ffile, "--duration", "2"}, ping(lab, dst, 5))
	if n := lines(c.stdout); n != 5 || !strings.Contains(c.stdout, "echo reply") || strings.Contains(c.stdout, "echo request") {
		t.Errorf("-F: %d lines\n%s%s", n, c.stdout, c.stderr)
	}
	// -w with --print: the file and the lines; -U -B 1024 -Z nobody: the
	// capture goes on as nobody, the file complete.
	file := filepath.Join(dir, "p.pcap")
	c = during(t, lab, []string{"-i", "to-r1", "-w", file, "--print", "-U", "-B", "1024", "-Z", "nobody", "--duration", "2", "icmp"}, ping(lab, dst, 5))
	out, err := exec.Command("tcpdump", "-n", "-r", file).Output()
	if c.code != 0 || lines(c.stdout) != 10 || err != nil || lines(string(out)) != 10 {
		t.Errorf("-w --print -U -B -Z: exit %d, %d lines printed, %d in the file (%v)\n%s", c.code, lines(c.stdout), lines(string(out)), err, c.stderr)
	}
	// -Z really gives up root: the process's uid once listening.
	cmd, errb := startSniff(t, lab, "-i", "to-r1", "-Z", "nobody", "icmp")
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	uid := ""
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Uid:") {
			uid = strings.Fields(line)[1]
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitExit(t, cmd, 3*time.Second, "-Z nobody")
	if uid != "65534" {
		t.Errorf("-Z nobody: uid %q while capturing; %s", uid, errb.String())
	}
	// -l: each line reaches a pipe while the capture runs.
	cmd = lab.Command(t.Context(), lab.Client, bin, "-l", "-i", "to-r1", "icmp")
	pipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	ping(lab, dst, 1)()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(pipe).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if !strings.Contains(line, "ICMP echo request") {
			t.Errorf("-l: first line %q", line)
		}
	case <-time.After(3 * time.Second):
		t.Error("-l: no line reached the pipe while capturing")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitExit(t, cmd, 3*time.Second, "-l")

	// Listing and refusing.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-D"}, 0, "any (Pseudo-device that captures on all interfaces)"},
		{[]string{"-L", "-i", "to-r1"}, 0, "EN10MB (Ethernet)"},
		{[]string{"-y", "EN10MB", "-i", "to-r1", "-d", "icmp"}, 0, "ret"},
		{[]string{"-y", "LINUX_SLL", "-i", "to-r1", "icmp"}, 2, "EN10MB"},
		{[]string{"-I", "-i", "to-r1"}, 2, "monitor mode"},
		{[]string{"--version"}, 0, "sniff (rawkit)"},
		{[]string{"-Z", "no-such-user-here", "-c", "1"}, 2, "no such user"},
	} {
		r := labtest.Run(t, lab, lab.Client, 30*time.Second, append([]string{bin}, tc.args...)...)
		if r.Code != tc.code || !strings.Contains(r.Stdout+r.Stderr, tc.want) {
			t.Errorf("%q: exit %d %q %q; want %d and %q", tc.args, r.Code, r.Stdout, r.Stderr, tc.code, tc.want)
		}
	}
}

// Once its socket is open sniff holds no capability; reading a file it
// never holds one.
func TestCapabilitiesDropped(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	cmd, errb := startSniff(t, lab, "-i", "to-r1", "icmp")
	capEff, _, err := labtest.Privileges(cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGTERM)
	waitExit(t, cmd, 3*time.Second, "capture")
	if err != nil || capEff != "0000000000000000" {
		t.Errorf("CapEff while capturing: %s (%v), want none; %s", capEff, err, errb.String())
	}
	file := filepath.Join(t.TempDir(), "x.pcap")
	during(t, lab, []string{"-i", "to-r1", "-w", file, "-c", "2", "icmp"}, ping(lab, lab.Server.Addr4.String(), 1))
	// A reader that blocks on a fifo stays alive long enough to look at.
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	reader := exec.Command(bin, "-r", "-")
	in, _ := os.Open(file)
	defer in.Close()
	w, _ := os.OpenFile(fifo, os.O_RDWR, 0)
	reader.Stdin, _ = os.Open(fifo)
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 24) // the pcap header only: the reader waits for more
	in.Read(head)
	w.Write(head)
	time.Sleep(300 * time.Millisecond)
	capEff, _, err = labtest.Privileges(reader.Process.Pid)
	w.Close()
	reader.Wait()
	if err != nil || capEff != "0000000000000000" {
		t.Errorf("CapEff while reading a file: %s (%v), want none", capEff, err)
	}
}

// A capture that loses packets says so: with a ring of one page and a
// flood of large packets the kernel drops some, the tallies count them,
// and the exit code is 1.
func TestDropsExit1(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	c := during(t, lab, []string{"-i", "to-r1", "-B", "4", "--duration", "3", "icmp"}, func() {
		lab.Command(context.Background(), lab.Client, "ping", "-q", "-f", "-c", "20000", "-s", "1400", lab.Server.Addr4.String()).Run()
	})
	tally := func(what string) int {
		m := regexp.MustCompile(`(?m)^(\d+) packets ` + what + `$`).FindStringSubmatch(c.stderr)
		if m == nil {
			t.Fatalf("no %q tally in %q", what, c.stderr)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	captured, dropped := tally("captured"), tally("dropped by kernel")
	t.Logf("captured %d, dropped %d, exit %d", captured, dropped, c.code)
	if dropped == 0 || c.code != 1 || !strings.Contains(c.stderr, "the capture is incomplete") {
		t.Errorf("a one-page ring under a flood: %d dropped, exit %d; want drops counted and exit 1\n%s", dropped, c.code, c.stderr)
	}
	if captured+dropped < 40000 {
		t.Errorf("captured %d + dropped %d is less than the 40000 packets sent", captured, dropped)
	}
}

// A file captured short (-s 64) of large packets: len, less and greater
// judge the length on the wire, as tcpdump does.
func TestLengthFiltersOnTruncatedFile(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	file := filepath.Join(t.TempDir(), "short.pcap")
	during(t, lab, []string{"-i", "to-r1", "-s", "64", "-w", file, "-c", "10", "icmp"}, func() {
		lab.Command(context.Background(), lab.Client, "ping", "-q", "-c", "5", "-i", "0.01", "-s", "500", lab.Server.Addr4.String()).Run()
	})
	for _, expr := range []string{"greater 200", "less 200", "len > 500"} {
		ours, err1 := exec.Command(bin, "-r", file, expr).Output()
		theirs, err2 := exec.Command("tcpdump", "-n", "-r", file, expr).Output()
		if err1 != nil || err2 != nil || lines(string(ours)) != lines(string(theirs)) {
			t.Errorf("%q: sniff %d packets (%v), tcpdump %d (%v)", expr, lines(string(ours)), err1, lines(string(theirs)), err2)
		}
	}
	if n, _ := exec.Command(bin, "-r", file, "greater 200").Output(); lines(string(n)) != 10 {
		t.Errorf("greater 200 keeps %d of 10 packets of 542 bytes captured to 64", lines(string(n)))
	}
}

// Rotation as tcpdump does it: -C with -W cycles through exactly W files
// numbered from 0; -G with -W ends the capture after W files.
func TestRotationLimits(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dir := t.TempDir()
	base := filepath.Join(dir, "c")
	c := during(t, lab, []string{"-i", "to-r1", "-w", base, "-C", "0.002", "-W", "3", "--duration", "2", "icmp"}, ping(lab, lab.Server.Addr4.String(), 30))
	files, _ := filepath.Glob(base + "*")
	names := []string{}
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if c.code != 0 || strings.Join(names, " ") != "c0 c1 c2" {
		t.Errorf("-C -W 3: files %v, exit %d; want c0 c1 c2", names, c.code)
	}
	start := time.Now()
	cmd, errb := startSniff(t, lab, "-i", "to-r1", "-w", filepath.Join(dir, "g-%s"), "-G", "1", "-W", "2", "icmp")
	// Rotation is looked at as packets come, as tcpdump does: traffic
	// for longer than the two files.
	go lab.Command(t.Context(), lab.Client, "ping", "-q", "-c", "100", "-i", "0.05", lab.Server.Addr4.String()).Run()
	if code := waitExit(t, cmd, 10*time.Second, "-G 1 -W 2"); code != 0 {
		t.Errorf("-G 1 -W 2: exit %d %s", code, errb.String())
	}
	gfiles, _ := filepath.Glob(filepath.Join(dir, "g-*"))
	if len(gfiles) != 2 || time.Since(start) > 6*time.Second {
		t.Errorf("-G 1 -W 2: %d files after %v; want 2, ending by itself after about 2 s", len(gfiles), time.Since(start))
	}
}

// --expect makes a capture a verdict: the packet a runbook waits for came
// (count>=1), or nothing matched (none: a firewall rule holds).
func TestExpect(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dst := lab.Server.Addr4.String()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--expect", "count>=1", "icmp"}, 0},
		{[]string{"--expect", "count>=100", "icmp"}, 1},
		{[]string{"--expect", "none", "tcp port 9"}, 0},
		{[]string{"--expect", "none", "icmp"}, 1},
	} {
		args := append([]string{"-i", "to-r1", "--duration", "1.5"}, tc.args...)
		c := during(t, lab, args, ping(lab, dst, 3))
		if c.code != tc.code || tc.code == 1 && !strings.Contains(c.stderr, "expect") {
			t.Errorf("%q: exit %d, want %d\n%s", tc.args, c.code, tc.code, c.stderr)
		}
	}
	c := during(t, lab, []string{"-i", "to-r1", "--duration", "1.5", "--json", "--expect", "none", "icmp"}, ping(lab, dst, 2))
	if !strings.Contains(c.stdout, `"expect":[{"expect":"none","held":false}]`) {
		t.Errorf("the JSON summary does not say which expectation failed:\n%s", c.stdout)
	}
}

// On the loopback interface each packet is seen once, as tcpdump sees it
// (the kernel hands a packet socket both the outgoing and the incoming
// copy).
func TestLoopbackOnce(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{})
	c := during(t, lab, []string{"-i", "lo", "--duration", "1.5", "icmp"}, ping(lab, "127.0.0.1", 2))
	if lines(c.stdout) != 4 || strings.Count(c.stdout, "echo request") != 2 || strings.Count(c.stdout, "echo reply") != 2 {
		t.Errorf("-i lo: want 2 requests and 2 replies\n%s%s", c.stdout, c.stderr)
	}
}

// --process names the program behind each flow: two programs (bash
// holding a TCP connection, socat a UDP exchange) are each named for
// their own packets; --pname keeps exactly one program's packets.
func TestProcessAttribution(t *testing.T) {
	if _, err := exec.LookPath("socat"); err != nil {
		t.Fatal("socat is needed (make deps installs it)")
	}
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{
		TCP: map[int]netlab.PortState{22: netlab.Open}, UDP: map[int]netlab.PortState{53: netlab.Open}}})
	dst := lab.Server.Addr4.String()
	traffic := func() {
		var wg sync.WaitGroup
		for _, prog := range [][]string{
			// bash holds the connection; its sleep does not (3>&-).
			{"bash", "-c", "exec 3<>/dev/tcp/" + dst + "/22; sleep 1.2 3>&-; true"},
			{"sh", "-c", "(sleep 0.3; echo q; sleep 0.3; echo r; sleep 0.6) | socat -T 2 - UDP:" + dst + ":53"},
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				lab.Command(ctx, lab.Client, prog[0], prog[1:]...).Run()
			}()
		}
		wg.Wait()
	}
	type packet struct {
		Proto   string `json:"proto"`
		Sport   int    `json:"sport"`
		Dport   int    `json:"dport"`
		Flags   string `json:"flags"`
		Process *struct {
			PID  int    `json:"pid"`
			Comm string `json:"comm"`
		} `json:"process"`
		Unknown bool `json:"process_unknown"`
	}
	read := func(out string) (packets []packet) {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var p packet
			if strings.Contains(line, `"type":"packet"`) && json.Unmarshal([]byte(line), &p) == nil {
				packets = append(packets, p)
			}
		}
		return packets
	}
	filter := []string{"tcp port 22 or udp port 53"}
	all := during(t, lab, append([]string{"-i", "to-r1", "--process", "--json", "--duration", "2.5"}, filter...), traffic)
	named := map[string]int{}
	for _, p := range read(all.stdout) {
		want := "bash"
		if p.Proto == "udp" {
			want = "socat"
		}
		switch {
		case p.Process != nil && p.Process.Comm != want:
			t.Errorf("a %s packet (%d > %d) is named %s, want %s", p.Proto, p.Sport, p.Dport, p.Process.Comm, want)
		case p.Process != nil:
			named[want]++
		case !p.Unknown:
			t.Errorf("a %s packet is neither named nor marked unknown: %+v", p.Proto, p)
		}
	}
	// bash's handshake and the server's FIN; socat's two datagrams and
	// their echoes.
	if named["bash"] < 3 || named["socat"] < 4 {
		t.Errorf("named packets: %v, want bash >= 3 and socat >= 4\n%s%s", named, all.stdout, all.stderr)
	}
	only := during(t, lab, append([]string{"-i", "to-r1", "--pname", "socat", "--json", "--duration", "2.5"}, filter...), traffic)
	kept := read(only.stdout)
	for _, p := range kept {
		if p.Proto != "udp" || p.Process == nil || p.Process.Comm != "socat" {
			t.Errorf("--pname socat kept %+v", p)
		}
	}
	if len(kept) < 4 {
		t.Errorf("--pname socat kept %d packets, want socat's 4\n%s%s", len(kept), only.stdout, only.stderr)
	}
	// Flows shorter than any lookup: a connection opened and closed at
	// once, a datagram sent by a process that exits right after. The
	// kernel's record (eBPF, as root) names them, their answers too.
	short := during(t, lab, append([]string{"-i", "to-r1", "--process", "--json", "--duration", "2"}, filter...), func() {
		for range 3 {
			for _, script := range []string{"exec 3<>/dev/tcp/" + dst + "/22; exec 3>&-", "echo x > /dev/udp/" + dst + "/53"} {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				lab.Command(ctx, lab.Client, "bash", "-c", script).Run()
				cancel()
			}
		}
	})
	if !strings.Contains(short.stderr, "processes found through eBPF") {
		t.Errorf("not in eBPF mode: %s", short.stderr)
	}
	counts := map[string]int{}
	for _, p := range read(short.stdout) {
		switch {
		case p.Process != nil && p.Process.Comm == "bash":
			counts[p.Proto]++
		default:
			t.Errorf("a %s packet of a short flow (%d > %d, %s) is not named bash: %+v", p.Proto, p.Sport, p.Dport, p.Flags, p.Process)
		}
	}
	// Three handshakes and closes, three datagrams and their echoes.
	if counts["tcp"] < 3*4 || counts["udp"] < 3*2 {
		t.Errorf("short flows named: %v, want tcp >= 12 and udp >= 6\n%s%s", counts, short.stdout, short.stderr)
	}
}
