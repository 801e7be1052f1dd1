package trace

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/internal/hosts"
	"github.com/rawkit/rawkit/internal/localdrop"
	"github.com/rawkit/rawkit/probe"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
	"golang.org/x/sys/unix"
)

// A probe is one packet sent at one TTL, registered before it is sent.
type probeRec struct {
	id                uint16
	ttl, flow, query  int
	size              int
	sentAt, txAt      time.Time
	sent, done, stale bool
	reply             *reply
}

// reply is what answered a probe.
type reply struct {
	addr       netip.Addr
	rtt        time.Duration
	annotation string // traceroute's !H, !N, ... ; "" for none
	mpls       []icmp.MPLSLabel
	mtu        int  // the MTU a packet-too-big reported
	recvTTL    int  // the answer's TTL as received, -1 or 0 when unknown
	reached    bool // the destination itself answered
	final      bool // nothing beyond this hop will answer (reached, or unreachable)
}

type tracer struct {
	opts    Options
	dst     netip.Addr
	src     netip.Addr
	family  int
	net     rawsock.Network
	icmpC   rawsock.Conn
	sendC   rawsock.Conn // UDP or TCP probes
	tcpC    rawsock.Conn // SYN-ACK and RST answers
	udpC    rawsock.Conn // UDP answers from a service at the fixed port
	lastTx  time.Time    // the last send, for -z
	icmpID  uint16
	cookie  uint16 // high half of TCP sequence numbers
	sport   uint16 // first source port; flow f uses sport+f
	flowSum uint16 // ICMP checksum of flow 0; flow f uses flowSum+f

	probes   []*probeRec
	byID     map[uint16]*probeRec
	nextID   uint16
	next     int
	inflight int
	limit    int // the last TTL worth probing: the destination's, or MaxTTL
	reached  bool
	maxRTT   time.Duration
	pmtu     int
	mtuSeen  map[int]int // TTL -> MTU first in force there
	buf      []byte
	retry    []*probeRec // probes to send again, smaller (--mtu)
	routeMTU int         // the local route's MTU, for --mtu's first shrink
	// localDrops counts probes a local firewall rule dropped (EPERM).
	localDrops int
	// own is this host's addresses; ownUnreach counts the probes its own
	// kernel answered unreachable (the next hop did not answer ARP/ND).
	own        localdrop.Own
	ownUnreach int
	// counters are the namespace's drop counters (nil with a fake
	// network), opened with the sockets; closed with the tracer.
	counters *localdrop.Counters

	arrivals    chan arrival
	stopReaders func()
}

// Run traces the route to opts.Target, writing hops to stdout as they
// complete. Its error maps to the exit code with report.ExitCode: nil
// when the destination was reached and every --expect held,
// report.ErrNetwork when not.
func Run(ctx context.Context, opts Options, stdout, stderr io.Writer) error {
	if err := opts.validate(); err != nil {
		return err
	}
	t, err := newTracer(ctx, opts)
	var nr *noRouteError
	if errors.As(err, &nr) && !opts.JSON {
		// As traceroute: the title, then the kernel's refusal. No route
		// is the network saying no (1), not bad input.
		// traceroute ends its title line only when the first hop begins.
		fmt.Fprintf(stdout, "traceroute to %s (%s), %d hops max, %d byte packets", opts.Target, nr.dst, opts.MaxTTL, nr.packetLen)
		fmt.Fprintf(stderr, "connect: %s\n", report.Capitalize(unwrapErrno(nr.err).Error()))
		return report.ErrNetwork
	}
	if err != nil {
		return err
	}
	defer t.close()
	var out printer
	names := newNamer(opts, t.dst)
	switch {
	case opts.JSON:
		out = &jsonPrinter{w: report.NewJSONWriter(stdout, "traceroute"), t: t, names: names}
	case opts.Report && opts.Mtr != nil && opts.Mtr.Live != nil:
		out = newMtrLive(stdout, t, names, opts.Mtr)
	case opts.Report && opts.Mtr != nil:
		out = &mtrPrinter{w: bufio.NewWriter(stdout), t: t, names: names, m: opts.Mtr}
	case opts.Report:
		out = &reportPrinter{w: bufio.NewWriter(stdout), t: t, names: names}
	default:
		out = &textPrinter{w: stdout, t: t, names: names}
	}
	counters := t.counters
	var before localdrop.Snapshot
	if counters != nil {
		before = counters.Read()
	}
	out.start()
	var res result
	if opts.Report {
		res, err = t.runReport(ctx, out)
	} else {
		res, err = t.runOnce(ctx, out)
	}
	if err != nil {
		if live, ok := out.(*mtrLive); ok {
			live.summary(res) // give the terminal its screen back
			live.flush()
		}
		return err
	}
	if counters != nil && !res.reached {
		// Unanswered: what this host's kernel dropped on the way out.
		d := counters.Read().Sub(before)
		d.OwnUnreachable = uint64(t.ownUnreach)
		if !d.Zero() {
			res.local = &d
		}
	}
	out.summary(res)
	if err := out.flush(); err != nil {
		return err
	}
	if res.local != nil {
		fmt.Fprintln(stderr, "traceroute: local:", res.local)
	}
	if t.localDrops > 0 {
		// The reason is here, not on the network: say so.
		fmt.Fprintf(stderr, "traceroute: local: %d probes dropped by a local firewall rule (netfilter OUTPUT)\n", t.localDrops)
	}
	failed := false
	for _, e := range opts.Expects {
		if v := res.metric(e.Metric.Name); !e.Check(v) {
			fmt.Fprintln(stderr, "traceroute:", e.Failure(v))
			failed = true
		}
	}
	if !res.reached || failed {
		return report.ErrNetwork
	}
	return nil
}

