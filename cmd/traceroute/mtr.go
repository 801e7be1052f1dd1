package main

import (
	"math"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/internal/cmdline"
	"github.com/rawkit/rawkit/internal/term"
	"github.com/rawkit/rawkit/report"
	"github.com/rawkit/rawkit/trace"
)

// The traceroute binary run under the name mtr (a link: make install
// COMPAT=1) reads mtr's options and writes mtr's reports.

const mtrDescription = `mtr's dialect of rawkit's traceroute: probes every hop over -c cycles and
writes mtr's report (-r, -w), JSON (-j) or CSV (--csv). ICMP echo by default,
UDP with -u, TCP SYN with -T. Without -r, -w, -j or --csv, on a terminal,
mtr's live view: the hop table redrawn as answers come, until q or Ctrl-C
(or -c cycles when -c is given); keys q quit, r restart the statistics,
p pause, space resume. Not on a terminal, the report is written.

PRIVILEGE:
   Raw sockets need CAP_NET_RAW ('sudo setcap cap_net_raw+ep ` + "`which traceroute`" + `').

` + report.ExitCodesHelp + `
   Unlike mtr, 1 also when the destination did not answer.`

func newMtrApp() *cli.App {
	return &cli.App{
		Name:        "mtr",
		Usage:       "a network diagnostic tool",
		UsageText:   "mtr [options] hostname",
		Description: mtrDescription,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "r", Aliases: []string{"report"}, Usage: "report mode"},
			&cli.BoolFlag{Name: "w", Aliases: []string{"report-wide"}, Usage: "wide report: names never cut"},
			&cli.IntFlag{Name: "c", Aliases: []string{"report-cycles"}, Value: 10, Usage: "`count` of pings per hop"},
			&cli.BoolFlag{Name: "j", Aliases: []string{"json"}, Usage: "JSON output"},
			&cli.BoolFlag{Name: "C", Aliases: []string{"csv"}, Usage: "CSV output"},
			&cli.BoolFlag{Name: "n", Aliases: []string{"no-dns"}, Usage: "do not resolve host names"},
			&cli.BoolFlag{Name: "b", Aliases: []string{"show-ips"}, Usage: "show names and addresses"},
			&cli.BoolFlag{Name: "T", Aliases: []string{"tcp"}, Usage: "TCP SYN probes"},
			&cli.BoolFlag{Name: "u", Aliases: []string{"udp"}, Usage: "UDP probes"},
			&cli.IntFlag{Name: "P", Aliases: []string{"port"}, Usage: "target `port` for TCP or UDP"},
			&cli.Float64Flag{Name: "i", Aliases: []string{"interval"}, Value: 1, Usage: "`seconds` between cycles"},
			&cli.IntFlag{Name: "s", Aliases: []string{"psize"}, Value: 64, Usage: "packet `size` in bytes"},
			&cli.IntFlag{Name: "m", Aliases: []string{"max-ttl"}, Value: 30, Usage: "`max` hops"},
			&cli.IntFlag{Name: "f", Aliases: []string{"first-ttl"}, Value: 1, Usage: "first `ttl`"},
			&cli.IntFlag{Name: "Q", Aliases: []string{"tos"}, Usage: "type of service `tos`"},
			&cli.StringFlag{Name: "I", Aliases: []string{"interface"}, Usage: "use `interface`"},
			&cli.StringFlag{Name: "a", Aliases: []string{"address"}, Usage: "source `address`"},
			&cli.IntFlag{Name: "M", Aliases: []string{"mark"}, Usage: "firewall `mark` of the probes"},
			&cli.Float64Flag{Name: "Z", Aliases: []string{"timeout"}, Usage: "`seconds` to wait for a probe's answer"},
			&cli.BoolFlag{Name: "e", Aliases: []string{"mpls"}, Usage: "MPLS labels (accepted: not in the report)"},
			&cli.BoolFlag{Name: "4", Usage: "IPv4 only"},
			&cli.BoolFlag{Name: "6", Usage: "IPv6 only"},
			&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"},
			&cli.BoolFlag{Name: "t", Aliases: []string{"curses"}, Usage: "the live terminal view (the default on a terminal)"},
			&cli.BoolFlag{Name: "g", Aliases: []string{"gtk"}, Usage: "the GTK interface (not supported: refused)"},
			&cli.BoolFlag{Name: "l", Aliases: []string{"raw"}, Usage: "raw output (not supported: refused)"},
			&cli.BoolFlag{Name: "x", Aliases: []string{"xml"}, Usage: "XML output (not supported: refused)"},
			&cli.BoolFlag{Name: "z", Aliases: []string{"aslookup"}, Usage: "AS lookups (not supported: they query the internet)"},
			&cli.StringFlag{Name: "o", Aliases: []string{"order"}, Usage: "field `order` (not supported: refused)"},
		},
		Action: runMtr,
	}
}

