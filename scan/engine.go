package scan

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/internal/localdrop"
	"github.com/rawkit/rawkit/probe"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
	"golang.org/x/sys/unix"
)

// Result is what a scan found for one port of one target.
type Result struct {
	Addr   netip.Addr
	Port   uint16
	State  State
	Reason string     // syn-ack, rst, no-response, udp-response, port-unreach, ...
	From   netip.Addr // the router that sent an ICMP answer
	TTL    int
	RTT    time.Duration

	idx uint64 // the probe's number in the scan
}

type scanner struct {
	opts    Options
	targets []netip.Addr // those scanned: the targets up, after discovery
	// prev is the --diff scan; changes what differs from it.
	prev    *previous
	changes []change
	// allTargets and disc are every target and what discovery found of
	// each, when it ran.
	allTargets []netip.Addr
	disc       []hostState
	discOrder  []int // allTargets' indexes in the order nmap reports them (its host groups)
	ports      []uint16
	index      targetIndex
	portIdx    []int32       // port -> index in ports, -1 when not scanned
	probed     bitset        // the probes sent at least once (or answered in a resumed record)
	localDrops atomic.Uint64 // probes a local firewall rule dropped (EPERM)
	// own is this host's addresses; ownUnreach counts the probes its own
	// kernel answered unreachable (the next hop did not answer ARP/ND).
	own        localdrop.Own
	ownUnreach atomic.Uint64
	// resumeErr is set when the --resume record could not be written.
	resumeErr error
	// stream writes --json's port records as they become final (an open
	// port at its answer), so a scan killed midway leaves what it found;
	// streamed marks the probes already written.
	stream   *report.JSONWriter
	streamed bitset
	// scanned are the targets to scan (those up, after discovery), in
	// host groups of groupHosts (groups.go); targets, n, perm and table
	// are the current group's, group its number.
	scanned    []netip.Addr
	groupHosts int
	group      int
	skipped    uint64             // this shard's probes a resumed scan does not send again (before its record's place)
	discIdx    map[netip.Addr]int // allTargets' indexes, for a scan of several groups after discovery
	n          uint64
	perm       *Permutation
	key        uint64
	sport      uint16

	mu    sync.Mutex
	table *table
	start time.Time
	// A raw scan's probes between send and final answer, in the order
	// sent (for their timeouts), and those waiting to be sent again.
	pending map[uint64]*flight
	fifo    flightQueue
	resend  []*flight
	win     window
	wake    chan struct{} // an answer made room in the window
	free    []*flight     // flights done with, for reuse
	givenUp uint64        // probes given up without an answer
	// sendErrs counts sends the kernel refused (other than a firewall's
	// EPERM): no route, a full queue.
	sendErrs atomic.Uint64
	arp      map[netip.Addr]string // the kernel's neighbours, read for the output
	discMAC  map[netip.Addr]string // the MAC addresses ARP or ND ping found

	src  map[int]netip.Addr // per family
	net  rawsock.Network
	send map[int]rawsock.Conn
	icmp map[int]rawsock.Conn
	sent atomic.Uint64
	got  atomic.Uint64

	shardSet map[uint64]bool
	// verbose writes nmap's -v lines; nil when the normal output is not
	// on the terminal or -v was not given.
	verbose *verboseLog
	// startPrinted: the normal output's "Starting" line went out when
	// the scan began, as nmap's does.
	startPrinted bool
	// services are what -sV found on open ports.
	services map[netip.AddrPort]Service
	extra    []map[int]rawsock.Conn // send-only sockets of the other senders
	// whole4 are the senders' IPv4 sockets that send whole datagrams
	// (IPPROTO_RAW, raw(7)), one a sender, when a SYN scan runs on the
	// kernel's network: a socket of that kind receives nothing, where
	// every raw TCP socket gets a copy of every TCP segment that
	// arrives, for its filter to drop. The scan's own TCP socket then
	// only reads.
	whole4 []rawsock.Conn
}

