// Command traceroute prints the route packets take to a host, with the
// flags and output of Linux traceroute(8), flow-constant (Paris) probes,
// multipath discovery, an mtr-style report, NDJSON output and an exit
// code that says whether the destination was reached.
package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/internal/cmdline"
	"github.com/rawkit/rawkit/internal/hosts"
	"github.com/rawkit/rawkit/report"
	"github.com/rawkit/rawkit/trace"
)

const description = `Sends probes with increasing TTL and prints each router that answers,
hop by hop as hops complete. Probes are UDP to port 33434 by default, ICMP
echo with -I, TCP SYN with -T (half-open: the kernel resets the answer), UDP
to a fixed port with -U. They are flow-constant (Paris traceroute): ports stay
the same and the probe's identity rides in the UDP checksum, the ICMP sequence
number or the TCP sequence number, so per-flow load balancers keep the trace
on one path. --paths N traces N flows and lists every address per hop.
Up to -N probes are in flight at once; each is waited for ten times the
largest RTT seen (at least 50 ms, at most 5 s) unless -w sets the wait.

Annotations: !H host, !N network, !P protocol unreachable, !X administratively
prohibited, !S source route failed, !F-N fragmentation needed (MTU N), !V, !C.

PRIVILEGE:
   Raw sockets need CAP_NET_RAW: run as root, or once
   'sudo setcap cap_net_raw+ep ` + "`which traceroute`" + `'; without it exit 3.
   All capabilities are dropped once the sockets are open.

` + report.LocalDropsHelp + `
EXPECT METRICS (--expect, repeatable):
   reached (flag), hops (count); in --report mode also loss (percent) and
   avg (duration) at the destination. e.g. --expect reached --expect 'hops<=12'

` + report.ExitCodesHelp + `
   Unlike classic tracers, traceroute exits 1 when the destination was not reached.`

func main() {
	// Run under the name mtr (a link), traceroute speaks mtr.
	if filepath.Base(os.Args[0]) == "mtr" {
		os.Exit(cmdline.Main(newMtrApp(), cmdline.Dialect{}))
	}
	os.Exit(cmdline.Main(newApp(), cmdline.Dialect{SingleDash: []string{"UL"}}))
}

// parseAddr reads a source address given on the command line.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, report.Usagef("bad source address %q", s)
	}
	return a, nil
}

