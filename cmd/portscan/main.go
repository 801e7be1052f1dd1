// Command portscan finds which ports of which hosts answer, with nmap's
// states and reasons, at masscan's pace: a stateless TCP SYN scan by
// default, TCP connect without privilege, UDP with protocol payloads;
// text like nmap, NDJSON, nmap XML; random order, seeds, shards, resume.
package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/internal/cmdline"
	"github.com/rawkit/rawkit/report"
	"github.com/rawkit/rawkit/scan"
)

const description = `Targets are addresses, host names, CIDR blocks and ranges (198.18.0.1-20,
198.18.0.1-198.18.3.255), from the command line and -iL files; --exclude takes
the same forms. Ports: -p 22,80,1000-2000, -p- for all, --top-ports N from
rawkit's own list of common ports (default: the top 1000).

Scans: TCP SYN, half-open, from a raw socket (default with CAP_NET_RAW; the
local kernel answers each SYN-ACK with a RST by itself, closing the half-open
connection); TCP connect (--connect, and automatically without CAP_NET_RAW);
UDP (-U) with real payloads for DNS, NTP, SNMP, NetBIOS, SSDP, IKE, memcached.

States and reasons as nmap: open (syn-ack, udp-response), closed (rst,
port-unreach), filtered (no-response, or an ICMP unreachable such as
admin-prohibited, with the router that sent it), open|filtered (UDP without
an answer). SYN-ACKs are matched by a keyed hash in the sequence number;
one that does not acknowledge it is ignored. Only unanswered probes are sent
again (--max-retries); the rate starts at --rate and halves when a retry pass
shows loss; the wait after each pass follows the RTTs seen.

Order and splitting: probes go out in a random permutation of targets x
ports; --seed fixes it; --shard i/n (0 <= i < n, zmap's meaning) runs every
n-th probe from the i-th, so n shards with one seed are disjoint and together
the whole scan. With Kubernetes Indexed Jobs: completions n, and in each pod
  portscan --seed 42 --shard $JOB_COMPLETION_INDEX/n ... --json
--resume FILE keeps progress in FILE and goes on from it when it exists.

Safety: broadcast, multicast and unspecified addresses are refused (and a
block's network and broadcast addresses skipped) without --allow-broadcast;
more than 65536 targets need --allow-large.

PRIVILEGE:
   SYN and UDP scans need CAP_NET_RAW ('sudo setcap cap_net_raw+ep ` + "`which portscan`" + `');
   without it a SYN scan falls back to connect (said on stderr) and a UDP
   scan exits 3. All capabilities are dropped once the sockets are open.

EXPECT (--expect, repeatable): 'open:22,443' (every target has these ports
   open; likewise closed:, filtered:, open|filtered:), or counts such as
   'open>=1', 'filtered==0'.

` + report.ExitCodesHelp + `
   1 also when the scan was interrupted (the results are partial).`

// nmap reads its options with getopt_long_only: -sS, -Pn, -oX FILE.
var nmapDialect = cmdline.Dialect{SingleDashLong: true}

func main() { os.Exit(cmdline.Main(newApp(), nmapDialect)) }

