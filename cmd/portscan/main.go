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
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/internal/cmdline"
	"github.com/rawkit/rawkit/internal/hosts"
	"github.com/rawkit/rawkit/rawsock"
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
one that does not acknowledge it is ignored.

Pace: a congestion window of probes in flight, as TCP's and nmap's: it grows
with each answer and halves when a resent probe is answered (the first was
lost), so a path that keeps up is scanned as fast as this host sends, and a
lossy one is not flooded. Each probe waits its timeout (from the RTTs seen,
--min-rtt-timeout 100ms to --max-rtt-timeout 10s) and is resent while the
loss seen calls for it (--max-retries, by default up to 20). --rate N pins the pace at N a
second instead; --max-rate caps it; --min-rate keeps it above.
Above 4194304 probes (targets x ports) the scan runs in host groups of at
most that many probes, each group's hosts written to every output when the
group ends, so memory stays bounded; --diff, an --expect on ports and -sT
are refused for such a scan.

Host discovery: as nmap's, before a scan each target gets an ICMP echo
request, a TCP SYN to 443, a TCP ACK to 80 and an ICMP timestamp request
(-PS/-PA/-PU ports, -PE, -PP choose); a target on an attached Ethernet link
is asked with ARP (IPv4) or a neighbour solicitation (IPv6) instead, as
nmap's ARP/ND ping (-PR; --send-ip for the IP probes); without CAP_NET_RAW
a connect() to ports 80 and 443. A target that answers none is down and not
scanned. -sn stops there; -Pn skips it. --resume and --shard skip it (their
targets must be the same every run).
--diff OLD.json lists the ports whose state changed since that scan.