func newApp() *cli.App {
	return &cli.App{
		Name:        "traceroute",
		Usage:       "print the route packets take to a network host",
		UsageText:   "traceroute [options] host [packetlen]",
		Description: description,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "4", Usage: "IPv4"},
			&cli.BoolFlag{Name: "6", Usage: "IPv6"},
			&cli.BoolFlag{Name: "I", Aliases: []string{"icmp"}, Usage: "ICMP echo probes"},
			&cli.BoolFlag{Name: "T", Aliases: []string{"tcp"}, Usage: "TCP SYN probes (port 80 unless -p)"},
			&cli.BoolFlag{Name: "U", Aliases: []string{"udp"}, Usage: "UDP probes to one fixed port (53 unless -p)"},
			&cli.IntFlag{Name: "p", Aliases: []string{"port"}, Usage: "destination `port` (UDP: first of the range, 33434)"},
			&cli.IntFlag{Name: "f", Aliases: []string{"first"}, Value: 1, Usage: "`first_ttl` to start from"},
			&cli.IntFlag{Name: "m", Aliases: []string{"max-hops"}, Value: 30, Usage: "`max_ttl`: the most hops probed"},
			&cli.IntFlag{Name: "q", Aliases: []string{"queries"}, Value: 3, Usage: "`nqueries` probes per hop"},
			&cli.IntFlag{Name: "N", Aliases: []string{"sim-queries"}, Value: 16, Usage: "`squeries` probes in flight at once"},
			&cli.StringFlag{Name: "w", Aliases: []string{"wait"}, Usage: "`seconds` to wait for each probe (default: adaptive)"},
			&cli.BoolFlag{Name: "n", Usage: "numeric addresses, no reverse DNS"},
			&cli.BoolFlag{Name: "e", Aliases: []string{"extensions"}, Usage: "show ICMP extensions: RFC 4950 MPLS label stacks"},
			&cli.BoolFlag{Name: "mtu", Usage: "discover the path MTU hop by hop (DF set; F=N where it shrinks)"},
			&cli.StringFlag{Name: "s", Aliases: []string{"source"}, Usage: "source `address`"},
			&cli.StringFlag{Name: "i", Aliases: []string{"interface"}, Usage: "send through `interface`"},
			&cli.IntFlag{Name: "paths", Value: 1, Usage: "trace `N` flows and list every address per hop (ECMP)"},
			&cli.BoolFlag{Name: "classic", Usage: "UDP to incrementing ports as Linux traceroute (not flow-constant)"},
			&cli.BoolFlag{Name: "report", Usage: "mtr-style report: per-hop loss and latency over -c cycles"},
			&cli.IntFlag{Name: "t", Aliases: []string{"tos"}, Usage: "IPv4 TOS or IPv6 traffic class `tos`"},
			&cli.BoolFlag{Name: "F", Aliases: []string{"dont-fragment"}, Usage: "do not fragment probes (DF)"},
			&cli.BoolFlag{Name: "r", Usage: "bypass the routing table: only hosts on an attached network"},
			&cli.BoolFlag{Name: "d", Aliases: []string{"debug"}, Usage: "set SO_DEBUG on the sockets"},
			&cli.StringFlag{Name: "z", Aliases: []string{"sendwait"}, Usage: "least `time` between probes: seconds, or milliseconds above 10"},
			&cli.IntFlag{Name: "fwmark", Usage: "firewall `mark` of the probes (SO_MARK)"},
			&cli.BoolFlag{Name: "back", Usage: "print the hops of the way back where they differ, guessed from the answers' TTL"},
			&cli.StringFlag{Name: "M", Aliases: []string{"module"}, Usage: "probe method by `name`: default, udp, icmp, tcp"},
			&cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "print the version and exit"},
			&cli.StringFlag{Name: "g", Aliases: []string{"gateway"}, Usage: "loose source route via `gate` (not supported: refused)"},
			&cli.StringFlag{Name: "l", Aliases: []string{"flowlabel"}, Usage: "IPv6 `flow_label` (not supported: refused)"},
			&cli.BoolFlag{Name: "A", Aliases: []string{"as-path-lookups"}, Usage: "AS path lookups (not supported: they query registries on the internet)"},
			&cli.StringFlag{Name: "O", Aliases: []string{"options"}, Usage: "module `options` (not supported: refused)"},
			&cli.IntFlag{Name: "sport", Usage: "source `port` (not supported: refused; rawkit's ports are flow-constant already)"},
			&cli.BoolFlag{Name: "D", Aliases: []string{"dccp"}, Usage: "DCCP probes (not supported: refused)"},
			&cli.BoolFlag{Name: "UL", Usage: "UDPLITE probes (not supported: refused)"},
			&cli.IntFlag{Name: "P", Aliases: []string{"protocol"}, Usage: "raw probes of `protocol` (not supported: refused)"},
			&cli.IntFlag{Name: "c", Aliases: []string{"cycles"}, Value: 10, Usage: "report `cycles`"},
			&cli.Float64Flag{Name: "interval", Value: 0.25, Usage: "`seconds` between report cycles"},
			&cli.Float64Flag{Name: "dns-budget", Value: 2, Usage: "`seconds` all reverse DNS lookups may take together"},
			&cli.BoolFlag{Name: "json", Usage: "NDJSON records on stdout (docs/json.md)"},
			&cli.StringFlag{Name: "netns", Usage: "open the sockets in network `namespace` NAME (ip netns) or PATH (/proc/PID/ns/net); needs CAP_SYS_ADMIN"},
			&cli.StringSliceFlag{Name: "expect", Usage: "`assertion` that must hold, e.g. reached or 'hops<=12' (repeatable)"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	opts, err := options(c)
	if err != nil {
		return err
	}
	err = trace.Run(c.Context, opts, c.App.Writer, c.App.ErrWriter)
	var unknown *hosts.LookupError
	if errors.As(err, &unknown) {
		// traceroute's two lines for a host it cannot look up: the
		// resolver's words, then where the argument stood.
		argc := slices.Index(os.Args, unknown.Host)
		return &report.Error{Code: report.ExitUsage, Bare: true, Err: fmt.Errorf("%v\nCannot handle \"host\" cmdline arg `%s' on position 1 (argc %d)", unknown, unknown.Host, argc)}
	}
	return err
}

