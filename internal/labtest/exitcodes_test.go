//go:build linux

package labtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/labtest"
	"github.com/rawkit/rawkit/internal/netlab"
)

var bins = map[string]string{}

func TestMain(m *testing.M) {
	for _, tool := range []string{"ping", "traceroute", "portscan", "sniff"} {
		b, err := labtest.Build(tool)
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", tool, err)
			os.Exit(1)
		}
		bins[tool] = b
	}
	code := m.Run()
	for _, b := range bins {
		os.RemoveAll(filepath.Dir(b))
	}
	os.Exit(code)
}

// One classification of outcomes into exit codes, the same in every tool
// (README, "Exit codes"): each class of error, tried on each tool that can
// meet it, gives its one code.
func TestExitCodeClassification(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open}}})
	dst := lab.Server.Addr4.String()
	silent := "198.18.200.1"  // routed into the lab, answered by no one
	noRoute := "198.51.100.1" // the lab routes only its own blocks: refused before sending
	c := lab.Client.Addr4.As4()
	bcast := fmt.Sprintf("%d.%d.%d.255", c[0], c[1], c[2])
	nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"}
	classes := []struct {
		class string
		code  int
		runs  map[string][]string
	}{
		{"success", 0, map[string][]string{
			"ping": {"-c", "1", dst}, "traceroute": {"-n", dst}, "portscan": {"-p", "22", dst}, "sniff": {"-i", "to-r1", "--duration", "0.3"}}},
		{"bad flag", 2, map[string][]string{
			"ping": {"--nosuch", dst}, "traceroute": {"-Z", dst}, "portscan": {"--nosuch", dst}, "sniff": {"--nosuch"}}},
		{"bad value", 2, map[string][]string{
			"ping": {"-c", "x", dst}, "traceroute": {"-m", "0", dst}, "portscan": {"-p", "70000", dst}, "sniff": {"-c", "-1"}}},
		{"bad filter or expectation", 2, map[string][]string{
			"ping": {"--expect", "nonsense<1", dst}, "traceroute": {"--expect", "hops<=x", dst}, "portscan": {"--expect", "shut:22", dst}, "sniff": {"tcp port"}}},
		{"no such interface", 2, map[string][]string{
			"ping": {"-c", "1", "-I", "nosuch0", dst}, "traceroute": {"-i", "nosuch0", dst}, "portscan": {"-e", "nosuch0", "-p", "22", dst}, "sniff": {"-i", "nosuch0"}}},
		{"unwritable output", 2, map[string][]string{
			"portscan": {"-p", "22", "-oN", "/nonexistent/x", dst}, "sniff": {"-w", "/nonexistent/x", "-c", "1"}}},
		{"broadcast without -b", 2, map[string][]string{
			"ping": {"-c", "1", bcast}}},
		{"no route", 1, map[string][]string{
			"ping": {"-c", "1", noRoute}, "traceroute": {"-n", noRoute}}},
		{"no answer", 1, map[string][]string{
			"ping": {"-c", "1", "-W", "0.5", silent}, "traceroute": {"-n", "-m", "3", "-q", "1", "-w", "0.3", silent}}},
		{"an --expect failed", 1, map[string][]string{
			"ping": {"-c", "1", "--expect", "received>=2", dst}, "traceroute": {"-n", "--expect", "hops<=1", dst},
			"portscan": {"-p", "22", "--expect", "closed:22", dst}}},
		{"missing privilege", 3, map[string][]string{
			"ping": {"--privileged", "-c", "1", dst}, "traceroute": {"-n", dst}, "portscan": {"-sU", "-p", "53", dst}, "sniff": {"-c", "1"}}},
	}
	for _, cl := range classes {
		for tool, args := range cl.runs {
			argv := append([]string{bins[tool]}, args...)
			if cl.code == 3 {
				argv = append(append([]string{}, nobody...), argv...)
			}
			r := labtest.Run(t, lab, lab.Client, time.Minute, argv...)
			if r.Code != cl.code {
				t.Errorf("%s: %s %q: exit %d, want %d\n%s%s", cl.class, tool, args, r.Code, cl.code, r.Stdout, r.Stderr)
			}
			if cl.code >= 2 && (r.Stderr == "" || strings.Contains(r.Stderr, "panic")) {
				t.Errorf("%s: %s %q: stderr %q: want one clear line", cl.class, tool, args, r.Stderr)
			}
		}
	}
}

var timesRE = regexp.MustCompile(`= [0-9./]+ ms|[0-9]+\.[0-9]+( ?ms|s latency| seconds)|time [0-9]+ms|(?m)^Starting .*$`)

