// Command sniff captures packets as tcpdump does, with tcpdump's filter
// expressions compiled in pure Go, NDJSON output, pcap files, and an exit
// code that says whether the capture lost packets.
package main

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/capture"
	"github.com/rawkit/rawkit/internal/cmdline"
	"github.com/rawkit/rawkit/rawsock"
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
As tcpdump: SIGUSR1 prints them so far on one line, SIGUSR2 writes out the -w
file's buffer, and -v with -w says "Got N" each second; the capture goes on.
--expect makes the capture a verdict: --expect 'count>=1' --duration 10 (the
packet a runbook waits for came), --expect none (nothing matched: a firewall
rule holds), --expect 'dropped==0'; a failed one exits 1 and says which.

--process names the local process of each TCP and UDP packet as ptcpdump
does (COMM.PID after the interface; in --json a process record: pid, comm,
cmdline, cgroup), '?' when none could be found; --pid PID and --pname NAME
keep only that process's packets (in -w files too). With eBPF (root, or
CAP_BPF and CAP_PERFMON) the kernel records which process sends, receives
or connects on each socket, so even a flow that ends at once is named;
without it sockets are found through sock_diag and their processes in
/proc/PID/fd when the first packet of a flow is seen, so a flow that ends
within a few milliseconds can be unknown. The mode in use is said on
stderr; a name is never guessed. Example: sniff -i any --pname curl.

