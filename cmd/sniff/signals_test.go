package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/netlab"
)

// What tcpdump says on stderr, and does, at its signals, typed the same
// for both on the same link: the "listening on" line, SIGUSR1's one-line
// tallies while capturing, the -w file complete after SIGUSR2, and the
// tallies at the end. Only the program's name differs. (Ours writes its
// file out whenever the link is idle, as here, so that SIGUSR2 flushes a
// busy link's file is capture's TestFlushRequest to show.)
func TestSignalsLikeTcpdump(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dst := lab.Server.Addr4.String()
	dir := t.TempDir()
	type result struct {
		stderr   string
		flushed  int64 // the file's size after SIGUSR2, before the end
		exitCode int
	}
	run := func(prog string, args ...string) result {
		t.Helper()
		file := filepath.Join(dir, filepath.Base(prog)+".pcap")
		args = append(args, "-w", file)
		cmd := lab.Command(t.Context(), lab.Client, prog, args...)
		errb := &syncBuffer{}
		cmd.Stderr = errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		waitFor(t, errb, "listening on", prog)
		ping(lab, dst, 3)()
		// tcpdump's ring hands a block over within its 1 s timeout.
		time.Sleep(1500 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGUSR1)
		waitFor(t, errb, "dropped by kernel", prog)
		cmd.Process.Signal(syscall.SIGUSR2)
		time.Sleep(300 * time.Millisecond)
		var size int64
		if fi, err := os.Stat(file); err == nil {
			size = fi.Size()
		}
		cmd.Process.Signal(os.Interrupt)
		code := waitExit(t, cmd, 10*time.Second, prog)
		return result{errb.String(), size, code}
	}
	args := []string{"-n", "-i", "to-r1", "icmp"}
	ref := run("tcpdump", args...)
	ours := run(bin, args...)
	if want := int64(24 + 6*(16+98)); ref.flushed != want {
		t.Fatalf("tcpdump's file is %d bytes after SIGUSR2, not the %d of its 6 packets: the test's idea of it is wrong", ref.flushed, want)
	}
	if ours.flushed != ref.flushed {
		t.Errorf("our file is %d bytes after SIGUSR2, tcpdump's %d", ours.flushed, ref.flushed)
	}
	named := strings.ReplaceAll(ours.stderr, filepath.Base(bin)+":", "tcpdump:")
	if named != ref.stderr || ours.exitCode != ref.exitCode {
		t.Errorf("stderr, exit %d:\n%s\ntcpdump's, exit %d:\n%s", ours.exitCode, named, ref.exitCode, ref.stderr)
	}
}

// Printing lines, tcpdump first says it keeps them short.
func TestListeningLineLikeTcpdump(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dst := lab.Server.Addr4.String()
	for _, args := range [][]string{{"-n", "-c", "2", "-i", "to-r1", "icmp"}, {"-v", "-n", "-c", "2", "-i", "to-r1", "icmp"}} {
		var got [2]string
		for i, prog := range []string{"tcpdump", bin} {
			cmd := lab.Command(t.Context(), lab.Client, prog, args...)
			errb := &syncBuffer{}
			cmd.Stderr = errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			waitFor(t, errb, "listening on", prog)
			ping(lab, dst, 1)()
			waitExit(t, cmd, 10*time.Second, prog)
			got[i] = strings.ReplaceAll(errb.String(), filepath.Base(prog)+":", "P:")
		}
		if got[0] != got[1] {
			t.Errorf("%v: stderr\n%s\ntcpdump's\n%s", args, got[1], got[0])
		}
	}
}

// waitFor waits up to 10 s for what in the stderr of prog.
func waitFor(t *testing.T, errb *syncBuffer, what, prog string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(errb.String(), what); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q on stderr within 10 s: %s", prog, what, errb.String())
		}
	}
}

// -D lists the devices as tcpdump does: libpcap's order (running, up,
// connected first, then any, loopbacks, the rest) and flags, the link's
// state among them. libpcap's pseudo-devices, which sniff cannot
// capture on, are left out of tcpdump's list before comparing.
func TestInterfaceListLikeTcpdump(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	// A device that is down, and one up without a carrier (its peer is
	// down).
	for _, args := range [][]string{
		{"ip", "link", "add", "vpeer0", "type", "veth", "peer", "name", "vpeer1"},
		{"ip", "link", "set", "vpeer0", "up"},
	} {
		if err := lab.Run(lab.Client, args[0], args[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	pseudo := regexp.MustCompile(`^\d+\.(bluetooth|nflog|nfqueue|dbus|usbmon)`)
	number := regexp.MustCompile(`^\d+\.`)
	list := func(prog string) []string {
		out, err := lab.Command(t.Context(), lab.Client, prog, "-D").Output()
		if err != nil {
			t.Fatalf("%s -D: %v", prog, err)
		}
		var devs []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if !pseudo.MatchString(line) {
				devs = append(devs, number.ReplaceAllString(line, ""))
			}
		}
		return devs
	}
	ref, ours := list("tcpdump"), list(bin)
	if strings.Join(ours, "\n") != strings.Join(ref, "\n") {
		t.Errorf("-D:\n%s\ntcpdump's (pseudo-devices left out):\n%s", strings.Join(ours, "\n"), strings.Join(ref, "\n"))
	}
	if len(ref) != 5 {
		t.Errorf("tcpdump lists %d devices, want to-r1, any, lo, vpeer0, vpeer1: %v", len(ref), ref)
	}
}
