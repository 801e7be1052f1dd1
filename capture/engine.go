package capture

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/bpf"

	"github.com/rawkit/rawkit/filter"
	"github.com/rawkit/rawkit/internal/shutdown"
	"github.com/rawkit/rawkit/internal/sockowner"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

// Options configure a capture. Zero values mean the defaults noted.
type Options struct {
	Iface     string // -i: an interface name or "any" (the default)
	Filter    string // the tcpdump expression; "" keeps everything
	Count     int    // -c: stop after this many packets (0: no limit)
	Snaplen   int    // -s: bytes kept of each packet (0: 262144)
	NoPromisc bool   // -p
	Direction string // -Q: in, out or inout (the default)
	WriteFile string // -w: pcap to this file, "-" for stdout
	// PcapNG writes pcapng (also chosen by a .pcapng extension): with the
	// interface names, the filter and the drop statistics.
	PcapNG bool
	// RotateSize (-C, bytes) and RotateEvery (-G) start a new file when
	// the current one has grown past the size or lived the time; KeepFiles
	// (-W) then reuses the oldest names, as tcpdump does.
	RotateSize  int64
	RotateEvery time.Duration
	KeepFiles   int
	ReadFile    string // -r: read this pcap file instead of capturing
	// Netns (--netns) captures in that network namespace: an ip-netns(8)
	// name or a namespace file.
	Netns    string
	Duration time.Duration
	JSON     bool
	// LinkHeader (-e) prints the link-level header on each line.
	LinkHeader bool
	// Verbose is tcpdump's -v count: the IP header's fields and the
	// TCP checksum (1), the UDP checksum over IPv4 too (2).
	Verbose int
	// Quick is tcpdump's -q count: TCP and UDP lines give the length
	// alone ("tcp 0", "UDP, length 2"), -e the link type's name alone.
	Quick int
	// Hex (-X) and ASCII (-A) dump each packet from its network header;
	// HexOnly (-x) without the ASCII column; WithLink (-xx, -XX) from the
	// link header.
	Hex, ASCII, HexOnly, WithLink bool
	// Stamps is tcpdump's -t count: 0 the time of day, 1 none, 2 Unix
	// seconds, 3 the delta from the previous packet, 4 the date and time
	// of day, 5 the delta from the first packet.
	Stamps int
	// AbsoluteSeq (-S) prints TCP sequence numbers as they are, not
	// relative to the conversation's first.
	AbsoluteSeq bool
	// Number (-#) puts the packet's number before each line.
	Number bool
	// LineBuffered (-l) writes each line out at once; PacketBuffered (-U)
	// each packet of a -w file.
	LineBuffered, PacketBuffered bool
	// Print (--print) prints the lines also while writing a -w file.
	Print bool
	// BufferKiB (-B) sizes the capture ring in KiB (0: 2 MiB, tcpdump's
	// default: with the reader writing files itself, no drop at 800k
	// small packets/s in the benchmark).
	BufferKiB int
	// Expects (--expect) turn the capture into a verdict: exit 1 when
	// one does not hold (see Metrics).
	Expects []report.Expect
	// Process (--process) names the local process of each TCP and UDP
	// packet (sockowner); PID (--pid) and PName (--pname) keep only the
	// packets of that process, in every output, -w files too.
	Process bool
	PID     int
	PName   string
	// AfterOpen, if set, runs once the capture socket and every output
	// are open, before the first packet: sniff -Z gives up root there.
	AfterOpen func() error
	// PrintFilter prints the compiled program and captures nothing: 1 as
	// -d (libpcap's listing), 2 as -dd (a C array), 3 as -ddd (decimal).
	PrintFilter int
	// PrintLinkType is the link type -d compiles for (-y), when no file
	// is read; "" for the interface's.
	PrintLinkType string
	// QueueLen bounds the packets waiting between the ring and the output
	// (16384); a full queue drops and counts the packet.
	QueueLen int
	// Ready, if set, is called once the capture socket is bound and
	// packets are being kept.
	Ready func()
	// Name is the program's name, before tcpdump's one-line tallies.
	Name string
	// InfoRequests (SIGUSR1) ask for the tallies so far on stderr, in
	// tcpdump's one line; FlushRequests (SIGUSR2) write out what a -w
	// file has buffered. The capture goes on.
	InfoRequests, FlushRequests <-chan os.Signal
	// Listen opens the capture socket; nil opens a real one with
	// rawsock.ListenPacket. Tests substitute a fake.
	Listen func(rawsock.PacketConfig) (Source, error)
}

