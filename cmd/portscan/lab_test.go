package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/labtest"
	"github.com/rawkit/rawkit/internal/netlab"
)

var bin string

func TestMain(m *testing.M) { labtest.Main(m, "portscan", &bin) }

func runScan(t *testing.T, lab *netlab.Lab, args ...string) labtest.Result {
	t.Helper()
	return labtest.Run(t, lab, lab.Client, 3*time.Minute, append([]string{bin}, args...)...)
}

type port struct {
	IP, Proto, State, Reason, From string
	Port                           int
}

// ports parses --json output: the port records, and checks the summary.
func ports(t *testing.T, out string) []port {
	t.Helper()
	var ps []port
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if i == len(lines)-1 {
			if m["type"] != "summary" {
				t.Fatalf("last record %v", m)
			}
			continue
		}
		if m["type"] != "port" {
			continue // the manifest, discovery's host records
		}
		p := port{IP: m["ip"].(string), Proto: m["proto"].(string), State: m["state"].(string), Reason: m["reason"].(string), Port: int(m["port"].(float64))}
		if f, ok := m["from"].(string); ok {
			p.From = f
		}
		ps = append(ps, p)
	}
	return ps
}

func byPort(ps []port) map[int]port {
	m := map[int]port{}
	for _, p := range ps {
		m[p.Port] = p
	}
	return m
}

func TestStatesAndReasons(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{
		TCP: map[int]netlab.PortState{22: netlab.Open, 23: netlab.Filtered, 24: netlab.Rejected},
		UDP: map[int]netlab.PortState{53: netlab.Open, 54: netlab.Filtered, 55: netlab.Rejected},
	}})
	// A router that rejects port 25 on the way.
	r1 := lab.Routers[0]
	if err := lab.Run(r1, "iptables", "-A", "FORWARD", "-p", "tcp", "--dport", "25", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"); err != nil {
		t.Fatal(err)
	}
	if err := lab.Run(r1, "ip6tables", "-A", "FORWARD", "-p", "tcp", "--dport", "25", "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		srv, router string
	}{{lab.Server.Addr4.String(), r1.Addr4.String()}, {lab.Server.Addr6.String(), r1.Addr6.String()}} {
		for _, kind := range []string{"-sS", "--connect"} {
			got := byPort(ports(t, runScan(t, lab, kind, "-p", "22-26", "--all", "--json", v.srv).Stdout))
			want := map[int][2]string{22: {"open", "syn-ack"}, 23: {"filtered", "no-response"}, 24: {"filtered", "admin-prohibited"},
				25: {"filtered", "admin-prohibited"}, 26: {"closed", "reset"}}
			if kind == "--connect" {
				// connect() reports an ICMP unreachable as EHOSTUNREACH
				// for IPv4; for IPv6 the kernel may just let it time out.
				want[24], want[25], want[26] = [2]string{"filtered", "host-unreach"}, [2]string{"filtered", "host-unreach"}, [2]string{"closed", "conn-refused"}
			}
			for p, w := range want {
				g := got[p]
				if kind == "--connect" && strings.Contains(v.srv, ":") && (p == 24 || p == 25) && g.State == "filtered" {
					continue
				}
				if g.State != w[0] || g.Reason != w[1] {
					t.Errorf("%s %s port %d: %s (%s), want %s (%s)", kind, v.srv, p, g.State, g.Reason, w[0], w[1])
				}
			}
			if kind == "-sS" && (got[25].From != v.router || got[24].From != v.srv) {
				t.Errorf("%s: port 25 rejected by %q, port 24 by %q; want %s and the target itself", v.srv, got[25].From, got[24].From, v.router)
			}
		}
		got := byPort(ports(t, runScan(t, lab, "-U", "-p", "53-56", "--all", "--json", v.srv).Stdout))
		for p, w := range map[int][2]string{53: {"open", "udp-response"}, 54: {"open|filtered", "no-response"},
			55: {"filtered", "admin-prohibited"}, 56: {"closed", "port-unreach"}} {
			if g := got[p]; g.State != w[0] || g.Reason != w[1] || g.Proto != "udp" {
				t.Errorf("-U %s port %d: %+v, want %s (%s)", v.srv, p, g, w[0], w[1])
			}
		}
	}
}

