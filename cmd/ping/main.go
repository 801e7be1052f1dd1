// Command ping sends ICMP echo requests to one or many hosts and reports
// their replies, with the flags and output of iputils ping(8), fping's
// many-target sweeps, NDJSON output and runbook exit codes.
package main

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/internal/cmdline"
	"github.com/rawkit/rawkit/ping"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

const description = `Pings every target concurrently over one ICMP socket per address family.
A target is an address, a host name or a CIDR block (every host address in it).
Options may follow the targets: ping 198.18.2.2 -c 3
Ctrl-\ (SIGQUIT) prints the statistics so far on stderr, as iputils; the
run goes on. Below 16 bytes of data (-s) the text has no times, as
iputils'; --json keeps them.

PRIVILEGE:
   A raw ICMP socket needs CAP_NET_RAW: run as root, or once
   'sudo setcap cap_net_raw+ep ` + "`which ping`" + `'. Without it ping uses an
   unprivileged ICMP datagram socket when net.ipv4.ping_group_range
   includes the user's group; otherwise it exits 3 saying so.
   All capabilities are dropped once the sockets are open.

` + report.LocalDropsHelp + `
EXPECT METRICS (--expect, repeatable; each must hold for every target):
   loss (percent), sent, received, min, avg, max, mdev, p50, p90, p99,
   jitter (durations: 20ms, 500us, 1.5s); reachable (targets that answered).
   e.g. --expect 'loss<1%' --expect 'p99<20ms'

` + report.ExitCodesHelp + `
   With several targets, 1 means one of them did not answer
   (or fewer than --min-reachable did).`

// defaultProcs is the runtime's GOMAXPROCS before main set it to 1; 0
// when the environment set it.
var defaultProcs int

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		// One goroutine does a run's work, waiting in system calls; a
		// second P only wakes threads that spin looking for work, and
		// runs the collector beside it, on a second CPU's time: 4 ms of
		// CPU more for ping -c 1, 7 ms for a 20000-probe flood (of 190).
		// A sweep gets it back (sweepProcs).
		defaultProcs = runtime.GOMAXPROCS(1)
	}
	// Run under the name fping (a link), ping speaks fping.
	if filepath.Base(os.Args[0]) == "fping" {
		os.Exit(cmdline.Main(newFpingApp(), cmdline.Dialect{}))
	}
	os.Exit(cmdline.Main(newApp(), cmdline.Dialect{}))
}