// Source is what a live capture reads packets from: a
// *rawsock.PacketConn, or a fake.
type Source interface {
	// NextBatch fills pkts with the next packets, waiting at most timeout
	// for the first; n is 0 when none came in time. Their Data is valid
	// until the next call.
	NextBatch(timeout time.Duration, pkts []rawsock.Packet) (n int, err error)
	// Stats are the packets received and dropped since the socket opened.
	Stats() (received, dropped uint64, err error)
	Close() error
}

var _ Source = (*rawsock.PacketConn)(nil)

func listenPacket(cfg rawsock.PacketConfig) (Source, error) {
	c, err := rawsock.ListenPacket(cfg)
	if err != nil {
		return nil, err // not a non-nil Source around a nil *PacketConn
	}
	return c, nil
}

type captured struct {
	// opaque marks a packet of a link type sniff does not decode, printed
	// by its length alone; linkName names that link type.
	opaque   bool
	linkName string
	data     []byte
	wire     int
	ts       time.Time
	ifname   string
	ifindex  int
	outgoing bool
	proto    uint16
	// orig is the frame as the file holds it, when it was rewritten into
	// a known link type: -xx and -XX dump it.
	orig []byte
}

// Stats are the tallies tcpdump prints at the end.
type Stats struct {
	Captured uint64 `json:"captured"`
	Received uint64 `json:"received"` // by the filter
	Dropped  uint64 `json:"dropped"`  // by the kernel's ring, or the queue
	// Expect says, for each --expect, whether it held.
	Expect []ExpectResult `json:"expect,omitempty"`
}

// ExpectResult is one --expect and whether the capture met it.
type ExpectResult struct {
	Expect string `json:"expect"`
	Held   bool   `json:"held"`
}

// Metrics are what sniff's --expect can assert: count (packets captured
// that matched the filter), dropped, and none (no packet matched: a
// firewall rule holds).
var Metrics = []report.Metric{
	{Name: "count", Kind: report.Count, Help: "packets captured"},
	{Name: "dropped", Kind: report.Count, Help: "packets dropped"},
	{Name: "none", Kind: report.Flag, Help: "no packet matched"},
}

func (st Stats) metric(name string) float64 {
	switch name {
	case "count":
		return float64(st.Captured)
	case "dropped":
		return float64(st.Dropped)
	case "none":
		if st.Captured == 0 {
			return 1
		}
	}
	return 0
}

