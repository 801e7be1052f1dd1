package ping

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/internal/localdrop"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
	"golang.org/x/sys/unix"
)

// probe is one echo request in flight, registered before it is sent.
// It takes 40 bytes: a flood fills 65536 of them, 5 MB at time.Time's
// 24 bytes a time, and every page of that costs a fault on first touch.
type probe struct {
	t        *target
	seq      int           // the target's sequence number, 1-based as iputils prints
	sent     time.Duration // our clock: monotonic, since pinger.epoch
	tx       int64         // the kernel's transmit timestamp (Unix ns), 0 when it gave none
	serial   uint32        // the run's count of probes when it was sent (wrapping)
	expired  bool
	answered bool
}

// sentAt is when pr was sent, with a monotonic reading.
func (p *pinger) sentAt(pr *probe) time.Time { return p.epoch.Add(pr.sent) }

// arrival is a packet a reader passed to the loop.
type arrival struct {
	family int
	seq    int           // an echo reply's sequence number
	msg    *icmp.Message // an ICMP error; nil for an echo reply
	meta   rawsock.Meta
	bytes  int
	at     time.Time // when the reader got it, with a monotonic reading
}

// family is what the loop keeps for the socket of one IP version.
type family struct {
	family int // 4 or 6
	c      Conn
	batch  batchReader // c, when it reads many packets a call; else nil
	// sendRead is c, when a flood's send also reads its answer (one
	// system call); else nil.
	sendRead sendReader
	// chain is c, when a flood sends chains of probes (sendChain); else
	// nil.
	chain   chainWriter
	id      int    // the echo identifier its replies carry
	nextSeq uint16 // the next probe's wire sequence number
	// pending holds its probes by wire sequence number, in blocks of 256
	// made as they are first used: a probe stays until its number comes
	// round again, so a late or duplicate answer is still known. Slots
	// reused, not a probe allocated a send: a flood sends hundreds of
	// thousands. An index, not a hash, on the path of every send and
	// reply.
	pending [256]*[256]probe
}

// slot is where the probe with wire sequence number seq is kept.
func (f *family) slot(seq uint16) *probe {
	b := f.pending[seq>>8]
	if b == nil {
		b = new([256]probe)
		f.pending[seq>>8] = b
	}
	return &b[seq&0xff]
}

type pinger struct {
	opts    Options
	out     printer
	targets []*target
	// families are the open sockets, one an IP version; byFamily indexes
	// them by version (4 -> 0, 6 -> 1) for the path of every probe.
	families []*family
	byFamily [2]*family
	fifo     probeQueue // in send order, for expiry
	serial   int        // probes sent
	waiting  int        // probes neither answered nor expired
	payload  []byte
	buf      []byte         // the probe being built
	rbuf     []byte         // packets read by drain
	batch    *rawsock.Batch // a sweep's: packets read by drain, many a call
	start    time.Time
	// epoch is the base of probes' send times (probe.sent).
	epoch    time.Time
	lastSend time.Time
	// readAt is when drain last read a packet: a flood's round, which
	// reads its answer, needs no clock reading of its own after it.
	readAt time.Time
	// A flood's chains (sendChain): the longest the socket sends, the
	// length of the next, and their probes.
	chainMax, chainLen int
	chainProbes        []rawsock.ChainProbe
	stderr             io.Writer
	// source is the local address probes leave from, when -I or -B asked
	// for it to be known.
	source netip.Addr
	// routeMTU is the MTU toward a single target, learnt where the
	// sockets were opened (--netns), for iputils' "message too long".
	routeMTU map[netip.Addr]int
	// counters are the namespace's local drop counts, read at the start
	// and the end: why probes went unanswered when the reason is here.
	counters *localdrop.Counters
	before   localdrop.Snapshot
	// own is this host's addresses; ownUnreach counts the probes its own
	// kernel answered unreachable (the next hop did not answer ARP/ND).
	own        localdrop.Own
	ownUnreach int
}

// familyOf is the socket state of IP version fam (4 or 6), nil when no
// socket of it is open.
func (p *pinger) familyOf(fam int) *family { return p.byFamily[fam/6] }

// pendingOf is the probe of family fam sent with wire sequence number
// seq, or nil.
func (p *pinger) pendingOf(fam int, seq uint16) *probe {
	f := p.familyOf(fam)
	if f == nil {
		return nil
	}
	b := f.pending[seq>>8]
	if b == nil || b[seq&0xff].t == nil {
		return nil
	}
	return &b[seq&0xff]
}

// ids are the echo identifiers by IP version.
func (p *pinger) ids() map[int]int {
	ids := map[int]int{}
	for _, f := range p.families {
		ids[f.family] = f.id
	}
	return ids
}

