package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/internal/cmdline"
	"github.com/rawkit/rawkit/ping"
	"github.com/rawkit/rawkit/report"
)

// The ping binary run under the name fping (a link: make install
// COMPAT=1) reads fping's options and writes fping's output.

const fpingDescription = `fping's dialect of rawkit's ping: many targets at once, each either alive or
unreachable (or, with -c and -C, a line per probe and a summary per target).
The results go to stdout, ICMP errors and summaries to stderr, as fping's.
Ctrl-\ (SIGQUIT) prints fping's interval summary on stderr: each target's
probes since the last one (-Q SECS prints it every SECS); the run goes on.

PRIVILEGE:
   As ping: a raw ICMP socket needs CAP_NET_RAW; without it the unprivileged
   ICMP datagram socket of net.ipv4.ping_group_range is used.

` + report.ExitCodesHelp + `
   1 also when a target is unreachable (fping's 1); bad input stays 2 and
   missing privilege 3 (fping uses 3 and 4).`

func newFpingApp() *cli.App {
	return &cli.App{
		Name:        "fping",
		Usage:       "send ICMP ECHO_REQUEST packets to network hosts",
		UsageText:   "fping [options] [targets...]",
		Description: fpingDescription,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "4", Aliases: []string{"ipv4"}, Usage: "only ping IPv4 addresses"},
			&cli.BoolFlag{Name: "6", Aliases: []string{"ipv6"}, Usage: "only ping IPv6 addresses"},
			&cli.IntFlag{Name: "b", Aliases: []string{"size"}, Value: 56, Usage: "amount of ping data to send, in `bytes`"},
			&cli.Float64Flag{Name: "B", Aliases: []string{"backoff"}, Value: 1.5, Usage: "exponential backoff factor `N`"},
			&cli.IntFlag{Name: "c", Aliases: []string{"count"}, Usage: "count mode: send `N` pings to each target"},
			&cli.IntFlag{Name: "C", Aliases: []string{"vcount"}, Usage: "same as -c, report results in verbose format"},
			&cli.StringFlag{Name: "f", Aliases: []string{"file"}, Usage: "read targets from `file` (- for stdin)"},
			&cli.BoolFlag{Name: "g", Aliases: []string{"generate"}, Usage: "generate targets: a CIDR block, or a start and an end address"},
			&cli.IntFlag{Name: "H", Aliases: []string{"ttl"}, Usage: "IP time to live `N`"},
			&cli.StringFlag{Name: "I", Aliases: []string{"iface"}, Usage: "bind to `interface`"},
			&cli.BoolFlag{Name: "l", Aliases: []string{"loop"}, Usage: "loop mode: send pings forever"},
			&cli.BoolFlag{Name: "m", Aliases: []string{"all"}, Usage: "use all addresses of a name (accepted: the first is used)"},
			&cli.BoolFlag{Name: "M", Aliases: []string{"dontfrag"}, Usage: "set the Don't Fragment flag"},
			&cli.StringFlag{Name: "O", Aliases: []string{"tos"}, Usage: "type of service `N`"},
			&cli.Float64Flag{Name: "p", Aliases: []string{"period"}, Value: 1000, Usage: "`ms` between pings to one target (-c, -C, -l)"},
			&cli.IntFlag{Name: "r", Aliases: []string{"retry"}, Value: 3, Usage: "number of retries `N`"},
			&cli.BoolFlag{Name: "R", Aliases: []string{"random"}, Usage: "random packet data"},
			&cli.StringFlag{Name: "S", Aliases: []string{"src"}, Usage: "source `address`"},
			&cli.Float64Flag{Name: "t", Aliases: []string{"timeout"}, Usage: "initial timeout in `ms` (500; with -c, -C, -l the period up to 2000)"},
			&cli.BoolFlag{Name: "a", Aliases: []string{"alive"}, Usage: "show targets that are alive"},
			&cli.BoolFlag{Name: "A", Aliases: []string{"addr"}, Usage: "show targets by address (accepted: targets are shown as given)"},
			&cli.BoolFlag{Name: "d", Aliases: []string{"rdns"}, Usage: "show targets by name (accepted: targets are shown as given)"},
			&cli.BoolFlag{Name: "n", Aliases: []string{"name"}, Usage: "show targets by name (accepted: targets are shown as given)"},
			&cli.BoolFlag{Name: "D", Aliases: []string{"timestamp"}, Usage: "print a timestamp before each output line"},
			&cli.BoolFlag{Name: "e", Aliases: []string{"elapsed"}, Usage: "show elapsed time on return packets"},
			&cli.Float64Flag{Name: "i", Aliases: []string{"interval"}, Usage: "`ms` between packets to different targets (accepted: rounds go out together)"},
			&cli.BoolFlag{Name: "q", Aliases: []string{"quiet"}, Usage: "no per-target or per-probe results"},
			&cli.BoolFlag{Name: "s", Aliases: []string{"stats"}, Usage: "print final statistics"},
			&cli.BoolFlag{Name: "u", Aliases: []string{"unreach"}, Usage: "show targets that are unreachable"},
			&cli.IntFlag{Name: "x", Aliases: []string{"reachable"}, Usage: "succeed when at least `N` targets are reachable"},
			&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "show the version"},
			&cli.BoolFlag{Name: "o", Aliases: []string{"outage"}, Usage: "accumulated outage time (not supported: refused)"},
			&cli.BoolFlag{Name: "N", Aliases: []string{"netdata"}, Usage: "netdata output (not supported: refused)"},
			&cli.Float64Flag{Name: "Q", Aliases: []string{"squiet"}, Usage: "as -q, with an interval summary every `secs` seconds on stderr (-c, -C, -l)"},
			&cli.BoolFlag{Name: "json", Usage: "rawkit's NDJSON records instead (docs/json.md)"},
		},
		Action: runFping,
	}
}