// nmapStates reads nmap's XML: the listed ports' states, and the state
// of the rest ("extraports").
func nmapStates(t *testing.T, x []byte) (map[int]string, string) {
	t.Helper()
	var run struct {
		Hosts []struct {
			Extra []struct {
				State string `xml:"state,attr"`
			} `xml:"ports>extraports"`
			Ports []struct {
				ID    int `xml:"portid,attr"`
				State struct {
					State string `xml:"state,attr"`
				} `xml:"state"`
			} `xml:"ports>port"`
		} `xml:"host"`
	}
	if err := xml.Unmarshal(x, &run); err != nil || len(run.Hosts) != 1 {
		t.Fatalf("nmap XML: %v\n%s", err, x)
	}
	listed := map[int]string{}
	for _, p := range run.Hosts[0].Ports {
		listed[p.ID] = p.State.State
	}
	rest := ""
	if len(run.Hosts[0].Extra) > 0 {
		rest = run.Hosts[0].Extra[0].State
	}
	return listed, rest
}

func TestAllPortsEqualNmap(t *testing.T) {
	if _, err := exec.LookPath("nmap"); err != nil {
		t.Fatal("nmap is not installed (make deps installs it)")
	}
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{
		TCP: map[int]netlab.PortState{22: netlab.Open, 80: netlab.Open, 443: netlab.Open, 8080: netlab.Filtered, 9000: netlab.Rejected, 65535: netlab.Open, 1: netlab.Open},
	}})
	srv := lab.Server.Addr4.String()
	ref := runScan(t, lab, "-p-", "--json", "--rate", "50000", srv) // warm-up free: just ours
	_ = ref
	theirs := labtest.Run(t, lab, lab.Client, 3*time.Minute, "nmap", "-sS", "-p-", "-n", "-Pn", "-oX", "-", srv)
	if theirs.Code != 0 {
		t.Fatalf("nmap: exit %d %s", theirs.Code, theirs.Stderr)
	}
	listed, rest := nmapStates(t, []byte(theirs.Stdout))
	ours := runScan(t, lab, "-p-", "--all", "--json", "--rate", "50000", srv)
	got := ports(t, ours.Stdout)
	if len(got) != 65535 {
		t.Fatalf("%d ports in our output, want 65535", len(got))
	}
	diff := 0
	for _, p := range got {
		want, ok := listed[p.Port]
		if !ok {
			want = rest
		}
		if p.State != want {
			diff++
			if diff < 10 {
				t.Errorf("port %d: ours %s, nmap %s", p.Port, p.State, want)
			}
		}
	}
	if diff > 0 {
		t.Errorf("%d of 65535 ports differ from nmap", diff)
	}
}

func TestLossyLinkMissesNoOpenPort(t *testing.T) {
	open := []int{22, 80, 443, 499, 500}
	svc := map[int]netlab.PortState{}
	for _, p := range open {
		svc[p] = netlab.Open
	}
	// 30 % of the probes and 30 % of the answers lost: a default scan,
	// three times per family, finds every open port and reads the closed
	// ones as closed (a port silent through all its tries, chance 0.51^11,
	// may read as filtered: at most 1 %).
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Loss: 0.3, ReturnLoss: 0.3, Services: netlab.Services{TCP: svc}})
	for _, srv := range []string{lab.Server.Addr4.String(), lab.Server.Addr6.String()} {
		for run := range 3 {
			// -Pn: this is the port scan's test; host discovery's few
			// probes are all lost about once in fifty runs at this loss.
			r := runScan(t, lab, "-Pn", "-p", "1-500", "--json", "--all", "--expect", "open:22,80,443,499,500", srv)
			var found []int
			closed := 0
			for _, p := range ports(t, r.Stdout) {
				switch p.State {
				case "open":
					found = append(found, p.Port)
				case "closed":
					closed++
				}
			}
			slices.Sort(found)
			if !slices.Equal(found, open) || r.Code != 0 {
				t.Errorf("%s run %d through 30%% loss each way: open %v, want %v (exit %d, %s)", srv, run, found, open, r.Code, r.Stderr)
			}
			if want := 500 - len(open); closed < want*99/100 {
				t.Errorf("%s run %d through 30%% loss each way: %d closed, want %d", srv, run, closed, want)
			}
		}
	}
}

func TestShardsAreDisjointAndWhole(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, ServerPrefixes: nil, Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open}}})
	targets := []string{lab.Server.Addr4.String(), lab.Routers[0].Addr4.String()}
	seen := map[string]int{}
	for i := 0; i < 3; i++ {
		r := runScan(t, lab, append([]string{"-p", "1-300", "--all", "--json", "--seed", "7", "--shard", fmt.Sprintf("%d/3", i)}, targets...)...)
		for _, p := range ports(t, r.Stdout) {
			seen[fmt.Sprintf("%s:%d", p.IP, p.Port)]++
		}
	}
	if len(seen) != 600 {
		t.Errorf("shards covered %d probes, want 600", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s scanned by %d shards", k, n)
		}
	}
}