func newApp() *cli.App {
	return &cli.App{
		Name:        "ping",
		Usage:       "send ICMP ECHO_REQUEST to network hosts",
		UsageText:   "ping [options] target [target...]",
		Description: description,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "c", Usage: "`count` of probes per target (with -w: replies)"},
			&cli.Float64Flag{Name: "i", Usage: "`interval` in seconds between probes to a target (default 1, flood 0.01)"},
			&cli.Float64Flag{Name: "W", Usage: "`timeout` in seconds to wait for each reply (default: 2×max RTT, or 10 before any reply)"},
			&cli.Float64Flag{Name: "w", Aliases: []string{"deadline"}, Usage: "`deadline` in seconds for the whole run"},
			&cli.IntFlag{Name: "s", Value: 56, Usage: "payload `size` in bytes"},
			&cli.IntFlag{Name: "t", Usage: "IP time to live / hop limit `ttl`"},
			&cli.StringFlag{Name: "Q", Usage: "IP TOS / traffic class `tos` (decimal or 0x hex)"},
			&cli.StringFlag{Name: "M", Usage: "path MTU discovery `hint`: do (set DF), dont, want, probe"},
			&cli.StringFlag{Name: "I", Usage: "source `interface` name or address"},
			&cli.IntFlag{Name: "m", Usage: "SO_MARK `mark` for policy routing"},
			&cli.StringFlag{Name: "p", Usage: "up to 16 `pattern` bytes in hex to fill the payload"},
			&cli.BoolFlag{Name: "D", Usage: "print a Unix timestamp before each line"},
			&cli.BoolFlag{Name: "q", Usage: "quiet: the summary only"},
			&cli.BoolFlag{Name: "n", Usage: "numeric output: no names for the hosts that answer"},
			&cli.BoolFlag{Name: "O", Usage: "report a reply still missing when its wait ends"},
			&cli.BoolFlag{Name: "4", Usage: "IPv4 only"},
			&cli.BoolFlag{Name: "6", Usage: "IPv6 only"},
			&cli.BoolFlag{Name: "f", Usage: "flood: a probe as soon as the last is answered, at least 100 per second"},
			&cli.BoolFlag{Name: "a", Usage: "audible: ring the terminal bell on each reply"},
			&cli.BoolFlag{Name: "A", Usage: "adaptive: the next probe as soon as the last is answered, at least 200 ms apart (2 ms with a raw socket), at most -i"},
			&cli.BoolFlag{Name: "b", Usage: "allow pinging a broadcast address"},
			&cli.BoolFlag{Name: "B", Usage: "sticky source: keep the source address the kernel picks first"},
			&cli.BoolFlag{Name: "C", Usage: "connect the socket (accepted; sends are addressed per packet, which changes nothing printed)"},
			&cli.BoolFlag{Name: "d", Usage: "set SO_DEBUG on the socket"},
			&cli.IntFlag{Name: "e", Usage: "echo `identifier` (raw sockets; a datagram socket's is the kernel's)"},
			&cli.BoolFlag{Name: "H", Usage: "name the hosts that answer, even for a numeric target"},
			&cli.IntFlag{Name: "l", Usage: "send `preload` probes at once before the interval paces the rest"},
			&cli.BoolFlag{Name: "L", Usage: "do not loop multicast probes back to this host"},
			&cli.BoolFlag{Name: "r", Usage: "bypass the routing table: only hosts on an attached network"},
			&cli.IntFlag{Name: "S", Usage: "socket send buffer `size` in bytes"},
			&cli.BoolFlag{Name: "U", Usage: "user-to-user latency: time from before the send call to the read, not the kernel's timestamps"},
			&cli.BoolFlag{Name: "v", Usage: "verbose: percentiles and jitter in the statistics, the identifier on IPv6 replies"},
			&cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "print the version and exit"},
			&cli.BoolFlag{Name: "R", Usage: "record route (not supported: refused)"},
			&cli.StringFlag{Name: "T", Usage: "IPv4 timestamp `option` (not supported: refused)"},
			&cli.StringFlag{Name: "F", Usage: "IPv6 `flowlabel` (not supported: refused)"},
			&cli.StringFlag{Name: "N", Usage: "ICMPv6 node information `query` (not supported: refused)"},
			&cli.BoolFlag{Name: "json", Usage: "NDJSON records on stdout (docs/json.md)"},
			&cli.StringFlag{Name: "netns", Usage: "open the sockets in network `namespace` NAME (ip netns) or PATH (/proc/PID/ns/net); needs CAP_SYS_ADMIN"},
			&cli.StringSliceFlag{Name: "expect", Usage: "`assertion` that must hold, e.g. 'loss<1%' (repeatable)"},
			&cli.IntFlag{Name: "min-reachable", Usage: "succeed when at least `N` targets answer (default: all)"},
			&cli.BoolFlag{Name: "privileged", Usage: "use a raw socket (CAP_NET_RAW) or fail"},
			&cli.BoolFlag{Name: "unprivileged", Usage: "use an unprivileged ICMP datagram socket or fail"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	opts, err := options(c)
	if err != nil {
		return err
	}
	sweepProcs(opts.Targets)
	opts.StatusRequests = statusRequests()
	return ping.Run(c.Context, opts, c.App.Writer, c.App.ErrWriter)
}

// statusRequests are SIGQUIT's (Ctrl-\): iputils and fping print the
// statistics so far and go on, where the Go runtime would dump its
// goroutines and exit.
func statusRequests() <-chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGQUIT)
	return c
}

// sweepProcs gives the runtime back its CPUs for more than one target or
// a CIDR block: a sweep's wall time gains from the collector running
// beside its loop (a /20 with --json: 101 ms with two, 115 with one).
func sweepProcs(targets []string) {
	if defaultProcs > 1 && (len(targets) > 1 || len(targets) == 1 && strings.Contains(targets[0], "/")) {
		runtime.GOMAXPROCS(defaultProcs)
	}
}