Order and splitting: probes go out in a random permutation of targets x
ports; --seed fixes it; --shard i/n (0 <= i < n, zmap's meaning) runs every
n-th probe from the i-th, so n shards with one seed are disjoint and together
the whole scan; --shard n alone takes i from JOB_COMPLETION_INDEX (Kubernetes
Indexed Jobs) or NOMAD_ALLOC_INDEX. 'portscan merge SHARD.json...' checks the
shards' --json outputs make the whole scan and writes it (see its --help).
--resume FILE keeps a small record of where the scan is in FILE (its host
group and place in it) and goes on from there when FILE exists; the resumed
run appends to -oN/-oG/-oX files, as nmap's --resume does.

Safety: the limited broadcast (255.255.255.255), multicast and unspecified
addresses are refused (inside a block, skipped) without --allow-broadcast;
a block's network and broadcast addresses are scanned, as nmap scans them;
more than 65536 targets need --allow-large.

PRIVILEGE:
   SYN and UDP scans need CAP_NET_RAW ('sudo setcap cap_net_raw+ep ` + "`which portscan`" + `');
   without it a SYN scan falls back to connect (said on stderr) and a UDP
   scan exits 3. All capabilities are dropped once the sockets are open.

` + report.LocalDropsHelp + `
EXPECT (--expect, repeatable): 'open:22,443' (every target has these ports
   open; likewise closed:, filtered:, open|filtered:), counts such as
   'open>=1', 'filtered==0', 'complete' (the scan finished whole: the
   summary's verdict), or 'unchanged' (no port changed since --diff OLD.json).

` + report.ExitCodesHelp + `
   1 also when the scan was interrupted (the results are partial).`

// nmap reads its options with getopt_long_only: -sS, -Pn, -oX FILE.
var nmapDialect = cmdline.Dialect{SingleDashLong: true, Prefixed: []string{"PS", "PA", "PU", "PY", "PO"}}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "merge" {
		os.Exit(cmdline.Run(newMergeApp(), nmapDialect, append([]string{"portscan merge"}, os.Args[2:]...), os.Stderr))
	}
	os.Exit(cmdline.Main(newApp(), nmapDialect))
}

func newMergeApp() *cli.App {
	return &cli.App{
		Name:      "portscan merge",
		Usage:     "check that the outputs of a sharded scan make the whole scan, and merge them",
		UsageText: "portscan merge [-oN FILE] [-oG FILE] [-oX FILE] SHARD.json...",
		Description: `Reads the --json outputs of the shards of one scan (--seed S --shard i/n,
or --shard n under a Kubernetes Indexed Job). Each carries a manifest record
naming the scan (type, ports, targets, number of shards, seed, a hash of
them) and its shard. merge checks that every shard 0..n-1 is there, of the
same scan, and writes the whole scan: NDJSON by default (port records by
address and port, then the merged summary), or nmap's formats with
-oN/-oG/-oX (FILE, or - for stdout), which need shards run with --all.
Two outputs of one shard (a retried pod) count once: the complete one, or
the later.

` + report.ExitCodesHelp + `
   1 also when a shard is missing (named, 0-based) or was interrupted;
   2 when the files are not of one scan.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "oN", Usage: "nmap's normal output to `FILE` (- for stdout)"},
			&cli.StringFlag{Name: "oG", Usage: "nmap's grepable output to `FILE` (- for stdout)"},
			&cli.StringFlag{Name: "oX", Usage: "nmap's XML to `FILE` (- for stdout)"},
		},
		Action: func(c *cli.Context) error {
			return scan.Merge(scan.MergeOptions{Files: c.Args().Slice(), NormalFile: c.String("oN"), GrepFile: c.String("oG"),
				XMLFile: c.String("oX"), CmdLine: os.Args}, c.App.Writer, c.App.ErrWriter)
		},
	}
}

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
			&cli.IntFlag{Name: "rate", Usage: "pin the pace at `N` probes per second (default: the congestion window finds it)"},
			&cli.IntFlag{Name: "max-rate", Usage: "never more than `N` probes per second"},
			&cli.IntFlag{Name: "max-retries", Usage: "resend an unanswered probe up to `N` times (default: as the loss measured calls for, at most 20; 0: never)"},
			&cli.Float64Flag{Name: "wait", Usage: "`seconds` each probe is waited for (default: from RTTs)"},
			&cli.Uint64Flag{Name: "seed", Usage: "`seed` of the probe order (default: random)"},
			&cli.StringFlag{Name: "shard", Value: "0/1", Usage: "run shard `i/n` of the scan (n alone: i from JOB_COMPLETION_INDEX or NOMAD_ALLOC_INDEX); needs --seed"},
			&cli.StringFlag{Name: "diff", Usage: "list the ports whose state changed since the scan whose --json output is `OLD.json` (--expect unchanged)"},
			&cli.BoolFlag{Name: "split-rate", Usage: "--rate, --max-rate and --min-rate are the whole sharded scan's: each shard takes 1/n"},
			&cli.StringFlag{Name: "resume", Usage: "keep progress in `file` and go on from it"},
			&cli.StringFlag{Name: "S", Usage: "source `address`"},
			&cli.StringFlag{Name: "e", Usage: "send through `interface`"},
			&cli.BoolFlag{Name: "all", Usage: "list every port: no state left out as nmap does"},
			&cli.BoolFlag{Name: "json", Usage: "NDJSON records on stdout (docs/json.md)"},
			&cli.StringFlag{Name: "netns", Usage: "open the sockets in network `namespace` NAME (ip netns) or PATH (/proc/PID/ns/net); needs CAP_SYS_ADMIN"},
			&cli.StringFlag{Name: "oX", Usage: "write nmap XML to `file` (- for stdout)"},
			&cli.StringFlag{Name: "oN", Usage: "write nmap's normal output to `file` (- for stdout)"},
			&cli.StringFlag{Name: "oG", Usage: "write nmap's grepable output to `file` (- for stdout)"},
			&cli.StringFlag{Name: "oA", Usage: "write all three formats to `base`.nmap, .gnmap and .xml"},
			&cli.BoolFlag{Name: "F", Usage: "fast: the 100 most common ports"},
			&cli.BoolFlag{Name: "open", Usage: "list only open ports"},
			&cli.BoolFlag{Name: "reason", Usage: "add the REASON column: why each port is in its state"},
			&cli.StringFlag{Name: "T", Usage: "timing `template` 0-5 (paranoid, sneaky, polite, normal, aggressive, insane)"},
			&cli.IntFlag{Name: "min-rate", Usage: "never fewer than `N` probes per second"},
			&cli.StringFlag{Name: "host-timeout", Usage: "give up the scan after `time` (such as 30s, 5m)"},
			&cli.StringFlag{Name: "scan-delay", Usage: "at least `time` between probes (such as 10ms)"},
			&cli.StringFlag{Name: "max-scan-delay", Usage: "accepted: the pace never waits longer than --scan-delay asks"},
			&cli.StringFlag{Name: "max-rtt-timeout", Usage: "wait at most `time` for late answers after each pass"},
			&cli.StringFlag{Name: "min-rtt-timeout", Usage: "wait at least `time` for late answers after each pass"},
			&cli.StringFlag{Name: "initial-rtt-timeout", Usage: "wait `time` for late answers before any RTT is known"},
			&cli.StringSliceFlag{Name: "excludefile", Usage: "read targets to leave out from `file`"},
			&cli.IntFlag{Name: "g", Aliases: []string{"source-port"}, Usage: "send from source `port`"},
			&cli.BoolFlag{Name: "v", Count: new(int), Usage: "verbose: nmap's progress lines (Initiating, Discovered open port, Completed) and packet counts; -vv adds reasons and scan times"},
			&cli.BoolFlag{Name: "d", Count: new(int), Usage: "debug (accepted: -d, -dd)"},
			&cli.BoolFlag{Name: "defeat-rst-ratelimit", Usage: "accepted: closed ports are never waited for again"},
			&cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "print the version and exit"},
			&cli.BoolFlag{Name: "sn", Usage: "host discovery only: which targets are up, no port scan"},
			&cli.StringFlag{Name: "PS", Usage: "discover with TCP SYN to `ports` (-PS22,443; -PS alone: 80)"},
			&cli.StringFlag{Name: "PA", Usage: "discover with TCP ACK to `ports` (-PA80; -PA alone: 80)"},
			&cli.BoolFlag{Name: "PE", Usage: "discover with ICMP echo requests"},
			&cli.BoolFlag{Name: "PP", Usage: "discover with ICMP timestamp requests"},
			&cli.StringFlag{Name: "PU", Usage: "discover with empty UDP datagrams to `ports` (-PU53; -PU alone: 40125): an answer or a port unreachable says up"},
			&cli.StringFlag{Name: "PY", Usage: "discover with SCTP INIT to `ports` (not supported: refused)"},
			&cli.StringFlag{Name: "PO", Usage: "discover with IP `protocols` (not supported: refused)"},
			&cli.BoolFlag{Name: "PR", Usage: "ARP/ND ping for targets on an attached Ethernet link (the default for them anyway)"},
			&cli.BoolFlag{Name: "send-ip", Aliases: []string{"disable-arp-ping"}, Usage: "ask targets on the local link with the IP probes too, not ARP/ND"},
			&cli.BoolFlag{Name: "PM", Usage: "ICMP address mask ping (not supported: refused)"},
			&cli.BoolFlag{Name: "sV", Usage: "service versions of open TCP ports: banners (SSH, FTP, SMTP, POP3, IMAP), HTTP's Server header, TLS certificates (rawkit's own rules, not nmap's probe database)"},
			&cli.IntFlag{Name: "version-intensity", Usage: "accepted: -sV's probes are always the same few"},
			&cli.BoolFlag{Name: "version-light", Usage: "accepted (as --version-intensity)"},
			&cli.BoolFlag{Name: "version-all", Usage: "accepted (as --version-intensity)"},
			&cli.BoolFlag{Name: "O", Usage: "OS detection (not supported: refused)"},
			&cli.BoolFlag{Name: "A", Usage: "OS, versions, scripts, traceroute (not supported: refused)"},
			&cli.BoolFlag{Name: "sC", Usage: "default scripts (not supported: refused)"},
			&cli.StringFlag{Name: "script", Usage: "NSE `scripts` (not supported: refused)"},
			&cli.BoolFlag{Name: "R", Usage: "reverse DNS for every target (not supported: refused; portscan prints addresses)"},
			&cli.IntFlag{Name: "concurrency", Usage: "connect scan: `N` connections at once (512)"},
			&cli.StringSliceFlag{Name: "expect", Usage: "`assertion`, e.g. 'open:22,443' (repeatable)"},
			&cli.BoolFlag{Name: "n", Usage: "no reverse DNS (portscan never looks names up)"},
			&cli.BoolFlag{Name: "Pn", Usage: "treat every target as up (\"received user-set\")"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	opts, explicit, err := options(c)
	if err != nil {
		return err
	}
	if caps, cerr := rawsock.EffectiveCapabilities(); cerr == nil && caps&(1<<13) == 0 && // CAP_NET_RAW
		opts.Type == scan.SYN && !explicit && !opts.PingOnly {
		// Decided before the scan starts (nmap's choice without
		// privilege), so its first line is printed once.
		fmt.Fprintln(c.App.ErrWriter, "portscan: no CAP_NET_RAW for a SYN scan: falling back to a connect scan (--connect)")
		opts.Type = scan.Connect
	}
	err = scan.Run(c.Context, opts, c.App.Writer, c.App.ErrWriter)
	if errors.Is(err, os.ErrPermission) && opts.Type == scan.SYN && !explicit && !opts.PingOnly {
		fmt.Fprintln(c.App.ErrWriter, "portscan: no CAP_NET_RAW for a SYN scan: falling back to a connect scan (--connect)")
		opts.Type = scan.Connect
		return scan.Run(c.Context, opts, c.App.Writer, c.App.ErrWriter)
	}
	var unknown *hosts.LookupError
	if errors.As(err, &unknown) {
		// nmap's words; it goes on without the target, where
		// portscan stops (exit 2, docs/compat.md).
		return &report.Error{Code: report.ExitUsage, Bare: true, Err: report.Words(fmt.Sprintf("Failed to resolve %q.", unknown.Host))}
	}
	return err
}

