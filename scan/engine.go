package scan

import (
	"cmp"
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
	opts       Options
	targets    []netip.Addr
	ports      []uint16
	index      map[netip.Addr]uint32
	portIdx    []int32       // port -> index in ports, -1 when not scanned
	probed     bitset        // the probes sent at least once (or answered in a resumed record)
	localDrops atomic.Uint64 // probes a local firewall rule dropped (EPERM)
	// resumeErr is set when the --resume record could not be written.
	resumeErr error
	// stream writes --json's port records as they become final (an open
	// port at its answer), so a scan killed midway leaves what it found;
	// streamed marks the probes already written.
	stream   *report.JSONWriter
	streamed bitset
	n        uint64
	perm     *Permutation
	key      uint64
	sport    uint16

	mu      sync.Mutex
	states  []State
	details map[uint64]*Result
	sentAt  []uint32 // µs since start, per probe; nil for huge scans
	start   time.Time
	maxRTT  atomic.Int64

	src  map[int]netip.Addr // per family
	net  rawsock.Network
	send map[int]rawsock.Conn
	icmp map[int]rawsock.Conn
	sent atomic.Uint64
	got  atomic.Uint64
	rate int

	shardSet map[uint64]bool
	extra    []map[int]rawsock.Conn // send-only sockets of the other senders
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
	targets, err := opts.Targets.Resolve(ctx)
	if err != nil {
		return err
	}
	s := &scanner{opts: opts, targets: targets, ports: opts.Ports, rate: opts.Rate,
		index: make(map[netip.Addr]uint32, len(targets)), portIdx: make([]int32, 65536)}
	for i := range s.portIdx {
		s.portIdx[i] = -1
	}
	for i, p := range s.ports {
		s.portIdx[p] = int32(i)
	}
	for i, a := range targets {
		s.index[a] = uint32(i)
	}
	s.n = uint64(len(targets)) * uint64(len(s.ports))
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
	s.perm = NewPermutation(s.n, s.opts.Seed)
	s.states = make([]State, s.n)
	s.probed = make(bitset, (s.n+63)/64)
	if opts.JSON {
		s.stream = report.NewJSONWriter(stdout, "portscan")
		s.streamed = make(bitset, (s.n+63)/64)
	}
	s.details = map[uint64]*Result{}
	if s.n <= 1<<24 {
		s.sentAt = make([]uint32, s.n)
	}
	resume, err := loadResume(s)
	if err != nil {
		return err
	}
	// Every output is opened before the first probe: one that cannot be
	// is bad input, found before any work is done.
	outs, err := openOutputs(opts)
	if err != nil {
		return err
	}
	defer outs.close()
	s.start = time.Now()
	if opts.Type == Connect {
		err = s.runConnect(ctx, resume, stderr)
	} else {
		err = s.runRaw(ctx, resume, stderr)
	}
	if err != nil {
		return err
	}
	interrupted := ctx.Err() != nil
	results := s.results(interrupted)
	sum := summarize(s, results, time.Since(s.start))
	sum.LocalDrops = s.localDrops.Load()
	if interrupted {
		// Only what was probed is reported; the summary says the rest
		// was not (nmap's runstats exit="error").
		sum.Interrupted = true
		sum.Unprobed = s.opts.Shard.Count(s.n) - uint64(len(results))
	}
	if err := writeOutputs(s, results, sum, stdout, outs); err != nil {
		return err
	}
	if n := sum.LocalDrops; n > 0 {
		fmt.Fprintf(stderr, "portscan: local: %d probes dropped by a local firewall rule (netfilter OUTPUT)\n", n)
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
	t, ok := s.index[a.Unmap()]
	if !ok || s.portIdx[port] < 0 {
		return 0, false
	}
	return uint64(t)*uint64(len(s.ports)) + uint64(s.portIdx[port]), true
}

// record stores an answer for probe idx; the first answer stands.
func (s *scanner) record(idx uint64, r Result, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.states[idx] != Unknown {
		return
	}
	s.states[idx] = r.State
	if s.sentAt != nil {
		r.RTT = at.Sub(s.start) - time.Duration(s.sentAt[idx])*time.Microsecond
		if r.RTT < 0 {
			r.RTT = 0
		}
		if int64(r.RTT) > s.maxRTT.Load() {
			s.maxRTT.Store(int64(r.RTT))
		}
	}
	s.details[idx] = &r
	s.got.Add(1)
	if s.stream != nil && r.State == Open {
		// Final: an open port stays open whatever comes later.
		r.Addr, r.Port = s.probeOf(idx)
		s.streamed.set(idx)
		s.stream.Write("port", s.jsonPort(r))
		s.stream.Flush()
	}
}

func (s *scanner) families() []int {
	var fams []int
	has := map[int]bool{}
	for _, a := range s.targets {
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
		var dst netip.Addr
		for _, a := range s.targets {
			if a.Is4() == (fam == 4) {
				dst = a
				break
			}
		}
		src, err := s.net.SourceFor(dst, s.opts.Iface, s.opts.Source)
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
		for i := 1; i < runtime.NumCPU(); i++ {
			if len(s.extra) < i {
				s.extra = append(s.extra, map[int]rawsock.Conn{})
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
}

// runRaw is the SYN or UDP scan: passes over the shard's probes, each
// retry sending only what is still unanswered, readers recording answers.
func (s *scanner) runRaw(ctx context.Context, resume *resumeState, stderr io.Writer) error {
	if err := s.openRaw(); err != nil {
		s.closeRaw()
		return err
	}
	var wg sync.WaitGroup
	defer func() {
		s.closeRaw()
		wg.Wait()
	}()
	for fam := range s.send {
		wg.Add(2)
		go func() { defer wg.Done(); s.readTransport(fam) }()
		go func() { defer wg.Done(); s.readICMP(fam) }()
	}
	progress := newProgress(s, stderr)
	defer progress.stop()
	firstPass, firstJ := 0, s.opts.Shard.I
	if resume != nil {
		firstPass, firstJ = resume.Pass, resume.Next
	}
	saver := newResumeSaver(s, stderr)
	defer saver.stop()
	for pass := firstPass; pass <= s.opts.Retries; pass++ {
		sentBefore, gotBefore := s.sent.Load(), s.got.Load()
		paced := newPacer(s.rate)
		j0 := s.opts.Shard.I
		if pass == firstPass {
			j0 = firstJ
		}
		senders := newSenders(s)
		for j := j0; j < s.n; j += s.opts.Shard.N {
			if ctx.Err() != nil {
				senders.stop()
				saver.save(pass, j)
				return nil
			}
			idx := s.perm.At(j)
			if pass > 0 && s.answered(idx) {
				continue
			}
			paced.wait()
			if err := senders.send(idx); err != nil {
				return err
			}
			saver.maybeSave(pass, j)
		}
		if err := senders.stop(); err != nil {
			return err
		}
		s.settle(ctx)
		if pass > 0 {
			// Answers to resent probes mean the first ones were lost:
			// slow down for the next pass.
			resent, late := s.sent.Load()-sentBefore, s.got.Load()-gotBefore
			if resent > 0 && late*100 > resent {
				s.rate = max(s.rate/2, 100, s.opts.MinRate)
			}
		}
		if s.got.Load() == s.opts.Shard.Count(s.n) {
			break
		}
	}
	saver.done()
	return nil
}

func (s *scanner) answered(idx uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.states[idx] != Unknown
}

// settle waits for late answers after a pass: five times the largest RTT
// seen, at least 100 ms and at most 3 s (1 s before any answer), or until
// every probe of the shard is answered.
func (s *scanner) settle(ctx context.Context) {
	begin := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		w := s.opts.Wait
		if w == 0 {
			w = cmp.Or(s.opts.InitialWait, time.Second)
			if m := time.Duration(s.maxRTT.Load()); m > 0 {
				w = min(max(5*m, cmp.Or(s.opts.MinWait, 100*time.Millisecond)), cmp.Or(s.opts.MaxWait, 3*time.Second))
			}
		}
		if time.Since(begin) >= w || s.got.Load() >= s.opts.Shard.Count(s.n) {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// senders spread a pass's sends over one goroutine and socket per CPU:
// on a fast path each send carries the probe's whole round trip through
// the kernel, so one thread cannot keep up. Each has its own socket,
// since a socket's writes are serialized by its lock.
type senders struct {
	work    chan uint64
	errs    chan error
	wg      sync.WaitGroup
	err     error
	stopped bool
}

func newSenders(s *scanner) *senders {
	k := len(s.extra) + 1
	work := make(chan uint64, 4096)
	ss := &senders{work: work, errs: make(chan error, k)}
	for i := 0; i < k; i++ {
		ss.wg.Add(1)
		go func() {
			defer ss.wg.Done()
			buf := make([]byte, 0, 1500)
			for idx := range work {
				if err := s.sendProbe(idx, &buf, i); err != nil {
					ss.errs <- err
					for range work {
					}
					return
				}
			}
		}()
	}
	return ss
}

func (ss *senders) send(idx uint64) error {
	select {
	case err := <-ss.errs:
		ss.err = err
		return err
	default:
	}
	ss.work <- idx
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

func (s *scanner) sendProbe(idx uint64, buf *[]byte, sender int) error {
	dst, port := s.probeOf(idx)
	fam := 4
	if dst.Is6() {
		fam = 6
	}
	src := s.src[fam]
	var b []byte
	if s.opts.Type == UDP {
		b = probe.UDPWithPayload((*buf)[:0], src, dst, s.sport, port, udpPayload(port))
	} else {
		b = probe.TCPSyn((*buf)[:0], src, dst, s.sport, port, s.cookie(dst, port))
	}
	*buf = b
	s.mu.Lock()
	if s.sentAt != nil {
		s.sentAt[idx] = uint32(time.Since(s.start) / time.Microsecond)
	}
	s.probed.set(idx)
	s.mu.Unlock()
	s.sent.Add(1)
	c := s.send[fam]
	if sender > 0 {
		c = s.extra[sender-1][fam]
	}
	if _, err := c.WriteToTTL(b, dst, 0); err != nil {
		if errors.Is(err, unix.EPERM) {
			// On an open raw socket EPERM is netfilter's verdict: a local
			// OUTPUT rule dropped the probe. Counted, and said at the end.
			s.localDrops.Add(1)
			return nil
		}
		if errors.Is(err, os.ErrPermission) {
			return err
		}
		// A local refusal (no route): the probe stays unanswered.
	}
	return nil
}

// readTransport records TCP answers (SYN-ACK, RST) or UDP replies.
func (s *scanner) readTransport(fam int) {
	c := s.send[fam]
	buf := make([]byte, 1500)
	for {
		n, meta, err := c.ReadMsg(buf)
		if err != nil {
			return
		}
		s.handleTransport(buf[:n], meta, time.Now())
	}
}

// handleTransport records a TCP or UDP segment from a target, if it
// answers one of our probes.
func (s *scanner) handleTransport(b []byte, meta rawsock.Meta, at time.Time) {
	if s.opts.Type == UDP {
		h, ok := probe.ParseUDP(b)
		if !ok || h.DstPort != s.sport {
			return
		}
		if idx, ok := s.indexOf(meta.Src, h.SrcPort); ok {
			s.record(idx, Result{State: Open, Reason: "udp-response", From: meta.Src, TTL: meta.TTL}, at)
		}
		return
	}
	h, ok := probe.ParseTCP(b)
	if !ok || h.DstPort != s.sport {
		return
	}
	idx, ok := s.indexOf(meta.Src, h.SrcPort)
	if !ok || h.Ack-1 != s.cookie(meta.Src.Unmap(), h.SrcPort) {
		return // not an answer to our SYN: stray or forged
	}
	switch {
	case h.Flags&probe.FlagRST != 0:
		s.record(idx, Result{State: Closed, Reason: "reset", From: meta.Src, TTL: meta.TTL}, at)
	case h.Flags&(probe.FlagSYN|probe.FlagACK) == probe.FlagSYN|probe.FlagACK:
		s.record(idx, Result{State: Open, Reason: "syn-ack", From: meta.Src, TTL: meta.TTL}, at)
	}
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
		s.handleICMP(fam, buf[:n], meta, time.Now())
	}
}

// handleICMP records an ICMP error quoting one of our probes, with nmap's
// mapping of unreachable codes to states.
func (s *scanner) handleICMP(fam int, b []byte, meta rawsock.Meta, at time.Time) {
	m, err := icmp.Parse(fam, b)
	if err != nil || !m.IsError() || m.Quote == nil {
		return
	}
	q := m.Quote
	sport, dport, ok := q.Ports()
	if !ok || sport != s.sport {
		return
	}
	idx, ok := s.indexOf(q.Dst, dport)
	if !ok {
		return
	}
	if s.opts.Type == UDP {
		if q.Protocol != probe.ProtoUDP {
			return
		}
	} else if q.Protocol != probe.ProtoTCP || len(q.Transport) < 8 ||
		binary.BigEndian.Uint32(q.Transport[4:8]) != s.cookie(q.Dst, dport) {
		return
	}
	reason := reasonText(fam, m.Type, m.Code)
	state := Filtered
	if s.opts.Type == UDP && reason == "port-unreach" {
		state = Closed
	}
	s.record(idx, Result{State: state, Reason: reason, From: meta.Src, TTL: meta.TTL}, at)
}

// results lists every probe of the shard in target and port order, the
// unanswered ones filtered (TCP) or open|filtered (UDP).
func (s *scanner) results(interrupted bool) []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Result
	np := uint64(len(s.ports))
	for t, a := range s.targets {
		for p, port := range s.ports {
			idx := uint64(t)*np + uint64(p)
			if !s.inShard(idx) {
				continue
			}
			if d := s.details[idx]; d != nil {
				r := *d
				r.Addr, r.Port, r.idx = a, port, idx
				out = append(out, r)
				continue
			}
			if interrupted && !s.probed.has(idx) {
				continue // never probed: no state to report
			}
			st := Filtered
			if s.opts.Type == UDP {
				st = OpenFiltered
			}
			out = append(out, Result{Addr: a, Port: port, State: st, Reason: "no-response"})
		}
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