func (o *Options) validate() error {
	switch {
	case o.Family != 0 && o.Family != 4 && o.Family != 6:
		return report.Usagef("family %d: use -4 or -6", o.Family)
	case o.FirstTTL < 0 || o.FirstTTL > 255:
		return report.Usagef("first hop %d out of range", o.FirstTTL)
	case o.MaxTTL < 0 || o.MaxTTL > 255:
		return report.Usagef("max hops %d out of range (1 to 255)", o.MaxTTL)
	case o.Queries < 0 || o.Queries > 10:
		return report.Usagef("no more than 10 probes per hop")
	case o.Parallel < 0 || o.Parallel > 1024:
		return report.Usagef("simultaneous probes %d out of range (1 to 1024)", o.Parallel)
	case o.Paths < 0 || o.Paths > 256:
		return report.Usagef("paths %d out of range (1 to 256)", o.Paths)
	case o.Port < 0 || o.Port > 65535:
		return report.Usagef("port %d out of range", o.Port)
	case o.Wait < 0 || o.Interval < 0 || o.Cycles < 0:
		return report.Usagef("negative wait, interval or cycles")
	case o.PacketLen < 0 || o.PacketLen > 65000:
		return report.Usagef("packet length %d out of range", o.PacketLen)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.FirstTTL, 1)
	def(&o.MaxTTL, 30)
	def(&o.Queries, 3)
	def(&o.Parallel, 16)
	def(&o.Paths, 1)
	def(&o.Cycles, 10)
	if o.FirstTTL > o.MaxTTL {
		return report.Usagef("first hop %d is beyond max hops %d", o.FirstTTL, o.MaxTTL)
	}
	if o.Port == 0 {
		o.Port = map[Method]int{UDP: 33434, UDPFixed: 53, TCP: 80}[o.Method]
	}
	if o.Interval == 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.DNSBudget == 0 {
		o.DNSBudget = 2 * time.Second
	}
	if o.Report {
		o.Queries, o.Paths = 1, 1
	}
	return nil
}

// noRouteError is a destination the kernel has no route to.
type noRouteError struct {
	dst       netip.Addr
	packetLen int
	err       error
}

func (e *noRouteError) Error() string {
	return fmt.Sprintf("no route to %v: %v", e.dst, unwrapErrno(e.err))
}
func (e *noRouteError) Unwrap() error { return &report.Error{Code: report.ExitNetwork, Err: e.err} }