func options(c *cli.Context) (scan.Options, bool, error) {
	o := scan.Options{
		Rate:          c.Int("rate"),
		MaxRate:       c.Int("max-rate"),
		Retries:       retries(c),
		Seed:          c.Uint64("seed"),
		Iface:         c.String("e"),
		All:           c.Bool("all"),
		JSON:          c.Bool("json"),
		XMLFile:       c.String("oX"),
		NormalFile:    c.String("oN"),
		GrepFile:      c.String("oG"),
		Reason:        c.Bool("reason") || c.Count("v") > 1,
		Verbose:       c.Count("v"),
		Versions:      c.Bool("sV"),
		OpenOnly:      c.Bool("open"),
		SkipDiscovery: c.Bool("Pn"),
		MinRate:       c.Int("min-rate"),
		CmdLine:       os.Args,
		Netns:         c.String("netns"),
		ResumeFile:    c.String("resume"),
		DiffFile:      c.String("diff"),
		Concurrency:   c.Int("concurrency"),
		Progress:      true,
	}
	o.PingOnly = c.Bool("sn")
	for _, f := range []struct {
		name string
		to   *[]uint16
	}{{"PS", &o.Discovery.SYN}, {"PA", &o.Discovery.ACK}, {"PU", &o.Discovery.UDP}} {
		if !c.IsSet(f.name) {
			continue
		}
		spec := c.String(f.name)
		if spec == "" {
			spec = "80"
			if f.name == "PU" {
				spec = "40125" // nmap's default UDP ping port
			}
		}
		ps, err := scan.ParsePorts(spec)
		if err != nil {
			return o, false, report.Usagef("-%s%s: %v", f.name, c.String(f.name), err)
		}
		*f.to = ps
	}
	o.Discovery.Echo, o.Discovery.Timestamp = c.Bool("PE"), c.Bool("PP")
	o.Discovery.ARP, o.Discovery.SendIP = c.Bool("PR"), c.Bool("send-ip")
	if err := cmdline.Refuse(c, [][2]string{
		{"PY", "-PY (SCTP ping): not supported"},
		{"PO", "-PO (IP protocol ping): not supported"},
		{"PM", "-PM (address mask ping): not supported"},
		{"O", "-O (OS detection): not supported"},
		{"A", "-A (OS, versions, scripts and traceroute): not supported"},
		{"sC", "-sC (NSE scripts): not supported"},
		{"script", "--script (NSE scripts): not supported"},
		{"R", "-R (reverse DNS): not supported; portscan prints addresses"},
	}); err != nil {
		return o, false, err
	}
	if base := c.String("oA"); base != "" {
		o.NormalFile, o.GrepFile, o.XMLFile = base+".nmap", base+".gnmap", base+".xml"
	}
	stdoutFormats := 0
	for _, f := range []string{o.NormalFile, o.GrepFile, o.XMLFile} {
		if f == "-" {
			stdoutFormats++
		}
	}
	if stdoutFormats > 1 || stdoutFormats == 1 && o.JSON {
		return o, false, report.Usagef("only one output can go to stdout")
	}
	if g := c.Int("g"); c.IsSet("g") && (g < 1 || g > 65535) {
		return o, false, report.Usagef("-g %d: a port is 1 to 65535", g)
	} else {
		o.SourcePort = uint16(g)
	}
	for _, flag := range []string{"rate", "max-rate", "min-rate"} {
		if c.IsSet(flag) && c.Int(flag) <= 0 {
			return o, false, report.Usagef("--%s %d: must be greater than 0", flag, c.Int(flag))
		}
	}
	if err := timing(c, &o); err != nil {
		return o, false, err
	}
	exclude := c.StringSlice("exclude")
	for _, file := range c.StringSlice("excludefile") {
		f, err := os.Open(file)
		if err != nil {
			return o, false, report.Usagef("--excludefile %s: %v", file, err)
		}
		more, err := scan.ReadTargetFile(f)
		f.Close()
		if err != nil {
			return o, false, report.Usagef("--excludefile %s: %v", file, err)
		}
		exclude = append(exclude, more...)
	}
	o.Targets = scan.TargetSpec{Args: c.Args().Slice(), Exclude: exclude,
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
	if len(o.Targets.Args) == 0 && c.NumFlags() == 0 {
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
	case c.IsSet("p") && (c.IsSet("top-ports") || c.Bool("F")):
		return o, false, report.Usagef("-p and --top-ports or -F are mutually exclusive")
	case c.IsSet("p"):
		o.Ports, err = scan.ParsePorts(c.String("p"))
	default:
		n := 1000
		if c.Bool("F") {
			n = 100
		}
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
	if o.Shard, err = scan.ParseShard(c.String("shard"), os.Getenv); err != nil {
		return o, false, err
	}
	if o.Shard.N > 1 && !c.IsSet("seed") {
		// A shard walks the permutation of its seed: shards of different
		// seeds would overlap and leave gaps.
		return o, false, report.Usagef("--shard needs --seed: every shard of a scan must walk the same order")
	}
	if c.Bool("split-rate") {
		// The rates given are the whole scan's: each shard takes its part.
		n := int(o.Shard.N)
		o.MaxRate, o.MinRate, o.Rate = ceilDiv(o.MaxRate, n), ceilDiv(o.MinRate, n), ceilDiv(o.Rate, n)
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

// ceilDiv is a/n rounded up, 0 for 0.
func ceilDiv(a, n int) int { return (a + n - 1) / n }

// retries is --max-retries, where 0 means none (scan.NoRetries), not
// the default.
func retries(c *cli.Context) int {
	if c.IsSet("max-retries") && c.Int("max-retries") == 0 {
		return scan.NoRetries
	}
	return c.Int("max-retries")
}

// timing reads nmap's -T template and timing options into o. The
// templates map onto portscan's pace: -T0 to -T2 pin slow rates (1, 3
// and 10 probes a second), -T3 keeps the defaults, -T4 and -T5 take
// nmap's shorter waits and fewer resends; an explicit option overrides
// its template's part.
func timing(c *cli.Context, o *scan.Options) error {
	if t := c.String("T"); t != "" {
		names := map[string]string{"paranoid": "0", "sneaky": "1", "polite": "2", "normal": "3", "aggressive": "4", "insane": "5"}
		if n, ok := names[t]; ok {
			t = n
		}
		switch t {
		case "0":
			o.Rate, o.MaxRate = 1, 1
		case "1":
			o.Rate, o.MaxRate = 3, 3
		case "2":
			o.Rate, o.MaxRate = 10, 10
		case "3":
		case "4":
			// nmap's aggressive timing: shorter waits, fewer resends
			// (the wait options, read below, override these).
			o.InitialWait, o.MaxWait = 500*time.Millisecond, 1250*time.Millisecond
			if !c.IsSet("max-retries") {
				o.Retries = 6
			}
		case "5":
			o.InitialWait, o.MaxWait, o.MinWait = 250*time.Millisecond, 300*time.Millisecond, 50*time.Millisecond
			if !c.IsSet("max-retries") {
				o.Retries = 2
			}
		default:
			return report.Usagef("-T %s: use 0 to 5 or a template name", t)
		}
	}
	duration := func(flag string) (time.Duration, error) {
		v := c.String(flag)
		if v == "" {
			return 0, nil
		}
		d, err := nmapDuration(v)
		if err != nil {
			return 0, report.Usagef("--%s %q: %v", flag, v, err)
		}
		return d, nil
	}
	if d, err := duration("scan-delay"); err != nil {
		return err
	} else if d > 0 {
		o.MaxRate = max(int(time.Second/d), 1)
		o.Rate = min(o.Rate, o.MaxRate)
		if o.Rate == 0 {
			o.Rate = o.MaxRate
		}
	}
	if d, err := duration("max-rtt-timeout"); err != nil {
		return err
	} else if d > 0 {
		o.MaxWait = d
	}
	if d, err := duration("min-rtt-timeout"); err != nil {
		return err
	} else if d > 0 {
		o.MinWait = d
	}
	if d, err := duration("initial-rtt-timeout"); err != nil {
		return err
	} else if d > 0 {
		o.InitialWait = d
	}
	if _, err := duration("max-scan-delay"); err != nil {
		return err
	}
	if d, err := duration("host-timeout"); err != nil {
		return err
	} else {
		o.Deadline = d
	}
	return nil
}

// nmapDuration reads nmap's times: a number with ms, s, m or h, seconds
// without a unit.
func nmapDuration(v string) (time.Duration, error) {
	unit := time.Second
	num := v
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if strings.HasSuffix(v, u.suffix) {
			num, unit = strings.TrimSuffix(v, u.suffix), u.d
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f > 1e7 {
		return 0, fmt.Errorf("not a time such as 500ms, 2s, 5m")
	}
	return time.Duration(f * float64(unit)), nil
}
