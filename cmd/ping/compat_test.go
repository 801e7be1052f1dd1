package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/labtest"
	"github.com/rawkit/rawkit/internal/netlab"
)

// Numbers that differ between any two runs: times, identifiers, stamps.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`time=[0-9.]+ ms`), "time=T ms"},
	{regexp.MustCompile(`ident=[0-9]+`), "ident=I"},
	{regexp.MustCompile(`^\[[0-9]+\.[0-9]+\] `), "[D] "},
	{regexp.MustCompile(`time [0-9]+ms`), "time Tms"},
	{regexp.MustCompile(`= [0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+ ms`), "= R ms"},
	{regexp.MustCompile(`ipg/ewma [0-9.]+/[0-9.]+ ms`), "ipg/ewma G/E ms"},
}

// normalize keeps the lines a script reads, with the volatile numbers
// masked. iputils' -v debugging lines (its socket and resolver state)
// and our -v percentile line are not among them.
func normalize(out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "ai->") || strings.HasPrefix(line, "rtt p50") {
			continue
		}
		for _, v := range volatile {
			line = v.re.ReplaceAllString(line, v.with)
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// Runbook command lines of iputils ping, typed verbatim with only the
// binary swapped: the same exit code, the same lines (volatile numbers
// masked), and on stderr the same error where iputils prints one.
func TestRunbookFormsLikeIputils(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dst := lab.Server.Addr4.String()
	dst6 := lab.Server.Addr6.String()
	c := lab.Client.Addr4.As4()
	bcast := netip.AddrFrom4([4]byte{c[0], c[1], c[2], 255}).String()
	silent := "198.18.200.1" // routed toward r1, answered by no one
	forms := []struct {
		args   []string
		stderr string // a phrase both print on stderr, if any
		// code, when not 0, is our exit code where it differs from
		// iputils' as docs/compat.md says (bad input is 2).
		code int
	}{
		{args: []string{"-c3", "-i0.2", dst}},
		{args: []string{"-nqc", "2", "-i", "0.2", dst}},
		{args: []string{"-Dc", "2", "-i", "0.2", dst}},
		{args: []string{"-c", "2", "-i", "0.2", "-I", "to-r1", dst}},
		{args: []string{"-c", "2", "-i", "0.2", "-I", lab.Client.Addr4.String(), dst}},
		{args: []string{"-c", "2", "-i", "0.2", dst6}},
		{args: []string{"-6", "-c", "2", "-i", "0.2", "-I", "to-r1", dst6}},
		{args: []string{"-c", "2", "-i", "0.2", "-v", dst}},
		{args: []string{"-c", "3", "-l", "3", dst}},
		{args: []string{"-c", "3", "-A", dst}},
		{args: []string{"-c", "2", "-i", "0.2", "-a", "-U", "-B", "-d", "-L", "-S", "65536", "-t", "9", "-Q", "0x10", dst}},
		{args: []string{"-c", "1", "-W", "1", "-r", dst}},
		{args: []string{"-c", "1", "-r", lab.Routers[0].Addr4.String()}},
		{args: []string{"-f", "-c", "20", dst}},
		{args: []string{"-c", "1", "-e", "4242", dst}},
		{args: []string{"-w", "2", "-c", "2", dst}},
		{args: []string{"-c", "2", "-i", "0.2", "-p", "ff", "-s", "100", dst}},
		{args: []string{"-c", "1", "-s", "1473", "-M", "do", dst}, stderr: "local error: message too long, mtu=1500"},
		{args: []string{"-c", "1", "-W", "1", silent}},
		// -O: an ICMP error is no answer; said before the next probe.
		{args: []string{"-c", "2", "-i", "0.2", "-O", silent}},
		{args: []string{"-c", "3", "-i", "0.2", "-O", dst}},
		{args: []string{"-c", "1", bcast}, stderr: "Do you want to ping broadcast? Then -b"},
		{args: []string{"-c", "1", "-I", "nosuchif0", dst}},
		{args: []string{"-c", "0", dst}, code: 2},
		// No route (the lab routes only its own blocks): iputils exits 2,
		// ours 1, the network saying no (docs/compat.md).
		{args: []string{"-c", "1", "192.0.2.1"}, code: 1, stderr: "Network is unreachable"},
		{args: []string{dst, "-c", "2", "-i", "0.2"}},
		// A payload under 16 bytes has no room for the send time:
		// iputils prints no times, and -A keeps its interval.
		{args: []string{"-c", "2", "-i", "0.2", "-s", "8", dst}},
		{args: []string{"-f", "-c", "20", "-s", "0", dst}},
		{args: []string{"-c", "2", "-A", "-s", "4", dst}},
		// -i 0 adds ipg/ewma to the last line.
		{args: []string{"-c", "3", "-i", "0", dst}},
	}
	for _, f := range forms {
		name := strings.Join(f.args, " ")
		t.Run(name, func(t *testing.T) {
			ref := labtest.Run(t, lab, lab.Client, 30*time.Second, append([]string{"/usr/bin/ping"}, f.args...)...)
			ours := labtest.Run(t, lab, lab.Client, 30*time.Second, append([]string{pingBin}, f.args...)...)
			want := ref.Code
			if f.code != 0 {
				want = f.code
			}
			if ours.Code != want {
				t.Errorf("exit %d, iputils %d\nours: %s%s\niputils: %s%s", ours.Code, ref.Code, ours.Stdout, ours.Stderr, ref.Stdout, ref.Stderr)
			}
			if a, b := normalize(ours.Stdout), normalize(ref.Stdout); a != b {
				t.Errorf("stdout differs\nours:\n%q\niputils:\n%q", a, b)
			}
			if f.stderr != "" && !(strings.Contains(ours.Stderr, f.stderr) && strings.Contains(ref.Stderr, f.stderr)) {
				t.Errorf("stderr: want %q in both\nours: %s\niputils: %s", f.stderr, ours.Stderr, ref.Stderr)
			}
		})
	}
	// The parse every runbook does: the average from the last line.
	r := labtest.Run(t, lab, lab.Client, 30*time.Second, "sh", "-c", fmt.Sprintf("%s -c 3 -i 0.2 %s | tail -1 | awk -F/ '{print $5}'", pingBin, dst))
	if _, err := fmt.Sscanf(r.Stdout, "%f", new(float64)); err != nil {
		t.Errorf("tail -1 | awk -F/ '{print $5}' gives %q, not the average", r.Stdout)
	}
}

// Ctrl-\ (SIGQUIT) asks iputils for the statistics so far on stderr,
// and the run goes on to its end; ours prints the same line, where the
// Go runtime's default would dump its goroutines and exit 2.
func TestStatusLikeIputils(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dst := lab.Server.Addr4.String()
	line := regexp.MustCompile(`^\r[0-9]+/[0-9]+ packets, 0% loss, min/avg/ewma/max = [0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3} ms\n$`)
	for _, args := range [][]string{{"-c", "6", "-i", "0.2", dst}, {"-c", "4", "-i", "0.2", "-s", "8", dst}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var got [2]struct {
				stdout, stderr string
				err            error
			}
			for i, bin := range []string{"/usr/bin/ping", pingBin} {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd := lab.Command(ctx, lab.Client, bin, args...)
				var out, errOut bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errOut
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(500 * time.Millisecond)
				cmd.Process.Signal(syscall.SIGQUIT)
				got[i].err = cmd.Wait()
				got[i].stdout, got[i].stderr = out.String(), errOut.String()
			}
			ref, ours := got[0], got[1]
			if ours.err != nil || ref.err != nil {
				t.Fatalf("after SIGQUIT: ours %v, iputils %v\n%s%s", ours.err, ref.err, ours.stdout, ours.stderr)
			}
			want := line
			if slices.Contains(args, "-s") {
				want = regexp.MustCompile(`^\r[0-9]+/[0-9]+ packets, 0% loss\n$`)
			}
			if !want.MatchString(ref.stderr) {
				t.Fatalf("iputils printed %q: not the line this test knows", ref.stderr)
			}
			if !want.MatchString(ours.stderr) {
				t.Errorf("status %q, iputils %q", ours.stderr, ref.stderr)
			}
			if a, b := normalize(ours.stdout), normalize(ref.stdout); a != b {
				t.Errorf("stdout differs\nours:\n%q\niputils:\n%q", a, b)
			}
		})
	}
}