// Run scans, writing results to stdout (and opts.XMLFile). Its error maps
// to the exit code with report.ExitCode: nil when the scan completed and
// every --expect held.
func Run(ctx context.Context, opts Options, stdout, stderr io.Writer) error {
	if err := opts.validate(); err != nil {
		return err
	}
	if opts.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Deadline)
		defer cancel()
	}
	// The port names are read while the scan runs, not after it, when
	// the output needs them: the file, and the lines of the scan's
	// protocol.
	go func() {
		if t := nmapServices(); t != nil {
			t.of(map[bool]string{true: "udp", false: "tcp"}[opts.Type == UDP])
		}
	}()
	var targets []netip.Addr
	var err error
	if len(opts.Targets.Args) == 0 {
		// As nmap: an empty target list (-iL of an empty file) is
		// scanned, a warning said, and nothing found.
		fmt.Fprintln(stderr, "WARNING: No targets were specified, so 0 hosts scanned.")
	} else if targets, err = opts.Targets.Resolve(ctx); err != nil {
		return err
	}
	s := &scanner{opts: opts, targets: targets, ports: opts.Ports,
		portIdx: make([]int32, 65536)}
	for i := range s.portIdx {
		s.portIdx[i] = -1
	}
	for i, p := range s.ports {
		s.portIdx[p] = int32(i)
	}
	s.index.set(targets)
	if s.opts.Seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		s.opts.Seed = binary.BigEndian.Uint64(b[:]) | 1
	}
	var kb [10]byte
	rand.Read(kb[:])
	s.key = binary.BigEndian.Uint64(kb[:8])
	s.sport = 40000 + binary.BigEndian.Uint16(kb[8:])%20000
	if opts.SourcePort != 0 {
		s.sport = opts.SourcePort
	}
	if opts.DiffFile != "" {
		if s.prev, err = loadPrevious(opts.DiffFile); err != nil {
			return err
		}
	}
	if opts.JSON {
		s.stream = report.NewJSONWriter(stdout, "portscan")
	}
	if all := uint64(len(targets)) * uint64(len(s.ports)); all > tableLimit && !opts.PingOnly {
		if err := opts.streamable(all); err != nil {
			return err
		}
	}
	// Every output is opened before the first probe: one that cannot be
	// is bad input, found before any work is done.
	outs, err := openOutputs(opts)
	if err != nil {
		return err
	}
	defer outs.close()
	var counters *localdrop.Counters
	if opts.Network == nil {
		rawsock.InNetns(opts.Netns, func() error {
			counters, s.own = localdrop.Open(), localdrop.OwnAddrs()
			if len(s.targets) <= 1<<16 {
				counters.WatchDrops(s.targets)
			}
			return nil
		})
		defer counters.Close()
	}
	before := counters.Read()
	var dial dialFunc
	if opts.Versions && opts.Type != UDP {
		// Opened now: with --netns its threads enter the namespace while
		// the capabilities to do so are still held.
		var stop func()
		if dial, stop, err = s.versionDialer(); err != nil {
			return err
		}
		defer stop()
	}
	s.start = time.Now()
	if opts.normalOnStdout() {
		// nmap's first line comes before the work, the rest after it.
		if opts.Verbose > 0 && opts.SkipDiscovery {
			fmt.Fprintln(stderr, "Host discovery disabled (-Pn). All addresses will be marked 'up' and scan times may be slower.")
		}
		fmt.Fprintf(stdout, "Starting %s at %s\n", nmapBanner(), s.start.Format("2006-01-02 15:04 MST"))
		s.startPrinted = true
		if opts.Verbose > 0 {
			s.verbose = &verboseLog{w: stdout, level: opts.Verbose}
		}
	}
	if s.discovers() {
		if err := s.discoverUp(ctx); err != nil {
			return err
		}
	}
	s.scanned, s.groupHosts = s.targets, max(len(s.targets), 1)
	total := uint64(len(s.scanned)) * uint64(len(s.ports))
	if opts.PingOnly {
		total = 0
	}
	if total > tableLimit {
		// Too many probes for one table: host groups, each written
		// when it ends.
		if err := opts.streamable(total); err != nil {
			return err
		}
		s.groupHosts = max(1, int(tableLimit/uint64(len(s.ports))))
		if s.disc != nil {
			s.discIdx = discIndex(s.allTargets)
		}
	}
	resume, err := loadResume(s)
	if err != nil {
		return err
	}
	s.setGroup(s.group)
	if total > 0 {
		s.verbose.phase(opts.Type.scanName(), s.scanned, len(s.ports))
	}
	// The report is written host by host from the table (each group's
	// as it ends), unless something needs every result at once: --diff,
	// an --expect on ports, -sV (one service scan of every open port).
	grouped := s.groups() > 1
	whole := !grouped && (s.prev != nil || dial != nil || opts.portExpects())
	reports := newReportOutputs(s, stdout, outs)
	var counts summary
	var groupDone func() error
	if grouped {
		reports.head()
		groupDone = func() error {
			var scanVersions func([]Result)
			if dial != nil && ctx.Err() == nil {
				scanVersions = func(rs []Result) { s.serviceScan(ctx, rs, dial) }
			}
			return s.writeHosts(reports, &counts, scanVersions)
		}
	}
	switch {
	case total == 0:
		// -sn, or no target up: nothing to scan.
	case opts.Type == Connect:
		err = s.runConnect(ctx, resume, stderr)
	default:
		err = s.runRaw(ctx, resume, stderr, groupDone)
	}
	if err != nil {
		return err
	}
	if total > 0 {
		s.verbose.completed(opts.Type.scanName(), total, "ports")
	}
	interrupted := ctx.Err() != nil
	var results []Result
	switch {
	case whole:
		results = s.results()
		if dial != nil && !interrupted {
			s.serviceScan(ctx, results, dial)
		}
	case !grouped:
		reports.head()
		if err := s.writeHosts(reports, &counts, nil); err != nil {
			return err
		}
	}
	sum := summarize(s, results, time.Since(s.start))
	sum.Open += counts.Open
	sum.Closed += counts.Closed
	sum.Filtered += counts.Filtered
	sum.OpenFiltered += counts.OpenFiltered
	sum.LocalDrops = s.localDrops.Load()
	if counters != nil && (sum.GivenUp > 0 || sum.Filtered > 0 || s.anyDown()) {
		// Probes went unanswered: what this host's kernel dropped on
		// the way out.
		d := counters.Read().Sub(before)
		d.OwnUnreachable = s.ownUnreach.Load()
		if !d.Zero() {
			sum.Local = &d
		}
	}
	if interrupted {
		// Only what was probed is reported; the summary says the rest
		// was not (nmap's runstats exit="error").
		sum.Interrupted = true
		sum.Unprobed = s.shardProbes() - s.skipped - uint64(sum.Open+sum.Closed+sum.Filtered+sum.OpenFiltered)
	}
	s.verdict(&sum)
	if s.prev != nil {
		s.changes = s.diff(s.prev, results)
	}
	if whole {
		reports.head()
		reports.hosts(s.byHost(results), results)
	}
	if err := reports.tail(sum); err != nil {
		return err
	}
	if n := sum.LocalDrops; n > 0 {
		fmt.Fprintf(stderr, "portscan: local: %d probes dropped by a local firewall rule (netfilter OUTPUT)\n", n)
	}
	if sum.Local != nil {
		fmt.Fprintln(stderr, "portscan: local:", sum.Local)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "portscan: interrupted; the results above are partial")
		if opts.ResumeFile != "" && s.resumeErr == nil {
			fmt.Fprintf(stderr, "portscan: go on with --resume %s and the same arguments\n", opts.ResumeFile)
		}
		return report.ErrNetwork
	}
	if opts.ResumeFile != "" {
		os.Remove(opts.ResumeFile)
	}
	failed := false
	for _, e := range opts.Expects {
		if msg := e.check(s, results, sum); msg != "" {
			fmt.Fprintln(stderr, "portscan:", msg)
			failed = true
		}
	}
	if failed {
		return report.ErrNetwork
	}
	return nil
}