PRIVILEGE:
   Capturing needs CAP_NET_RAW ('sudo setcap cap_net_raw+ep ` + "`which sniff`" + `');
   reading a file (-r) does not. All capabilities are dropped once the socket
   is open, but CAP_SYS_PTRACE with --process, --pid or --pname (to read
   other users' /proc/PID/fd); its eBPF programs are loaded before that.

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
			&cli.StringFlag{Name: "i", Aliases: []string{"interface"}, Value: "any", Usage: "`interface` to capture on, or any"},
			&cli.BoolFlag{Name: "D", Aliases: []string{"list-interfaces"}, Usage: "list the interfaces and exit"},
			&cli.BoolFlag{Name: "L", Aliases: []string{"list-data-link-types"}, Usage: "list the interface's data link types and exit"},
			&cli.StringFlag{Name: "y", Aliases: []string{"linktype"}, Usage: "data link `type`: EN10MB on an interface, LINUX_SLL on any; with -d any of EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP"},
			&cli.BoolFlag{Name: "n", Count: new(int), Usage: "numeric addresses and ports (-nn too; sniff never looks names up)"},
			&cli.IntFlag{Name: "c", Usage: "stop after `count` packets"},
			&cli.IntFlag{Name: "s", Aliases: []string{"snapshot-length"}, Usage: "keep at most `snaplen` bytes of each packet (262144)"},
			&cli.IntFlag{Name: "B", Aliases: []string{"buffer-size"}, Usage: "capture buffer `size` in KiB (2048)"},
			&cli.BoolFlag{Name: "p", Aliases: []string{"no-promiscuous-mode"}, Usage: "do not put the interface in promiscuous mode"},
			&cli.StringFlag{Name: "Q", Aliases: []string{"direction"}, Usage: "`direction`: in, out or inout"},
			&cli.StringFlag{Name: "w", Usage: "write packets to pcap `file` (- for stdout; pcapng when it ends .pcapng)"},
			&cli.BoolFlag{Name: "print", Usage: "print the lines too while writing a -w file"},
			&cli.BoolFlag{Name: "pcapng", Usage: "write pcapng: interface names, the filter and drop statistics"},
			&cli.Float64Flag{Name: "C", Usage: "start a new -w file past `size` millions of bytes (file, file1, file2, ...)"},
			&cli.Float64Flag{Name: "G", Usage: "start a new -w file every `seconds` (strftime escapes in the name)"},
			&cli.IntFlag{Name: "W", Usage: "with -C or -G, keep at most `count` files, reusing the oldest names"},
			&cli.StringFlag{Name: "r", Usage: "read packets from pcap or pcapng `file` (- for stdin)"},
			&cli.StringFlag{Name: "F", Usage: "read the filter expression from `file`"},
			&cli.StringFlag{Name: "Z", Aliases: []string{"relinquish-privileges"}, Usage: "become `user` once the socket and files are open"},
			&cli.Float64Flag{Name: "duration", Usage: "stop after `seconds`"},
			&cli.BoolFlag{Name: "d", Count: new(int), Usage: "print the compiled filter program and exit (-dd as C, -ddd as decimal; -y TYPE for a link type)"},
			&cli.BoolFlag{Name: "e", Usage: "print the link-level header on each line"},
			&cli.BoolFlag{Name: "v", Count: new(int), Usage: "verbose: the IP header's fields and the TCP checksum; -vv adds UDP's over IPv4 (-vvv as -vv)"},
			&cli.BoolFlag{Name: "q", Count: new(int), Usage: "quick output: TCP and UDP by their lengths alone, as tcpdump -q"},
			&cli.BoolFlag{Name: "S", Aliases: []string{"absolute-tcp-sequence-numbers"}, Usage: "absolute TCP sequence numbers, not relative ones"},
			&cli.BoolFlag{Name: "t", Count: new(int), Usage: "no time stamp; -tt Unix seconds; -ttt delta from the previous; -tttt with the date; -ttttt delta from the first"},
			&cli.BoolFlag{Name: "x", Count: new(int), Usage: "print each packet in hex (-xx: with its link header)"},
			&cli.BoolFlag{Name: "X", Count: new(int), Usage: "print each packet in hex and ASCII (-XX: with its link header)"},
			&cli.BoolFlag{Name: "A", Usage: "print each packet in ASCII"},
			&cli.BoolFlag{Name: "#", Aliases: []string{"number"}, Usage: "put the packet's number before each line"},
			&cli.BoolFlag{Name: "l", Usage: "line-buffered output"},
			&cli.BoolFlag{Name: "U", Aliases: []string{"packet-buffered"}, Usage: "write each packet of a -w file out at once"},
			&cli.BoolFlag{Name: "immediate-mode", Usage: "deliver packets at once (sniff's ring hands them over within 20 ms always)"},
			&cli.BoolFlag{Name: "K", Aliases: []string{"dont-verify-checksums"}, Usage: "do not verify checksums (sniff never does)"},
			&cli.BoolFlag{Name: "N", Usage: "no domain of host names (sniff prints no names)"},
			&cli.BoolFlag{Name: "O", Aliases: []string{"no-optimize"}, Usage: "do not optimize the filter (sniff's compiler does not)"},
			&cli.BoolFlag{Name: "json", Usage: "NDJSON records on stdout (docs/json.md)"},
			&cli.StringSliceFlag{Name: "expect", Usage: "`assertion` on the capture: 'count>=1', 'none', 'dropped==0' (repeatable)"},
			&cli.BoolFlag{Name: "process", Usage: "name the local process of each TCP and UDP packet (COMM.PID; ptcpdump's)"},
			&cli.IntFlag{Name: "pid", Usage: "keep only the packets of process `PID` (implies --process)"},
			&cli.StringFlag{Name: "pname", Usage: "keep only the packets of processes named `NAME` (comm; implies --process)"},
			&cli.StringFlag{Name: "netns", Usage: "open the sockets in network `namespace` NAME (ip netns) or PATH (/proc/PID/ns/net); needs CAP_SYS_ADMIN"},
			&cli.StringFlag{Name: "z", Usage: "`command` after each rotation (not supported: refused)"},
			&cli.BoolFlag{Name: "I", Aliases: []string{"monitor-mode"}, Usage: "monitor mode (not supported: refused)"},
			&cli.StringFlag{Name: "E", Usage: "ESP `secret` (not supported: refused)"},
			&cli.StringFlag{Name: "M", Usage: "TCP-MD5 `secret` (not supported: refused)"},
			&cli.StringFlag{Name: "T", Usage: "interpret packets as `type` (not supported: refused)"},
			&cli.StringFlag{Name: "V", Usage: "read the files listed in `file` (not supported: refused)"},
			&cli.StringFlag{Name: "j", Aliases: []string{"time-stamp-type"}, Usage: "time stamp `type` (not supported: refused)"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	if err := cmdline.Refuse(c, [][2]string{
		{"z", "-z (a command after each rotation): not supported"},
		{"I", "-I (monitor mode): not supported"},
		{"E", "-E (ESP decryption): not supported"},
		{"M", "-M (TCP-MD5 verification): not supported"},
		{"T", "-T (forced packet types): not supported"},
		{"V", "-V (a list of files to read): not supported; run sniff -r once per file"},
		{"j", "-j (time stamp types): not supported; the kernel's software stamps are used"},
	}); err != nil {
		return err
	}
	ns := c.String("netns")
	if c.Bool("D") {
		return rawsock.InNetns(ns, func() error { return listInterfaces(c.App.Writer) })
	}
	iface := c.String("i")
	if c.Bool("L") {
		return rawsock.InNetns(ns, func() error { return listLinkTypes(c.App.Writer, iface) })
	}
	if y := c.String("y"); y != "" && c.Count("d") == 0 {
		want := "EN10MB"
		if iface == "any" {
			want = "LINUX_SLL"
		}
		if !strings.EqualFold(y, want) {
			return report.Usagef("-y %s: %s supports data link type %s only", y, iface, want)
		}
	}
	expr := strings.Join(c.Args().Slice(), " ")
	if f := c.String("F"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return report.Usagef("-F: %v", err)
		}
		expr = filterFromFile(string(b))
	}
	o := capture.Options{
		Iface:          iface,
		Filter:         expr,
		Count:          c.Int("c"),
		Snaplen:        c.Int("s"),
		NoPromisc:      c.Bool("p"),
		Direction:      c.String("Q"),
		WriteFile:      c.String("w"),
		PcapNG:         c.Bool("pcapng"),
		ReadFile:       c.String("r"),
		JSON:           c.Bool("json"),
		PrintFilter:    c.Count("d"),
		PrintLinkType:  printLinkType(c),
		LinkHeader:     c.Bool("e"),
		Verbose:        c.Count("v"),
		Quick:          c.Count("q"),
		Hex:            c.Bool("X"),
		ASCII:          c.Bool("A"),
		HexOnly:        c.Bool("x"),
		WithLink:       c.Count("x") > 1 || c.Count("X") > 1,
		Stamps:         min(c.Count("t"), 5),
		Number:         c.Bool("#"),
		AbsoluteSeq:    c.Bool("S"),
		LineBuffered:   c.Bool("l"),
		PacketBuffered: c.Bool("U"),
		Print:          c.Bool("print"),
		BufferKiB:      c.Int("B"),
		Netns:          ns,
		Process:        c.Bool("process"),
		PID:            c.Int("pid"),
		PName:          c.String("pname"),
	}
	var err error
	if o.Expects, err = report.ParseExpects(c.StringSlice("expect"), capture.Metrics); err != nil {
		return err
	}
	if o.BufferKiB < 0 {
		return report.Usagef("negative -B")
	}
	if u := c.String("Z"); u != "" {
		drop, err := rawsock.BecomeUser(u)
		if err != nil {
			return report.Usagef("%v", err)
		}
		o.AfterOpen = drop
	}
	if c.IsSet("w") && o.WriteFile == "" {
		return report.Usagef("-w: an empty file name")
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
	// Said once the socket is open and bound, in tcpdump's words: a
	// script may start its traffic on this line.
	o.Name = filepath.Base(os.Args[0])
	o.Ready = func() {
		size := o.Snaplen
		if size == 0 {
			size = 262144
		}
		link := "EN10MB (Ethernet)"
		if o.Iface == "any" {
			link = "LINUX_SLL (Linux cooked v1)"
		}
		if o.Verbose == 0 && o.WriteFile == "" {
			fmt.Fprintf(c.App.ErrWriter, "%s: verbose output suppressed, use -v[v]... for full protocol decode\n", o.Name)
		} else {
			fmt.Fprintf(c.App.ErrWriter, "%s: ", o.Name)
		}
		fmt.Fprintf(c.App.ErrWriter, "listening on %s, link-type %s, snapshot length %d bytes\n", o.Iface, link, size)
	}
	// As tcpdump: SIGUSR1 prints the tallies so far, SIGUSR2 flushes
	// the -w file; the Go runtime's default would end the capture.
	info, flush := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(info, syscall.SIGUSR1)
	signal.Notify(flush, syscall.SIGUSR2)
	o.InfoRequests, o.FlushRequests = info, flush
	return capture.Run(c.Context, o, c.App.Writer, c.App.ErrWriter)
}

// filterFromFile is -F's expression: the file's text, with "#" comments
// removed as tcpdump does.
func filterFromFile(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}

// listInterfaces prints -D's list as tcpdump does: libpcap's order
// (running, up, connected ones first, then "any", loopbacks last; in
// index order within each) and flags, the link's state among them.
// libpcap's pseudo-devices (nflog, nfqueue, D-Bus, Bluetooth) are not
// listed: sniff cannot capture on them.
func listInterfaces(w io.Writer) error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	type device struct {
		name, flags string
		merit       uint32
	}
	var devs []device
	for _, ifc := range ifs {
		loopback := ifc.Flags&net.FlagLoopback != 0
		flags := ifaceFlags(ifc)
		link := rawsock.Link(ifc.Name, loopback)
		switch link {
		case rawsock.LinkConnected:
			flags = append(flags, "Connected")
		case rawsock.LinkDisconnected:
			flags = append(flags, "Disconnected")
		case rawsock.LinkUnknown:
			flags = append(flags, "Connection status unknown")
		}
		var merit uint32 // libpcap's get_figure_of_merit: lower first
		if ifc.Flags&net.FlagRunning == 0 {
			merit |= 0x80000000
		}
		if ifc.Flags&net.FlagUp == 0 {
			merit |= 0x40000000
		}
		if link == rawsock.LinkDisconnected {
			merit |= 0x20000000
		}
		if loopback {
			merit |= 0x10000000
		}
		devs = append(devs, device{ifc.Name, bracket(flags), merit})
	}
	devs = append(devs, device{"any (Pseudo-device that captures on all interfaces)", " [Up, Running]", 0x08000000})
	slices.SortStableFunc(devs, func(a, b device) int { return cmp.Compare(a.merit, b.merit) })
	for i, d := range devs {
		fmt.Fprintf(w, "%d.%s%s\n", i+1, d.name, d.flags)
	}
	return nil
}

