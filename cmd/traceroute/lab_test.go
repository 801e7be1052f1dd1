package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/labtest"
	"github.com/rawkit/rawkit/internal/netlab"
)

var bin string

func TestMain(m *testing.M) { labtest.Main(m, "traceroute", &bin) }

func runTrace(t *testing.T, lab *netlab.Lab, args ...string) labtest.Result {
	t.Helper()
	return labtest.Run(t, lab, lab.Client, 60*time.Second, append([]string{bin}, args...)...)
}

var hopLine = regexp.MustCompile(`^\s*(\d+)\s+(.*)$`)

// hops parses traceroute -n text: the addresses answering at each TTL,
// "*" for a hop that answered nothing.
func hops(t *testing.T, out string) map[int][]string {
	t.Helper()
	res := map[int][]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	ttl := 0
	for sc.Scan() {
		line := sc.Text()
		if m := hopLine.FindStringSubmatch(line); m != nil {
			fmt.Sscan(m[1], &ttl)
			line = m[2]
		} else if !strings.HasPrefix(line, "    ") {
			continue // the title line
		}
		for _, f := range strings.Fields(line) {
			if _, err := netip.ParseAddr(f); err == nil && !slices.Contains(res[ttl], f) {
				res[ttl] = append(res[ttl], f)
			}
		}
		if len(res[ttl]) == 0 && strings.Contains(line, "*") {
			res[ttl] = []string{"*"}
		}
	}
	return res
}

// want is the path through a chain lab: each router, then the server.
func want(lab *netlab.Lab, six bool) map[int][]string {
	w := map[int][]string{}
	for i, n := range append(append([]*netlab.Node{}, lab.Routers...), lab.Server) {
		a := n.Addr4
		if six {
			a = n.Addr6
		}
		w[i+1] = []string{a.String()}
	}
	return w
}

func equalHops(a, b map[int][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestEveryMethodTracesTheChain(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 3, Services: netlab.Services{TCP: map[int]netlab.PortState{80: netlab.Open}}})
	for _, six := range []bool{false, true} {
		dst := lab.Server.Addr4.String()
		if six {
			dst = lab.Server.Addr6.String()
		}
		for _, method := range [][]string{{}, {"-I"}, {"-T"}, {"-U"}, {"--classic"}} {
			t.Run(fmt.Sprintf("%s%v", dst, method), func(t *testing.T) {
				r := runTrace(t, lab, append(append([]string{"-n"}, method...), dst)...)
				if r.Code != 0 {
					t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
				}
				if got, w := hops(t, r.Stdout), want(lab, six); !equalHops(got, w) {
					t.Errorf("hops %v, want %v\n%s", got, w, r.Stdout)
				}
			})
		}
	}
}

func TestSilentRouterAndDifferential(t *testing.T) {
	if _, err := exec.LookPath("traceroute"); err != nil {
		t.Fatal("Linux traceroute is not installed (make deps installs it)")
	}
	lab := netlab.ForTest(t, netlab.Spec{Routers: 3, Silent: []int{2}})
	for _, dst := range []string{lab.Server.Addr4.String(), lab.Server.Addr6.String()} {
		ours := runTrace(t, lab, "-n", dst)
		theirs := labtest.Run(t, lab, lab.Client, 60*time.Second, "traceroute", "-n", dst)
		got, ref := hops(t, ours.Stdout), hops(t, theirs.Stdout)
		if !equalHops(got, ref) {
			t.Errorf("%s: ours %v, traceroute's %v\n%s\n%s", dst, got, ref, ours.Stdout, theirs.Stdout)
		}
		if !slices.Equal(got[2], []string{"*"}) || len(got) != 4 || ours.Code != 0 {
			t.Errorf("%s: want * at hop 2 and the server at 4, exit 0; got %v exit %d", dst, got, ours.Code)
		}
	}
}