// Run pings opts.Targets, writing results to stdout and diagnostics to
// stderr. Its error maps to the exit code with report.ExitCode: nil when
// every target (or MinReachable of them) answered and every --expect
// held, report.ErrNetwork when not.
func Run(ctx context.Context, opts Options, stdout, stderr io.Writer) error {
	if err := opts.validate(); err != nil {
		return err
	}
	targets, err := resolveTargets(ctx, &opts)
	if err != nil {
		return err
	}
	var routeMTU map[netip.Addr]int
	if len(targets) == 1 && opts.Listen == nil {
		// As iputils, one target is routed before anything is printed:
		// no route ends the run at once (exit 1, the network saying no;
		// iputils exits 2), a missing interface is bad input.
		err := rawsock.InNetns(opts.Netns, func() error {
			_, err := rawsock.SourceFor(targets[0].addr, opts.Iface, opts.Source)
			if err == nil && opts.PMTU == "do" {
				mtu, _ := rawsock.RouteMTU(targets[0].addr, opts.Iface)
				routeMTU = map[netip.Addr]int{targets[0].addr: mtu}
			}
			return err
		})
		var privilege *rawsock.PrivilegeError
		if errors.Is(err, rawsock.ErrNoSuchNamespace) || errors.As(err, &privilege) {
			return err // --netns could not be entered
		}
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			var errno unix.Errno
			errors.As(err, &errno)
			fmt.Fprintf(stderr, "ping: connect: %s\n", report.Capitalize(errno.Error()))
			return report.ErrNetwork
		}
		if errors.Is(err, rawsock.ErrNoSuchInterface) {
			return err
		}
	}
	p := &pinger{
		epoch:    time.Now(),
		opts:     opts,
		routeMTU: routeMTU,
		targets:  targets,
		stderr:   stderr,
	}
	if !opts.JSON && !opts.Verbose && len(opts.Expects) == 0 {
		// Nothing prints a percentile: no sample is kept (a flood's
		// would take 8 bytes a reply, a page fault every 512).
		for _, t := range targets {
			t.stats.WithoutPercentiles()
		}
	}
	switch {
	case opts.JSON:
		p.out = &jsonPrinter{w: report.NewJSONWriterSize(stdout, "ping", 64<<10), opts: &p.opts}
	case opts.Fping != nil:
		p.out = newFpingPrinter(&p.opts, stdout, stderr)
	default:
		p.out = &textPrinter{w: bufio.NewWriterSize(stdout, 64<<10), ew: stderr, opts: &p.opts}
	}
	watching := make(chan struct{})
	if opts.Listen == nil {
		// While the sockets are opened, and before capabilities are
		// dropped: the eBPF drop watch needs its privileges at start
		// (loading it takes about as long as opening the sockets).
		addrs := make([]netip.Addr, len(targets))
		for i, t := range targets {
			addrs[i] = t.addr
		}
		go func() {
			defer close(watching)
			rawsock.InNetns(opts.Netns, func() error {
				p.counters, p.own = localdrop.Open(), localdrop.OwnAddrs()
				p.counters.WatchDrops(addrs)
				return nil
			})
		}()
	} else {
		close(watching)
	}
	if err := p.open(watching); err != nil {
		<-watching
		p.counters.Close()
		return err
	}
	if p.counters != nil {
		defer p.counters.Close()
		p.before = p.counters.Read()
	}
	if tp, ok := p.out.(*textPrinter); ok {
		tp.source, tp.ids = p.source, p.ids()
	}
	defer func() {
		for _, f := range p.families {
			f.c.Close()
		}
	}()
	return p.loop(ctx)
}

func (o *Options) validate() error {
	switch {
	case o.Family != 0 && o.Family != 4 && o.Family != 6:
		return report.Usagef("family %d: use -4 or -6", o.Family)
	case o.Count < 0:
		return report.Usagef("bad number of packets to transmit: %d", o.Count)
	case o.Interval < 0:
		return report.Usagef("bad timing interval: %v", o.Interval)
	case o.Wait < 0:
		return report.Usagef("bad linger time: %v", o.Wait)
	case o.Deadline < 0:
		return report.Usagef("bad wait time: %v", o.Deadline)
	case o.Size < NoPayload || o.Size > 65507:
		return report.Usagef("invalid packet size %d: use 0 to 65507", o.Size)
	case o.TTL < 0 || o.TTL > 255:
		return report.Usagef("ttl %d out of range: use 1 to 255", o.TTL)
	case o.TOS < 0 || o.TOS > 255:
		return report.Usagef("the decimal value of TOS bits must be in range 0-255: %d", o.TOS)
	case o.MinReachable < 0:
		return report.Usagef("--min-reachable %d is negative", o.MinReachable)
	}
	switch o.PMTU {
	case "", "do", "dont", "want", "probe":
	default:
		return report.Usagef("invalid -M option %q: use do, dont, want or probe", o.PMTU)
	}
	if o.Interval == 0 {
		o.Interval = defaultInterval
		if o.Flood {
			o.Interval = floodInterval
		}
	}
	switch o.Size {
	case 0:
		o.Size = defaultSize
	case NoPayload:
		o.Size = 0
	}
	return nil
}