func ifaceFlags(ifc net.Interface) []string {
	var f []string
	if ifc.Flags&net.FlagUp != 0 {
		f = append(f, "Up")
	}
	if ifc.Flags&net.FlagRunning != 0 {
		f = append(f, "Running")
	}
	if ifc.Flags&net.FlagLoopback != 0 {
		f = append(f, "Loopback")
	}
	return f
}

// bracket is tcpdump's " [A, B]" after a device, "none" when it has a
// link state but no flag, nothing when it has neither.
func bracket(flags []string) string {
	if len(flags) == 0 {
		return " [none]"
	}
	if strings.HasPrefix(flags[0], "Conn") || flags[0] == "Disconnected" {
		flags = append([]string{"none"}, flags...)
	}
	return " [" + strings.Join(flags, ", ") + "]"
}

// listLinkTypes prints -L's list for iface.
func listLinkTypes(w io.Writer, iface string) error {
	if iface == "any" {
		fmt.Fprintf(w, "Data link types for any (use option -y to set):\n  LINUX_SLL (Linux cooked v1)\n")
		return nil
	}
	if _, err := net.InterfaceByName(iface); err != nil {
		return report.Usagef("-i %s: no such interface", iface)
	}
	fmt.Fprintf(w, "Data link types for %s (use option -y to set):\n  EN10MB (Ethernet)\n", iface)
	return nil
}

// printLinkType is the link type -d compiles for without -r: -y's, else
// Ethernet when no interface is named (tcpdump's default device's),
// else the interface's ("").
func printLinkType(c *cli.Context) string {
	if y := c.String("y"); y != "" {
		return y
	}
	if !c.IsSet("i") {
		return "EN10MB"
	}
	return ""
}