// unwrapErrno is the system call's own error, without the call's name.
func unwrapErrno(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

func random16() uint16 {
	var b [2]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint16(b[:])
}

func newTracer(ctx context.Context, opts Options) (*tracer, error) {
	dst, err := hosts.Lookup(ctx, opts.Target, opts.Family, opts.Resolve)
	if err != nil {
		return nil, err
	}
	family := 4
	if dst.Is6() {
		family = 6
	}
	if opts.PacketLen == 0 {
		opts.PacketLen = 60
		if family == 6 {
			opts.PacketLen = 80
		}
	}
	network := opts.Network
	if network == nil {
		network = rawsock.System
	}
	var src netip.Addr
	err = rawsock.InNetns(opts.Netns, func() (err error) {
		src, err = network.SourceFor(dst, opts.Iface, opts.Source)
		return err
	})
	if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
		return nil, &noRouteError{dst: dst, packetLen: opts.PacketLen, err: err}
	}
	if err != nil {
		return nil, err
	}
	t := &tracer{opts: opts, net: network, dst: dst, src: src, family: family, byID: map[uint16]*probeRec{},
		icmpID: random16(), cookie: random16(), sport: 32768 + random16()%16384, flowSum: random16(),
		limit: opts.MaxTTL, pmtu: opts.PacketLen, mtuSeen: map[int]int{}}
	if opts.MTU {
		// As traceroute: start as large as IP allows and shrink to the
		// local MTU at the first send.
		t.pmtu = 65000
	}
	// Bound to the source the checksums were computed over: on a host
	// with equal-cost routes the kernel could otherwise pick another
	// source per packet, and the probe would arrive with a bad checksum.
	sockOpts := rawsock.Options{Iface: opts.Iface, Source: src, TOS: opts.TOS, DontRoute: opts.DontRoute,
		Debug: opts.Debug, Mark: opts.Mark}
	if opts.DontFragment {
		sockOpts.PMTU = "do"
	}
	if opts.MTU {
		sockOpts.PMTU = "probe" // DF set, the kernel's own path MTU ignored
	}
	err = rawsock.InNetns(opts.Netns, func() error {
		if err := t.open(sockOpts); err != nil {
			return err
		}
		if opts.Network == nil {
			// The namespace's counters and the eBPF drop watch, while
			// the capabilities it needs are held.
			t.counters, t.own = localdrop.Open(), localdrop.OwnAddrs()
			t.counters.WatchDrops([]netip.Addr{t.dst})
		}
		return nil
	})
	if err != nil {
		t.close()
		return nil, err
	}
	if err := rawsock.DropPrivileges(); err != nil {
		t.close()
		return nil, fmt.Errorf("dropping capabilities: %w", err)
	}
	t.startReaders()
	return t, nil
}

// open opens the tracer's sockets (in the namespace of --netns).
func (t *tracer) open(sockOpts rawsock.Options) error {
	opts, family := t.opts, t.family
	var err error
	if opts.MTU {
		// Asked here, in the namespace the probes leave from.
		t.routeMTU, _ = t.net.RouteMTU(t.dst, opts.Iface)
	}
	t.icmpC, err = t.net.ListenICMP(rawsock.ICMPConfig{Family: family, Mode: rawsock.Privileged, ID: int(t.icmpID), Options: sockOpts})
	if err != nil {
		return err
	}
	switch opts.Method {
	case UDP, UDPFixed:
		cfg := rawsock.IPConfig{Family: family, Protocol: probe.ProtoUDP, Options: sockOpts}
		if !opts.Classic {
			// The port is fixed: a service there may answer in UDP, which
			// reaches the destination as surely as a port unreachable.
			cfg.Filter = rawsock.PortFilter(family, 0, uint16(opts.Port))
		}
		t.sendC, err = t.net.ListenIP(cfg)
		if !opts.Classic {
			t.udpC = t.sendC
		}
	case TCP:
		t.sendC, err = t.net.ListenIP(rawsock.IPConfig{Family: family, Protocol: probe.ProtoTCP, Options: sockOpts,
			Filter: rawsock.PortFilter(family, 0, uint16(opts.Port))})
		t.tcpC = t.sendC
	}
	return err
}

func (t *tracer) close() {
	if t.stopReaders != nil {
		t.stopReaders()
	}
	if t.icmpC != nil {
		t.icmpC.Close()
	}
	if t.sendC != nil {
		t.sendC.Close()
	}
	t.counters.Close()
}

// schedule appends the probes of TTLs first..last: queries × paths each.
func (t *tracer) schedule(first, last int) {
	for ttl := first; ttl <= last; ttl++ {
		for q := 0; q < t.opts.Queries; q++ {
			for f := 0; f < t.opts.Paths; f++ {
				t.probes = append(t.probes, &probeRec{ttl: ttl, flow: f, query: q})
			}
		}
	}
}