// open opens the sockets, then waits for ready to close before it drops
// every capability.
func (p *pinger) open(ready <-chan struct{}) error {
	families := map[int]bool{}
	for _, t := range p.targets {
		families[t.family] = true
	}
	listen := p.opts.Listen
	if listen == nil {
		listen = func(cfg rawsock.ICMPConfig) (Conn, error) { return rawsock.ListenICMP(cfg) }
	}
	var idBytes [2]byte
	randomBytes(idBytes[:])
	id := int(binary.BigEndian.Uint16(idBytes[:]))
	mode := p.opts.Mode
	if p.opts.IDSet {
		// As iputils: a chosen identifier means a raw socket, the only
		// kind whose identifier is ours to choose.
		id = p.opts.ID
		if mode == rawsock.Auto {
			mode = rawsock.Privileged
		}
	}
	for _, fam := range []int{4, 6} {
		if !families[fam] {
			continue
		}
		src := p.opts.Source
		if src.IsValid() && (src.Is4() != (fam == 4)) {
			if len(families) == 1 {
				return report.Usagef("source address %v is not IPv%d like the target", src, fam)
			}
			src = netip.Addr{}
		}
		if !src.IsValid() && (p.opts.StickySource || p.opts.Iface != "") && len(p.targets) == 1 {
			// The address the kernel would send from: for iputils' "from
			// ADDR IFACE:" header, and what -B binds to.
			var a netip.Addr
			err := rawsock.InNetns(p.opts.Netns, func() (err error) {
				a, err = rawsock.SourceFor(p.targets[0].addr, p.opts.Iface, netip.Addr{})
				return err
			})
			if err == nil {
				p.source = a
				if p.opts.StickySource {
					src = a
				}
			}
		}
		if src.IsValid() {
			p.source = src
		}
		var c Conn
		err := rawsock.InNetns(p.opts.Netns, func() (err error) {
			c, err = listen(rawsock.ICMPConfig{
				Family: fam, Mode: mode, ID: id,
				Options: rawsock.Options{
					TTL: p.opts.TTL, TOS: p.opts.TOS, PMTU: p.opts.PMTU, Mark: p.opts.Mark,
					Iface: p.opts.Iface, Source: src,
					Broadcast: p.opts.Broadcast, DontRoute: p.opts.DontRoute, NoMulticastLoop: p.opts.NoLoop,
					Debug: p.opts.Debug, SendBuffer: p.opts.SendBuffer,
					// A sweep, or a flood of several targets, times its
					// round trips from before each send, as fping and
					// iputils do: reading each send's kernel timestamp
					// back costs two system calls a probe. A flood of one
					// target reads its timestamps within its chains (see
					// chainable); without a chain it turns them off.
					NoTxTimestamps: len(p.targets) > sweepTargets || p.opts.Flood && !p.chainable(),
					// Room for a sweep's replies arriving together.
					RecvBuffer: min(max(len(p.targets), 64)*2048, 32<<20),
					// The loop reads its answers itself, and waits in
					// ppoll: the runtime's poller would only cost the
					// kernel a wake-up call per answer.
					Unpolled: true,
				},
			})
			return err
		})
		if err != nil {
			return err
		}
		f := &family{family: fam, c: c, id: c.ID()}
		if p.opts.Fping == nil {
			f.nextSeq = 1 // iputils' first icmp_seq; fping's is 0
		}
		f.batch, _ = c.(batchReader)
		p.families = append(p.families, f)
		p.byFamily[fam/6] = f
	}
	// Sockets are open: nothing later needs a capability.
	<-ready
	if err := rawsock.DropPrivileges(); err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	p.payload = makePayload(p.opts.Size, p.opts.Pattern, p.opts.NoStamp)
	p.buf = make([]byte, 0, 8+len(p.payload))
	p.rbuf = make([]byte, 65536)
	if p.opts.Flood && len(p.targets) == 1 {
		f := p.families[0]
		if cw, ok := f.c.(chainWriter); ok && p.chainable() {
			if k := cw.PrepareChain(); k > 0 {
				f.chain, p.chainMax, p.chainLen = cw, k, 1
				p.chainProbes = make([]rawsock.ChainProbe, k)
				for i := range p.chainProbes {
					p.chainProbes[i].B = make([]byte, 0, 8+len(p.payload))
					p.chainProbes[i].RB = make([]byte, max(len(p.payload)+128, 2048))
				}
			}
		}
		// A flood's answer is often queued by the time its send returns:
		// read in the same system call.
		if sr, ok := f.c.(sendReader); ok && f.chain == nil && sr.PrepareWriteThenRead() {
			f.sendRead = sr
		}
	}
	if len(p.targets) > sweepTargets {
		// Room for an echo reply, or an ICMP error quoting a probe
		// (IPv6 quotes up to 1280 bytes).
		p.batch = rawsock.NewBatch(64, max(len(p.payload)+128, 2048))
	}
	return nil
}

// makePayload fills size bytes with pattern repeated; without one, with
// iputils' counting bytes, or fping's zeros (zeros).
func makePayload(size int, pattern []byte, zeros bool) []byte {
	b := make([]byte, size)
	for i := range b {
		switch {
		case len(pattern) > 0:
			b[i] = pattern[i%len(pattern)]
		case !zeros:
			b[i] = byte(i)
		}
	}
	return b
}