// Run captures (or reads) until Count packets, Duration, or ctx is done,
// then prints tcpdump's summary to stderr. Its error is report.ErrNetwork
// when any packet was dropped: the capture is incomplete.
func Run(ctx context.Context, opts Options, stdout, stderr io.Writer) error {
	if opts.Snaplen <= 0 {
		opts.Snaplen = 262144
	}
	switch opts.Direction {
	case "", "inout", "in", "out":
	default:
		return report.Usagef("-Q %q: use in, out or inout", opts.Direction)
	}
	if opts.QueueLen == 0 {
		opts.QueueLen = 16384
	}
	if opts.ReadFile != "" {
		return readFile(ctx, opts, stdout, stderr)
	}
	if opts.PrintFilter > 0 && (opts.PrintLinkType != "" || opts.Iface == "") {
		// As tcpdump -d without an interface: Ethernet, or the -y type.
		lt := filter.Ethernet
		if opts.PrintLinkType != "" {
			var ok bool
			if lt, ok = filter.LinkTypeByName(strings.ToUpper(opts.PrintLinkType)); !ok {
				return report.Usagef("-y %s: not a link type sniff compiles filters for", opts.PrintLinkType)
			}
		}
		prog, err := filter.Compile(opts.Filter, lt, uint32(opts.Snaplen))
		if err != nil {
			return report.Usagef("%v", err)
		}
		return printProgram(stdout, prog, opts.PrintFilter)
	}
	if opts.Iface == "" {
		opts.Iface = "any"
	}
	cooked := opts.Iface == "any"
	lt := filter.Ethernet
	if cooked {
		lt = filter.LinuxSLL
	}
	prog, err := filter.Compile(opts.Filter, lt, uint32(opts.Snaplen))
	if err != nil {
		return report.Usagef("%v", err)
	}
	if opts.PrintFilter > 0 {
		return printProgram(stdout, prog, opts.PrintFilter)
	}
	cfg := rawsock.PacketConfig{Iface: opts.Iface, Promiscuous: !opts.NoPromisc, Snaplen: opts.Snaplen}
	if opts.BufferKiB == 0 {
		opts.BufferKiB = 2048
	}
	if opts.BufferKiB > 0 {
		// tcpdump's -B is the whole buffer.
		// At least four blocks when the size allows (a ring of one
		// block drops while that block is being read), each a whole
		// number of pages and at most 1 MiB.
		size := max(opts.BufferKiB*1024, 4096)
		blocks := max(size/(1<<20), min(4, size/4096), 1)
		cfg.BlockSize, cfg.Blocks = max(size/blocks/4096*4096, 4096), blocks
	}
	var userFilter *filter.Matcher
	if cooked || filter.UserSpaceOnly(prog) {
		// (protochain loops: the kernel takes no such program.)
		// On "any" the kernel hands packets without a link header, so the
		// SLL program runs here, on the cooked header this side builds.
		if userFilter, err = filter.NewMatcher(prog); err != nil {
			return err
		}
	} else {
		cfg.Filter = prog
	}
	listen := opts.Listen
	if listen == nil {
		listen = listenPacket
	}
	var conn Source
	var names map[int]string
	var owners *sockowner.Table
	err = rawsock.InNetns(opts.Netns, func() (err error) {
		conn, err = listen(cfg)
		if err == nil {
			names = ifnames() // the namespace's own
		}
		if err == nil && opts.processes() {
			// The socket tables are the namespace's, read through a
			// netlink socket opened in it.
			owners, err = sockowner.New("")
		}
		return err
	})
	if err != nil {
		if strings.Contains(err.Error(), "no such network interface") {
			return report.Usagef("-i %s: no such interface", opts.Iface)
		}
		return err
	}
	defer conn.Close()
	out, err := newOutput(opts, stdout, lt)
	if err != nil {
		return err
	}
	out.owners = owners
	defer owners.Close()
	if err := dropAfterOpen(opts); err != nil {
		return err
	}
	// Packets cross from the ring's reader to the output in batches: one
	// channel operation and one buffer per batch, not per packet.
	// With files the only output (no lines, no processes to look up),
	// the reader writes them itself; written counts what it wrote.
	direct := out.filesOnly()
	if !direct && os.Getenv("GOGC") == "" {
		// Printing lines other than TCP's and UDP's (ICMP, DNS, ARP, ...)
		// allocates a little per packet, and the collector lets the heap
		// grow past what is live by GOGC percent of the live heap plus
		// the globals, 5 MB of them here (gopacket's layer tables): at
		// 100 that garbage was most of a printing capture's memory (1M
		// UDP packets, before their lines stopped allocating: peak RSS
		// 24.4 -> 17.7 MiB at 25, CPU 846 -> 1036 ns a packet).
		// From the first collection on, then: a capture whose lines do
		// not allocate (TCP, UDP) never collects, and so never has the
		// collector read those tables, which on a kernel that maps no
		// shared zero page commits all 5 MB of them (1M UDP lines: peak
		// RSS 19.3 -> 12.4 MiB on such a machine).
		gcPercentAfterFirstCollection(25)
	}
	var written uint64
	depth := max(opts.QueueLen/batchPackets, 4)
	queue := make(chan *batch, depth)
	// The queue's batches, the reader's and the one being written.
	pool := newBatchPool(depth + 2)
	var queueDrops, received uint64
	// What the reader has counted, published once a batch of the ring
	// for the tallies a SIGUSR1 asks for; and a -w file's flush asked
	// of a reader that writes it (SIGUSR2).
	var shownWritten, shownReceived, shownQueueDrops atomic.Uint64
	var flushWanted atomic.Bool
	stop := make(chan struct{}) // stop at once (the count is reached, a second signal)
	// drain asks the reader to stop at the ring position of the moment
	// it was closed (Ctrl-C, SIGTERM, --duration): markNanos holds that
	// moment, written before the close.
	drain := make(chan struct{})
	var markNanos int64
	done := make(chan error, 1)
	// The ring's reader: copies packets out and queues them, never
	// waiting on the output.
	go func() {
		defer close(queue)
		var d drainer
		var scratch []byte // a frame rebuilt for the file (cooked, VLAN)
		// The interface's name, looked up once for a run of packets
		// from one interface.
		lastIndex, lastName := -1, ""
		ifname := func(i int) string {
			if i != lastIndex {
				lastIndex, lastName = i, names[i]
			}
			return lastName
		}
		cur := pool.get()
		send := func() {
			if cur == nil || len(cur.pkts) == 0 {
				return
			}
			select {
			case queue <- cur:
				cur = nil // the next packet takes a free batch
			default:
				queueDrops += uint64(len(cur.pkts)) // slow output: counted, not waited for
				cur.reset()
			}
		}
		finish := func(err error) {
			send()
			done <- err
		}
		// Packets come a ring block's run at a time: one call, and one look
		// at the stop signals, for up to len(pkts) of them.
		pkts := make([]rawsock.Packet, 64)
		onlyIn, onlyOut := opts.Direction == "in", opts.Direction == "out"
		for {
			select {
			case <-stop:
				finish(nil)
				return
			case <-drain:
				d.start(markNanos)
			default:
			}
			if d.active && d.overdue(time.Now()) { // no clock read unless stopping
				finish(nil)
				return
			}
			if direct && flushWanted.Load() {
				flushWanted.Store(false)
				if err := out.flush(); err != nil {
					finish(err)
					return
				}
			}
			k, err := conn.NextBatch(0, pkts)
			if err == nil && k == 0 {
				// The ring is empty: hand over what there is, then wait,
				// draining only until every block that can hold a packet
				// from before the mark has been handed over.
				send()
				if direct {
					if err := out.flush(); err != nil {
						finish(err)
						return
					}
				}
				wait := 100 * time.Millisecond
				if d.active {
					if wait = d.remaining(time.Now()); wait <= 0 {
						finish(nil)
						return
					}
				}
				k, err = conn.NextBatch(wait, pkts)
			}
			if err != nil {
				if errors.Is(err, rawsock.ErrInterfaceDown) {
					// As libpcap: a capture outlives its interface going
					// down, and sees its packets again when it comes up.
					continue
				}
				if errors.Is(err, rawsock.ErrInterfaceGone) {
					err = &report.Error{Code: report.ExitNetwork, Err: fmt.Errorf("-i %s: %w: the capture is incomplete", opts.Iface, err)}
				}
				finish(err)
				return
			}
			for i := range k {
				p := &pkts[i]
				if d.past(p.Time) {
					// The ring has reached the mark: what follows came after
					// the signal.
					finish(nil)
					return
				}
				if p.Outgoing && p.HAType == 772 { // ARPHRD_LOOPBACK: each packet is seen twice, on -i lo as on any (libpcap keeps the incoming copy)
					continue
				}
				if p.Outgoing && onlyIn || !p.Outgoing && onlyOut {
					continue
				}
				if direct {
					// Files only: written from the ring here, as tcpdump
					// does, with no queue between.
					c := captured{wire: p.Length, ts: p.Time, ifname: ifname(p.Ifindex), ifindex: p.Ifindex, outgoing: p.Outgoing, proto: p.Protocol}
					switch {
					case cooked:
						var h [16]byte
						cookedHeader(h[:], *p)
						scratch = append(append(scratch[:0], h[:]...), p.Data...)
						c.data, c.wire = scratch[:min(len(scratch), opts.Snaplen)], c.wire+16
					case p.VLAN >= 0 && len(p.Data) >= 12:
						scratch = append(append(append(scratch[:0], p.Data[:12]...), 0x81, 0x00, byte(p.VLAN>>8), byte(p.VLAN)), p.Data[12:]...)
						c.data = scratch[:min(len(scratch), opts.Snaplen)]
					default:
						c.data = p.Data[:min(len(p.Data), opts.Snaplen)]
					}
					if userFilter != nil && !userFilter.Match(c.data, c.wire) {
						continue
					}
					received++
					if err := out.packet(c); err != nil {
						finish(err)
						return
					}
					written++
					if opts.Count > 0 && written >= uint64(opts.Count) {
						finish(nil)
						return
					}
					continue
				}
				if cur == nil {
					if cur = pool.get(); cur == nil {
						received++   // as the queue's drops: past the kernel's filter, then lost here
						queueDrops++ // every batch waits for the output
						continue
					}
				}
				c := captured{wire: p.Length, ts: p.Time, ifname: ifname(p.Ifindex), ifindex: p.Ifindex, outgoing: p.Outgoing, proto: p.Protocol}
				if cooked {
					var h [16]byte
					cookedHeader(h[:], *p)
					c.data = cur.add(h[:], p.Data, opts.Snaplen)
					if !userFilter.Match(c.data, p.Length+16) {
						cur.unadd(c.data)
						continue
					}
					c.wire += 16
				} else if p.VLAN >= 0 && len(p.Data) >= 12 {
					tag := []byte{0x81, 0x00, byte(p.VLAN >> 8), byte(p.VLAN)}
					c.data = cur.add3(p.Data[:12], tag, p.Data[12:], opts.Snaplen)
				} else {
					c.data = cur.add(nil, p.Data, opts.Snaplen)
				}
				if !cooked && userFilter != nil && !userFilter.Match(c.data, c.wire) {
					cur.unadd(c.data)
					continue
				}
				received++
				cur.pkts = append(cur.pkts, c)
				if len(cur.pkts) >= batchPackets || cur.full() {
					send()
				}
			}
			shownReceived.Store(received)
			shownWritten.Store(written)
			shownQueueDrops.Store(queueDrops)
		}
	}()
	if owners != nil {
		// Which way processes are found, and so what it can miss.
		line := "sniff: processes found through " + owners.Mode()
		if !owners.BPF() {
			line += ": a flow that ends within ~20 ms may be unknown"
		}
		fmt.Fprintln(stderr, line)
	}
	if opts.Ready != nil {
		opts.Ready()
	}
	var timeout <-chan time.Time
	if opts.Duration > 0 {
		timeout = time.After(opts.Duration)
	}
	var st Stats
	var runErr error
	stopping := false
	interrupted := false // by a signal: tcpdump then ends its lines with an empty one
	beginFinish := func() {
		if !stopping {
			stopping = true
			markNanos = time.Now().UnixNano()
			close(drain)
		}
	}
	hurry := shutdown.Hurry(ctx)
	// tcpdump -v -w: "Got N" once a second while it changes, as the
	// user sees no lines.
	var got <-chan time.Time
	if opts.Verbose > 0 && opts.WriteFile != "" && !opts.Print {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		got = tick.C
	}
	lastGot := ^uint64(0)
	captured := func() uint64 {
		if direct {
			return shownWritten.Load()
		}
		return st.Captured
	}
	dropped := func() uint64 {
		var kernel uint64
		if dc, ok := conn.(dropCounter); ok {
			kernel, _ = dc.Dropped()
		}
		return kernel + shownQueueDrops.Load()
	}
loop:
	for {
		var quit <-chan struct{}
		if !stopping {
			quit = ctx.Done()
		}
		select {
		case b, ok := <-queue:
			if !ok {
				break loop
			}
			for _, c := range b.pkts {
				if err := out.packet(c); err != nil {
					if !errors.Is(err, errRotationDone) {
						runErr = err
					}
					break loop
				}
				st.Captured++
				if opts.Count > 0 && st.Captured >= uint64(opts.Count) {
					break loop
				}
			}
			pool.put(b)
			if len(queue) == 0 {
				// Caught up: show what is buffered before waiting.
				if err := out.flush(); err != nil {
					runErr = err
					break loop
				}
			}
		case <-timeout:
			timeout = nil
			beginFinish()
		case <-quit:
			interrupted = true
			beginFinish()
		case <-hurry:
			// A second signal: what is queued is left, the file closed.
			interrupted = true
			break loop
		case <-opts.InfoRequests:
			fmt.Fprintf(stderr, "%s: %s captured, %s received by filter, %s dropped by kernel\n", opts.Name,
				packetsNoun(captured()), packetsNoun(shownReceived.Load()), packetsNoun(dropped()))
		case <-opts.FlushRequests:
			if direct {
				flushWanted.Store(true) // the reader writes the file
			} else if err := out.flush(); err != nil {
				runErr = err
				break loop
			}
		case <-got:
			if n := captured(); n != lastGot {
				fmt.Fprintf(stderr, "Got %d\r", n)
				lastGot = n
			}
		}
	}
	close(stop)
	if err := <-done; err != nil && runErr == nil && !errors.Is(err, os.ErrClosed) {
		runErr = err
	}
	if direct {
		st.Captured = written
		if errors.Is(runErr, errRotationDone) {
			runErr = nil
		}
	}
	_, kernelDrops, _ := conn.Stats()
	st.Received, st.Dropped = received, kernelDrops+queueDrops
	if interrupted && !opts.JSON && opts.WriteFile != "-" {
		// tcpdump, stopped by a signal, ends a line it may have been
		// printing: an empty line on stdout, before the tallies.
		out.trailer = "\n"
	}
	return finish(out, st, stderr, runErr)
}