func runFping(c *cli.Context) error {
	opts, err := fpingOptions(c)
	if err != nil {
		return err
	}
	sweepProcs(opts.Targets)
	opts.StatusRequests = statusRequests()
	return ping.Run(c.Context, opts, c.App.Writer, c.App.ErrWriter)
}

func fpingOptions(c *cli.Context) (ping.Options, error) {
	if err := cmdline.Refuse(c, [][2]string{
		{"o", "-o (outage time): not supported"},
		{"N", "-N (netdata output): not supported"},
	}); err != nil {
		return ping.Options{}, err
	}
	out := &ping.FpingOutput{Alive: c.Bool("a"), Unreach: c.Bool("u"), Quiet: c.Bool("q") || c.IsSet("Q"), Stats: c.Bool("s"),
		Elapsed: c.Bool("e"), Timestamp: c.Bool("D"), MinReachable: c.Int("x")}
	o := ping.Options{Fping: out, JSON: c.Bool("json"), TTL: c.Int("H"), Iface: c.String("I"), MinReachable: c.Int("x")}
	if o.JSON {
		o.Fping = nil
	}
	targets, err := fpingTargets(c)
	if err != nil {
		return o, err
	}
	o.Targets = targets
	if s := c.Int("b"); s < 0 || s > 65507 {
		return o, report.Usagef("-b %d: a size from 0 to 65507", s)
	} else if s == 0 {
		o.Size = ping.NoPayload
	} else {
		o.Size = s
	}
	switch {
	case c.Bool("4") && c.Bool("6"):
		return o, report.Usagef("-4 and -6 are mutually exclusive")
	case c.Bool("4"):
		o.Family = 4
	case c.Bool("6"):
		o.Family = 6
	}
	if c.Bool("M") {
		o.PMTU = "do"
	}
	if s := c.String("O"); s != "" {
		var tos int
		if _, err := fmt.Sscan(s, &tos); err != nil || tos < 0 || tos > 255 {
			return o, report.Usagef("-O %s: a TOS from 0 to 255", s)
		}
		o.TOS = tos
	}
	if s := c.String("S"); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return o, report.Usagef("-S %s: not an address", s)
		}
		o.Source = a
	}
	if q := c.Float64("Q"); q < 0 {
		return o, report.Usagef("-Q %v: a number of seconds, not negative", q)
	}
	// fping's data is zeros, or random bytes with -R, and never a time.
	o.NoStamp = true
	if c.Bool("R") {
		o.Pattern = make([]byte, max(o.Size, 1))
		rand.Read(o.Pattern)
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	period, backoff, retries := c.Float64("p"), c.Float64("B"), c.Int("r")
	if period <= 0 || backoff < 1 || backoff > 5 || retries < 0 || c.IsSet("t") && c.Float64("t") <= 0 {
		return o, report.Usagef("-p and -t must be positive, -B from 1 to 5, -r not negative")
	}
	switch {
	case c.IsSet("c") || c.IsSet("C") || c.Bool("l"):
		// Count and loop modes: every target every period.
		out.Count, out.VCount = c.IsSet("c"), c.IsSet("C")
		if out.VCount {
			o.Count = c.Int("C")
		} else {
			o.Count = c.Int("c")
		}
		if c.Bool("l") {
			out.Count, o.Count = true, 0
		} else if o.Count < 1 {
			return o, report.Usagef("-c and -C need a count of at least 1")
		}
		o.Interval = ms(period)
		o.Wait = min(ms(period), 2*time.Second)
		o.SplitEvery = time.Duration(c.Float64("Q") * float64(time.Second))
		if c.IsSet("t") {
			o.Wait = ms(c.Float64("t"))
		}
	default:
		// fping's default: each target until it answers, retries times
		// more, the wait growing by the backoff factor.
		timeout := ms(500)
		if c.IsSet("t") {
			timeout = ms(c.Float64("t"))
		}
		o.UntilReply, o.Count, o.Interval, o.Backoff = true, retries+1, timeout, backoff
		o.Wait = time.Duration(float64(timeout) * math.Pow(backoff, float64(retries)))
	}
	return o, nil
}

// fpingTargets reads the operands, -f's file and -g's generation.
func fpingTargets(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	if f := c.String("f"); f != "" {
		in := os.Stdin
		if f != "-" {
			var err error
			if in, err = os.Open(f); err != nil {
				return nil, report.Usagef("-f %s: %v", f, err)
			}
			defer in.Close()
		}
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line != "" && !strings.HasPrefix(line, "#") {
				args = append(args, strings.Fields(line)[0])
			}
		}
	}
	if c.Bool("g") {
		switch {
		case len(args) == 1 && strings.Contains(args[0], "/"):
			return args, nil // a CIDR block: ping expands it as fping does
		case len(args) == 2:
			return addressRange(args[0], args[1])
		}
		return nil, report.Usagef("-g needs a CIDR block, or a start and an end address")
	}
	if len(args) == 0 {
		return nil, report.Usagef("no targets given")
	}
	return args, nil
}

// addressRange lists every address from start to end, both included.
func addressRange(start, end string) ([]string, error) {
	a, err1 := netip.ParseAddr(start)
	b, err2 := netip.ParseAddr(end)
	if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) {
		return nil, report.Usagef("-g %s %s: not a range of addresses", start, end)
	}
	var out []string
	for x := a; x.IsValid() && !b.Less(x); x = x.Next() {
		if len(out) == 1<<16 {
			return nil, report.Usagef("-g %s %s: more than 65536 addresses", start, end)
		}
		out = append(out, x.String())
	}
	return out, nil
}