// Shards run as an Indexed Job runs them (--shard n, the index in
// JOB_COMPLETION_INDEX) merge into the unsharded scan's results and
// nmap output; without one shard, merge names it and fails.
func TestIndexedJobShardsMerge(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open, 80: netlab.Open}}})
	targets := []string{lab.Server.Addr4.String(), lab.Routers[0].Addr4.String()}
	args := append([]string{"-p", "1-300", "--all", "--json", "--seed", "9", "--shard", "4"}, targets...)
	dir := t.TempDir()
	var files []string
	for i := range 4 {
		r := labtest.Run(t, lab, lab.Client, time.Minute, append([]string{"env", fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i), bin}, args...)...)
		if r.Code != 0 {
			t.Fatalf("shard %d: exit %d %s", i, r.Code, r.Stderr)
		}
		f := filepath.Join(dir, fmt.Sprintf("shard-%d.json", i))
		if err := os.WriteFile(f, []byte(r.Stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	merged, err := exec.Command(bin, append([]string{"merge"}, files...)...).Output()
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	whole := runScan(t, lab, append([]string{"-p", "1-300", "--all", "--json"}, targets...)...)
	state := func(out string) map[string]string {
		m := map[string]string{}
		for _, p := range ports(t, out) {
			m[fmt.Sprintf("%s:%d", p.IP, p.Port)] = p.State
		}
		return m
	}
	a, b := state(string(merged)), state(whole.Stdout)
	if len(a) != 600 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("merged shards: %d ports, equal to the whole scan: %v", len(a), fmt.Sprint(a) == fmt.Sprint(b))
	}
	// nmap's grepable output of the merge lists what the whole scan's does.
	grep, err := exec.Command(bin, append([]string{"merge", "-oG", "-"}, files...)...).Output()
	if err != nil || !strings.Contains(string(grep), "22/open/tcp//ssh///") {
		t.Errorf("merge -oG -: %v\n%s", err, grep)
	}
	// A shard short: exit 1, the missing index named.
	cmd := exec.Command(bin, "merge", files[0], files[1], files[3])
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "shard 2 of 4") {
		t.Errorf("merge without shard 2: exit %d %v %q", code, err, stderr.String())
	}
	// Sharding without a seed is refused.
	if r := runScan(t, lab, "-p", "22", "--shard", "0/2", targets[0]); r.Code != 2 {
		t.Errorf("--shard without --seed: exit %d", r.Code)
	}
}

func TestXMLAndExpect(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open}}})
	srv := lab.Server.Addr4.String()
	file := filepath.Join(t.TempDir(), "scan.xml")
	r := runScan(t, lab, "-p", "20-25", "--reason", "-oX", file, "--expect", "open:22", "--expect", "closed:23", "--expect", "open>=1", srv)
	if r.Code != 0 || !regexp.MustCompile(`(?m)^22/tcp\s+open\s+ssh\s+syn-ack`).MatchString(r.Stdout) {
		t.Errorf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	x, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	listed, rest := nmapStates(t, x)
	// Six ports: nmap lists every one (a state is folded into
	// extraports past 25 ports).
	if listed[22] != "open" || listed[23] != "closed" || rest != "" {
		t.Errorf("XML: listed %v, rest %q", listed, rest)
	}
	r = runScan(t, lab, "-p", "20-25", "--expect", "open:23", srv)
	if r.Code != 1 || !strings.Contains(r.Stderr, "open:23 failed") {
		t.Errorf("failing expect: exit %d, %q", r.Code, r.Stderr)
	}
	// A target discovery finds down has none of its ports open.
	r = runScan(t, lab, "-p", "22", "--expect", "open:22", srv, "198.18.200.1")
	if r.Code != 1 || !strings.Contains(r.Stderr, "198.18.200.1 is down") {
		t.Errorf("expect on a down target: exit %d, %q", r.Code, r.Stderr)
	}
}