// cookie is the keyed hash a SYN's sequence number carries for target a
// and port p: an answer acknowledging anything else is not ours.
func (s *scanner) cookie(a netip.Addr, p uint16) uint32 {
	b := a.As16()
	h := splitmix(s.key ^ binary.BigEndian.Uint64(b[:8]))
	h = splitmix(h ^ binary.BigEndian.Uint64(b[8:]) ^ uint64(p)<<48)
	return uint32(h)
}

func (s *scanner) probeOf(idx uint64) (netip.Addr, uint16) {
	np := uint64(len(s.ports))
	return s.targets[idx/np], s.ports[idx%np]
}

func (s *scanner) indexOf(a netip.Addr, port uint16) (uint64, bool) {
	t, ok := s.index.get(a.Unmap())
	if !ok || s.portIdx[port] < 0 {
		return 0, false
	}
	return uint64(t)*uint64(len(s.ports)) + uint64(s.portIdx[port]), true
}

// record stores an answer from target a's port, and reports whether it
// is the current group's probe. The first answer stands. For a raw scan
// the probe must still be waiting (a late answer to a probe already
// given up is not taken: the port was reported without it), and the
// answer feeds the window; a connect scan gives its own RTT. The probe is
// looked up under the lock, so a group ending meanwhile cannot give it
// another group's number.
func (s *scanner) record(a netip.Addr, port uint16, r Result, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, ok := s.indexOf(a, port)
	if !ok {
		return false
	}
	if s.table.cell[idx] != 0 {
		return true
	}
	if s.pending != nil {
		fl := s.pending[idx]
		if fl == nil {
			return true
		}
		sent, now := fl.sent.Load(), int64(at.Sub(s.start))
		delete(s.pending, idx)
		fl.final = true
		if fl.air {
			s.win.inflight--
		}
		s.win.answered(fl.try, sent, now)
		r.RTT = time.Duration(max(now-sent, 0))
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.got.Add(1)
	if r.State == Open && s.verbose != nil {
		a, p := s.probeOf(idx)
		s.verbose.line("Discovered open port %d/%s on %s", p, s.opts.Type.Proto(), a)
	}
	target, _ := s.probeOf(idx)
	s.table.set(idx, target, r)
	if s.stream != nil && r.State == Open {
		// Final: an open port stays open whatever comes later.
		r.Addr, r.Port = s.probeOf(idx)
		s.streamed.set(idx)
		s.stream.Write("port", s.jsonPort(r))
		s.stream.Flush()
	}
	return true
}

// unanswered is a probe's result when it had no answer.
func (s *scanner) unanswered() Result {
	if s.opts.Type == UDP {
		return Result{State: OpenFiltered, Reason: "no-response"}
	}
	return Result{State: Filtered, Reason: "no-response"}
}

// sourceFor is the address probes of family fam leave from: --source,
// or the one the route to the family's first target gives.
func (s *scanner) sourceFor(network rawsock.Network, fam int) (netip.Addr, error) {
	var dst netip.Addr
	for _, a := range s.allScanned() {
		if a.Is4() == (fam == 4) {
			dst = a
			break
		}
	}
	return network.SourceFor(dst, s.opts.Iface, s.opts.Source)
}

// allScanned are the targets of every host group (before discovery has
// chosen them, every target).
func (s *scanner) allScanned() []netip.Addr {
	if s.scanned != nil {
		return s.scanned
	}
	return s.targets
}

func (s *scanner) families() []int {
	var fams []int
	has := map[int]bool{}
	for _, a := range s.allScanned() {
		f := 4
		if a.Is6() {
			f = 6
		}
		if !has[f] {
			has[f] = true
			fams = append(fams, f)
		}
	}
	return fams
}

// openRaw opens, per family, the raw socket probes leave from (which also
// receives the TCP answers or UDP replies) and an ICMP socket for errors.
func (s *scanner) openRaw() error {
	if err := rawsock.InNetns(s.opts.Netns, s.openRawSockets); err != nil {
		return err
	}
	return rawsock.DropPrivileges()
}

// openRawSockets opens the scan's sockets (in the namespace of --netns).
func (s *scanner) openRawSockets() error {
	s.src, s.send, s.icmp = map[int]netip.Addr{}, map[int]rawsock.Conn{}, map[int]rawsock.Conn{}
	s.net = s.opts.Network
	if s.net == nil {
		s.net = rawsock.System
	}
	proto := probe.ProtoTCP
	if s.opts.Type == UDP {
		proto = probe.ProtoUDP
	}
	for _, fam := range s.families() {
		src, err := s.sourceFor(s.net, fam)
		if err != nil {
			return report.Usagef("%v", err)
		}
		s.src[fam] = src
		o := rawsock.Options{Iface: s.opts.Iface, Source: src, NoTxTimestamps: true, RecvBuffer: 8 << 20}
		c, err := s.net.ListenIP(rawsock.IPConfig{Family: fam, Protocol: proto, Options: o, Filter: rawsock.PortFilter(fam, 2, s.sport)})
		if err != nil {
			return err
		}
		s.send[fam] = c
		ic, err := s.net.ListenICMP(rawsock.ICMPConfig{Family: fam, Mode: rawsock.Privileged, ID: int(s.sport), Options: o})
		if err != nil {
			return err
		}
		s.icmp[fam] = ic
		whole := fam == 4 && s.opts.Type == SYN && s.net == rawsock.System
		for i := 0; whole && i < runtime.NumCPU(); i++ {
			x, err := s.net.ListenIP(rawsock.IPConfig{Family: 4, Protocol: unix.IPPROTO_RAW, Options: o})
			if err != nil {
				return err
			}
			s.whole4 = append(s.whole4, x)
		}
		for i := 1; i < runtime.NumCPU(); i++ {
			if len(s.extra) < i {
				s.extra = append(s.extra, map[int]rawsock.Conn{})
			}
			if whole {
				continue
			}
			// Send only: a nil filter keeps no received packet.
			x, err := s.net.ListenIP(rawsock.IPConfig{Family: fam, Protocol: proto, Options: o})
			if err != nil {
				return err
			}
			s.extra[i-1][fam] = x
		}
	}
	return nil
}

func (s *scanner) closeRaw() {
	for _, c := range s.send {
		c.Close()
	}
	for _, m := range s.extra {
		for _, c := range m {
			c.Close()
		}
	}
	for _, c := range s.icmp {
		c.Close()
	}
	for _, c := range s.whole4 {
		c.Close()
	}
}

// runRaw is the SYN or UDP scan: probes go out as the window allows
// (or at the pace --rate pins), in the permutation's order, each resent
// after its timeout while tries are left, readers recording answers. It
// scans the host groups from the current one on, calling groupDone (when
// not nil) as each ends, and stops after the group a cancellation ends.
func (s *scanner) runRaw(ctx context.Context, resume *resumeState, stderr io.Writer, groupDone func() error) error {
	if err := s.openRaw(); err != nil {
		s.closeRaw()
		return err
	}
	var wg sync.WaitGroup
	defer func() {
		s.closeRaw()
		wg.Wait()
	}()
	s.pending = map[uint64]*flight{}
	s.win = newWindow(s.opts)
	s.wake = make(chan struct{}, 1)
	for fam := range s.send {
		wg.Add(2)
		go func() { defer wg.Done(); s.readTransport(fam) }()
		go func() { defer wg.Done(); s.readICMP(fam) }()
	}
	progress := newProgress(s, stderr)
	defer progress.stop()
	j := s.opts.Shard.I
	if resume != nil {
		j = resume.Next
	}
	saver := newResumeSaver(s, stderr)
	for {
		if err := s.scanGroup(ctx, j, saver); err != nil {
			return err
		}
		if groupDone != nil {
			if err := groupDone(); err != nil {
				return err
			}
		}
		if ctx.Err() != nil || s.group+1 >= s.groups() {
			return nil
		}
		s.mu.Lock()
		s.setGroup(s.group + 1)
		s.mu.Unlock()
		// The last group is written: a resumed scan starts here.
		j = s.opts.Shard.I
		saver.save(j)
	}
}

// scanGroup probes the current host group from position j of its
// permutation until every probe is final, or ctx ends it.
func (s *scanner) scanGroup(ctx context.Context, j uint64, saver *resumeSaver) error {
	senders := newSenders(s)
	pace := newPace(s.opts)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			senders.stop()
			saver.save(s.resumePoint(j))
			return nil
		}
		now := int64(time.Since(s.start))
		s.mu.Lock()
		s.expire(now)
		// The probes that may go now, up to a batch: one lock, one
		// hand-off and one system call (sendmmsg) for them all.
		batch := senders.batch()
		for len(batch) < sendBatch && pace.may(now, s.win.room(), len(s.pending) < maxPending) {
			var fl *flight
			if fl, j = s.nextProbe(j); fl == nil {
				break
			}
			fl.air = true
			s.pending[fl.idx] = fl
			s.fifo.push(fl)
			s.win.inflight++
			s.probed.set(fl.idx)
			pace.sent(now)
			batch = append(batch, fl)
		}
		finished := len(batch) == 0 && j >= s.n && len(s.pending) == 0 && !s.catchUp()
		wait := s.nextTimeout(now)
		s.mu.Unlock()
		if finished {
			break
		}
		if len(batch) > 0 {
			if err := senders.send(batch); err != nil {
				return err
			}
			saver.maybeSave(func() uint64 { return s.resumePoint(j) })
			continue
		}
		// Nothing may go now: wait for an answer to make room, the
		// next timeout, or the pace.
		timer.Reset(min(wait, pace.wait(now), 50*time.Millisecond))
		select {
		case <-s.wake:
		case <-timer.C:
		case <-ctx.Done():
		}
	}
	return senders.stop()
}