// accept decodes a packet of the socket of family and keeps it when it
// may answer one of our probes: an echo reply with our identifier, or an
// ICMP error quoting an echo request with it. An echo reply is read
// without a Message: a flood reads one per probe.
func accept(family int, c Conn, b []byte, meta rawsock.Meta, at time.Time) (arrival, bool) {
	if kind, id, seq, ok := icmp.EchoOf(family, b); ok {
		if kind != icmp.KindEchoReply || (c.Raw() && id != c.ID()) {
			return arrival{}, false
		}
		return arrival{family: family, seq: seq, meta: meta, bytes: len(b), at: at}, true
	}
	m, err := icmp.Parse(family, b)
	if err != nil || !m.IsError() {
		return arrival{}, false // malformed, or not ours to report
	}
	if qid, _, ok := m.Quote.QuotedEcho(); !ok || qid != c.ID() {
		return arrival{}, false
	}
	return arrival{family: family, msg: m, meta: meta, bytes: len(b), at: at}, true
}

// batchReader is a Conn that reads what is queued in one system call
// (rawsock's ICMPConn: recvmmsg).
type batchReader interface {
	TryReadBatch(b *rawsock.Batch) (int, error)
}

// chainWriter is a Conn that sends a chain of probes, each after the
// answer to the one before, in one system call (rawsock's ICMPConn:
// io_uring), once prepared.
type chainWriter interface {
	PrepareChain() int
	WriteChain(dst netip.Addr, ps []rawsock.ChainProbe) int
}

// chainable reports whether a flood of one target may send chains: one
// probe in flight (no -l), timed by the kernel (not -U), a count of
// probes or none (not --until-reply).
func (p *pinger) chainable() bool {
	return p.opts.Flood && len(p.targets) == 1 && p.opts.Preload <= 1 && !p.opts.UserLatency && !p.opts.UntilReply
}

// sendReader is a Conn that sends and then reads what is queued in one
// system call (rawsock's ICMPConn: io_uring), once prepared.
type sendReader interface {
	PrepareWriteThenRead() bool
	WriteToAddrThenTryRead(b []byte, dst netip.Addr, rb []byte) (n int, meta rawsock.Meta, rerr, werr error)
}

// drain handles, without waiting, packets already queued on the
// sockets. After a send on a fast path the reply is often among them,
// and handling it here spares the hand-off from the reader goroutine. It
// stops when no probe is owed an answer, unless all is set: at the end of
// a run, what has arrived (duplicates, mostly) still counts.
func (p *pinger) drain(all bool) {
	for _, f := range p.families {
		fam, c := f.family, f.c
		for {
			if p.waiting == 0 && !all {
				break // nothing is owed; the reader takes any stragglers
			}
			if f.batch != nil && p.batch != nil {
				// A sweep's replies, tens at a time.
				n, err := f.batch.TryReadBatch(p.batch)
				if err != nil {
					break
				}
				at := time.Now()
				p.readAt = at
				for i := range n {
					if a, ok := accept(fam, c, p.batch.Bufs[i][:p.batch.N[i]], p.batch.Meta[i], at); ok {
						p.handle(a)
					}
				}
				continue
			}
			n, meta, err := c.TryReadMsg(p.rbuf)
			if err != nil {
				break
			}
			p.readAt = time.Now()
			if a, ok := accept(fam, c, p.rbuf[:n], meta, p.readAt); ok {
				p.handle(a)
			}
		}
	}
}