func options(c *cli.Context) (trace.Options, error) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return trace.Options{}, report.Usagef("no host given")
	}
	if len(args) > 2 {
		return trace.Options{}, report.Usagef("extra arguments: %s", strings.Join(args[2:], " "))
	}
	o := trace.Options{
		Target:   args[0],
		Port:     c.Int("p"),
		FirstTTL: c.Int("f"),
		MaxTTL:   c.Int("m"),
		Queries:  c.Int("q"),
		Parallel: c.Int("N"),
		Numeric:  c.Bool("n"),
		MPLS:     c.Bool("e"),
		MTU:      c.Bool("mtu"),
		Iface:    c.String("i"),
		Paths:    c.Int("paths"),
		Classic:  c.Bool("classic"),
		Report:   c.Bool("report"),
		Cycles:   c.Int("c"),
		JSON:     c.Bool("json"),

		TOS:          c.Int("t"),
		DontFragment: c.Bool("F"),
		DontRoute:    c.Bool("r"),
		Debug:        c.Bool("d"),
		Mark:         c.Int("fwmark"),
		Back:         c.Bool("back"),
		Netns:        c.String("netns"),
	}
	if err := cmdline.Refuse(c, [][2]string{
		{"g", "-g (loose source routing): not supported; routers drop source-routed packets"},
		{"l", "-l (IPv6 flow label): not supported"},
		{"A", "-A (AS path lookups): not supported; they query registries on the internet"},
		{"O", "-O (module options): not supported"},
		{"sport", "--sport: not supported; rawkit's probes keep one source port per flow already"},
		{"D", "-D (DCCP): not supported"},
		{"UL", "-UL (UDPLITE): not supported"},
		{"P", "-P (raw protocol probes): not supported"},
	}); err != nil {
		return o, err
	}
	if o.TOS < 0 || o.TOS > 255 {
		return o, report.Usagef("-t %d: TOS must be 0 to 255", o.TOS)
	}
	if z := c.String("z"); z != "" {
		// traceroute: above 10 the number is milliseconds.
		v, err := strconv.ParseFloat(z, 64)
		if err != nil || v < 0 || v > 3600e3 {
			return o, report.Usagef("bad sendwait %q", z)
		}
		if v > 10 {
			v /= 1000
		}
		o.SendWait = time.Duration(v * float64(time.Second))
	}
	for name, v := range map[string]int{"f": o.FirstTTL, "m": o.MaxTTL, "q": o.Queries, "N": o.Parallel, "paths": o.Paths, "c": o.Cycles} {
		if v < 1 {
			return o, report.Usagef("-%s %d: must be at least 1", name, v)
		}
	}
	if len(args) == 2 {
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 28 || n > 65000 {
			return o, report.Usagef("bad packet length %q", args[1])
		}
		o.PacketLen = n
	}
	switch {
	case c.Bool("4") && c.Bool("6"):
		return o, report.Usagef("-4 and -6 are mutually exclusive")
	case c.Bool("4"):
		o.Family = 4
	case c.Bool("6"):
		o.Family = 6
	}
	methods := 0
	for flag, m := range map[string]trace.Method{"I": trace.ICMP, "T": trace.TCP, "U": trace.UDPFixed} {
		if c.Bool(flag) {
			o.Method = m
			methods++
		}
	}
	if name := c.String("M"); name != "" {
		m, ok := map[string]trace.Method{"default": trace.UDP, "udp": trace.UDPFixed, "icmp": trace.ICMP, "tcp": trace.TCP, "tcpconn": trace.TCP}[name]
		if !ok {
			return o, report.Usagef("-M %s: not supported (use default, udp, icmp or tcp)", name)
		}
		o.Method = m
		methods++
	}
	if methods > 1 {
		return o, report.Usagef("-I, -T and -U are mutually exclusive")
	}
	if w := c.String("w"); w != "" {
		// Linux traceroute takes MAX,HERE,NEAR; the first is the wait.
		v, err := strconv.ParseFloat(strings.Split(w, ",")[0], 64)
		if err != nil || v <= 0 || v > 3600 {
			return o, report.Usagef("bad wait %q: seconds, such as 1.5", w)
		}
		o.Wait = time.Duration(v * float64(time.Second))
	}
	for name, dst := range map[string]*time.Duration{"interval": &o.Interval, "dns-budget": &o.DNSBudget} {
		v := c.Float64(name)
		if v < 0 || v > 3600 {
			return o, report.Usagef("bad --%s %v", name, v)
		}
		*dst = time.Duration(v * float64(time.Second))
	}
	if s := c.String("s"); s != "" {
		a, err := parseAddr(s)
		if err != nil {
			return o, err
		}
		o.Source = a
	}
	var err error
	o.Expects, err = report.ParseExpects(c.StringSlice("expect"), trace.Metrics)
	return o, err
}