func runMtr(c *cli.Context) error {
	if err := cmdline.Refuse(c, [][2]string{
		{"g", "-g (GTK): not supported"},
		{"l", "-l (raw output): not supported"},
		{"x", "-x (XML): not supported; use -j"},
		{"z", "-z (AS lookups): not supported"},
		{"o", "-o (field order): not supported"},
	}); err != nil {
		return err
	}
	args := c.Args().Slice()
	if len(args) != 1 {
		return report.Usagef("one hostname, please")
	}
	o := trace.Options{
		Target:   args[0],
		Method:   trace.ICMP,
		FirstTTL: c.Int("f"),
		MaxTTL:   c.Int("m"),
		Queries:  1,
		Parallel: 16,
		Paths:    1,
		Numeric:  c.Bool("n"),
		Iface:    c.String("I"),
		Report:   true,
		Cycles:   c.Int("c"),
		TOS:      c.Int("Q"),
		Mark:     c.Int("M"),
		Mtr:      &trace.MtrOutput{Wide: c.Bool("w"), JSON: c.Bool("j"), CSV: c.Bool("C"), ShowIPs: c.Bool("b"), Size: c.Int("s")},
	}
	switch {
	case c.Bool("T") && c.Bool("u"):
		return report.Usagef("-T and -u are mutually exclusive")
	case c.Bool("T"):
		o.Method = trace.TCP
	case c.Bool("u"):
		o.Method = trace.UDPFixed
		if !c.IsSet("P") {
			o.Port = 33434
		}
	}
	if c.IsSet("P") {
		o.Port = c.Int("P")
	}
	switch {
	case c.Bool("4") && c.Bool("6"):
		return report.Usagef("-4 and -6 are mutually exclusive")
	case c.Bool("4"):
		o.Family = 4
	case c.Bool("6"):
		o.Family = 6
	}
	if o.Cycles < 1 || o.FirstTTL < 1 || o.MaxTTL < 1 {
		return report.Usagef("-c, -f and -m must be at least 1")
	}
	if s := c.Int("s"); s < 28 || s > 65000 {
		return report.Usagef("-s %d: a size from 28 to 65000", s)
	} else {
		o.PacketLen = s
	}
	i := c.Float64("i")
	if i <= 0 || i > 3600 {
		return report.Usagef("-i %v: seconds between cycles, above 0", i)
	}
	o.Interval = time.Duration(i * float64(time.Second))
	if z := c.Float64("Z"); z > 0 {
		o.Wait = time.Duration(z * float64(time.Second))
	}
	if a := c.String("a"); a != "" {
		src, err := parseAddr(a)
		if err != nil {
			return err
		}
		o.Source = src
	}
	if restore, live := liveView(c, &o); live != nil {
		o.Mtr.Live = live
		defer restore()
	}
	return trace.Run(c.Context, o, c.App.Writer, c.App.ErrWriter)
}

// liveView is mtr's live view when stdout and stdin are a terminal and no
// report format was asked for (or -t asks for it): the terminal in cbreak
// mode for single keys, restored by the returned function. Without -c,
// the view runs until q or Ctrl-C, as mtr's.
func liveView(c *cli.Context, o *trace.Options) (restore func(), live *trace.Live) {
	out, ok := c.App.Writer.(*os.File)
	if !ok || c.Bool("r") || c.Bool("w") || c.Bool("j") || c.Bool("C") || !term.IsTerminal(out) {
		return nil, nil
	}
	live = &trace.Live{Size: func() (int, int) { return term.Size(out) }}
	restore = func() {}
	if term.IsTerminal(os.Stdin) {
		if r, err := term.Cbreak(os.Stdin); err == nil {
			live.Keys, restore = os.Stdin, r
		}
	}
	if !c.IsSet("c") {
		o.Cycles = math.MaxInt32
	}
	return restore, live
}
