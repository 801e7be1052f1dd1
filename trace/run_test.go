package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/fakenet"
	"github.com/rawkit/rawkit/report"
)

// The simulated path: three routers, then the hosts.
var (
	client4 = netip.MustParseAddr("198.18.0.1")
	client6 = netip.MustParseAddr("2001:db8::1")
	hop1    = netip.MustParseAddr("198.18.0.2")
	hop2    = netip.MustParseAddr("198.18.1.2")
	hop3    = netip.MustParseAddr("198.18.2.2")
	host    = netip.MustParseAddr("198.18.3.2")
	hop6    = netip.MustParseAddr("2001:db8:1::2")
	host6   = netip.MustParseAddr("2001:db8:3::2")
)

func labNet() *fakenet.Net {
	return &fakenet.Net{
		Source4: client4, Source6: client6,
		Path: []netip.Addr{hop1, hop2, hop3},
		Hosts: map[netip.Addr]*fakenet.Host{
			host: {TCP: map[uint16]string{80: fakenet.Open, 81: fakenet.Closed}, UDP: map[uint16]string{53: fakenet.Open}},
		},
		HopDelay: 200 * time.Microsecond,
	}
}

// trace runs the engine on n and returns stdout, stderr and the error.
func trace(t *testing.T, n *fakenet.Net, opts Options) (string, string, error) {
	t.Helper()
	opts.Network = n
	if opts.Target == "" {
		opts.Target = host.String()
	}
	opts.Numeric = true
	if opts.Wait == 0 {
		opts.Wait = 300 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := Run(ctx, opts, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// hopLine matches one hop of traceroute's text: the TTL, then the
// answers (address and times, or stars).
var hopLine = regexp.MustCompile(`^\s?(\d+)\s+(.*)$`)

// hopAddrs reads traceroute's text into the first address each hop shows
// ("*" for none).
func hopAddrs(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "traceroute to ") {
		t.Fatalf("no title line: %q", out)
	}
	var hops []string
	for i, l := range lines[1:] {
		m := hopLine.FindStringSubmatch(l)
		if m == nil || m[1] != fmt.Sprint(i+1) {
			t.Fatalf("line %q is not hop %d", l, i+1)
		}
		f := strings.Fields(m[2])
		hops = append(hops, f[0])
	}
	return hops
}

func TestRunMethodsReachTheHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"udp", Options{}},
		{"udp classic", Options{Classic: true}},
		{"icmp", Options{Method: ICMP}},
		{"tcp open", Options{Method: TCP}},
		{"tcp closed", Options{Method: TCP, Port: 81}},
		{"udp answered by the service", Options{Method: UDPFixed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := labNet()
			out, stderr, err := trace(t, n, tc.opts)
			if err != nil {
				t.Fatalf("err = %v, stderr %q, out:\n%s", err, stderr, out)
			}
			got := hopAddrs(t, out)
			want := []string{hop1.String(), hop2.String(), hop3.String(), host.String()}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("hops %v, want %v; out:\n%s", got, want, out)
			}
			// As traceroute: up to 16 probes in flight at once, so some
			// go beyond the host, but none after it answered.
			sent := n.SentPackets()
			if len(sent) < 12 || len(sent) > 16*3 {
				t.Errorf("%d probes sent", len(sent))
			}
			if !strings.Contains(out, "traceroute to 198.18.3.2 (198.18.3.2), 30 hops max") {
				t.Errorf("title: %q", out)
			}
		})
	}
}

func TestRunIPv6(t *testing.T) {
	n := labNet()
	n.Path = []netip.Addr{hop6}
	n.Hosts = map[netip.Addr]*fakenet.Host{host6: {}}
	for _, m := range []Method{UDP, ICMP, TCP} {
		out, _, err := trace(t, n, Options{Target: host6.String(), Method: m})
		if err != nil {
			t.Fatalf("%v: %v\n%s", m, err, out)
		}
		if got := hopAddrs(t, out); fmt.Sprint(got) != fmt.Sprint([]string{hop6.String(), host6.String()}) {
			t.Errorf("%v: hops %v\n%s", m, got, out)
		}
		if !strings.Contains(out, "80 byte packets") {
			t.Errorf("%v: IPv6's default size is 80: %q", m, out)
		}
	}
}

