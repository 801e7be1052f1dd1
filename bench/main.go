//go:build linux

// Command bench is `make bench`: it runs rawkit's tools and the reference
// tools side by side in one namespace lab, alternating runs so both see
// the same machine, and prints medians and ratios as Markdown. Absolute
// times on shared machines are noise; the ratios are the result.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rawkit/rawkit/internal/netlab"
)

var runs = flag.Int("runs", 5, "runs of each tool per benchmark")
var only = flag.String("only", "", "run only this benchmark group: ping, traceroute, portscan or sniff")

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// sample is one run of one tool.
type sample struct {
	wall   time.Duration
	cpu    time.Duration // user and system time of the tool
	rssKiB int64
	out    string
}

type benchLab struct {
	*netlab.Lab
	bin string
}

func (l *benchLab) exec(argv ...string) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rss, timed, err := underTime(argv)
	if err != nil {
		return sample{}, err
	}
	defer os.Remove(rss)
	cmd := l.Command(ctx, l.Client, timed[0], timed[1:]...)
	// Output goes to a file, read after: through a pipe, the tool's wall
	// time would be the bench's own reading of it (2.1 MB of a sweep's
	// JSON into a growing buffer: 116 ms where the tool writing to a file
	// takes 93), as fping's 60 KB are not.
	out, err := os.CreateTemp("", "bench-out-")
	if err != nil {
		return sample{}, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err = cmd.Run()
	s := sample{wall: time.Since(start)}
	if b, rerr := os.ReadFile(out.Name()); rerr == nil {
		s.out = string(b)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return s, fmt.Errorf("%q: %v", argv, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		// time waits for the tool: its CPU is counted with time's own
		// (a fork and a wait).
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.rssKiB = maxRSS(rss)
	return s, nil
}

// timeCmd runs each measured command and writes its peak RSS: GNU time
// forks it from its own small process. The command's own wait4 ru_maxrss
// is not the tool's: a child the Go runtime starts shares the parent's
// memory until its exec (CLONE_VM), and the kernel keeps the larger of
// the old and new high-water marks, so every tool read the bench's own
// RSS when that was larger (52.5 MiB for both tools of the /16 scan).
const timeCmd = "/usr/bin/time"

// underTime is argv run by timeCmd, and the file its peak RSS goes to
// (the caller removes it).
func underTime(argv []string) (rss string, timed []string, err error) {
	f, err := os.CreateTemp("", "bench-rss-")
	if err != nil {
		return "", nil, err
	}
	f.Close()
	return f.Name(), append([]string{timeCmd, "-f", "%M", "-o", f.Name()}, argv...), nil
}

// maxRSS reads the KiB time wrote to path (its last line), 0 if none.
func maxRSS(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	lines := strings.Fields(string(b))
	if len(lines) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	return n
}

// pair runs ours and theirs alternately *runs times each.
func (l *benchLab) pair(ours, theirs []string) (o, t []sample, err error) {
	for range *runs {
		a, err := l.exec(append([]string{filepath.Join(l.bin, ours[0])}, ours[1:]...)...)
		if err != nil {
			return nil, nil, err
		}
		b, err := l.exec(theirs...)
		if err != nil {
			return nil, nil, err
		}
		o, t = append(o, a), append(t, b)
	}
	return o, t, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func each(ss []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

func wallMs(s sample) float64 { return float64(s.wall) / 1e6 }
func rssMiB(s sample) float64 { return float64(s.rssKiB) / 1024 }

var avgRE = regexp.MustCompile(`min/avg/max/mdev = [0-9.]+/([0-9.]+)/`)

func avgRTT(s sample) float64 {
	m := avgRE.FindStringSubmatch(s.out)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func run() error {
	bin, err := filepath.Abs("bin")
	if err != nil {
		return err
	}
	switch *only {
	case "traceroute":
		return traceBench(bin)
	case "portscan":
		return scanBench(bin)
	case "sniff":
		return sniffBench(bin)
	}
	sweep := netip.MustParsePrefix("198.19.0.0/20")
	lab, err := netlab.New(netlab.Spec{Routers: 1, ServerPrefixes: []netip.Prefix{sweep}})
	if err != nil {
		return err
	}
	defer lab.Close()
	l := &benchLab{Lab: lab, bin: bin}
	srv := lab.Server.Addr4.String()
	fmt.Printf("Lab: client - r1 - server; %d runs of each tool, alternating; medians.\n\n", *runs)
	fmt.Println("| benchmark | rawkit | reference | ratio (rawkit/reference) |")
	fmt.Println("|---|---|---|---|")

	// RTT bias: the same path, the lower average carries less bias.
	o, t, err := l.pair([]string{"ping", "-q", "-c", "200", "-i", "0.005", srv}, []string{"ping", "-q", "-c", "200", "-i", "0.005", srv})
	if err != nil {
		return err
	}
	ro, rt := median(each(o, avgRTT)), median(each(t, avgRTT))
	fmt.Printf("| avg RTT, 200 probes at 5 ms, 1 router (`ping -q -c 200 -i 0.005`) vs iputils | %.3f ms | %.3f ms | %.2f (difference %+.1f µs) |\n", ro, rt, ro/rt, (ro-rt)*1000)

	// Sweep of a /20 answered by the server.
	o, t, err = l.pair([]string{"ping", "-q", "-c", "1", "-W", "1", sweep.String()},
		[]string{"fping", "-a", "-q", "-g", sweep.String(), "-i", "0", "-r", "0"})
	if err != nil {
		return err
	}
	hosts := 1<<(32-sweep.Bits()) - 2
	foundO, foundT := 0, 0
	for _, s := range o {
		if strings.Contains(s.out, fmt.Sprintf("--- %d of %d targets reachable ---", hosts, hosts)) {
			foundO++
		}
	}
	for _, s := range t {
		if strings.Count(s.out, "\n") >= hosts {
			foundT++
		}
	}
	wo, wt := median(each(o, wallMs)), median(each(t, wallMs))
	fmt.Printf("| sweep of %d live addresses (`ping -q -c 1 -W 1 %s`) vs `fping -g ... -i 0 -r 0`: wall time | %.0f ms | %.0f ms | %.2f |\n", hosts, sweep, wo, wt, wo/wt)
	fmt.Printf("| same sweep: runs that found every address | %d/%d | %d/%d | |\n", foundO, *runs, foundT, *runs)
	mo, mt := median(each(o, rssMiB)), median(each(t, rssMiB))
	fmt.Printf("| same sweep: peak RSS | %.1f MiB | %.1f MiB | %.2f |\n", mo, mt, mo/mt)
	// The same sweep with --json (a record per reply and per target).
	o, t, err = l.pair([]string{"ping", "--json", "-c", "1", "-W", "1", sweep.String()},
		[]string{"fping", "-a", "-q", "-g", sweep.String(), "-i", "0", "-r", "0"})
	if err != nil {
		return err
	}
	foundO = 0
	for _, s := range o {
		if strings.Count(s.out, `"type":"reply"`) == hosts {
			foundO++
		}
	}
	wo, wt = median(each(o, wallMs)), median(each(t, wallMs))
	fmt.Printf("| same sweep with `--json` vs the same fping: wall time | %.0f ms | %.0f ms | %.2f |\n", wo, wt, wo/wt)
	fmt.Printf("| same: runs with a reply record for every address | %d/%d | | |\n", foundO, *runs)

	// Flood: packets per second.
	const n = 20000
	o, t, err = l.pair([]string{"ping", "-q", "-f", "-c", strconv.Itoa(n), srv}, []string{"ping", "-q", "-f", "-c", strconv.Itoa(n), srv})
	if err != nil {
		return err
	}
	pps := func(s sample) float64 { return n / s.wall.Seconds() }
	po, pt := median(each(o, pps)), median(each(t, pps))
	fmt.Printf("| flood, %d probes (`ping -q -f -c %d`) vs iputils: probes per second | %.0f | %.0f | %.2f |\n", n, n, po, pt, po/pt)
	perProbe := func(s sample) float64 { return float64(s.cpu.Nanoseconds()) / n }
	co, ct := median(each(o, perProbe)), median(each(t, perProbe))
	fmt.Printf("| same flood: CPU per probe | %.0f ns | %.0f ns | %.2f |\n", co, ct, co/ct)
	// A longer flood: the per-probe cost with start-up (5 ms of ours,
	// 1 ms of iputils') spread thin.
	const long = 100000
	o, t, err = l.pair([]string{"ping", "-q", "-f", "-c", strconv.Itoa(long), srv}, []string{"ping", "-q", "-f", "-c", strconv.Itoa(long), srv})
	if err != nil {
		return err
	}
	perLong := func(s sample) float64 { return float64(s.cpu.Nanoseconds()) / long }
	co, ct = median(each(o, perLong)), median(each(t, perLong))
	fmt.Printf("| flood of %d probes: CPU per probe | %.0f ns | %.0f ns | %.2f |\n", long, co, ct, co/ct)
	if *only == "ping" {
		return nil
	}
	if err := traceBench(bin); err != nil {
		return err
	}
	if err := scanBench(bin); err != nil {
		return err
	}
	return sniffBench(bin)
}

var hopRE = regexp.MustCompile(`(?m)^\s*(\d+)\s+(\S+)`)

// hopList is the first field after each hop number: an address or "*".
func hopList(out string) string {
	var hops []string
	for _, m := range hopRE.FindAllStringSubmatch(out, -1) {
		hops = append(hops, m[2])
	}
	return strings.Join(hops, " ")
}

var mtrRE = regexp.MustCompile(`(?m)^\s*\d+\.\|-- (\S+)\s+([\d.]+)%`)

// reportRows is each hop's host and loss, as mtr -r and our --report print them.
func reportRows(out string) string {
	var rows []string
	for _, m := range mtrRE.FindAllStringSubmatch(out, -1) {
		loss, _ := strconv.ParseFloat(m[2], 64)
		rows = append(rows, fmt.Sprintf("%s/%.0f%%", m[1], loss))
	}
	return strings.Join(rows, " ")
}

func traceBench(bin string) error {
	lab, err := netlab.New(netlab.Spec{Routers: 4})
	if err != nil {
		return err
	}
	defer lab.Close()
	l := &benchLab{Lab: lab, bin: bin}
	srv := lab.Server.Addr4.String()
	silent := netlab.SilentPrefix4.Addr().Next().String()
	fmt.Printf("\nLab: client - r1 - r2 - r3 - r4 - server; %d runs of each tool, alternating; medians.\n\n", *runs)
	fmt.Println("| benchmark | rawkit | reference | ratio (rawkit/reference) |")
	fmt.Println("|---|---|---|---|")

	o, t, err := l.pair([]string{"traceroute", "-n", srv}, []string{"traceroute", "-n", srv})
	if err != nil {
		return err
	}
	same := 0
	for i := range o {
		if hopList(o[i].out) == hopList(t[i].out) && hopList(o[i].out) != "" {
			same++
		}
	}
	wo, wt := median(each(o, wallMs)), median(each(t, wallMs))
	fmt.Printf("| `traceroute -n` to a host 5 hops away: wall time | %.0f ms | %.0f ms | %.2f |\n", wo, wt, wo/wt)
	fmt.Printf("| same: runs with the same hop list | %d/%d | | |\n", same, *runs)

	o, t, err = l.pair([]string{"traceroute", "-n", silent}, []string{"traceroute", "-n", silent})
	if err != nil {
		return err
	}
	wo, wt = median(each(o, wallMs)), median(each(t, wallMs))
	fmt.Printf("| `traceroute -n` toward a silent destination, 30 hops: wall time | %.0f ms | %.0f ms | %.2f |\n", wo, wt, wo/wt)

	o, t, err = l.pair([]string{"traceroute", "-n", "--report", "-c", "10", srv}, []string{"mtr", "-n", "-r", "-c", "10", srv})
	if err != nil {
		return err
	}
	same = 0
	for i := range o {
		if reportRows(o[i].out) == reportRows(t[i].out) && reportRows(o[i].out) != "" {
			same++
		}
	}
	wo, wt = median(each(o, wallMs)), median(each(t, wallMs))
	fmt.Printf("| `--report -c 10` vs `mtr -n -r -c 10`: wall time | %.0f ms | %.0f ms | %.2f |\n", wo, wt, wo/wt)
	fmt.Printf("| same: runs with the same hosts and loss per hop | %d/%d | | |\n", same, *runs)
	fmt.Printf("\nLast report of each:\n\n```\n%s```\n\n```\n%s```\n", o[len(o)-1].out, t[len(t)-1].out)
	return nil
}

var openRE = regexp.MustCompile(`(?m)^\d+/tcp\s+open`)

// openCount counts open ports in nmap-style text (ours and nmap's).
func openCount(out string) int { return len(openRE.FindAllString(out, -1)) }

var masscanRE = regexp.MustCompile(`(?m)^Discovered open port`)

func scanBench(bin string) error {
	prefix := netip.MustParsePrefix("198.19.0.0/16")
	open := map[int]netlab.PortState{22: netlab.Open, 80: netlab.Open, 443: netlab.Open, 8080: netlab.Open, 50000: netlab.Open}
	lab, err := netlab.New(netlab.Spec{Routers: 1, ServerPrefixes: []netip.Prefix{prefix}, Services: netlab.Services{TCP: open}})
	if err != nil {
		return err
	}
	defer lab.Close()
	l := &benchLab{Lab: lab, bin: bin}
	srv := lab.Server.Addr4.String()
	fmt.Printf("\nLab: client - r1 - server (answering for %v, TCP 22, 80, 443, 8080, 50000 open); %d runs each, alternating; medians.\n\n", prefix, *runs)
	fmt.Println("| benchmark | rawkit | reference | ratio (rawkit/reference) |")
	fmt.Println("|---|---|---|---|")

	o, t, err := l.pair([]string{"portscan", "-p-", srv}, []string{"nmap", "-sS", "-p-", "-n", "-Pn", srv})
	if err != nil {
		return err
	}
	okO, okT := 0, 0
	for i := range o {
		if openCount(o[i].out) == len(open) {
			okO++
		}
		if openCount(t[i].out) == len(open) {
			okT++
		}
	}
	wo, wt := median(each(o, wallMs)), median(each(t, wallMs))
	fmt.Printf("| all 65535 TCP ports of one host (`portscan -p-`, defaults) vs `nmap -sS -p- -n -Pn`: wall time | %.0f ms | %.0f ms | %.2f |\n", wo, wt, wo/wt)
	fmt.Printf("| same: runs with all %d open ports found | %d/%d | %d/%d | |\n", len(open), okO, *runs, okT, *runs)
	mo, mt := median(each(o, rssMiB)), median(each(t, rssMiB))
	fmt.Printf("| same: peak RSS | %.1f MiB | %.1f MiB | %.2f |\n", mo, mt, mo/mt)
	var floors []float64
	for range *runs {
		d, err := synFloor(lab, lab.Client.Addr4, lab.Server.Addr4)
		if err != nil {
			return err
		}
		floors = append(floors, float64(d.Microseconds())/1000)
	}
	fl := median(floors)
	fmt.Printf("| same: the lab's floor, 65535 SYNs sent and nothing else (see floor.go) vs a third of nmap's time | %.0f ms | %.0f ms | %.2f |\n", fl, wt/3, fl/(wt/3))

	hosts := 1<<(32-prefix.Bits()) - 2
	o, t, err = l.pair([]string{"portscan", "-Pn", "-p", "80", prefix.String()},
		[]string{"nmap", "-sS", "-Pn", "-n", "--min-rate", "100000", "-p", "80", prefix.String()})
	if err != nil {
		return err
	}
	okO, okT = 0, 0
	for i := range o {
		if openCount(o[i].out) >= hosts {
			okO++
		}
		if openCount(t[i].out) >= hosts {
			okT++
		}
	}
	wo, wt = median(each(o, wallMs)), median(each(t, wallMs))
	fmt.Printf("| port 80 on %d addresses (`portscan -Pn -p 80 %v`, defaults) vs `nmap -sS -Pn -n --min-rate 100000`: wall time | %.0f ms | %.0f ms | %.2f |\n", hosts, prefix, wo, wt, wo/wt)
	fmt.Printf("| same: runs that found every address | %d/%d | %d/%d | |\n", okO, *runs, okT, *runs)
	mo, mt = median(each(o, rssMiB)), median(each(t, rssMiB))
	fmt.Printf("| same: peak RSS | %.1f MiB | %.1f MiB | %.2f |\n", mo, mt, mo/mt)

	// masscan speaks Ethernet itself: it needs the next hop's MAC. On a
	// /16 in this lab it overruns its --wait for minutes, so the
	// comparison with it is on a /20.
	mac, err := output("ip", "netns", "exec", lab.Routers[0].NS, "cat", "/sys/class/net/to-client/address")
	if err != nil {
		return err
	}
	small := netip.MustParsePrefix("198.19.0.0/20")
	ms := []string{"masscan", "-p80", small.String(), "--rate", "50000", "--adapter", "to-r1",
		"--adapter-ip", lab.Client.Addr4.String(), "--router-mac", strings.TrimSpace(mac), "--wait", "1"}
	o, t, err = l.pair([]string{"portscan", "-p", "80", "--rate", "50000", "--allow-broadcast", small.String()}, ms)
	if err != nil {
		return err
	}
	okO, okT = 0, 0
	for i := range t {
		if openCount(o[i].out) == 1<<(32-small.Bits()) {
			okO++
		}
		if len(masscanRE.FindAllString(t[i].out, -1)) == 1<<(32-small.Bits()) {
			okT++
		}
	}
	wo, wt = median(each(o, wallMs)), median(each(t, wallMs))
	fmt.Printf("| port 80 on the %d addresses of %v at 50000/s each vs `masscan -p80 --rate 50000 --wait 1`: wall time | %.0f ms | %.0f ms | %.2f |\n", 1<<(32-small.Bits()), small, wo, wt, wo/wt)
	fmt.Printf("| same: runs that found every address | %d/%d | %d/%d | |\n", okO, *runs, okT, *runs)
	return lossyScanBench(bin)
}

// lossyScanBench scans 200 ports through a path that loses 30 % of the
// probes and 30 % of the answers, with both tools' defaults.
func lossyScanBench(bin string) error {
	open := map[int]netlab.PortState{22: netlab.Open, 80: netlab.Open}
	lab, err := netlab.New(netlab.Spec{Routers: 1, Loss: 0.3, ReturnLoss: 0.3, Services: netlab.Services{TCP: open}})
	if err != nil {
		return err
	}
	defer lab.Close()
	l := &benchLab{Lab: lab, bin: bin}
	srv := lab.Server.Addr4.String()
	o, t, err := l.pair([]string{"portscan", "-p", "1-200", srv}, []string{"nmap", "-sS", "-n", "-Pn", "-p", "1-200", srv})
	if err != nil {
		return err
	}
	right := func(out string) bool {
		return openCount(out) == len(open) && strings.Contains(out, "Not shown: 198 closed tcp ports (reset)")
	}
	okO, okT := 0, 0
	for i := range o {
		if right(o[i].out) {
			okO++
		}
		if right(t[i].out) {
			okT++
		}
	}
	wo, wt := median(each(o, wallMs)), median(each(t, wallMs))
	fmt.Printf("| 200 ports through 30%% loss each way (`portscan -p 1-200`, defaults) vs `nmap -sS -n -Pn -p 1-200`: wall time | %.0f ms | %.0f ms | %.2f |\n", wo, wt, wo/wt)
	fmt.Printf("| same: runs with every state right (2 open, 198 closed) | %d/%d | %d/%d | |\n", okO, *runs, okT, *runs)
	return nil
}

func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}

var tallyRE = regexp.MustCompile(`(\d+) packets captured\s+(\d+) packets received by filter\s+(\d+) packets dropped by kernel`)

// capSample is one capture run: its tallies and the CPU it used.
type capSample struct {
	captured, dropped uint64
	cpu               time.Duration
	rssKiB            int64
	sent              int
	rate              float64
}

// blast sends n small UDP datagrams from the client to dst:9 as fast as
// one goroutine can, 64 per sendmmsg(2) call, and returns the rate it
// reached.
func blast(lab *netlab.Lab, dst netip.Addr, n int) (float64, error) {
	var conn *net.UDPConn
	err := lab.InNamespace(lab.Client, func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
		conn = c
		return err
	})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	const vlen = 64
	payload := make([]byte, 18) // a 64-byte frame
	iov := unix.Iovec{Base: &payload[0]}
	iov.SetLen(len(payload))
	msgs := make([]unix.Mmsghdr, vlen)
	for i := range msgs {
		msgs[i].Hdr.Iov = &iov
		msgs[i].Hdr.SetIovlen(1)
	}
	start := time.Now()
	for sent := 0; sent < n; {
		k := min(vlen, n-sent)
		var got int
		var errno syscall.Errno
		werr := rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(k), 0, 0, 0)
			got, errno = int(r), e
			return errno != unix.EAGAIN
		})
		if werr != nil {
			return 0, werr
		}
		if errno != 0 {
			return 0, errno
		}
		sent += got
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// captureRun runs a capture command in the server's namespace while the
// client blasts, stops it with SIGINT, and reads its tallies.
func captureRun(lab *netlab.Lab, argv []string, n int) (capSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rss, timed, err := underTime(argv)
	if err != nil {
		return capSample{}, err
	}
	defer os.Remove(rss)
	cmd := lab.Command(ctx, lab.Server, timed[0], timed[1:]...)
	// Its own process group: the SIGINT goes to the capture as well as
	// to time (which ignores it while it waits).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		return capSample{}, err
	}
	time.Sleep(700 * time.Millisecond) // listening
	rate, err := blast(lab, lab.Server.Addr4, n)
	if err != nil {
		return capSample{}, err
	}
	time.Sleep(500 * time.Millisecond)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	cmd.Wait()
	m := tallyRE.FindStringSubmatch(errb.String())
	if m == nil {
		return capSample{}, fmt.Errorf("%q printed no tallies: %s", argv, errb.String())
	}
	s := capSample{sent: n, rate: rate}
	s.captured, _ = strconv.ParseUint(m[1], 10, 64)
	s.dropped, _ = strconv.ParseUint(m[3], 10, 64)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.rssKiB = maxRSS(rss)
	return s, nil
}

func sniffBench(bin string) error {
	lab, err := netlab.New(netlab.Spec{})
	if err != nil {
		return err
	}
	defer lab.Close()
	// The server drops the flood before any socket, so it answers nothing.
	if err := lab.Run(lab.Server, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "9", "-j", "DROP"); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "rawkit-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const n = 1000000
	fmt.Printf("\nLab: client - server; the client sends %d UDP datagrams (64-byte frames) as fast as it can; the capture runs on the server's interface. %d runs each, alternating; medians.\n\n", n, *runs)
	fmt.Println("| benchmark | rawkit | reference | ratio (rawkit/reference) |")
	fmt.Println("|---|---|---|---|")
	type pairSpec struct {
		name         string
		ours, theirs []string
	}
	for _, ps := range []pairSpec{
		{"`-w FILE udp`", []string{filepath.Join(bin, "sniff"), "-i", "to-client", "-w", filepath.Join(dir, "o.pcap"), "udp"},
			[]string{"tcpdump", "-i", "to-client", "-w", filepath.Join(dir, "t.pcap"), "udp"}},
		{"`-n -v udp` to /dev/null", []string{"sh", "-c", "exec " + filepath.Join(bin, "sniff") + " -i to-client -n -v udp > /dev/null"},
			[]string{"sh", "-c", "exec tcpdump -i to-client -n -v udp > /dev/null"}},
	} {
		var o, t []capSample
		for range *runs {
			a, err := captureRun(lab, ps.ours, n)
			if err != nil {
				return err
			}
			b, err := captureRun(lab, ps.theirs, n)
			if err != nil {
				return err
			}
			o, t = append(o, a), append(t, b)
		}
		med := func(ss []capSample, f func(capSample) float64) float64 {
			v := make([]float64, len(ss))
			for i, s := range ss {
				v[i] = f(s)
			}
			return median(v)
		}
		rate := med(append(o, t...), func(s capSample) float64 { return s.rate })
		drops := func(s capSample) float64 { return float64(s.dropped) }
		capt := func(s capSample) float64 { return float64(s.captured) }
		cpu := func(s capSample) float64 { return float64(s.cpu.Nanoseconds()) / max(float64(s.captured), 1) }
		rss := func(s capSample) float64 { return float64(s.rssKiB) / 1024 }
		fmt.Printf("| %s at %.0f packets/s: captured | %.0f | %.0f | %.2f |\n", ps.name, rate, med(o, capt), med(t, capt), med(o, capt)/med(t, capt))
		fmt.Printf("| same: dropped | %.0f | %.0f | |\n", med(o, drops), med(t, drops))
		fmt.Printf("| same: CPU per captured packet | %.0f ns | %.0f ns | %.2f |\n", med(o, cpu), med(t, cpu), med(o, cpu)/med(t, cpu))
		fmt.Printf("| same: peak RSS | %.1f MiB | %.1f MiB | %.2f |\n", med(o, rss), med(t, rss), med(o, rss)/med(t, rss))
	}
	return nil
}