// catchUp queues again the probes given up with fewer tries than are
// allowed now: loss seen late in a scan (a resend answered) raises the
// tries, and the probes given up before it was seen get theirs too, so
// an open port whose first sends were lost early is still found. It
// reports whether it queued any.
func (s *scanner) catchUp() bool {
	tries := s.win.tries()
	queued := false
	for j := s.opts.Shard.I; j < s.n; j += s.opts.Shard.N {
		idx := s.perm.At(j)
		if s.table.cell[idx] != 0 || !s.probed.has(idx) || int(s.table.ttl[idx]) >= tries {
			continue
		}
		fl := &flight{idx: idx, pos: j, try: int(s.table.ttl[idx])}
		s.pending[idx] = fl
		s.resend = append(s.resend, fl)
		queued = true
	}
	return queued
}

// newFlight is a flight from the free list, or a new one: a scan of
// millions of probes would otherwise make as many of them for the
// collector.
func (s *scanner) newFlight() *flight {
	if n := len(s.free); n > 0 {
		fl := s.free[n-1]
		s.free = s.free[:n-1]
		*fl = flight{}
		return fl
	}
	return &flight{}
}

// freeFlight returns a final flight, out of every queue, to the free
// list. One never sent (a resend still waiting in a sender's queue when a
// late answer made it final) is left to the collector: the sender still
// holds it.
func (s *scanner) freeFlight(fl *flight) {
	if fl.sent.Load() != 0 && len(s.free) < 1<<16 {
		s.free = append(s.free, fl)
	}
}