// drainer bounds the stop of a capture. Asked to stop at a mark (the
// moment of the signal or the end of --duration), the reader keeps what
// the ring holds from before the mark and stops at the first packet after
// it, or once the ring is empty and the kernel has handed over the block
// it was filling at the mark (it does within rawsock.BlockTimeout), or at
// the latest drainLimit after the mark, however busy the link. It never
// waits for quiet: a busy link gives none.
type drainer struct {
	active bool
	mark   time.Time
}

// drainLimit bounds the drain when the reader is behind a full ring.
const drainLimit = 500 * time.Millisecond

func (d *drainer) start(markNanos int64) {
	if !d.active {
		d.active, d.mark = true, time.Unix(0, markNanos)
	}
}

// past reports a packet stamped after the mark.
func (d *drainer) past(ts time.Time) bool { return d.active && ts.After(d.mark) }

// remaining is how long an empty ring is still waited on.
func (d *drainer) remaining(now time.Time) time.Duration {
	return d.mark.Add(3 * rawsock.BlockTimeout).Sub(now)
}

func (d *drainer) overdue(now time.Time) bool { return d.active && now.Sub(d.mark) > drainLimit }

// dropAfterOpen gives up what the run no longer needs once its socket
// and files are open: the user (-Z, which needs CAP_SETUID and
// CAP_SETGID), then every capability.
func dropAfterOpen(opts Options) error {
	if opts.AfterOpen != nil {
		if err := opts.AfterOpen(); err != nil {
			return err
		}
	}
	var keep []int
	if opts.processes() {
		// Other users' /proc/PID/fd, for the owners of sockets.
		keep = append(keep, rawsock.CapSysPtrace)
	}
	if err := rawsock.DropPrivilegesExcept(keep...); err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	return nil
}