// --netns: each tool run from the root namespace into the lab's client
// prints what it prints run inside it with ip netns exec (times masked).
func TestNetnsEqualsIpNetnsExec(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open}}})
	dst := lab.Server.Addr4.String()
	ns := lab.Client.NS
	for _, run := range []struct {
		tool string
		args []string
	}{
		{"ping", []string{"-c", "2", "-i", "0.2", dst}},
		{"traceroute", []string{"-n", dst}},
		{"traceroute", []string{"-n", "-T", "-p", "22", dst}},
		{"portscan", []string{"-p", "22,80", dst}},
		{"portscan", []string{"-sT", "-p", "22,80", "--concurrency", "4", dst}},
		{"sniff", []string{"-D"}},
	} {
		inside := labtest.Run(t, lab, lab.Client, time.Minute, append([]string{bins[run.tool]}, run.args...)...)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, bins[run.tool], append([]string{"--netns", ns}, run.args...)...).Output()
		cancel()
		a, b := timesRE.ReplaceAllString(string(out), "T"), timesRE.ReplaceAllString(inside.Stdout, "T")
		if err != nil || a != b {
			t.Errorf("%s --netns %s %q: %v\n%s\nunder ip netns exec:\n%s", run.tool, ns, run.args, err, a, b)
		}
	}
	// A capture in the lab from outside it sees the lab's traffic.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	capture := exec.CommandContext(ctx, bins["sniff"], "--netns", ns, "-i", "any", "-c", "4", "icmp")
	var out bytes.Buffer
	capture.Stdout = &out
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	labtest.Run(t, lab, lab.Client, time.Minute, "ping", "-c", "2", "-i", "0.1", dst)
	if err := capture.Wait(); err != nil || strings.Count(out.String(), " to-r1 ") != 4 {
		t.Errorf("sniff --netns %s -i any: %v\n%s", ns, err, out.String())
	}
	// A namespace that does not exist is bad input; entering one needs
	// CAP_SYS_ADMIN.
	if code := exitOf(exec.Command(bins["ping"], "--netns", "rk-no-such-ns", "-c", "1", dst)); code != 2 {
		t.Errorf("--netns of no namespace: exit %d, want 2", code)
	}
	if code := exitOf(exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bins["ping"], "--netns", "/proc/1/ns/net", "-c", "1", dst)); code != 3 {
		t.Errorf("--netns without CAP_SYS_ADMIN: exit %d, want 3", code)
	}
}

func exitOf(cmd *exec.Cmd) int {
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// A probe a local firewall rule drops is said to be dropped here (exit 1
// for the probing tools, the ports filtered for portscan), never taken
// for a missing privilege; a drop on a router is the network's.
func TestLocalFirewallDrop(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open}}})
	dst := lab.Server.Addr4.String()
	runs := []struct {
		tool string
		args []string
		code int
	}{
		{"ping", []string{"-c", "2", "-i", "0.2", "-W", "0.5", dst}, 1},
		{"traceroute", []string{"-n", "-q", "1", "-m", "3", "-w", "0.3", dst}, 1},
		{"portscan", []string{"-p", "22", "--max-retries", "1", "--json", dst}, 0},
	}
	for _, where := range []struct {
		node  *netlab.Node
		chain string
		local bool
	}{{lab.Client, "OUTPUT", true}, {lab.Routers[0], "FORWARD", false}} {
		rule := []string{"-d", dst, "-j", "DROP"}
		if err := lab.Run(where.node, "iptables", append([]string{"-I", where.chain}, rule...)...); err != nil {
			t.Fatal(err)
		}
		for _, run := range runs {
			r := labtest.Run(t, lab, lab.Client, time.Minute, append([]string{bins[run.tool]}, run.args...)...)
			said := strings.Contains(r.Stderr, "local firewall rule")
			if r.Code != run.code || said != where.local {
				t.Errorf("DROP in %s's %s: %s %q: exit %d (want %d), local said: %v\n%s%s", where.node.Name, where.chain, run.tool, run.args, r.Code, run.code, said, r.Stdout, r.Stderr)
			}
			if run.tool == "portscan" && where.local && !strings.Contains(r.Stdout, `"local_drops":`) || run.tool == "portscan" && where.local && strings.Contains(r.Stdout, `"local_drops":0`) {
				t.Errorf("portscan's summary does not count the local drops:\n%s", r.Stdout)
			}
			// The kernel's own reason, with eBPF (root has it): for the
			// client's rule only, not the router's (another namespace).
			if reason := strings.Contains(r.Stderr, "NETFILTER_DROP"); reason != where.local {
				t.Errorf("DROP in %s's %s: %s: kernel drop reason NETFILTER_DROP said: %v\n%s", where.node.Name, where.chain, run.tool, reason, r.Stderr)
			}
			if run.tool == "portscan" && where.local && !strings.Contains(r.Stdout, `"kernel_drops":{"NETFILTER_DROP":`) {
				t.Errorf("portscan's summary has no kernel drop reasons:\n%s", r.Stdout)
			}
		}
		if err := lab.Run(where.node, "iptables", append([]string{"-D", where.chain}, rule...)...); err != nil {
			t.Fatal(err)
		}
	}
}

