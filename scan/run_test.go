package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/fakenet"
	"github.com/rawkit/rawkit/probe"
	"github.com/rawkit/rawkit/report"
)

var (
	client  = netip.MustParseAddr("198.18.0.1")
	client6 = netip.MustParseAddr("2001:db8::1")
	server  = netip.MustParseAddr("198.18.1.2")
	dark    = netip.MustParseAddr("198.18.1.3") // every port filtered
	server6 = netip.MustParseAddr("2001:db8:1::2")
)

// labNet is a server with open, closed, filtered and rejecting ports,
// a host that answers nothing, and an IPv6 server, one router away.
func labNet() *fakenet.Net {
	return &fakenet.Net{
		Source4: client, Source6: client6,
		Path: []netip.Addr{router},
		Hosts: map[netip.Addr]*fakenet.Host{
			server: {
				TCP: map[uint16]string{22: fakenet.Open, 80: fakenet.Open, 25: fakenet.Filtered, 113: fakenet.Reject},
				UDP: map[uint16]string{53: fakenet.Open, 161: fakenet.Filtered, 500: fakenet.Reject},
			},
			dark:    {DefaultTCP: fakenet.Filtered, DefaultUDP: fakenet.Filtered, NoEcho: true},
			server6: {TCP: map[uint16]string{443: fakenet.Open}},
		},
		HopDelay: 100 * time.Microsecond,
	}
}