// processes reports whether packets are attributed to processes.
func (o Options) processes() bool { return o.Process || o.PID != 0 || o.PName != "" }

// invalidHeader is tcpdump's "[Invalid header: ...]" text for a record
// whose captured and wire lengths contradict each other, or "".
func invalidHeader(caplen, wire int) string {
	var why []string
	if caplen == 0 {
		why = append(why, "caplen==0")
	}
	if wire == 0 {
		why = append(why, "len==0")
	} else if wire < caplen {
		why = append(why, fmt.Sprintf("len(%d) < caplen(%d)", wire, caplen))
	}
	if len(why) == 0 {
		return ""
	}
	return "[Invalid header: " + strings.Join(why, ", ") + "]"
}

// packetsNoun is n with tcpdump's noun: "1 packet", "2 packets".
func packetsNoun(n uint64) string {
	if n == 1 {
		return "1 packet"
	}
	return strconv.FormatUint(n, 10) + " packets"
}

// dropCounter is a Source that says how many packets the kernel has
// dropped since it was opened without touching what its reader counts:
// a SIGUSR1's tallies ask it while the reader runs.
type dropCounter interface {
	Dropped() (uint64, error)
}

// finish flushes the output, prints tcpdump's tallies and picks the exit.
func finish(out *output, st Stats, stderr io.Writer, runErr error) error {
	failed := false
	for _, e := range out.opts.Expects {
		held := e.Check(st.metric(e.Metric.Name))
		st.Expect = append(st.Expect, ExpectResult{Expect: e.Text, Held: held})
		failed = failed || !held
	}
	if err := out.close(st); err != nil && runErr == nil {
		runErr = err
	}
	fmt.Fprintf(stderr, "%s captured\n%s received by filter\n%s dropped by kernel\n", packetsNoun(st.Captured), packetsNoun(st.Received), packetsNoun(st.Dropped))
	if runErr != nil {
		return runErr
	}
	for _, e := range out.opts.Expects {
		if v := st.metric(e.Metric.Name); !e.Check(v) {
			fmt.Fprintln(stderr, "sniff:", e.Failure(v))
		}
	}
	if failed {
		return report.ErrNetwork
	}
	if st.Dropped > 0 {
		fmt.Fprintln(stderr, "sniff: packets were dropped: the capture is incomplete")
		return report.ErrNetwork
	}
	return nil
}

