package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/labtest"
	"github.com/rawkit/rawkit/internal/netlab"
)

var rttField = regexp.MustCompile(`[0-9]+\.[0-9]+ ms`)

// normalizeTrace masks the round-trip times of traceroute's lines.
func normalizeTrace(out string) string {
	return rttField.ReplaceAllString(out, "T ms")
}

// Runbook command lines of Linux traceroute, typed verbatim with only the
// binary swapped: the same lines (times masked) and exit codes, except
// where docs/compat.md says ours differs (exit 1 when the destination is
// not reached).
func TestRunbookFormsLikeTraceroute(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 2, Services: netlab.Services{
		TCP: map[int]netlab.PortState{80: netlab.Open, 443: netlab.Closed},
		UDP: map[int]netlab.PortState{53: netlab.Open},
	}})
	dst := lab.Server.Addr4.String()
	dst6 := lab.Server.Addr6.String()
	forms := []struct {
		args []string
		code int // ours, where docs/compat.md says it differs
	}{
		{args: []string{"-n", dst}},
		{args: []string{"-nI", dst}},
		{args: []string{"-n", "-q1", "-w1", "-m5", dst}},
		{args: []string{"-nT", "-p", "80", dst}},
		{args: []string{"-n", "-T", "-p", "443", dst}},
		{args: []string{"-n", "-U", "-p", "53", dst}},
		{args: []string{"-n", "-U", dst}},
		{args: []string{"-n", "-f", "2", dst}},
		{args: []string{"-n", "-N", "1", "-q", "2", dst}},
		{args: []string{"-n", "-6", dst6}},
		{args: []string{"-n", "-I", "-6", dst6}},
		{args: []string{"-n", "-F", dst, "100"}},
		{args: []string{"-n", "-t", "16", "-z", "0.01", dst}},
		{args: []string{"-n", "-s", lab.Client.Addr4.String(), "-i", "to-r1", dst}},
		{args: []string{"-n", "-m", "2", dst}, code: 1},
		{args: []string{"-n", "-q", "1", "-w", "0.5", "-m", "4", "198.18.200.1"}, code: 1},
		{args: []string{"-n", "-r", lab.Routers[0].Addr4.String()}},
		{args: []string{"-n", "--mtu", dst}},
		{args: []string{"-n", "--back", dst}},
		{args: []string{"-n", "-d", dst}},
		{args: []string{"-n", "--fwmark=7", dst}},
		{args: []string{"-4", "-n", dst}},
		// No route at all (the lab routes only its own blocks): the
		// kernel refuses before anything is sent.
		{args: []string{"-n", "192.0.2.1"}, code: 1},
	}
	for _, f := range forms {
		name := strings.Join(f.args, " ")
		t.Run(name, func(t *testing.T) {
			ref := labtest.Run(t, lab, lab.Client, 60*time.Second, append([]string{"/usr/sbin/traceroute"}, f.args...)...)
			ours := labtest.Run(t, lab, lab.Client, 60*time.Second, append([]string{bin}, f.args...)...)
			want := ref.Code
			if f.code != 0 {
				want = f.code
			}
			if ours.Code != want {
				t.Errorf("exit %d, want %d (traceroute %d)\nours: %s%s\ntraceroute: %s%s", ours.Code, want, ref.Code, ours.Stdout, ours.Stderr, ref.Stdout, ref.Stderr)
			}
			if a, b := normalizeTrace(ours.Stdout), normalizeTrace(ref.Stdout); a != b {
				t.Errorf("stdout differs\nours:\n%s\ntraceroute:\n%s", a, b)
			}
		})
	}
}

// A host that cannot be looked up (the lab reaches no name server): the
// same two lines on stderr as traceroute's, the resolver's words and
// where the argument stood, and the same exit code.
func TestUnknownHostLikeTraceroute(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{})
	for _, args := range [][]string{{"nosuch.invalid"}, {"-n", "-q", "1", "nosuch.invalid"}, {"-6", "-n", "nosuch.invalid", "60"}} {
		ref := labtest.Run(t, lab, lab.Client, 60*time.Second, append([]string{"/usr/sbin/traceroute"}, args...)...)
		ours := labtest.Run(t, lab, lab.Client, 60*time.Second, append([]string{bin}, args...)...)
		if ours.Code != ref.Code || ours.Stderr != ref.Stderr || ours.Stdout != ref.Stdout {
			t.Errorf("%v: exit %d, stderr %q; traceroute's %d, %q", args, ours.Code, ours.Stderr, ref.Code, ref.Stderr)
		}
	}
}