// maxPending bounds the probes waiting for an answer or a resend, so a
// pinned pace into a silent network holds a bounded state.
const maxPending = 1 << 20

// nextProbe is the next probe to send, a resend first, and the next
// position in the permutation; nil when there is none now.
func (s *scanner) nextProbe(j uint64) (*flight, uint64) {
	for len(s.resend) > 0 {
		fl := s.resend[0]
		s.resend = s.resend[1:]
		if fl.final {
			s.freeFlight(fl) // answered late, while waiting to go again
			continue
		}
		fl.try++
		fl.sent.Store(0)
		s.win.resends++
		return fl, j
	}
	if j < s.n {
		fl := s.newFlight()
		fl.idx, fl.pos = s.perm.At(j), j
		return fl, j + s.opts.Shard.N
	}
	return nil, j
}

// expire moves the probes whose wait is over to the resend queue, or
// gives them up when their tries are spent. The wait is the same for
// every probe at a moment, so the oldest send is the first to expire.
func (s *scanner) expire(now int64) {
	rto := int64(s.win.rto())
	q := s.fifo.live()
	head := 0
	for ; head < len(q); head++ {
		fl := q[head]
		if fl.final {
			s.freeFlight(fl)
			continue
		}
		if !fl.air {
			continue
		}
		sent := fl.sent.Load()
		if sent == 0 || now-sent < rto {
			break
		}
		fl.air = false
		s.win.inflight--
		if fl.try < s.win.tries() {
			s.resend = append(s.resend, fl)
			continue
		}
		fl.final = true // no answer: filtered (open|filtered for UDP)
		delete(s.pending, fl.idx)
		s.givenUp++
		s.table.ttl[fl.idx] = uint8(min(fl.try, 255)) // the tries it had, for a later catch-up
		s.freeFlight(fl)
	}
	s.fifo.pop(head)
}