func TestECMP(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 3, ECMP: 2})
	branches := []string{lab.Routers[1].Addr4.String(), lab.Twin.Addr4.String()}
	slices.Sort(branches)
	r := runTrace(t, lab, "-n", "--paths", "16", lab.Server.Addr4.String())
	got := hops(t, r.Stdout)[2]
	slices.Sort(got)
	if !slices.Equal(got, branches) {
		t.Errorf("--paths 16 found %v at hop 2, want both branches %v\n%s", got, branches, r.Stdout)
	}
	// One flow stays on one branch, however many probes it sends, and
	// for every method.
	for _, method := range []string{"-U", "-T", "-I"} {
		r = runTrace(t, lab, "-n", "-q", "10", method, lab.Server.Addr4.String())
		if got := hops(t, r.Stdout)[2]; len(got) != 1 {
			t.Errorf("%s: one flow answered from %v at hop 2\n%s", method, got, r.Stdout)
		}
	}
	var recs []map[string]any
	r = runTrace(t, lab, "-n", "--paths", "16", "--json", lab.Server.Addr4.String())
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m)
	}
	if s := recs[len(recs)-1]; s["type"] != "summary" || s["paths"] != 2.0 || s["reached"] != true {
		t.Errorf("summary %v", s)
	}
}

// With equal-cost routes at the client itself, the kernel may pick a
// different source address for a raw socket than a route lookup did; the
// probes' checksums must still be right, or the destination drops them.
func TestECMPAtTheClient(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 2, ECMP: 1, Services: netlab.Services{TCP: map[int]netlab.PortState{80: netlab.Open}}})
	for range 3 {
		for _, method := range []string{"-U", "-T", "-I", "--classic"} {
			for _, dst := range []string{lab.Server.Addr4.String(), lab.Server.Addr6.String()} {
				if r := runTrace(t, lab, "-n", method, dst); r.Code != 0 {
					t.Errorf("%s %s: exit %d\n%s", method, dst, r.Code, r.Stdout)
				}
			}
		}
	}
}

func TestPathMTU(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 2, MTU: 1280})
	for _, dst := range []string{lab.Server.Addr4.String(), lab.Server.Addr6.String()} {
		r := runTrace(t, lab, "-n", "--mtu", dst)
		if r.Code != 0 || !regexp.MustCompile(`(?m)^ 3 .*F=1280`).MatchString(r.Stdout) {
			t.Errorf("%s: exit %d, want F=1280 at hop 3:\n%s%s", dst, r.Code, r.Stdout, r.Stderr)
		}
		if n := strings.Count(r.Stdout, " ms"); n != 9 {
			t.Errorf("%s: %d RTTs, want 3 per hop:\n%s", dst, n, r.Stdout)
		}
	}
}

func TestTCPOpenAndClosedAreReached(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open}}})
	for _, port := range []string{"22", "23"} {
		for _, dst := range []string{lab.Server.Addr4.String(), lab.Server.Addr6.String()} {
			r := runTrace(t, lab, "-n", "-T", "-p", port, "--expect", "reached", "--expect", "hops==2", dst)
			if r.Code != 0 || !strings.Contains(r.Stdout, " 2  "+dst) {
				t.Errorf("-T -p %s %s: exit %d\n%s%s", port, dst, r.Code, r.Stdout, r.Stderr)
			}
		}
	}
}

func TestSilentDestinationEndsQuicklyAndExits1(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 2})
	for _, dst := range []netip.Addr{netlab.SilentPrefix4.Addr().Next(), netlab.SilentPrefix6.Addr().Next()} {
		r := runTrace(t, lab, "-n", dst.String())
		if r.Code != 1 {
			t.Errorf("%v: exit %d, want 1", dst, r.Code)
		}
		// Hops 1 and 2 answer in well under a millisecond, so each of the
		// 84 probes beyond waits the 50 ms floor, 16 at a time.
		if r.Elapsed > 3*time.Second {
			t.Errorf("%v: took %v", dst, r.Elapsed)
		}
		if h := hops(t, r.Stdout); len(h) != 30 || !slices.Equal(h[30], []string{"*"}) {
			t.Errorf("%v: %d hops, want 30 ending in *:\n%s", dst, len(h), r.Stdout)
		}
	}
	r := runTrace(t, lab, "-n", "-m", "4", "--expect", "hops<=3", lab.Server.Addr4.String())
	if r.Code != 0 {
		t.Errorf("hops<=3 on a 3-hop path: exit %d %s", r.Code, r.Stderr)
	}
	r = runTrace(t, lab, "-n", "--expect", "hops<=2", lab.Server.Addr4.String())
	if r.Code != 1 || !strings.Contains(r.Stderr, "hops<=2 failed") {
		t.Errorf("hops<=2 on a 3-hop path: exit %d %s", r.Code, r.Stderr)
	}
}