// Probes the client's own kernel could not send (the next hop never
// answered ARP) are said to be lost here, with the kernel's counts, not
// blamed on the network; probes a router drops are not.
func TestLocalNeighbourFailure(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	// 198.18.99.0/24 goes through a neighbour that does not exist; its
	// ARP requests are given up after 3 x 100 ms.
	for _, cmd := range [][]string{
		{"ip", "route", "add", "198.18.99.0/24", "via", "198.18.0.77", "dev", "to-r1", "onlink"},
		{"sysctl", "-q", "-w", "net.ipv4.neigh.to-r1.retrans_time_ms=100"},
	} {
		if err := lab.Run(lab.Client, cmd[0], cmd[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.Run(lab.Routers[0], "iptables", "-I", "FORWARD", "-d", lab.Server.Addr4.String(), "-j", "DROP"); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []struct {
		addr  string
		local bool
	}{{"198.18.99.1", true}, {lab.Server.Addr4.String(), false}} {
		for _, run := range []struct {
			tool string
			args []string
		}{
			{"ping", []string{"-c", "3", "-i", "0.3", "-W", "1", dst.addr}},
			{"traceroute", []string{"-n", "-q", "1", "-m", "2", "-w", "1", dst.addr}},
			{"portscan", []string{"-Pn", "-p", "22", "--max-retries", "1", "--json", dst.addr}},
		} {
			r := labtest.Run(t, lab, lab.Client, time.Minute, append([]string{bins[run.tool]}, run.args...)...)
			said := strings.Contains(r.Stderr, "local:") && strings.Contains(r.Stderr, "did not answer ARP/ND")
			if said != dst.local {
				t.Errorf("%s to %s: local neighbour failure said: %v, want %v\n%s%s", run.tool, dst.addr, said, dst.local, r.Stdout, r.Stderr)
			}
			if run.tool == "portscan" && strings.Contains(r.Stdout, `"own_unreachable":1`) != dst.local {
				t.Errorf("portscan to %s: the summary's local counts are wrong:\n%s", dst.addr, r.Stdout)
			}
			// With eBPF: the kernel's reason, a neighbour that never
			// answered; none for the router's drop.
			if reason := strings.Contains(r.Stderr, "NEIGH_"); reason != dst.local {
				t.Errorf("%s to %s: kernel drop reason NEIGH_* said: %v, want %v\n%s", run.tool, dst.addr, reason, dst.local, r.Stderr)
			}
		}
	}
}

// An output that cannot be written (a full disk) is a runtime error,
// exit 4 with the reason, in every tool and output format: never a
// success with the results lost.
func TestFullOutputIsExit4(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open}}})
	dst := lab.Server.Addr4.String()
	dir := t.TempDir()
	for _, name := range []string{"fping", "mtr"} {
		tool := map[string]string{"fping": "ping", "mtr": "traceroute"}[name]
		if err := os.Symlink(bins[tool], filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, argv := range [][]string{
		{bins["ping"], "-c", "2", "-i", "0.01", dst},
		{bins["ping"], "--json", "-c", "2", "-i", "0.01", dst},
		{filepath.Join(dir, "fping"), dst},
		{bins["traceroute"], "-n", dst},
		{bins["traceroute"], "--json", "-n", dst},
		{filepath.Join(dir, "mtr"), "-r", "-c", "1", "-n", dst},
		{filepath.Join(dir, "mtr"), "-j", "-c", "1", "-n", dst},
		{bins["portscan"], "-p", "22", dst},
		{bins["portscan"], "--json", "-p", "22", dst},
		{bins["portscan"], "-oX", "-", "-p", "22", dst},
		{bins["portscan"], "-oG", "-", "-p", "22", dst},
		{bins["sniff"], "-i", "to-r1", "--duration", "0.5"},
	} {
		run := append([]string{"sh", "-c", `exec "$@" > /dev/full`, "sh"}, argv...)
		if strings.HasSuffix(argv[0], "sniff") {
			go func() {
				time.Sleep(200 * time.Millisecond)
				labtest.Run(t, lab, lab.Client, time.Minute, "ping", "-c", "2", "-i", "0.05", dst)
			}()
		}
		r := labtest.Run(t, lab, lab.Client, time.Minute, run...)
		if r.Code != 4 || !strings.Contains(r.Stderr, "no space left on device") {
			t.Errorf("%q > /dev/full: exit %d, want 4 and the reason: %q", argv[1:], r.Code, r.Stderr)
		}
	}
}