// flightQueue is the probes in flight in send order: a slice and the
// index of its head, compacted once half of it is behind the head, so a
// scan's stream of probes reuses one array rather than growing new ones
// as its front is taken (each a few hundred kB to fault in).
type flightQueue struct {
	items []*flight
	head  int
}

func (q *flightQueue) push(fl *flight) { q.items = append(q.items, fl) }

// live is the queue, oldest first.
func (q *flightQueue) live() []*flight { return q.items[q.head:] }

// pop takes n probes off the head.
func (q *flightQueue) pop(n int) {
	clear(q.items[q.head : q.head+n])
	q.head += n
	if q.head*2 < len(q.items) {
		return
	}
	m := copy(q.items, q.items[q.head:])
	clear(q.items[m:])
	q.items, q.head = q.items[:m], 0
	if cap(q.items) > 4096 && m < cap(q.items)/4 {
		// A burst is over: give its room back.
		q.items = append([]*flight(nil), q.items...)
	}
}

// nextTimeout is how long until the oldest probe in flight expires.
func (s *scanner) nextTimeout(now int64) time.Duration {
	for _, fl := range s.fifo.live() {
		if fl.final || !fl.air {
			continue
		}
		sent := fl.sent.Load()
		if sent == 0 {
			return time.Millisecond // not sent yet: look again soon
		}
		return max(time.Duration(sent+int64(s.win.rto())-now), 0)
	}
	return time.Hour
}

// resumePoint is where a resumed scan starts: the first position of the
// permutation whose probe is not final yet.
func (s *scanner) resumePoint(j uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fl := range s.pending {
		j = min(j, fl.pos)
	}
	return j
}

func (s *scanner) answered(idx uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table != nil && s.table.cell[idx] != 0
}

// senders spread the sends over one goroutine and socket per CPU: on a
// fast path each send carries the probe's whole round trip through the
// kernel, so one thread cannot keep up. Each has its own socket, since a
// socket's writes are serialized by its lock. Probes come in batches,
// sent with one system call where the socket can (sendmmsg).
type senders struct {
	work    chan []*flight
	free    chan []*flight // batches sent, for reuse
	errs    chan error
	wg      sync.WaitGroup
	err     error
	stopped bool
}

// sendBatch is the most probes handed to a sender at once.
const sendBatch = 64

// batchWriter is a Conn that sends many datagrams a system call
// (rawsock's: sendmmsg).
type batchWriter interface {
	WriteBatch(pkts [][]byte, dsts []netip.Addr) (int, error)
}

func newSenders(s *scanner) *senders {
	k := len(s.extra) + 1
	ss := &senders{work: make(chan []*flight, 8), free: make(chan []*flight, 16), errs: make(chan error, k)}
	for i := 0; i < k; i++ {
		ss.wg.Add(1)
		go func() {
			defer ss.wg.Done()
			w := newSendWork()
			for batch := range ss.work {
				if err := s.sendProbes(batch, w, i); err != nil {
					ss.errs <- err
					for range ss.work {
					}
					return
				}
				select {
				case ss.free <- batch[:0]:
				default:
				}
			}
		}()
	}
	return ss
}

// batch is an empty batch to fill.
func (ss *senders) batch() []*flight {
	select {
	case b := <-ss.free:
		return b
	default:
		return make([]*flight, 0, sendBatch)
	}
}