// wait is how long a probe is waited for now.
func (t *tracer) wait() time.Duration {
	if t.opts.Wait > 0 {
		return t.opts.Wait
	}
	if t.maxRTT == 0 {
		return MaxWait
	}
	return min(max(10*t.maxRTT, MinWait), MaxWait)
}

// send sends the probe.
func (t *tracer) send(p *probeRec) error {
	t.nextID++
	if t.nextID == 0 {
		t.nextID = 1
	}
	if old := t.byID[t.nextID]; old != nil {
		old.stale = true
	}
	p.id = t.nextID
	p.size = t.pmtu
	t.byID[p.id] = p
	var ipHeader int = 20
	if t.family == 6 {
		ipHeader = 40
	}
	n := max(p.size-ipHeader, 0)
	var err error
	b := t.buf[:0]
	switch t.opts.Method {
	case UDP, UDPFixed:
		dport := uint16(t.opts.Port)
		if t.opts.Classic && t.opts.Method == UDP {
			dport += p.id - 1 // a new port per probe, as traceroute
		}
		b, err = probe.UDP(b, t.src, t.dst, t.sport+uint16(p.flow), dport, p.id, n)
	case ICMP:
		b = probe.ICMPEcho(b, t.family, t.src, t.dst, t.icmpID, p.id, t.flowSum+uint16(p.flow), n)
	case TCP:
		b = probe.TCPSyn(b, t.src, t.dst, t.sport+uint16(p.flow), uint16(t.opts.Port), uint32(t.cookie)<<16|uint32(p.id))
	}
	if err != nil {
		return err
	}
	t.buf = b
	p.sent = true
	t.inflight++
	p.sentAt = time.Now()
	if t.opts.Method == ICMP {
		p.txAt, err = t.icmpC.WriteToTTL(b, t.dst, p.ttl)
	} else {
		p.txAt, err = t.sendC.WriteToTTL(b, t.dst, p.ttl)
	}
	t.lastTx = p.sentAt
	if err != nil && t.opts.MTU && errors.Is(err, unix.EMSGSIZE) {
		// Too big for the local link: what fits is the route's MTU.
		if mtu := t.routeMTU; mtu > 0 && mtu < p.size {
			t.inflight--
			t.answer(p, &reply{mtu: mtu}, time.Now(), rawsock.Meta{})
			return nil
		}
	}
	if errors.Is(err, unix.EPERM) {
		// On an open raw socket EPERM is netfilter's verdict (a local
		// OUTPUT rule dropped the probe): no answer, counted and said.
		t.localDrops++
		t.inflight--
		t.answer(p, &reply{}, time.Now(), rawsock.Meta{})
		return nil
	}
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return err
		}
		// A local refusal (no route, message too long) answers the probe
		// at once, as traceroute shows it.
		t.answer(p, &reply{annotation: "!" + shortErr(err), final: true}, time.Now(), rawsock.Meta{})
	}
	return nil
}

func shortErr(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}

// answer records r as p's reply, if p is still waiting.
func (t *tracer) answer(p *probeRec, r *reply, at time.Time, meta rawsock.Meta) {
	if p.done || p.stale {
		return
	}
	p.done = true
	t.inflight--
	if r.addr.IsValid() {
		r.rtt = rtt(p, at, meta)
		t.maxRTT = max(t.maxRTT, r.rtt)
	}
	p.reply = r
	if r.annotation != "" && t.own.Has(r.addr) {
		t.ownUnreach++
	}
	if r.final && p.ttl < t.limit {
		t.limit = p.ttl
	}
	if r.reached {
		t.reached = true
	}
	r.recvTTL = meta.TTL
	if r.mtu > 0 && t.opts.MTU && r.mtu < p.size {
		// Too big for the path: the same probe again, smaller.
		t.pmtu = r.mtu
		if _, seen := t.mtuSeen[p.ttl]; !seen {
			t.mtuSeen[p.ttl] = r.mtu
		}
		p.reply = nil
		p.done, p.sent = false, false
		t.retry = append(t.retry, p)
	}
}

// rtt is the kernel's receive time less its transmit time when it gave
// both, else the monotonic time since the send.
func rtt(p *probeRec, at time.Time, meta rawsock.Meta) time.Duration {
	d := at.Sub(p.sentAt)
	if !meta.KernelTime.IsZero() && !p.txAt.IsZero() {
		if k := meta.KernelTime.Sub(p.txAt); k > 0 && k <= d {
			return k
		}
	}
	if !meta.KernelTime.IsZero() {
		if q := at.Round(0).Sub(meta.KernelTime); q > 0 && q < d {
			d -= q
		}
	}
	return d
}

