// Command sniff captures packets as tcpdump does, with tcpdump's filter
// expressions compiled in pure Go, NDJSON output, pcap files, and an exit
// code that says whether the capture lost packets.
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/capture"
	"github.com/rawkit/rawkit/internal/cmdline"
	"github.com/rawkit/rawkit/report"
)

const description = `Captures on an interface (-i NAME) or on all of them (-i any, the default),
from a TPACKET_V3 ring, and prints a line per packet like tcpdump -n, or writes
a pcap file (-w, nanosecond timestamps; - for stdout; pcapng with --pcapng or
a .pcapng name: interface names, filter, drop statistics), or reads pcap or
pcapng (-r). Ctrl-C, SIGTERM, SIGHUP and --duration stop within a fraction
of a second however busy the link, the file complete (a second signal stops
at once). The
filter is the trailing arguments, a tcpdump expression (pcap-filter(7))
compiled to BPF in pure Go: on an interface it runs in the kernel; on "any" it
runs on each packet here. An expression this build does not support is an
error, never a different filter; -d prints the program.

At exit, tcpdump's tallies on stderr: captured, received by filter, dropped.

PRIVILEGE:
   Capturing needs CAP_NET_RAW ('sudo setcap cap_net_raw+ep ` + "`which sniff`" + `');
   reading a file (-r) does not. All capabilities are dropped once the socket
   is open.

` + report.ExitCodesHelp + `
   1 means packets were dropped (by the kernel's ring or the output queue):
   the capture is incomplete.`

func main() { os.Exit(cmdline.Main(newApp(), cmdline.Dialect{})) }

func newApp() *cli.App {
	return &cli.App{
		Name:        "sniff",
		Usage:       "capture network packets",
		UsageText:   "sniff [options] [filter expression]",
		Description: description,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "i", Value: "any", Usage: "`interface` to capture on, or any"},
			&cli.BoolFlag{Name: "D", Usage: "list the interfaces and exit"},
			&cli.BoolFlag{Name: "n", Usage: "numeric addresses (always the case; accepted for tcpdump users)"},
			&cli.IntFlag{Name: "c", Usage: "stop after `count` packets"},
			&cli.IntFlag{Name: "s", Usage: "keep at most `snaplen` bytes of each packet (262144)"},
			&cli.BoolFlag{Name: "p", Usage: "do not put the interface in promiscuous mode"},
			&cli.StringFlag{Name: "Q", Usage: "`direction`: in, out or inout"},
			&cli.StringFlag{Name: "w", Usage: "write packets to pcap `file` (- for stdout; pcapng when it ends .pcapng)"},
			&cli.BoolFlag{Name: "pcapng", Usage: "write pcapng: interface names, the filter and drop statistics"},
			&cli.Float64Flag{Name: "C", Usage: "start a new -w file past `size` millions of bytes (file, file1, file2, ...)"},
			&cli.Float64Flag{Name: "G", Usage: "start a new -w file every `seconds` (strftime escapes in the name)"},
			&cli.IntFlag{Name: "W", Usage: "with -C or -G, keep at most `count` files, reusing the oldest names"},
			&cli.StringFlag{Name: "r", Usage: "read packets from pcap `file` (- for stdin)"},
			&cli.Float64Flag{Name: "duration", Usage: "stop after `seconds`"},
			&cli.BoolFlag{Name: "d", Usage: "print the compiled filter program and exit"},
			&cli.BoolFlag{Name: "e", Usage: "print the link-level header on each line"},
			&cli.BoolFlag{Name: "v", Usage: "verbose: the IP header's fields"},
			&cli.BoolFlag{Name: "X", Usage: "print each packet in hex and ASCII"},
			&cli.BoolFlag{Name: "A", Usage: "print each packet in ASCII"},
			&cli.BoolFlag{Name: "json", Usage: "NDJSON records on stdout (docs/json.md)"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	if c.Bool("D") {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for i, ifc := range ifs {
			fmt.Fprintf(c.App.Writer, "%d.%s\n", i+1, ifc.Name)
		}
		fmt.Fprintf(c.App.Writer, "%d.any (Pseudo-device that captures on all interfaces)\n", len(ifs)+1)
		return nil
	}
	o := capture.Options{
		Iface:       c.String("i"),
		Filter:      strings.Join(c.Args().Slice(), " "),
		Count:       c.Int("c"),
		Snaplen:     c.Int("s"),
		NoPromisc:   c.Bool("p"),
		Direction:   c.String("Q"),
		WriteFile:   c.String("w"),
		PcapNG:      c.Bool("pcapng"),
		ReadFile:    c.String("r"),
		JSON:        c.Bool("json"),
		PrintFilter: c.Bool("d"),
		LinkHeader:  c.Bool("e"),
		Verbose:     c.Bool("v"),
		Hex:         c.Bool("X"),
		ASCII:       c.Bool("A"),
	}
	if o.Count < 0 || o.Snaplen < 0 {
		return report.Usagef("negative -c or -s")
	}
	if d := c.Float64("duration"); d < 0 {
		return report.Usagef("negative --duration")
	} else {
		o.Duration = time.Duration(d * float64(time.Second))
	}
	if c.Float64("C") < 0 || c.Float64("G") < 0 || c.Int("W") < 0 {
		return report.Usagef("negative -C, -G or -W")
	}
	o.RotateSize = int64(c.Float64("C") * 1e6)
	o.RotateEvery = time.Duration(c.Float64("G") * float64(time.Second))
	o.KeepFiles = c.Int("W")
	if (o.RotateSize > 0 || o.RotateEvery > 0 || o.KeepFiles > 0) && (o.WriteFile == "" || o.WriteFile == "-") {
		return report.Usagef("-C, -G and -W need -w FILE")
	}
	if o.WriteFile != "" && o.JSON {
		return report.Usagef("-w and --json are mutually exclusive")
	}
	// Said once the socket is open and bound, as tcpdump does: a script
	// may start its traffic on this line.
	o.Ready = func() {
		size := o.Snaplen
		if size == 0 {
			size = 262144
		}
		fmt.Fprintf(c.App.ErrWriter, "sniff: listening on %s, capture size %d bytes\n", o.Iface, size)
	}
	return capture.Run(c.Context, o, c.App.Writer, c.App.ErrWriter)
}
