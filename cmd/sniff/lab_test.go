package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	// -c stops at the count.
	c := during(t, lab, []string{"-c", "7", "icmp"}, ping(lab, lab.Server.Addr4.String(), 20))
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