func TestPrivilegeAndUsage(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open}}})
	srv := lab.Server.Addr4.String()
	nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin}
	r := labtest.Run(t, lab, lab.Client, time.Minute, append(nobody, "-p", "22", srv)...)
	if r.Code != 0 || !strings.Contains(r.Stderr, "falling back to a connect scan") || !strings.Contains(r.Stdout, "22/tcp") {
		t.Errorf("unprivileged SYN scan: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = labtest.Run(t, lab, lab.Client, time.Minute, append(nobody, "-U", "-p", "53", srv)...)
	if r.Code != 3 || !strings.Contains(r.Stderr, "setcap") {
		t.Errorf("unprivileged UDP scan: exit %d, %q", r.Code, r.Stderr)
	}
	for _, args := range [][]string{{}, {srv, "-p", "0"}, {srv, "-p", "x"}, {"255.255.255.255", "-p", "1"}, {"224.0.0.1"},
		{"198.18.0.0/8"}, {srv, "--shard", "2/2"}, {srv, "--expect", "shut:22"}, {srv, "-sS", "-U"}, {srv, "-p", "1", "--top-ports", "5"},
		{srv, "-p", "22", "-oX", "/nonexistent/x.xml"}, {srv, "-p", "22", "-oG", "-", "-oX", "-"}, {srv, "-T9"}, {srv, "-O"}, {srv, "-PY"}} {
		r := runScan(t, lab, args...)
		if r.Code != 2 || r.Stderr == "" || strings.Contains(r.Stderr, "panic") {
			t.Errorf("%q: exit %d, %q; want 2", args, r.Code, r.Stderr)
		}
	}
}

// An interrupted scan with --resume goes on where it stopped: the two
// runs together find what one whole scan finds, and the second sends only
// what the first had not.
func TestResume(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open, 60000: netlab.Open}}})
	srv := lab.Server.Addr4.String()
	file := filepath.Join(t.TempDir(), "scan.resume")
	args := []string{"-p-", "--rate", "20000", "--resume", file, "--json", srv}
	cmd := lab.Command(t.Context(), lab.Client, bin, append(args, "--all")...)
	var partial bytes.Buffer
	cmd.Stdout = &partial
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // about half of the 65535 probes
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if err == nil {
		t.Fatal("the interrupted scan exited 0; it must say its results are partial")
	}
	// It reports only the ports it probed, and says how many it did not.
	outLines := strings.Split(strings.TrimSpace(partial.String()), "\n")
	var psum map[string]any
	json.Unmarshal([]byte(outLines[len(outLines)-1]), &psum)
	reported := strings.Count(partial.String(), `"type":"port"`)
	if psum["interrupted"] != true || psum["unprobed"] == nil || int(psum["unprobed"].(float64))+reported != 65535 || reported == 65535 {
		t.Errorf("interrupted scan: %d ports reported, summary %v; want interrupted, reported + unprobed = 65535", reported, psum)
	}
	if st, err := os.Stat(file); err != nil || st.Size() > 512 {
		t.Fatalf("the resume record after the interruption: %v, %v; want a few hundred bytes", err, st)
	}
	// The record is refused for any other scan, before a probe is sent.
	other := lab.Client.Addr4.String()
	for _, wrong := range [][]string{
		{"-p-", "--rate", "20000", "--resume", file, "--json", other},
		{"-p", "1-65534", "--rate", "20000", "--resume", file, "--json", srv},
		{"-p-", "-sT", "--resume", file, "--json", srv},
	} {
		r := runScan(t, lab, wrong...)
		if r.Code != 2 || !strings.Contains(r.Stderr, "record of another scan") || strings.Contains(r.Stdout, `"type":"port"`) {
			t.Errorf("%q: exit %d %q; want 2, refused", wrong, r.Code, r.Stderr)
		}
	}
	if r := runScan(t, lab, "-p", "22", "--resume", "/nonexistent/dir/r", srv); r.Code != 2 || !strings.Contains(r.Stderr, "--resume") {
		t.Errorf("an unwritable --resume: exit %d %q; want 2 before scanning", r.Code, r.Stderr)
	}
	r := runScan(t, lab, args...)
	if r.Code != 0 {
		t.Fatalf("resumed scan: exit %d %s", r.Code, r.Stderr)
	}
	// The record keeps no answers: what the first run found is in its
	// output, the rest in the second's.
	var found []int
	for _, p := range append(ports(t, partial.String()), ports(t, r.Stdout)...) {
		if p.State == "open" && !slices.Contains(found, p.Port) {
			found = append(found, p.Port)
		}
	}
	slices.Sort(found)
	if !slices.Equal(found, []int{22, 60000}) {
		t.Errorf("the two runs found %v open, want [22 60000]", found)
	}

	var sum map[string]any
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	json.Unmarshal([]byte(lines[len(lines)-1]), &sum)
	if probes := sum["probes"].(float64); probes < 1000 || probes > 60000 {
		t.Errorf("the resumed scan sent %v probes; want only the rest of 65535", probes)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("resume file left after a complete scan: %v", err)
	}
}

// Once its sockets are open portscan holds no capability, in a SYN scan
// and in a connect scan (which needs none from the start).
func TestCapabilitiesDropped(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{Services: netlab.Services{TCP: map[int]netlab.PortState{22: netlab.Open}}})
	for _, kind := range []string{"-sS", "-sT"} {
		capEff := labtest.HeldWhileRunning(t, lab, lab.Client, 500*time.Millisecond, 60*time.Second,
			bin, kind, "-n", "-p", "1-1500", "--max-rate", "1000", "--concurrency", "1", lab.Server.Addr4.String())
		if capEff != "0000000000000000" {
			t.Errorf("%s: CapEff while scanning: %s, want none", kind, capEff)
		}
	}
}