func (p *pinger) loop(ctx context.Context) error {
	w := p.newWaiter(ctx)
	defer w.close()
	p.start = time.Now()
	var deadlineAt time.Time
	if p.opts.Deadline > 0 {
		deadlineAt = p.start.Add(p.opts.Deadline)
	}
	p.out.start(p.targets, len(p.payload))
	nextRound := p.start
	round := 0
	// now is read at the top of each turn, unless the last turn ended
	// with a look at the sockets that found nothing: a flood turns a
	// few hundred thousand times a second, and a reading costs two
	// clock calls.
	var now time.Time
	fresh := false
	// A stop is a flag the loop reads each turn: cheaper than a select
	// on the context's channel, a few hundred thousand times a second.
	var stopped atomic.Bool
	defer context.AfterFunc(ctx, func() { stopped.Store(true) })()
	// A status request (SIGQUIT) is a flag too, and ends a wait early.
	var statusWanted atomic.Bool
	if p.opts.StatusRequests != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-p.opts.StatusRequests:
					statusWanted.Store(true)
					w.interrupt()
				case <-done:
					return
				}
			}
		}()
	}
	var splitAt time.Time // fping -Q's next interval summary
	if p.opts.SplitEvery > 0 {
		splitAt = p.start.Add(p.opts.SplitEvery)
	}
	for {
		if !fresh {
			now = time.Now()
		}
		fresh = false
		if !deadlineAt.IsZero() && !now.Before(deadlineAt) {
			break
		}
		if stopped.Load() {
			// Stopped (Ctrl-C). Looked at every turn: a flood whose
			// answers keep up never waits, where a stop is also seen.
			return p.summarize()
		}
		if statusWanted.Swap(false) {
			p.out.status(now.Sub(p.start))
		}
		if !splitAt.IsZero() && !now.Before(splitAt) {
			p.out.status(now.Sub(p.start))
			for !now.Before(splitAt) {
				splitAt = splitAt.Add(p.opts.SplitEvery)
			}
		}
		// Send the rounds that are due: those due at the start of the
		// turn (a round brought forward by its answers waits for the
		// next turn, and its look at the deadline and a stop).
		due := now
		for p.wantsRound(round) && !due.Before(nextRound) {
			for i, t := range p.targets {
				if p.targetWants(t) && p.chainLen > 0 {
					// A flood of one target: each probe of the chain
					// is a round of its own.
					n, err := p.sendChain(t)
					if err != nil {
						return err
					}
					round += n - 1
				} else if p.targetWants(t) {
					if err := p.send(t); err != nil {
						return err
					}
				}
				if p.batch != nil && i%64 == 63 && round >= p.opts.Preload {
					// A sweep reads its replies as it goes, as fping
					// does: they are handled while still in the cache.
					p.drain(false)
				}
			}
			round++
			if round >= p.opts.Preload {
				// -l: the first rounds go out at once.
				nextRound = nextRound.Add(p.roundInterval(round))
			}
			if nextRound.Before(now) && (p.opts.Flood || p.opts.Adaptive) {
				nextRound = now.Add(p.opts.Interval)
			}
			if round >= p.opts.Preload {
				// A preload goes out whole before any reply is read.
				p.drain(false)
			}
			// The round took time (the send, its answer): what follows
			// is measured from its end. From before the round, an answer
			// that took over spinUnder to come made the loop wait as long
			// again for nothing, a flood's round in ten. The reading of
			// the answer's arrival, when it came after the send, serves.
			now = p.readAt
			if now.Before(p.lastSend) {
				now = time.Now()
			}
			nextRound = p.eager(round, nextRound, now) // answered already: flood on
		}
		p.expire(now)
		if p.finished(round) {
			// What has arrived already counts: duplicates, mostly.
			w.takeQueued()
			p.drain(true)
			break
		}
		wake := p.nextWake(now, round, nextRound)
		if !deadlineAt.IsZero() {
			wake = min(wake, deadlineAt.Sub(now))
		}
		if !splitAt.IsZero() {
			wake = min(wake, splitAt.Sub(now))
		}
		if wake < spinUnder {
			// Due (almost) now: the runtime's poller cannot wait less
			// than a millisecond, which would cap a flood at a thousand
			// probes a second. Look at the socket and go round again.
			// With nothing read and nothing owed, no time has passed
			// worth a new reading (a flood whose answer came in its
			// round sends again at once).
			read := p.readAt
			p.drain(false)
			fresh = wake == 0 && p.readAt.Equal(read) && p.waiting == 0
			continue
		}
		// Output is buffered while the loop is busy and written out
		// before it waits, so a reader of a pipe sees it promptly.
		if err := p.out.flush(); err != nil {
			return err
		}
		got, err := w.wait(wake)
		if errors.Is(err, errStopped) {
			break
		}
		if err != nil {
			return err
		}
		if got {
			w.takeQueued()
			p.drain(false)
			nextRound = p.eager(round, nextRound, time.Now())
		}
	}
	return p.summarize()
}

// sweepTargets is the number of targets above which a run is a sweep,
// sent for speed rather than each RTT's last microsecond.
const sweepTargets = 64

// spinUnder is the wait below which the loop goes round again instead
// of sleeping: the poller's waits are whole milliseconds.
const spinUnder = 200 * time.Microsecond

// eager brings the next round forward when every probe is answered:
// at once in a flood (-f), after the adaptive minimum with -A (200 ms,
// or 2 ms with a raw socket, as iputils allows the super-user).
func (p *pinger) eager(round int, next, now time.Time) time.Time {
	if !(p.opts.Flood || p.opts.Adaptive) || !p.wantsRound(round) || !p.allAnswered() {
		return next
	}
	at := now
	if p.opts.Adaptive && !p.opts.Flood {
		if p.opts.untimed() {
			// iputils adapts its interval to the RTTs its payload
			// times: with none, it keeps the interval.
			return next
		}
		least := 200 * time.Millisecond
		for _, f := range p.families {
			if f.c.Raw() {
				least = 2 * time.Millisecond
			}
		}
		if earliest := p.lastSend.Add(least); earliest.After(at) {
			at = earliest
		}
	}
	if at.Before(next) {
		return at
	}
	return next
}

// roundInterval is the time before round (1-based) is sent: Interval,
// grown by Backoff for each round before it (fping's exponential backoff).
func (p *pinger) roundInterval(round int) time.Duration {
	d := p.opts.Interval
	if b := p.opts.Backoff; b > 1 {
		d = time.Duration(float64(d) * math.Pow(b, float64(round-1)))
	}
	return d
}