// What goes on the wire is what the originals send, as tcpdump -x shows
// it: iputils' data is its send time (a struct timeval) and then the
// counting bytes from 0x10; fping's is zeros. Only the time may differ.
func TestPayloadOnTheWireLikeTheOriginals(t *testing.T) {
	fpingBin := fpingLink(t)
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dst := lab.Server.Addr4.String()
	// data is the ICMP data of the first echo request cmd sends, as
	// tcpdump prints it in hex.
	data := func(cmd ...string) []byte {
		t.Helper()
		dump, out := startTcpdump(t, lab, "-c", "1", "-x", "-n", "-i", "to-r1", "icmp[icmptype] = icmp-echo")
		labtest.Run(t, lab, lab.Client, 30*time.Second, cmd...)
		dump.Wait()
		var pkt []byte
		for _, line := range strings.Split(out.String(), "\n") {
			_, hexes, ok := strings.Cut(line, ":  ")
			if !ok {
				continue
			}
			b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(hexes), " ", ""))
			if err != nil {
				t.Fatalf("tcpdump -x line %q: %v", line, err)
			}
			pkt = append(pkt, b...)
		}
		if len(pkt) < 28 {
			t.Fatalf("%v: no echo request seen\n%s", cmd, out.String())
		}
		return pkt[28:] // past the IPv4 (20) and ICMP (8) headers
	}
	for _, size := range []string{"40", "8"} {
		ref, ours := data("/usr/bin/ping", "-c", "1", "-s", size, dst), data(pingBin, "-c", "1", "-s", size, dst)
		skip := 0
		if len(ref) >= 16 {
			skip = 16 // the send time
			if sec := int64(binary.NativeEndian.Uint64(ours[:8])); time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
				t.Errorf("-s %s: our send time reads %d, not now", size, sec)
			}
		}
		if len(ours) != len(ref) || !bytes.Equal(ours[skip:], ref[skip:]) {
			t.Errorf("-s %s: data % x, iputils' % x", size, ours, ref)
		}
	}
	ref, ours := data("fping", "-c", "1", "-b", "24", dst), data(fpingBin, "-c", "1", "-b", "24", dst)
	if !bytes.Equal(ours, ref) {
		t.Errorf("fping -b 24: data % x, fping's % x", ours, ref)
	}
}

// A host that cannot be looked up (the lab reaches no name server), or
// has no address of the family asked for: iputils' words on stderr
// (getaddrinfo's), its exit code.
func TestUnknownHostLikeIputils(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{})
	for _, args := range [][]string{{"-c", "1", "nosuch.invalid"}, {"-6", "-c", "1", "nosuch.invalid"}, {"-6", "-c", "1", "-i", "0.2", "localhost"}} {
		ref := labtest.Run(t, lab, lab.Client, 30*time.Second, append([]string{"/usr/bin/ping"}, args...)...)
		ours := labtest.Run(t, lab, lab.Client, 30*time.Second, append([]string{pingBin}, args...)...)
		refErr := strings.Replace(ref.Stderr, "/usr/bin/ping:", "ping:", 1)
		if ours.Code != ref.Code || ours.Stderr != refErr || normalize(ours.Stdout) != normalize(ref.Stdout) {
			t.Errorf("%v: exit %d, stderr %q; iputils' %d, %q", args, ours.Code, ours.Stderr, ref.Code, refErr)
		}
	}
}