func (ss *senders) send(batch []*flight) error {
	select {
	case err := <-ss.errs:
		ss.err = err
		return err
	default:
	}
	ss.work <- batch
	return nil
}

// stop waits for the queued sends and returns the first error.
func (ss *senders) stop() error {
	if !ss.stopped {
		close(ss.work)
		ss.stopped = true
	}
	ss.wg.Wait()
	select {
	case err := <-ss.errs:
		return err
	default:
		return ss.err
	}
}

// sendWork is a sender's packets being built, reused batch to batch.
type sendWork struct {
	pkts [][]byte
	dsts []netip.Addr
}

func newSendWork() *sendWork {
	w := &sendWork{pkts: make([][]byte, sendBatch), dsts: make([]netip.Addr, sendBatch)}
	for i := range w.pkts {
		w.pkts[i] = make([]byte, 0, 1500)
	}
	return w
}

// sendProbes sends a batch of probes on sender's sockets, all of one
// family's socket at a time.
func (s *scanner) sendProbes(batch []*flight, w *sendWork, sender int) error {
	for len(batch) > 0 {
		// The run of probes of one address family.
		fam := s.familyOfProbe(batch[0].idx)
		k := 1
		for k < len(batch) && s.familyOfProbe(batch[k].idx) == fam {
			k++
		}
		if err := s.sendRun(batch[:k], w, sender, fam); err != nil {
			return err
		}
		batch = batch[k:]
	}
	return nil
}

// familyOfProbe is the IP version of probe idx's target.
func (s *scanner) familyOfProbe(idx uint64) int {
	if dst, _ := s.probeOf(idx); dst.Is6() {
		return 6
	}
	return 4
}

func (s *scanner) sendRun(run []*flight, w *sendWork, sender, fam int) error {
	src := s.src[fam]
	c := s.send[fam]
	if sender > 0 {
		c = s.extra[sender-1][fam]
	}
	whole := fam == 4 && sender < len(s.whole4)
	if whole {
		c = s.whole4[sender]
	}
	for i, fl := range run {
		dst, port := s.probeOf(fl.idx)
		b := w.pkts[i][:0]
		if whole {
			// TTL 64 and DF, as the kernel's header; it fills in the
			// length, identification and checksum (raw(7)).
			b = probe.IPv4Header(b, src, dst, probe.ProtoTCP, 0)
		}
		hdr := len(b)
		if s.opts.Type == UDP {
			b = probe.UDPWithPayload(b, src, dst, s.sport, port, udpPayload(port))
		} else {
			b = probe.TCPSyn(b, src, dst, s.sport, port, s.cookie(dst, port))
		}
		if whole {
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
		}
		w.pkts[i], w.dsts[i] = b, dst
		s.verbose.sent(dst, len(b)-hdr)
	}
	s.sent.Add(uint64(len(run)))
	// Stamped before the write: on a fast path the answer can be read
	// before the write returns.
	at := max(int64(time.Since(s.start)), 1)
	for _, fl := range run {
		fl.sent.Store(at)
	}
	pkts, dsts := w.pkts[:len(run)], w.dsts[:len(run)]
	bw, batched := c.(batchWriter)
	for len(pkts) > 0 {
		var err error
		if batched {
			var n int
			n, err = bw.WriteBatch(pkts, dsts)
			pkts, dsts = pkts[n:], dsts[n:]
			if err == nil {
				break
			}
			if errors.Is(err, unix.EAGAIN) {
				// A full send buffer: the ordinary send waits for room.
				_, err = c.WriteToTTL(pkts[0], dsts[0], 0)
			}
		} else {
			_, err = c.WriteToTTL(pkts[0], dsts[0], 0)
		}
		pkts, dsts = pkts[1:], dsts[1:]
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EPERM) {
			// On an open raw socket EPERM is netfilter's verdict: a local
			// OUTPUT rule dropped the probe. Counted, and said at the end.
			s.localDrops.Add(1)
			continue
		}
		if errors.Is(err, os.ErrPermission) {
			return err
		}
		// A local refusal (no route, a full queue): the probe stays
		// unanswered and is resent after its wait.
		s.sendErrs.Add(1)
	}
	return nil
}

// readTransport records TCP answers (SYN-ACK, RST) or UDP replies.
// After each wait it reads what else is queued, up to 64 segments a
// system call (recvmmsg): a scan's answers come as fast as its sends.
func (s *scanner) readTransport(fam int) {
	c := s.send[fam]
	buf := make([]byte, 1500)
	br, batched := c.(batchReader)
	var batch *rawsock.Batch
	if batched {
		batch = rawsock.NewBatch(64, 128) // a TCP or UDP header and more
	}
	for {
		n, meta, err := c.ReadMsg(buf)
		if err != nil {
			return
		}
		at := time.Now()
		if s.handleTransport(buf[:n], meta, at) {
			s.verbose.received(meta.Src, n)
		}
		for batched {
			k, err := br.TryReadBatch(batch)
			if err != nil {
				break
			}
			for i := range k {
				if s.handleTransport(batch.Bufs[i][:batch.N[i]], batch.Meta[i], at) {
					s.verbose.received(batch.Meta[i].Src, batch.N[i])
				}
			}
		}
	}
}