// The RTT shown for each hop is that hop's round trip: 2·k·HopDelay on
// the simulated path, never less, and not much more.
func TestRunRTTIsEachHopsRoundTrip(t *testing.T) {
	n := labNet()
	n.HopDelay = 5 * time.Millisecond
	out, _, err := trace(t, n, Options{Method: ICMP, Queries: 2, Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	times := regexp.MustCompile(`([\d.]+) ms`)
	for i, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		want := float64(2*(i+1)) * 5
		ms := times.FindAllStringSubmatch(l, -1)
		if len(ms) != 2 {
			t.Fatalf("hop %d: %q", i+1, l)
		}
		for _, m := range ms {
			var v float64
			fmt.Sscan(m[1], &v)
			if v < want || v > want+15 {
				t.Errorf("hop %d: %.3f ms, want %.0f to %.0f ms: %q", i+1, v, want, want+15, l)
			}
		}
	}
}

func TestRunSilentRouterAndUnreachable(t *testing.T) {
	n := labNet()
	n.Path[1] = netip.Addr{}
	n.Hosts[host].Unreachable = true
	out, _, err := trace(t, n, Options{Method: ICMP, MaxTTL: 6, Wait: 100 * time.Millisecond})
	if !errors.Is(err, report.ErrNetwork) {
		t.Errorf("err = %v, want the network's no", err)
	}
	got := hopAddrs(t, out)
	if fmt.Sprint(got) != fmt.Sprint([]string{hop1.String(), "*", hop3.String(), hop3.String()}) {
		t.Errorf("hops %v\n%s", got, out)
	}
	if !strings.Contains(out, "\n 4  198.18.2.2  ") || strings.Count(out, "!H") != 3 {
		t.Errorf("the last router's host unreachable is hop 4, !H:\n%s", out)
	}
	if strings.Contains(out, "\n 5 ") {
		t.Errorf("probed beyond the unreachable hop:\n%s", out)
	}
}

func TestRunNotReachedWithinMaxTTL(t *testing.T) {
	n := labNet()
	out, _, err := trace(t, n, Options{MaxTTL: 2, FirstTTL: 2})
	if !errors.Is(err, report.ErrNetwork) {
		t.Errorf("err = %v", err)
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); len(got) != 2 || !strings.HasPrefix(got[1], " 2  198.18.1.2") {
		t.Errorf("first hop 2 to max 2:\n%s", out)
	}
}

func TestRunNoRoute(t *testing.T) {
	n := labNet()
	out, stderr, err := trace(t, n, Options{Target: "198.18.200.1"})
	if report.ExitCode(err) != report.ExitNetwork {
		t.Errorf("no route exits %d (%v), want 1", report.ExitCode(err), err)
	}
	if !strings.HasPrefix(out, "traceroute to 198.18.200.1") || !strings.Contains(stderr, "connect: No route to host") {
		t.Errorf("out %q stderr %q", out, stderr)
	}
}

func TestRunLocalFirewallDrop(t *testing.T) {
	n := labNet()
	n.WriteErr = func(netip.Addr) error { return syscall.EPERM }
	out, stderr, err := trace(t, n, Options{MaxTTL: 2, Wait: 50 * time.Millisecond})
	if report.ExitCode(err) != report.ExitNetwork {
		t.Errorf("exit %d (%v), want 1", report.ExitCode(err), err)
	}
	if !strings.Contains(stderr, "6 probes dropped by a local firewall rule") {
		t.Errorf("stderr %q\n%s", stderr, out)
	}
}

func TestRunLocalRefusalAnnotated(t *testing.T) {
	n := labNet()
	n.WriteErr = func(netip.Addr) error { return syscall.ENETUNREACH }
	out, _, _ := trace(t, n, Options{MaxTTL: 3})
	if !strings.Contains(out, " 1  !network is unreachable") {
		t.Errorf("a local refusal is shown as the hop's answer:\n%s", out)
	}
}

func TestRunJSON(t *testing.T) {
	n := labNet()
	out, _, err := trace(t, n, Options{JSON: true, Queries: 1})
	if err != nil {
		t.Fatal(err)
	}
	var hops []map[string]any
	var summary map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if m["v"] != 1.0 || m["tool"] != "traceroute" {
			t.Errorf("record without v/tool: %q", l)
		}
		switch m["type"] {
		case "hop":
			hops = append(hops, m)
		case "summary":
			summary = m
		}
	}
	if len(hops) != 4 || summary == nil {
		t.Fatalf("%d hops, summary %v:\n%s", len(hops), summary, out)
	}
	if summary["reached"] != true {
		t.Errorf("summary %v", summary)
	}
	if !strings.Contains(fmt.Sprint(hops[3]), host.String()) {
		t.Errorf("last hop %v", hops[3])
	}
}