// wantsRound reports whether another round of probes is to be sent.
func (p *pinger) wantsRound(round int) bool {
	if p.opts.UntilReply {
		for _, t := range p.targets {
			if p.targetWants(t) {
				return true
			}
		}
		return false
	}
	if p.opts.Count == 0 {
		return true
	}
	if p.opts.Deadline > 0 {
		// iputils: with a deadline, -c counts replies, not probes.
		for _, t := range p.targets {
			if t.received < p.opts.Count {
				return true
			}
		}
		return false
	}
	return round < p.opts.Count
}

func (p *pinger) targetWants(t *target) bool {
	if p.opts.UntilReply {
		return t.received == 0 && (p.opts.Count == 0 || t.sent < p.opts.Count)
	}
	if p.opts.Count == 0 {
		return true
	}
	if p.opts.Deadline > 0 {
		return t.received < p.opts.Count
	}
	return t.sent < p.opts.Count
}

func (p *pinger) send(t *target) error {
	f := p.familyOf(t.family)
	wire := f.nextSeq
	// Registered before sending, since a reply can beat the send's
	// return.
	pr := p.register(t, f)
	// One clock reading a probe: its send time, which iputils also puts
	// in the first 8 bytes of data (tcpdump users expect it, and it
	// makes every probe's payload unique). Building the packet after it
	// adds tens of nanoseconds to the RTT, as in iputils.
	now := time.Now()
	pr.sent, p.lastSend = now.Sub(p.epoch), now
	b, err := p.echo(p.buf[:0], t, f, wire, now)
	if err != nil {
		return err
	}
	if f.sendRead != nil {
		n, meta, rerr, werr := f.sendRead.WriteToAddrThenTryRead(b, t.addr, p.rbuf)
		if rerr == nil {
			// The answer came within the send: the kernel's receive time
			// less the send's reading of the same clock is its round
			// trip, as iputils reckons it, and no clock is read again
			// (two readings of a probe's four). Without a kernel time,
			// with -U, or across a step of the clock, it is read.
			if k := meta.KernelTime.Sub(now.Round(0)); !meta.KernelTime.IsZero() && !p.opts.UserLatency && k >= 0 && k < time.Second {
				p.readAt = now.Add(k)
			} else {
				p.readAt = time.Now()
			}
			if a, ok := accept(t.family, f.c, p.rbuf[:n], meta, p.readAt); ok {
				p.handle(a)
			}
		}
		if werr != nil {
			return p.sendError(t, pr, werr)
		}
		return nil
	}
	tx, err := f.c.WriteToAddr(b, t.addr)
	if !tx.IsZero() {
		pr.tx = tx.UnixNano()
	}
	if err != nil {
		return p.sendError(t, pr, err)
	}
	return nil
}

// sendChain sends a flood's next probes to t as a chain (rawsock's
// WriteChain): each probe after the answer to the one before, in one
// system call, as long as the answers come within their sends. It
// returns how many it sent (at least one, or an error). A chain that
// ran its length makes the next twice as long, up to the socket's
// most; one that stopped early makes the next as long as it got: a
// path whose answers take longer than a send sends one probe a call.
func (p *pinger) sendChain(t *target) (int, error) {
	f := p.familyOf(t.family)
	k := p.chainLen
	if p.opts.Count > 0 {
		left := p.opts.Count - t.sent
		if p.opts.Deadline > 0 {
			left = p.opts.Count - t.received // -w: -c counts replies
		}
		k = max(1, min(k, left))
	}
	// Every probe of the chain carries the time it began (the kernel's
	// transmit timestamps time their round trips).
	now := time.Now()
	ps := p.chainProbes[:k]
	for i := range ps {
		b, err := p.echo(ps[i].B[:0], t, f, f.nextSeq+uint16(i), now)
		if err != nil {
			return 0, err
		}
		ps[i].B = b
	}
	n := f.chain.WriteChain(t.addr, ps)
	p.readAt, p.lastSend = time.Now(), now
	for i := range ps[:n] {
		c := &ps[i]
		pr := p.register(t, f)
		pr.sent = now.Sub(p.epoch)
		if !c.Stamp.IsZero() {
			pr.tx = c.Stamp.UnixNano()
		}
		if c.WErr != nil {
			if err := p.sendError(t, pr, c.WErr); err != nil {
				return i + 1, err
			}
			continue
		}
		if c.RErr == nil {
			if a, ok := accept(t.family, f.c, c.RB[:c.N], c.Meta, p.readAt); ok {
				p.handle(a)
			}
		}
	}
	if n == k && ps[n-1].RErr == nil {
		p.chainLen = min(2*p.chainLen, p.chainMax)
	} else {
		p.chainLen = max(1, n-1)
	}
	return max(n, 1), nil
}