// match finds the probe an ICMP message answers, and what it says.
func (t *tracer) match(m *icmp.Message, from netip.Addr) (*probeRec, *reply) {
	if m.Kind == icmp.KindEchoReply {
		if t.opts.Method != ICMP || uint16(m.ID) != t.icmpID || from != t.dst {
			return nil, nil
		}
		return t.byID[uint16(m.Seq)], &reply{addr: from, reached: true, final: true}
	}
	if !m.IsError() || m.Quote == nil || m.Quote.Dst != t.dst {
		return nil, nil
	}
	q := m.Quote
	var id uint16
	switch t.opts.Method {
	case UDP, UDPFixed:
		h, ok := probe.ParseUDP(q.Transport)
		if !ok || q.Protocol != probe.ProtoUDP || h.SrcPort-t.sport >= uint16(t.opts.Paths) {
			return nil, nil
		}
		id = h.Checksum
	case ICMP:
		qid, seq, ok := q.QuotedEcho()
		if !ok || uint16(qid) != t.icmpID {
			return nil, nil
		}
		id = uint16(seq)
	case TCP:
		h, ok := probe.ParseTCP(append(q.Transport, make([]byte, 14)...))
		if len(q.Transport) < 8 || !ok || q.Protocol != probe.ProtoTCP || uint16(h.Seq>>16) != t.cookie {
			return nil, nil
		}
		id = uint16(h.Seq)
	}
	p := t.byID[id]
	if p == nil {
		return nil, nil
	}
	r := &reply{addr: from, annotation: m.Annotation(), mpls: m.MPLS}
	if m.Kind == icmp.KindPacketTooBig {
		r.mtu = m.MTU
		if t.opts.MTU {
			r.annotation = ""
		}
	}
	if m.Kind == icmp.KindDestUnreachable {
		r.final = true
		if from == t.dst {
			r.reached = true
		}
	}
	return p, r
}

// matchUDP finds the probe a UDP answer from the destination's port
// answers. An echo service returns the probe's payload, from which the
// probe's checksum, its identity, follows; any other service's answer
// goes to the oldest probe still waiting.
func (t *tracer) matchUDP(b []byte, from netip.Addr) (*probeRec, *reply) {
	h, ok := probe.ParseUDP(b)
	if !ok || from != t.dst || h.SrcPort != uint16(t.opts.Port) || h.DstPort-t.sport >= uint16(t.opts.Paths) {
		return nil, nil
	}
	r := &reply{addr: from, reached: true, final: true}
	id := probe.UDPEchoID(t.src, t.dst, h.DstPort, h.SrcPort, b[8:])
	if p := t.byID[id]; p != nil && p.sent {
		return p, r // answer ignores it if it was given up already
	}
	// Not an echo: the oldest probe still waiting beyond every hop a
	// router has answered for.
	beyond := 0
	for _, p := range t.probes[:t.next] {
		if p.reply != nil && p.reply.addr.IsValid() && !p.reply.reached {
			beyond = max(beyond, p.ttl)
		}
	}
	var oldest *probeRec
	for _, p := range t.probes[:t.next] {
		if p.sent && !p.done && !p.stale && p.ttl > beyond && (oldest == nil || p.sentAt.Before(oldest.sentAt)) {
			oldest = p
		}
	}
	return oldest, r
}

// matchTCP finds the probe a SYN-ACK or RST from the destination answers.
func (t *tracer) matchTCP(b []byte, from netip.Addr) (*probeRec, *reply) {
	h, ok := probe.ParseTCP(b)
	if !ok || from != t.dst || h.SrcPort != uint16(t.opts.Port) || h.DstPort-t.sport >= uint16(t.opts.Paths) {
		return nil, nil
	}
	if h.Flags&probe.FlagRST == 0 && h.Flags&(probe.FlagSYN|probe.FlagACK) != probe.FlagSYN|probe.FlagACK {
		return nil, nil
	}
	seq := h.Ack - 1
	if uint16(seq>>16) != t.cookie {
		return nil, nil
	}
	return t.byID[uint16(seq)], &reply{addr: from, reached: true, final: true}
}