func TestReport(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 3, Silent: []int{2}})
	r := runTrace(t, lab, "-n", "--report", "-c", "5", "--interval", "0.05", lab.Server.Addr4.String())
	if r.Code != 0 {
		t.Fatalf("exit %d %s", r.Code, r.Stderr)
	}
	lines := regexp.MustCompile(`(?m)^\s+(\d)\.\|-- (\S+)\s+([\d.]+)%\s+(\d+).*$`).FindAllStringSubmatch(r.Stdout, -1)
	if len(lines) != 4 {
		t.Fatalf("%d hop rows, want 4:\n%s", len(lines), r.Stdout)
	}
	for i, l := range lines {
		loss, sent := l[3], l[4]
		if sent != "5" {
			t.Errorf("hop %d sent %s, want 5", i+1, sent)
		}
		silent := i == 1
		if silent != (loss == "100.0") || silent != strings.Contains(l[0], "rate-limits ICMP") {
			t.Errorf("hop %d: %q", i+1, l[0])
		}
	}
}

// Without -n every address is looked up; the lab has no DNS, so each
// comes back as "address (address)", within the lookup budget.
func TestReverseDNSWithinBudget(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	r := runTrace(t, lab, "--dns-budget", "1", lab.Server.Addr4.String())
	if r.Code != 0 || r.Elapsed > 5*time.Second {
		t.Fatalf("exit %d after %v\n%s%s", r.Code, r.Elapsed, r.Stdout, r.Stderr)
	}
	for _, a := range []netip.Addr{lab.Routers[0].Addr4, lab.Server.Addr4} {
		if want := fmt.Sprintf("%s (%s)", a, a); !strings.Contains(r.Stdout, want) {
			t.Errorf("no %q in:\n%s", want, r.Stdout)
		}
	}
}

func TestUsageAndPrivilege(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{})
	dst := lab.Server.Addr4.String()
	for _, args := range [][]string{{}, {dst, "--bogus"}, {dst, "-m", "0"}, {dst, "-q", "11"}, {"-I", "-T", dst},
		{dst, "-w", "soon"}, {dst, "--expect", "nonsense"}, {"not..a..host"}, {"-6", dst}, {dst, "10"}, {dst, "60", "extra"}} {
		r := runTrace(t, lab, args...)
		if r.Code != 2 || r.Stderr == "" || strings.Contains(r.Stderr, "panic") {
			t.Errorf("%q: exit %d, stderr %q; want 2 with a message", args, r.Code, r.Stderr)
		}
	}
	r := labtest.Run(t, lab, lab.Client, 30*time.Second, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin, "-n", dst)
	if r.Code != 3 || !strings.Contains(r.Stderr, "setcap cap_net_raw+ep") || strings.Contains(r.Stderr, "ping_group_range") {
		t.Errorf("unprivileged: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// Once its sockets are open traceroute holds no capability.
func TestCapabilitiesDropped(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 2})
	capEff := labtest.HeldWhileRunning(t, lab, lab.Client, 500*time.Millisecond, 30*time.Second,
		bin, "-n", "-N", "1", "-z", "0.3", "-q", "2", lab.Server.Addr4.String())
	if capEff != "0000000000000000" {
		t.Errorf("CapEff while tracing: %s, want none", capEff)
	}
}