// register takes the next wire sequence number of family f for a probe
// to t and keeps the probe, owed an answer.
func (p *pinger) register(t *target, f *family) *probe {
	wire := f.nextSeq
	f.nextSeq++
	t.sent++
	p.out.sent(t, t.sent)
	pr := f.slot(wire)
	if pr.t != nil && !pr.answered && !pr.expired {
		// 65536 probes of this family later, still owed an answer (a
		// sweep of more targets): its number is reused, so no answer
		// could be matched to it any more. Its wait ends now.
		pr.expired = true
		p.waiting--
		p.out.timeout(pr.t, pr.seq)
	}
	p.serial++
	*pr = probe{t: t, seq: t.sent, serial: uint32(p.serial)}
	// Answered probes leave the head of the queue here too, not only in
	// expire: a flood may send for minutes without the loop waiting.
	if q := p.fifo.items(); len(q) > 0 && q[0].done() {
		i := 1
		for i < len(q) && q[i].done() {
			i++
		}
		p.fifo.pop(i)
	}
	p.fifo.push(pr)
	p.waiting++
	t.pipe = max(t.pipe, t.sent-t.received-t.errors)
	return pr
}

// echo appends to b the echo request of wire sequence number wire to t.
// Its data is the payload, which for iputils' form starts with the time
// now as iputils writes it (a struct timeval: 64-bit seconds and
// microseconds, host order), so tcpdump -X shows what it shows for
// iputils. fping's (NoStamp) carries no time.
func (p *pinger) echo(b []byte, t *target, f *family, wire uint16, now time.Time) ([]byte, error) {
	payload := p.payload
	if len(payload) >= stampSize && !p.opts.NoStamp {
		binary.NativeEndian.PutUint64(payload[0:8], uint64(now.Unix()))
		binary.NativeEndian.PutUint64(payload[8:16], uint64(now.Nanosecond()/1000))
	}
	return icmp.AppendEcho(b, t.family, f.id, int(wire), payload)
}

// sendError reports a failed send as iputils does and decides whether
// the run goes on: it does (a host route may come back, a firewall rule
// may go), unless the error says the command line was wrong.
func (p *pinger) sendError(t *target, pr *probe, err error) error {
	errno := unwrapSyscall(err)
	switch {
	case errors.Is(errno, unix.EACCES) && !p.opts.Broadcast:
		// The kernel refuses a broadcast destination without
		// SO_BROADCAST: bad input, not a missing privilege.
		return report.Usagef("Do you want to ping broadcast? Then -b. If not, check your local firewall rules")
	case errors.Is(errno, unix.EPERM):
		// sendto's EPERM on an open socket is netfilter's verdict: the
		// network (here the local one) said no. The probe counts as lost.
		t.localDrops++
		if !p.opts.Quiet {
			fmt.Fprintf(p.stderr, "ping: sendto %s: %v: dropped by a local firewall rule (netfilter OUTPUT)\n", t.addr, errno)
		}
	case errors.Is(errno, unix.EMSGSIZE):
		// Larger than the path MTU with -M do: the local error of
		// iputils, counted among the errors.
		t.errors++
		p.answer(pr)
		mtu := p.routeMTU[t.addr]
		if mtu == 0 && p.opts.Netns == "" {
			mtu, _ = rawsock.RouteMTU(t.addr, p.opts.Iface)
		}
		fmt.Fprintf(p.stderr, "ping: local error: message too long, mtu=%d\n", mtu)
	default:
		fmt.Fprintf(p.stderr, "ping: sendto %s: %v\n", t.addr, errno)
	}
	return nil
}

func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

func (p *pinger) handle(a arrival) {
	if m := a.msg; m != nil {
		_, wire, _ := m.Quote.QuotedEcho()
		pr := p.pendingOf(a.family, uint16(wire))
		if pr == nil || m.Quote.Dst != pr.t.addr {
			return
		}
		pr.t.errors++
		if m.Kind == icmp.KindDestUnreachable && p.own.Has(a.meta.Src) {
			p.ownUnreach++
		}
		p.answer(pr)
		p.out.icmpError(pr.t, pr.seq, a.meta.Src, m)
		return
	}
	pr := p.pendingOf(a.family, uint16(a.seq))
	if pr == nil || a.meta.Src != pr.t.addr {
		return // a reply to a probe we no longer know, or from elsewhere
	}
	t := pr.t
	rtt := rttOf(p.sentAt(pr), pr.tx, a)
	if p.opts.UserLatency {
		rtt = a.at.Sub(p.sentAt(pr))
	}
	dup := t.replied.has(pr.seq)
	if dup {
		t.dups++
	} else {
		t.replied.set(pr.seq)
		t.received++
		t.stats.Add(rtt)
		t.maxRTT = max(t.maxRTT, report.Millis(rtt))
		if t.ewma == 0 {
			t.ewma = rtt
		} else {
			t.ewma += (rtt - t.ewma) / 8
		}
	}
	p.answer(pr)
	p.out.reply(t, pr.seq, a.meta, a.bytes, rtt, dup)
}

// rttOf measures a round trip from the kernel's transmit timestamp to
// its receive timestamp when it gave both: the time on the network, free
// of our process's own send and wake-up delays. Otherwise it measures on
// the monotonic clock from before the send, less the time the reply
// waited between the receive timestamp and our read of it.
func rttOf(sentAt time.Time, tx int64, a arrival) time.Duration {
	rtt := a.at.Sub(sentAt)
	if a.meta.KernelTime.IsZero() {
		return rtt
	}
	if tx != 0 {
		// Both are the kernel's wall clock; a step of it between them
		// would show as a result outside the monotonic bound.
		if k := time.Duration(a.meta.KernelTime.UnixNano() - tx); k > 0 && k <= rtt {
			return k
		}
	}
	queued := a.at.Round(0).Sub(a.meta.KernelTime)
	if queued > 0 && queued < rtt {
		rtt -= queued
	}
	return rtt
}