func TestRunMultipath(t *testing.T) {
	n := labNet()
	out, _, err := trace(t, n, Options{Paths: 3, Queries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "3 paths") || !strings.Contains(out, host.String()) {
		t.Errorf("%s", out)
	}
}

func TestRunPathMTU(t *testing.T) {
	n := labNet()
	n.MTU, n.MTUHop = 1400, 2
	out, _, err := trace(t, n, Options{MTU: true, Queries: 1})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !regexp.MustCompile(`\n 1  198.18.0.2  [\d.]+ ms F=1500\n`).MatchString(out) ||
		!regexp.MustCompile(`\n 3  198.18.2.2  [\d.]+ ms F=1400\n`).MatchString(out) {
		t.Errorf("--mtu shows where the MTU shrinks:\n%s", out)
	}
}

func TestRunReportMode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mtr   *MtrOutput
		check func(string) bool
	}{
		{"own", nil, func(s string) bool { return strings.Contains(s, host.String()) }},
		{"mtr report", &MtrOutput{Wide: true}, func(s string) bool {
			return strings.Contains(s, "Loss%") && strings.Contains(s, "|-- "+host.String())
		}},
		{"mtr json", &MtrOutput{JSON: true}, func(s string) bool { return json.Valid([]byte(s)) }},
		{"mtr csv", &MtrOutput{CSV: true}, func(s string) bool { return strings.HasPrefix(s, "Mtr_Version,") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := labNet()
			out, _, err := trace(t, n, Options{Report: true, Cycles: 3, Interval: 10 * time.Millisecond, Mtr: tc.mtr})
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !tc.check(out) {
				t.Errorf("output:\n%s", out)
			}
		})
	}
}

// Under loss a report counts what was lost at the host: never 0 % when
// probes were dropped, never 100 % when some came back.
func TestRunReportCountsLoss(t *testing.T) {
	n := labNet()
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(1, 2))
	n.Drop = func(bool) bool { mu.Lock(); defer mu.Unlock(); return r.IntN(4) == 0 }
	exp, err := report.ParseExpects([]string{"loss<1%"}, Metrics)
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := trace(t, n, Options{Report: true, Cycles: 20, Interval: time.Millisecond, Wait: 50 * time.Millisecond, JSON: true, Expects: exp})
	if !errors.Is(err, report.ErrNetwork) || !strings.Contains(stderr, "loss") {
		t.Errorf("loss<1%% held under 44%% round-trip loss: %v %q\n%s", err, stderr, out)
	}
}

func TestRunCancelled(t *testing.T) {
	n := labNet()
	n.Hosts[host].NoEcho = true
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	var out bytes.Buffer
	begin := time.Now()
	Run(ctx, Options{Target: host.String(), Method: ICMP, Numeric: true, Network: n, Wait: 5 * time.Second}, &out, &bytes.Buffer{})
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("a cancelled trace took %v to return", d)
	}
}

func TestRunBadOptions(t *testing.T) {
	for _, o := range []Options{{MaxTTL: 300}, {Queries: 11}, {FirstTTL: 5, MaxTTL: 3}, {Port: 70000}, {Family: 5}, {Paths: 300}, {PacketLen: 70000}, {Wait: -1}} {
		_, _, err := trace(t, labNet(), o)
		if report.ExitCode(err) != report.ExitUsage {
			t.Errorf("%+v: exit %d (%v), want 2", o, report.ExitCode(err), err)
		}
	}
}

// The live view draws the hop table on the alternate screen and gives the
// screen back; q from the keys ends an endless run.
func TestRunLiveView(t *testing.T) {
	n := labNet()
	keys, typing := io.Pipe()
	live := &Live{Keys: keys, Size: func() (int, int) { return 100, 30 }}
	go func() {
		time.Sleep(300 * time.Millisecond)
		typing.Write([]byte("rq"))
	}()
	out, _, err := trace(t, n, Options{Report: true, Cycles: math.MaxInt32, Interval: 10 * time.Millisecond, Mtr: &MtrOutput{Live: live}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.HasPrefix(out, enterScreen) || !strings.HasSuffix(out, leaveScreen) {
		t.Errorf("the view does not enter and leave the alternate screen: %q...%q", out[:min(len(out), 20)], out[max(0, len(out)-20):])
	}
	hop := regexp.MustCompile(`\d\. ` + regexp.QuoteMeta(host.String()) + ` +0\.0% +\d+ `)
	drawn := false
	for _, frame := range strings.Split(out, "\x1b[H") {
		drawn = drawn || strings.Contains(frame, "My traceroute") && hop.MatchString(frame)
	}
	if !drawn {
		t.Errorf("no frame shows the title and the destination's hop:\n%q", out[max(0, len(out)-2000):])
	}
}