func scan(t *testing.T, n *fakenet.Net, opts Options, targets ...string) (string, string, error) {
	t.Helper()
	if n != nil {
		opts.Network = n
	} else {
		// A connect scan on this host's own sockets: host discovery
		// would need raw ones.
		opts.SkipDiscovery = true
	}
	opts.Targets.Args = targets
	if opts.Ports == nil {
		opts.Ports = []uint16{21, 22, 23, 25, 80, 113, 443}
	}
	if opts.InitialWait == 0 {
		opts.InitialWait = 200 * time.Millisecond
	}
	opts.MaxWait = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := Run(ctx, opts, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// jsonStates reads --json output into "addr:port" -> state, and the
// summary.
func jsonStates(t *testing.T, out string) (map[string]string, map[string]any) {
	t.Helper()
	states := map[string]string{}
	var sum map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		switch m["type"] {
		case "port":
			k := fmt.Sprintf("%v:%v", m["ip"], m["port"])
			if old, ok := states[k]; ok && old != m["state"] {
				t.Errorf("%s written as %s and as %v", k, old, m["state"])
			}
			states[k] = m["state"].(string)
		case "summary":
			sum = m
		}
	}
	if sum == nil {
		t.Fatalf("no summary:\n%s", out)
	}
	return states, sum
}

func TestRunSYNStates(t *testing.T) {
	out, stderr, err := scan(t, labNet(), Options{JSON: true, All: true, SkipDiscovery: true}, server.String(), dark.String(), server6.String())
	if err != nil {
		t.Fatalf("%v %s", err, stderr)
	}
	got, sum := jsonStates(t, out)
	want := map[string]string{}
	for _, p := range []uint16{21, 22, 23, 25, 80, 113, 443} {
		want[fmt.Sprintf("%v:%d", server, p)] = map[uint16]string{22: "open", 80: "open", 25: "filtered", 113: "filtered"}[p]
		if want[fmt.Sprintf("%v:%d", server, p)] == "" {
			want[fmt.Sprintf("%v:%d", server, p)] = "closed"
		}
		want[fmt.Sprintf("%v:%d", dark, p)] = "filtered"
		want[fmt.Sprintf("%v:%d", server6, p)] = map[bool]string{true: "open", false: "closed"}[p == 443]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("states\n got %v\nwant %v", got, want)
	}
	if sum["probes"].(float64) < 21 {
		t.Errorf("summary %v", sum)
	}
}

func TestRunUDPStates(t *testing.T) {
	out, _, err := scan(t, labNet(), Options{Type: UDP, JSON: true, All: true, Ports: []uint16{53, 161, 500, 1000}, Retries: 1}, server.String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := jsonStates(t, out)
	want := map[string]string{"198.18.1.2:53": "open", "198.18.1.2:161": "open|filtered", "198.18.1.2:500": "filtered", "198.18.1.2:1000": "closed"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// Through a path that loses 30 % of the probes and 30 % of the answers,
// the retries still find every port's state: a host that answers its
// closed ports (as Linux does) shows the loss, and the tries rise to
// meet it. (A host silent but for its open ports shows none: as with
// nmap, an open port whose first two sends are lost is missed there.)
func TestRunUnderLoss(t *testing.T) {
	for run := range 3 {
		n := labNet()
		var mu sync.Mutex
		r := rand.New(rand.NewPCG(uint64(run), 7))
		n.Drop = func(bool) bool { mu.Lock(); defer mu.Unlock(); return r.IntN(10) < 3 }
		ports := make([]uint16, 0, 1000)
		for p := 1; p <= 1000; p++ {
			ports = append(ports, uint16(p))
		}
		out, _, err := scan(t, n, Options{JSON: true, All: true, Ports: ports, MinWait: 20 * time.Millisecond}, server.String())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := jsonStates(t, out)
		// Each send is answered with probability 0.49: after eleven
		// tries a port is silent with probability 0.0006, so a closed
		// port may read as filtered now and then (nmap's too); an open
		// one must not be missed.
		wrong := 0
		for p := 1; p <= 1000; p++ {
			want := map[int]string{22: "open", 80: "open", 25: "filtered", 113: "filtered"}[p]
			if want == "" {
				want = "closed"
			}
			if s := got[fmt.Sprintf("%v:%d", server, p)]; s != want {
				wrong++
				if want == "open" {
					t.Errorf("run %d: open port %d is %q under 30%% loss", run, p, s)
				}
			}
		}
		if wrong > 5 {
			t.Errorf("run %d: %d of 1000 states wrong under 30%% loss", run, wrong)
		}
	}
}

func TestRunNmapNormalOutput(t *testing.T) {
	out, _, err := scan(t, labNet(), Options{}, server.String(), dark.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Nmap scan report for 198.18.1.2\n",
		"Host is up",
		"PORT    STATE    SERVICE\n21/tcp  closed   ftp\n22/tcp  open     ssh\n23/tcp  closed   telnet\n25/tcp  filtered smtp\n80/tcp  open     http\n113/tcp filtered ident\n443/tcp closed   https\n",
		"Nmap done: 2 IP addresses (1 host up) scanned in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

func TestRunReasonAndOpenOnly(t *testing.T) {
	out, _, err := scan(t, labNet(), Options{Reason: true, OpenOnly: true}, server.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Not shown: 3 closed tcp ports (reset), 1 filtered tcp ports (no-response), 1 filtered tcp ports (admin-prohibited)\n") ||
		!strings.Contains(out, "22/tcp open  ssh     syn-ack ttl 62\n") || strings.Contains(out, "filtered smtp") {
		t.Errorf("--reason --open:\n%s", out)
	}
}

func TestRunFileOutputs(t *testing.T) {
	dir := t.TempDir()
	x, g, nf := filepath.Join(dir, "s.xml"), filepath.Join(dir, "s.gnmap"), filepath.Join(dir, "s.nmap")
	_, _, err := scan(t, labNet(), Options{XMLFile: x, GrepFile: g, NormalFile: nf, CmdLine: []string{"portscan", "-oA", "s"}}, server.String())
	if err != nil {
		t.Fatal(err)
	}
	xb, _ := os.ReadFile(x)
	var run struct {
		Hosts []struct {
			Ports []struct {
				ID    int `xml:"portid,attr"`
				State struct {
					State string `xml:"state,attr"`
				} `xml:"state"`
			} `xml:"ports>port"`
		} `xml:"host"`
		Stats struct {
			Finished struct {
				Exit string `xml:"exit,attr"`
			} `xml:"finished"`
		} `xml:"runstats"`
	}
	if err := xml.Unmarshal(xb, &run); err != nil {
		t.Fatalf("XML: %v\n%s", err, xb)
	}
	var open []int
	for _, p := range run.Hosts[0].Ports {
		if p.State.State == "open" {
			open = append(open, p.ID)
		}
	}
	if fmt.Sprint(open) != "[22 80]" || run.Stats.Finished.Exit != "success" {
		t.Errorf("XML open %v, exit %q", open, run.Stats.Finished.Exit)
	}
	gb, _ := os.ReadFile(g)
	if !strings.Contains(string(gb), "Host: 198.18.1.2 ()\tPorts: 21/closed/tcp//ftp///, 22/open/tcp//ssh///, 23/closed/tcp//telnet///, 25/filtered/tcp//smtp///, 80/open/tcp//http///, 113/filtered/tcp//ident///, 443/closed/tcp//https///\n") {
		t.Errorf("grepable:\n%s", gb)
	}
	nb, _ := os.ReadFile(nf)
	if !strings.HasPrefix(string(nb), "# ") || !strings.Contains(string(nb), "as: portscan -oA s") {
		t.Errorf("normal file:\n%s", nb)
	}
}

func TestRunUnwritableOutputIsBadInput(t *testing.T) {
	n := labNet()
	_, _, err := scan(t, n, Options{XMLFile: "/nonexistent/dir/x.xml"}, server.String())
	if report.ExitCode(err) != report.ExitUsage || len(n.SentPackets()) != 0 {
		t.Errorf("exit %d (%v), %d probes sent", report.ExitCode(err), err, len(n.SentPackets()))
	}
}

func TestRunLocalFirewallDrop(t *testing.T) {
	n := labNet()
	n.WriteErr = func(netip.Addr) error { return syscall.EPERM }
	_, stderr, err := scan(t, n, Options{Retries: 1, Ports: []uint16{22}, SkipDiscovery: true}, server.String())
	if err != nil || !strings.Contains(stderr, "2 probes dropped by a local firewall rule") {
		t.Errorf("%v %q", err, stderr)
	}
}

// Probes refused by a local firewall rule are counted one by one, and
// the probes sent with them in a batch (sendmmsg) still go: sent once
// (--max-retries 0), the other target's every port is probed and
// answered.
func TestRunLocalFirewallDropInABatch(t *testing.T) {
	n := labNet()
	n.WriteErr = func(dst netip.Addr) error {
		if dst == dark {
			return syscall.EPERM
		}
		return nil
	}
	ports := make([]uint16, 0, 100)
	for p := 1; p <= 100; p++ {
		ports = append(ports, uint16(p))
	}
	stdout, stderr, err := scan(t, n, Options{Retries: NoRetries, Ports: ports, SkipDiscovery: true}, server.String(), dark.String())
	if err != nil || !strings.Contains(stderr, "100 probes dropped by a local firewall rule") {
		t.Errorf("%v %q", err, stderr)
	}
	toServer := 0
	for _, p := range n.SentPackets() {
		if p.Dst == server {
			toServer++
		}
	}
	if toServer != len(ports) || !regexp.MustCompile(`22/tcp +open`).MatchString(stdout) || !regexp.MustCompile(`80/tcp +open`).MatchString(stdout) {
		t.Errorf("%d probes to the server, want %d; output:\n%s", toServer, len(ports), stdout)
	}
}

func TestRunExpectations(t *testing.T) {
	open, _ := ParseExpectation("open=22,80")
	closed, _ := ParseExpectation("closed=22")
	_, _, err := scan(t, labNet(), Options{Expects: []Expectation{open}}, server.String())
	if err != nil {
		t.Errorf("open=22,80 failed: %v", err)
	}
	_, stderr, err := scan(t, labNet(), Options{Expects: []Expectation{closed}}, server.String())
	if !errors.Is(err, report.ErrNetwork) || stderr == "" {
		t.Errorf("closed=22 held: %v %q", err, stderr)
	}
}

// A scan cancelled midway reports only what it probed and says so; its
// resume file, a record of constant size, lets the same scan go on from
// where it was (in one table, and in host groups), and refuses another.
func TestRunInterruptAndResume(t *testing.T) {
	ports := make([]uint16, 0, 2000)
	for p := 1; p <= 2000; p++ {
		ports = append(ports, uint16(p))
	}
	defer func(l uint64) { tableLimit = l }(tableLimit)
	for _, limit := range []uint64{1 << 24, 2000} {
		tableLimit = limit
		rf := filepath.Join(t.TempDir(), "resume")
		n := labNet()
		n.Hosts[server].DefaultTCP = fakenet.Filtered
		ctx, cancel := context.WithCancel(context.Background())
		opts := Options{Network: n, Targets: TargetSpec{Args: []string{server.String(), server6.String()}}, Ports: ports, Rate: 4000, JSON: true, All: true,
			SkipDiscovery: true, ResumeFile: rf, Seed: 12345, Retries: 1, InitialWait: 100 * time.Millisecond, MaxWait: 100 * time.Millisecond}
		time.AfterFunc(300*time.Millisecond, cancel)
		var out, stderr bytes.Buffer
		err := Run(ctx, opts, &out, &stderr)
		if !errors.Is(err, report.ErrNetwork) {
			t.Fatalf("limit %d: interrupted scan: %v", limit, err)
		}
		first, sum := jsonStates(t, out.String())
		if sum["interrupted"] != true || sum["unprobed"].(float64) == 0 || len(first) >= 4000 {
			t.Fatalf("limit %d: summary %v, %d ports", limit, sum, len(first))
		}
		if !strings.Contains(stderr.String(), "--resume "+rf) {
			t.Errorf("limit %d: no resume advice: %q", limit, stderr.String())
		}
		if st, err := os.Stat(rf); err != nil || st.Size() > 512 {
			t.Fatalf("limit %d: the record: %v, %v bytes; want a few hundred", limit, err, st)
		}
		// Another target: refused, nothing sent.
		other := opts
		other.Targets.Args = []string{dark.String()}
		other.Network = labNet()
		if err := Run(context.Background(), other, &out, &stderr); report.ExitCode(err) != report.ExitUsage || len(other.Network.(*fakenet.Net).SentPackets()) != 0 {
			t.Errorf("limit %d: resume of another scan: %v", limit, err)
		}
		// The same scan goes on: the two runs together find every open
		// port, and the second sends less than the whole scan.
		out.Reset()
		n = labNet()
		n.Hosts[server].DefaultTCP = fakenet.Filtered
		opts.Network = n
		if err := Run(context.Background(), opts, &out, &stderr); err != nil {
			t.Fatalf("limit %d: resumed: %v", limit, err)
		}
		second, sum := jsonStates(t, out.String())
		for _, k := range []string{"198.18.1.2:22", "198.18.1.2:80", "2001:db8:1::2:443"} {
			if first[k] != "open" && second[k] != "open" {
				t.Errorf("limit %d: %s open in neither run (%q, %q)", limit, k, first[k], second[k])
			}
		}
		// (Probes final in the first run after its record's place are
		// probed again: the record keeps no answers.)
		finals := sum["answered"].(float64) + sum["given_up"].(float64)
		if sum["interrupted"] == true || finals >= 4000 || finals+float64(len(first)) < 4000 {
			t.Errorf("limit %d: resumed summary %v after %d ports reported; want the rest only", limit, sum, len(first))
		}
		if _, err := os.Stat(rf); !os.IsNotExist(err) {
			t.Errorf("limit %d: the resume file outlived the finished scan: %v", limit, err)
		}
	}
}

// Shards of one seed cover every probe once between them.
func TestRunShardsPartitionTheScan(t *testing.T) {
	var all []string
	for i := range 3 {
		seen := map[string]bool{}
		n := labNet()
		_, _, err := scan(t, n, Options{Shard: Shard{I: uint64(i), N: 3}, Seed: 99, Retries: 0, Ports: []uint16{1, 2, 3, 4, 5, 6, 7, 8}}, server.String(), dark.String())
		if err != nil && !errors.Is(err, report.ErrNetwork) {
			t.Fatal(err)
		}
		for _, p := range n.SentPackets() {
			k := fmt.Sprintf("%v:%d", p.Dst, int(p.Data[2])<<8|int(p.Data[3]))
			if !seen[k] { // a retry sends the same probe again
				seen[k] = true
				all = append(all, k)
			}
		}
	}
	sort.Strings(all)
	if len(all) != 16 {
		t.Fatalf("%d probes over 3 shards, want 16: %v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Errorf("%s probed by two shards", all[i])
		}
	}
}

// A connect scan needs no privilege: loopback listeners answer it.
func TestRunConnectOnLoopback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := uint16(l.Addr().(*net.TCPAddr).Port)
	// A port just freed: closed.
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := uint16(l2.Addr().(*net.TCPAddr).Port)
	l2.Close()
	out, _, err := scan(t, nil, Options{Type: Connect, JSON: true, All: true, Ports: []uint16{open, closed}}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := jsonStates(t, out)
	if got[fmt.Sprintf("127.0.0.1:%d", open)] != "open" || got[fmt.Sprintf("127.0.0.1:%d", closed)] != "closed" {
		t.Errorf("%v", got)
	}
}

// A scan too large for one table runs in host groups, each written when
// it ends: every output (NDJSON, nmap's normal, grepable and XML) says
// what the same scan in one table says, with or without discovery.
func TestRunInHostGroups(t *testing.T) {
	// Times differ from run to run: masked.
	masks := []*regexp.Regexp{regexp.MustCompile(`\d+:\d\d(:\d\d)?`), regexp.MustCompile(`[0-9.]+s latency`),
		regexp.MustCompile(`in [0-9.]+ seconds`), regexp.MustCompile(`(start|time|starttime|endtime|elapsed|srtt|rttvar|to)="[0-9.]+"`),
		regexp.MustCompile(`(startstr|timestr)="[^"]*"`), regexp.MustCompile(`(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]+ +\d+`)}
	mask := func(b []byte) string {
		for _, re := range masks {
			b = re.ReplaceAll(b, []byte("T"))
		}
		return string(b)
	}
	run := func(limit uint64, discovery bool, expects []Expectation) (json string, files map[string]string, sum map[string]any) {
		defer func(l uint64) { tableLimit = l }(tableLimit)
		tableLimit = limit
		dir := t.TempDir()
		opts := Options{All: true, SkipDiscovery: !discovery, Expects: expects, NormalFile: filepath.Join(dir, "n"), GrepFile: filepath.Join(dir, "g"), XMLFile: filepath.Join(dir, "x")}
		normal, _, err := scan(t, labNet(), opts, server.String(), dark.String(), server6.String())
		if err != nil && !errors.Is(err, report.ErrNetwork) {
			t.Fatal(err)
		}
		files = map[string]string{"stdout": mask([]byte(normal))}
		for _, f := range []string{"n", "g", "x"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			files[f] = mask(b)
		}
		opts = Options{JSON: true, All: true, SkipDiscovery: !discovery, Expects: expects}
		json, _, err = scan(t, labNet(), opts, server.String(), dark.String(), server6.String())
		if err != nil && !errors.Is(err, report.ErrNetwork) {
			t.Fatal(err)
		}
		_, sum = jsonStates(t, json)
		return json, files, sum
	}
	// An --expect on ports makes the report from every result at once
	// (byHost); without, it is written host by host from the table.
	portExpect := []Expectation{mustExpect(t, "open:22")}
	for _, discovery := range []bool{false, true} {
		oneJSON, oneFiles, oneSum := run(1<<24, discovery, portExpect)
		for _, v := range []struct {
			name  string
			limit uint64
		}{{"one table, host by host", 1 << 24}, {"host groups", 8}} { // 7 ports a target, 8 probes a group: a group per host
			groupJSON, groupFiles, groupSum := run(v.limit, discovery, nil)
			a, _ := jsonStates(t, oneJSON)
			b, _ := jsonStates(t, groupJSON)
			if fmt.Sprint(a) != fmt.Sprint(b) || len(b) < 14 {
				t.Errorf("discovery %v: states all at once %v, %s %v", discovery, a, v.name, b)
			}
			for _, k := range []string{"open", "closed", "filtered", "targets", "probes"} {
				if oneSum[k] != groupSum[k] {
					t.Errorf("discovery %v: %s: %v all at once, %v %s", discovery, k, oneSum[k], groupSum[k], v.name)
				}
			}
			for name, one := range oneFiles {
				if groupFiles[name] != one {
					t.Errorf("discovery %v: %s all at once:\n%s\n%s:\n%s", discovery, name, one, v.name, groupFiles[name])
				}
			}
		}
	}
	// What host groups cannot do: refused before any probe.
	defer func(l uint64) { tableLimit = l }(tableLimit)
	tableLimit = 4
	for _, opts := range []Options{{Type: Connect}, {DiffFile: "x.json"}, {Expects: []Expectation{mustExpect(t, "open:22")}}} {
		n := labNet()
		if _, _, err := scan(t, n, opts, server.String(), dark.String()); report.ExitCode(err) != report.ExitUsage || len(n.SentPackets()) > 0 {
			t.Errorf("%+v over host groups: %v, %d sent", opts, err, len(n.SentPackets()))
		}
	}
}

func mustExpect(t *testing.T, text string) Expectation {
	e, err := ParseExpectation(text)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The summary says whether a scan finished whole, and why not.
func TestRunVerdict(t *testing.T) {
	_, sum := jsonStates(t, mustScan(t, labNet(), Options{JSON: true}, server.String()))
	if sum["complete"] != true || sum["degraded"] != nil {
		t.Errorf("a clean scan: %v", sum)
	}
	// Loss with no resends allowed: degraded, and --expect complete fails.
	n := labNet()
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(3, 4))
	n.Drop = func(bool) bool { mu.Lock(); defer mu.Unlock(); return r.IntN(10) < 3 }
	ports := make([]uint16, 0, 300)
	for p := 1; p <= 300; p++ {
		ports = append(ports, uint16(p))
	}
	complete, _ := ParseExpectation("complete")
	out, stderr, err := scan(t, n, Options{JSON: true, Ports: ports, Retries: 1, MinWait: 20 * time.Millisecond, Expects: []Expectation{complete}}, server.String())
	_, sum = jsonStates(t, out)
	if sum["complete"] != false || !strings.Contains(fmt.Sprint(sum["degraded"]), "raise --max-retries") || sum["loss_pct"].(float64) < 20 {
		t.Errorf("a lossy scan with one resend: %v", sum)
	}
	if !errors.Is(err, report.ErrNetwork) || !strings.Contains(stderr, "complete") {
		t.Errorf("--expect complete held: %v %q", err, stderr)
	}
	// A local firewall: degraded.
	n = labNet()
	n.WriteErr = func(netip.Addr) error { return syscall.EPERM }
	out, _, _ = scan(t, n, Options{JSON: true, Retries: NoRetries}, server.String())
	if _, sum = jsonStates(t, out); sum["complete"] != false {
		t.Errorf("local drops: %v", sum)
	}
}

// Each shard's --json carries a manifest naming the whole scan.
func TestRunManifest(t *testing.T) {
	var hashes []string
	for i := range 2 {
		out := mustScan(t, labNet(), Options{JSON: true, Seed: 5, Shard: Shard{I: uint64(i), N: 2}}, server.String())
		var m map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var rec map[string]any
			json.Unmarshal([]byte(l), &rec)
			if rec["type"] == "manifest" {
				m = rec
			}
		}
		if m == nil || m["shard"] != float64(i) || m["shards"] != 2.0 || m["seed"] != 5.0 || m["complete"] != true {
			t.Fatalf("shard %d manifest %v", i, m)
		}
		hashes = append(hashes, m["scan"].(map[string]any)["sha256"].(string))
	}
	if hashes[0] != hashes[1] {
		t.Errorf("shards of one scan name different scans: %v", hashes)
	}
}

func mustScan(t *testing.T, n *fakenet.Net, opts Options, targets ...string) string {
	t.Helper()
	out, stderr, err := scan(t, n, opts, targets...)
	if err != nil {
		t.Fatalf("%v %s", err, stderr)
	}
	return out
}

// The reason a host is up is its echo's answer, as nmap's, when the echo
// was answered: also when the echo's reader runs after the TCP reader,
// as on a loaded machine (CI saw "reset" where nmap said "echo-reply").
func TestPingReasonWaitsForALateEcho(t *testing.T) {
	n := labNet()
	n.Later = map[int]time.Duration{probe.ProtoICMP: 12 * time.Millisecond}
	out, _, err := scan(t, n, Options{PingOnly: true, JSON: true}, server.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"reason":"echo-reply"`) {
		t.Errorf("the echo answered 12 ms after the others: %s", out)
	}
}

// Host discovery as nmap's: each target's first answer to an echo, a
// SYN to 443, an ACK to 80 or a timestamp request says it is up; an ICMP
// error about it, that it is down; silence, down after the waits.
func TestRunPingScan(t *testing.T) {
	n := labNet()
	behind := netip.MustParseAddr("198.18.1.9")
	n.Hosts[behind] = &fakenet.Host{Unreachable: true}
	out, _, err := scan(t, n, Options{PingOnly: true, JSON: true, All: true}, server.String(), dark.String(), behind.String(), server6.String())
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		if m["type"] == "host" {
			hosts[m["ip"].(string)] = fmt.Sprint(m["up"], " ", m["reason"])
		}
		if m["type"] == "port" {
			t.Errorf("-sn scanned a port: %v", m)
		}
	}
	// The server answers all four at once: whichever is read first.
	for _, up := range []string{server.String(), server6.String()} {
		if !regexp.MustCompile(`^true (echo-reply|reset|syn-ack|timestamp-reply)$`).MatchString(hosts[up]) {
			t.Errorf("%s: %q", up, hosts[up])
		}
	}
	if hosts[dark.String()] != "false no-response" || hosts[behind.String()] != "false host-unreach" || len(hosts) != 4 {
		t.Errorf("hosts %v", hosts)
	}
	// Each probe kind alone finds the server.
	for _, d := range []Discovery{{SYN: []uint16{22}}, {ACK: []uint16{80}}, {Timestamp: true}, {Echo: true}} {
		n := labNet()
		out, _, err := scan(t, n, Options{PingOnly: true, Reason: true, Discovery: d}, server.String())
		if err != nil || !strings.Contains(out, "Host is up, received ") {
			t.Errorf("%+v: %v\n%s", d, err, out)
		}
		if k := len(n.SentPackets()); k != 1 {
			t.Errorf("%+v: %d probes sent for one answer", d, k)
		}
	}
	// A port scan scans the hosts up only, and counts them all.
	n = labNet()
	out, _, err = scan(t, n, Options{Ports: []uint16{22}}, server.String(), dark.String())
	if err != nil || !strings.Contains(out, "Nmap done: 2 IP addresses (1 host up)") || strings.Contains(out, "198.18.1.3") {
		t.Errorf("%v\n%s", err, out)
	}
	for _, p := range n.SentPackets() {
		if p.Dst == dark && p.Proto == 6 && p.Data[3] == 22 {
			t.Error("a host found down was port scanned")
		}
	}
}

// --diff lists what changed since an earlier scan's --json output, and
// --expect unchanged says whether anything did.
func TestRunDiff(t *testing.T) {
	old := filepath.Join(t.TempDir(), "old.json")
	first := mustScan(t, labNet(), Options{JSON: true}, server.String())
	os.WriteFile(old, []byte(first), 0o644)
	unchanged, _ := ParseExpectation("unchanged")
	out, _, err := scan(t, labNet(), Options{DiffFile: old, Expects: []Expectation{unchanged}}, server.String())
	if err != nil || !strings.Contains(out, "Changes since "+old+": 0 ports\n") {
		t.Errorf("the same network: %v\n%s", err, out)
	}
	n := labNet()
	n.Hosts[server].TCP[80] = fakenet.Closed
	n.Hosts[server].TCP[443] = fakenet.Open
	out, stderr, err := scan(t, n, Options{DiffFile: old, Expects: []Expectation{unchanged}}, server.String())
	if !errors.Is(err, report.ErrNetwork) || !strings.Contains(stderr, "unchanged") {
		t.Errorf("--expect unchanged held after a change: %v %q", err, stderr)
	}
	if !strings.Contains(out, "Changes since "+old+": 2 ports\n  198.18.1.2 80/tcp: open -> closed\n  198.18.1.2 443/tcp: not listed -> open\n") {
		t.Errorf("changes:\n%s", out)
	}
	js, _, _ := scan(t, n, Options{DiffFile: old, JSON: true}, server.String())
	if strings.Count(js, `"type":"change"`) != 2 || !strings.Contains(js, `"ip":"198.18.1.2","port":80,"was":"open","now":"closed"`) {
		t.Errorf("change records:\n%s", js)
	}
	// Without --diff, or with a file that is not a scan's: bad input.
	if _, _, err := scan(t, labNet(), Options{Expects: []Expectation{unchanged}}, server.String()); report.ExitCode(err) != report.ExitUsage {
		t.Errorf("unchanged without --diff: %v", err)
	}
	if _, _, err := scan(t, labNet(), Options{DiffFile: "/etc/hostname"}, server.String()); report.ExitCode(err) != report.ExitUsage {
		t.Errorf("--diff of a non-scan: %v", err)
	}
}