// cookedHeader writes the 16-byte Linux SLL header libpcap gives "any".
func cookedHeader(h []byte, p rawsock.Packet) {
	binary.BigEndian.PutUint16(h[0:], uint16(p.PktType))
	binary.BigEndian.PutUint16(h[2:], p.HAType)
	binary.BigEndian.PutUint16(h[4:], uint16(p.HALen))
	copy(h[6:14], p.HAddr[:])
	binary.BigEndian.PutUint16(h[14:], p.Protocol)
}

func ifnames() map[int]string {
	m := map[int]string{}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		m[i.Index] = i.Name
	}
	return m
}

func printProgram(w io.Writer, prog []bpf.Instruction, level int) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	switch {
	case level == 2:
		for _, ins := range raw {
			fmt.Fprintf(bw, "{ 0x%x, %d, %d, 0x%08x },\n", ins.Op, ins.Jt, ins.Jf, ins.K)
		}
	case level >= 3:
		fmt.Fprintln(bw, len(raw))
		for _, ins := range raw {
			fmt.Fprintf(bw, "%d %d %d %d\n", ins.Op, ins.Jt, ins.Jf, ins.K)
		}
	default:
		for i, ins := range raw {
			fmt.Fprintln(bw, bpfImage(ins, i))
		}
	}
	return bw.Flush()
}