func options(c *cli.Context) (ping.Options, error) {
	o := ping.Options{
		Targets:      c.Args().Slice(),
		Count:        c.Int("c"),
		TTL:          c.Int("t"),
		PMTU:         c.String("M"),
		Mark:         c.Int("m"),
		Stamp:        c.Bool("D"),
		Quiet:        c.Bool("q"),
		Outstand:     c.Bool("O"),
		Flood:        c.Bool("f"),
		JSON:         c.Bool("json"),
		MinReachable: c.Int("min-reachable"),
		Audible:      c.Bool("a"),
		Adaptive:     c.Bool("A"),
		Broadcast:    c.Bool("b"),
		StickySource: c.Bool("B"),
		Debug:        c.Bool("d"),
		Names:        c.Bool("H"),
		Numeric:      c.Bool("n"),
		Preload:      c.Int("l"),
		NoLoop:       c.Bool("L"),
		DontRoute:    c.Bool("r"),
		SendBuffer:   c.Int("S"),
		UserLatency:  c.Bool("U"),
		Verbose:      c.Bool("v"),
		Netns:        c.String("netns"),
	}
	if err := cmdline.Refuse(c, [][2]string{
		{"R", "-R (record route): not supported by rawkit's ping"},
		{"T", "-T (IPv4 timestamp option): not supported by rawkit's ping"},
		{"F", "-F (IPv6 flow label): not supported by rawkit's ping"},
		{"N", "-N (ICMPv6 node information queries): not supported by rawkit's ping"},
	}); err != nil {
		return o, err
	}
	if len(o.Targets) == 0 {
		return o, report.Usagef("usage error: Destination address required")
	}
	if c.IsSet("e") {
		if v := c.Int("e"); v < 0 || v > 0xffff {
			return o, report.Usagef("invalid -e value %d: use 0 to 65535", v)
		} else {
			o.ID = v
			o.IDSet = true
		}
	}
	if c.IsSet("l") && (o.Preload < 1 || o.Preload > 65536) {
		return o, report.Usagef("invalid -l value %d: use 1 to 65536", o.Preload)
	}
	if c.IsSet("S") && o.SendBuffer <= 0 {
		return o, report.Usagef("invalid -S value %d", o.SendBuffer)
	}
	var err error
	if o.Interval, err = seconds(c, "i"); err != nil {
		return o, err
	}
	if c.IsSet("i") && o.Interval == 0 {
		// iputils: -i 0 sends as fast as the replies allow.
		o.Interval = 10 * time.Microsecond
	}
	if c.IsSet("t") && o.TTL == 0 {
		return o, report.Usagef("cannot set unicast time-to-live: Invalid argument")
	}
	if o.Wait, err = seconds(c, "W"); err != nil {
		return o, err
	}
	if o.Deadline, err = seconds(c, "w"); err != nil {
		return o, err
	}
	if c.IsSet("c") && o.Count <= 0 {
		return o, report.Usagef("bad number of packets to transmit: %d", o.Count)
	}
	o.Size = c.Int("s")
	if o.Size == 0 {
		o.Size = ping.NoPayload
	} else if o.Size < 0 {
		return o, report.Usagef("invalid -s value: %d", o.Size)
	}
	switch {
	case c.Bool("4") && c.Bool("6"):
		return o, report.Usagef("-4 and -6 are mutually exclusive")
	case c.Bool("4"):
		o.Family = 4
	case c.Bool("6"):
		o.Family = 6
	}
	switch {
	case c.Bool("privileged") && c.Bool("unprivileged"):
		return o, report.Usagef("--privileged and --unprivileged are mutually exclusive")
	case c.Bool("privileged"):
		o.Mode = rawsock.Privileged
	case c.Bool("unprivileged"):
		o.Mode = rawsock.Unprivileged
	}
	if q := c.String("Q"); q != "" {
		v, err := strconv.ParseUint(q, 0, 8)
		if err != nil {
			return o, report.Usagef("bad TOS value %q: use 0 to 255", q)
		}
		o.TOS = int(v)
	}
	if s := c.String("I"); s != "" {
		if a, err := netip.ParseAddr(s); err == nil {
			o.Source = a
		} else {
			o.Iface = s
		}
	}
	if s := c.String("p"); s != "" {
		if len(s)%2 == 1 {
			s = "0" + s
		}
		b, err := hex.DecodeString(s)
		if err != nil || len(b) > 16 {
			return o, report.Usagef("patterns must be specified as up to 16 hex bytes: %q", c.String("p"))
		}
		o.Pattern = b
	}
	o.Expects, err = report.ParseExpects(c.StringSlice("expect"), ping.Metrics)
	return o, err
}

// seconds reads a flag given in (fractional) seconds, as iputils takes them.
func seconds(c *cli.Context, name string) (time.Duration, error) {
	if !c.IsSet(name) {
		return 0, nil
	}
	v := c.Float64(name)
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > 1e6 {
		return 0, report.Usagef("bad value for -%s: %s", name, strings.TrimSpace(fmt.Sprint(v)))
	}
	return time.Duration(v * float64(time.Second)), nil
}