func newApp() *cli.App {
	return &cli.App{
		Name:        "portscan",
		Usage:       "find the open ports of network hosts",
		UsageText:   "portscan [options] target [target...]",
		Description: description,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "p", Usage: "`ports`: 22,80,1000-2000; - for all"},
			&cli.IntFlag{Name: "top-ports", Usage: "the `N` most common ports (default 1000)"},
			&cli.BoolFlag{Name: "sS", Usage: "TCP SYN scan (the default with CAP_NET_RAW)"},
			&cli.BoolFlag{Name: "connect", Aliases: []string{"sT"}, Usage: "TCP connect scan"},
			&cli.BoolFlag{Name: "U", Aliases: []string{"udp", "sU"}, Usage: "UDP scan"},
			&cli.StringSliceFlag{Name: "iL", Usage: "read targets from `file` (- for stdin)"},
			&cli.StringSliceFlag{Name: "exclude", Usage: "`targets` to leave out, comma-separated"},
			&cli.BoolFlag{Name: "4", Usage: "IPv4 addresses of host names"},
			&cli.BoolFlag{Name: "6", Usage: "IPv6 addresses of host names"},
			&cli.BoolFlag{Name: "allow-broadcast", Usage: "scan broadcast, multicast and network addresses too"},
			&cli.BoolFlag{Name: "allow-large", Usage: "scan more than 65536 targets"},
			&cli.IntFlag{Name: "rate", Usage: "probes per `second` to start at (10000)"},
			&cli.IntFlag{Name: "max-rate", Usage: "never more than `N` probes per second"},
			&cli.IntFlag{Name: "max-retries", Usage: "resend an unanswered probe up to `N` times (4)"},
			&cli.Float64Flag{Name: "wait", Usage: "`seconds` to wait for late answers after each pass (default: from RTTs)"},
			&cli.Uint64Flag{Name: "seed", Usage: "`seed` of the probe order (default: random)"},
			&cli.StringFlag{Name: "shard", Value: "0/1", Usage: "run shard `i/n` of the scan"},
			&cli.StringFlag{Name: "resume", Usage: "keep progress in `file` and go on from it"},
			&cli.StringFlag{Name: "S", Usage: "source `address`"},
			&cli.StringFlag{Name: "e", Usage: "send through `interface`"},
			&cli.BoolFlag{Name: "all", Usage: "list every port, not only open ones"},
			&cli.BoolFlag{Name: "json", Usage: "NDJSON records on stdout (docs/json.md)"},
			&cli.StringFlag{Name: "oX", Usage: "write nmap XML to `file`"},
			&cli.IntFlag{Name: "concurrency", Usage: "connect scan: `N` connections at once (512)"},
			&cli.StringSliceFlag{Name: "expect", Usage: "`assertion`, e.g. 'open:22,443' (repeatable)"},
			&cli.BoolFlag{Name: "n", Usage: "no DNS (accepted for nmap users; portscan never resolves addresses)"},
			&cli.BoolFlag{Name: "Pn", Usage: "no host discovery (accepted for nmap users; portscan never does it)"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	opts, explicit, err := options(c)
	if err != nil {
		return err
	}
	err = scan.Run(c.Context, opts, c.App.Writer, c.App.ErrWriter)
	if errors.Is(err, os.ErrPermission) && opts.Type == scan.SYN && !explicit {
		fmt.Fprintln(c.App.ErrWriter, "portscan: no CAP_NET_RAW for a SYN scan: falling back to a connect scan (--connect)")
		opts.Type = scan.Connect
		return scan.Run(c.Context, opts, c.App.Writer, c.App.ErrWriter)
	}
	return err
}

func options(c *cli.Context) (scan.Options, bool, error) {
	o := scan.Options{
		Rate:        c.Int("rate"),
		MaxRate:     c.Int("max-rate"),
		Retries:     c.Int("max-retries"),
		Seed:        c.Uint64("seed"),
		Iface:       c.String("e"),
		All:         c.Bool("all"),
		JSON:        c.Bool("json"),
		XMLFile:     c.String("oX"),
		ResumeFile:  c.String("resume"),
		Concurrency: c.Int("concurrency"),
		Progress:    true,
	}
	o.Targets = scan.TargetSpec{Args: c.Args().Slice(), Exclude: c.StringSlice("exclude"),
		AllowBroadcast: c.Bool("allow-broadcast"), AllowLarge: c.Bool("allow-large")}
	for _, file := range c.StringSlice("iL") {
		f := os.Stdin
		if file != "-" {
			var err error
			if f, err = os.Open(file); err != nil {
				return o, false, report.Usagef("-iL %s: %v", file, err)
			}
			defer f.Close()
		}
		more, err := scan.ReadTargetFile(f)
		if err != nil {
			return o, false, report.Usagef("-iL %s: %v", file, err)
		}
		o.Targets.Args = append(o.Targets.Args, more...)
	}
	if len(o.Targets.Args) == 0 {
		return o, false, report.Usagef("no targets given")
	}
	switch {
	case c.Bool("4") && c.Bool("6"):
		return o, false, report.Usagef("-4 and -6 are mutually exclusive")
	case c.Bool("4"):
		o.Targets.Family = 4
	case c.Bool("6"):
		o.Targets.Family = 6
	}
	kinds := 0
	explicit := false
	if c.Bool("sS") {
		kinds++
		explicit = true
	}
	if c.Bool("connect") {
		o.Type, kinds = scan.Connect, kinds+1
	}
	if c.Bool("U") {
		o.Type, kinds = scan.UDP, kinds+1
	}
	if kinds > 1 {
		return o, false, report.Usagef("choose one of -sS, --connect and -U")
	}
	var err error
	switch {
	case c.IsSet("p") && c.IsSet("top-ports"):
		return o, false, report.Usagef("-p and --top-ports are mutually exclusive")
	case c.IsSet("p"):
		o.Ports, err = scan.ParsePorts(c.String("p"))
	default:
		n := 1000
		if c.IsSet("top-ports") {
			n = c.Int("top-ports")
		}
		o.Ports, err = scan.TopPorts(o.Type.Proto(), n)
	}
	if err != nil {
		return o, false, err
	}
	if w := c.Float64("wait"); w < 0 || w > 3600 {
		return o, false, report.Usagef("bad --wait %v", w)
	} else {
		o.Wait = time.Duration(w * float64(time.Second))
	}
	if o.Shard, err = scan.ParseShard(c.String("shard")); err != nil {
		return o, false, err
	}
	if s := c.String("S"); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return o, false, report.Usagef("bad source address %q", s)
		}
		o.Source = a
	}
	for _, text := range c.StringSlice("expect") {
		e, err := scan.ParseExpectation(text)
		if err != nil {
			return o, false, err
		}
		o.Expects = append(o.Expects, e)
	}
	return o, explicit, nil
}