// readFile prints or filters the packets of a pcap file.
func readFile(ctx context.Context, opts Options, stdout, stderr io.Writer) error {
	f := os.Stdin
	if opts.ReadFile != "-" {
		var err error
		if f, err = os.Open(opts.ReadFile); err != nil {
			return report.Usagef("-r: %v", err)
		}
		defer f.Close()
	}
	r, err := openSource(f)
	if err != nil {
		return report.Usagef("-r %s: %v", opts.ReadFile, err)
	}
	link := newLinkAdapter(r.linkType())
	ftype := link.as
	if opts.PrintFilter == 0 {
		fmt.Fprintf(stderr, "reading from file %s, link-type %s, snapshot length %d\n", opts.ReadFile, link.name(), r.snapLen())
	}
	if !link.known && opts.Filter != "" {
		return report.Usagef("-r %s: filters on link type %s are not supported", opts.ReadFile, link.name())
	}
	filterType, native := link.filterType()
	if !native && link.rewrites() && filter.UsesLinkHeader(opts.Filter) {
		// The frame is rewritten before the filter sees it: its link
		// header is not the file's.
		return report.Usagef("-r %s: filters on the link-layer header of link type %s are not supported", opts.ReadFile, link.name())
	}
	prog, err := filter.Compile(opts.Filter, filterType, uint32(opts.Snaplen))
	if err != nil {
		return report.Usagef("%v", err)
	}
	if opts.PrintFilter > 0 {
		return printProgram(stdout, prog, opts.PrintFilter)
	}
	if filter.NeedsKernel(prog) {
		// As tcpdump: the interface and direction of a packet are known
		// to a live capture's kernel, not to a file of this link type.
		return report.Usagef("inbound, outbound and ifindex are not supported on %s when reading savefiles", link.name())
	}
	vm, err := filter.NewMatcher(prog)
	if err != nil {
		return err
	}
	out, err := newOutput(opts, stdout, ftype)
	if err != nil {
		return err
	}
	// Reading a file needs no capability: none is kept while parsing
	// what may be hostile input.
	if err := dropAfterOpen(opts); err != nil {
		return err
	}
	var st Stats
	var runErr error
	for ctx.Err() == nil {
		ts, data, wire, ifname, err := r.read()
		if err == io.EOF {
			break
		}
		if err != nil {
			runErr = fmt.Errorf("-r %s: %w", opts.ReadFile, err)
			break
		}
		if sl := int(r.snapLen()); sl > 0 && len(data) > sl {
			// libpcap keeps no more than the file's snapshot length.
			data = data[:sl]
		}
		if bad := invalidHeader(len(data), wire); bad != "" {
			// As tcpdump: a record whose lengths cannot be true is
			// shown as such, never decoded.
			if err := out.invalid(bad); err != nil {
				runErr = err
				break
			}
			continue
		}
		if native && !vm.Match(data, wire) {
			continue
		}
		var orig []byte
		if link.known && link.rewrites() {
			orig = append([]byte(nil), data...)
			data, wire, _ = link.adapt(data, wire)
		}
		if !native && !vm.Match(data, wire) {
			continue
		}
		st.Received++
		c := captured{data: append([]byte(nil), data...), wire: wire, ts: ts, ifname: ifname, opaque: !link.known, linkName: link.name(), orig: orig}
		if ftype == filter.LinuxSLL && len(data) >= 16 {
			c.outgoing = binary.BigEndian.Uint16(data) == 4
		}
		if err := out.packet(c); err != nil {
			if !errors.Is(err, errRotationDone) {
				runErr = err
			}
			break
		}
		st.Captured++
		if opts.Count > 0 && st.Captured >= uint64(opts.Count) {
			break
		}
	}
	return finish(out, st, io.Discard, runErr)
}

// gcPercentAfterFirstCollection sets the collector's percent once it
// has run once: a finalizer runs after the collection that found its
// object unreachable.
func gcPercentAfterFirstCollection(percent int) {
	sentinel := new([16]byte) // not tiny-allocated: finalizers need their own object
	runtime.SetFinalizer(sentinel, func(*[16]byte) { debug.SetGCPercent(percent) })
}