// waitFor is how long a probe to t is waited for.
func (p *pinger) waitFor(t *target) time.Duration {
	if p.opts.Wait > 0 {
		return p.opts.Wait
	}
	if t.received > 0 {
		return max(time.Duration(2*t.maxRTT*float64(time.Millisecond)), time.Millisecond)
	}
	return defaultLinger
}

// expire reports probes whose wait is over, oldest first.
func (p *pinger) expire(now time.Time) {
	q := p.fifo.items()
	i := 0
	for ; i < len(q); i++ {
		if q[i].done() {
			continue
		}
		pr := q[i].pr
		if now.Sub(p.sentAt(pr)) < p.waitFor(pr.t) {
			break
		}
		pr.expired = true
		p.waiting--
		p.out.timeout(pr.t, pr.seq)
	}
	p.fifo.pop(i)
}

// answer marks pr answered; a late answer, after its wait ended, was
// already counted out of waiting.
func (p *pinger) answer(pr *probe) {
	if !pr.answered && !pr.expired {
		p.waiting--
	}
	pr.answered = true
}

func (p *pinger) allAnswered() bool { return p.waiting == 0 }

func (p *pinger) finished(round int) bool {
	if p.wantsRound(round) {
		return false
	}
	return p.allAnswered()
}

func (p *pinger) nextWake(now time.Time, round int, nextRound time.Time) time.Duration {
	wake := time.Hour
	if p.wantsRound(round) {
		wake = nextRound.Sub(now)
	}
	for _, e := range p.fifo.items() {
		if !e.done() {
			wake = min(wake, p.sentAt(e.pr).Add(p.waitFor(e.pr.t)).Sub(now))
			break
		}
	}
	return max(wake, 0)
}

func (p *pinger) summarize() error {
	elapsed := p.lastSend.Sub(p.start)
	reachable := 0
	var failed []string
	lost := false
	for _, t := range p.targets {
		lost = lost || t.received < t.sent
	}
	if p.counters != nil && lost {
		// Probes went unanswered: what this host's kernel dropped on
		// the way out, said, so the loss is not blamed on the network.
		d := p.counters.Read().Sub(p.before)
		d.OwnUnreachable = uint64(p.ownUnreach)
		if !d.Zero() {
			fmt.Fprintln(p.stderr, "ping: local:", d)
			if jp, ok := p.out.(*jsonPrinter); ok {
				jp.local = &d
			}
		}
	}
	for _, t := range p.targets {
		if t.received > 0 {
			reachable++
		}
		p.out.summary(t, elapsed)
		if p.opts.Count > 0 && p.opts.Deadline > 0 && t.received < p.opts.Count && p.opts.MinReachable == 0 {
			failed = append(failed, fmt.Sprintf("%s: %d of %d replies before the deadline", t.name, t.received, p.opts.Count))
		}
		for _, e := range p.opts.Expects {
			if e.Metric.Name == "reachable" {
				continue
			}
			if v := targetMetric(t, e.Metric.Name); !e.Check(v) {
				failed = append(failed, t.name+": "+e.Failure(v))
			}
		}
	}
	for _, e := range p.opts.Expects {
		if e.Metric.Name == "reachable" && !e.Check(float64(reachable)) {
			failed = append(failed, e.Failure(float64(reachable)))
		}
	}
	quorum := len(p.targets)
	if p.opts.MinReachable > 0 {
		quorum = p.opts.MinReachable
		if reachable < quorum {
			failed = append(failed, fmt.Sprintf("%d of %d targets reachable, fewer than --min-reachable %d", reachable, len(p.targets), quorum))
		}
	}
	p.out.end(reachable, len(p.targets), failed)
	if err := p.out.flush(); err != nil {
		return err
	}
	for _, f := range failed {
		fmt.Fprintln(p.stderr, "ping:", f)
	}
	if reachable < quorum || len(failed) > 0 {
		return report.ErrNetwork
	}
	return nil
}

func targetMetric(t *target, name string) float64 {
	s := t.stats.Summary()
	switch name {
	case "loss":
		return lossPct(t)
	case "sent":
		return float64(t.sent)
	case "received":
		return float64(t.received)
	case "min":
		return s.Min
	case "avg":
		return s.Avg
	case "max":
		return s.Max
	case "mdev":
		return s.Mdev
	case "p50":
		return s.P50
	case "p90":
		return s.P90
	case "p99":
		return s.P99
	case "jitter":
		return s.Jitter
	}
	return 0
}

func lossPct(t *target) float64 {
	if t.sent == 0 {
		return 0
	}
	return 100 * float64(t.sent-t.received) / float64(t.sent)
}