// batchReader is a Conn that reads many datagrams a system call
// (rawsock's: recvmmsg).
type batchReader interface {
	TryReadBatch(b *rawsock.Batch) (int, error)
}

// handleTransport records a TCP or UDP segment from a target, if it
// answers one of our probes.
func (s *scanner) handleTransport(b []byte, meta rawsock.Meta, at time.Time) bool {
	if s.opts.Type == UDP {
		h, ok := probe.ParseUDP(b)
		if !ok || h.DstPort != s.sport {
			return false
		}
		return s.record(meta.Src, h.SrcPort, Result{State: Open, Reason: "udp-response", From: meta.Src, TTL: meta.TTL}, at)
	}
	h, ok := probe.ParseTCP(b)
	if !ok || h.DstPort != s.sport {
		return false
	}
	if h.Ack-1 != s.cookie(meta.Src.Unmap(), h.SrcPort) {
		return false // not an answer to our SYN: stray or forged
	}
	switch {
	case h.Flags&probe.FlagRST != 0:
		return s.record(meta.Src, h.SrcPort, Result{State: Closed, Reason: "reset", From: meta.Src, TTL: meta.TTL}, at)
	case h.Flags&(probe.FlagSYN|probe.FlagACK) == probe.FlagSYN|probe.FlagACK:
		return s.record(meta.Src, h.SrcPort, Result{State: Open, Reason: "syn-ack", From: meta.Src, TTL: meta.TTL}, at)
	}
	return false
}

// readICMP records ICMP errors about our probes.
func (s *scanner) readICMP(fam int) {
	c := s.icmp[fam]
	buf := make([]byte, 1500)
	for {
		n, meta, err := c.ReadMsg(buf)
		if err != nil {
			return
		}
		if s.handleICMP(fam, buf[:n], meta, time.Now()) {
			s.verbose.received(meta.Src, n)
		}
	}
}

// handleICMP records an ICMP error quoting one of our probes, with nmap's
// mapping of unreachable codes to states.
func (s *scanner) handleICMP(fam int, b []byte, meta rawsock.Meta, at time.Time) bool {
	m, err := icmp.Parse(fam, b)
	if err != nil || !m.IsError() || m.Quote == nil {
		return false
	}
	q := m.Quote
	sport, dport, ok := q.Ports()
	if !ok || sport != s.sport {
		return false
	}
	if s.opts.Type == UDP {
		if q.Protocol != probe.ProtoUDP {
			return false
		}
	} else if q.Protocol != probe.ProtoTCP || len(q.Transport) < 8 ||
		binary.BigEndian.Uint32(q.Transport[4:8]) != s.cookie(q.Dst, dport) {
		return false
	}
	reason := reasonText(fam, m.Type, m.Code)
	state := Filtered
	if s.opts.Type == UDP && reason == "port-unreach" {
		state = Closed
	}
	if !s.record(q.Dst, dport, Result{State: state, Reason: reason, From: meta.Src, TTL: meta.TTL}, at) {
		return false
	}
	if s.own.Has(meta.Src) {
		s.ownUnreach.Add(1)
	}
	return true
}

// results lists every probe of the shard sent in this run, in target and
// port order, the unanswered ones filtered (TCP) or open|filtered (UDP).
func (s *scanner) results() []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return nil // -sn
	}
	out := make([]Result, 0, s.opts.Shard.Count(s.n))
	for t := range s.targets {
		out = s.hostResults(t, out)
	}
	return out
}

// bitset is a set of probe numbers.
type bitset []uint64

func (b bitset) set(i uint64)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i uint64) bool { return b[i/64]&(1<<(i%64)) != 0 }

// inShard reports whether probe idx belongs to this shard. The inverse
// of the permutation is not at hand, so the shard's membership is found by
// walking it once and cached.
func (s *scanner) inShard(idx uint64) bool {
	if s.opts.Shard.N == 1 {
		return true
	}
	if s.shardSet == nil {
		s.shardSet = make(map[uint64]bool)
		for j := s.opts.Shard.I; j < s.n; j += s.opts.Shard.N {
			s.shardSet[s.perm.At(j)] = true
		}
	}
	return s.shardSet[idx]
}

// anyDown reports whether discovery found a target down (or silent).
func (s *scanner) anyDown() bool {
	for _, h := range s.disc {
		if !h.up {
			return true
		}
	}
	return false
}
