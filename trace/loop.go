package trace

import (
	"context"
	"time"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/probe"
	"github.com/rawkit/rawkit/rawsock"
)

// arrival is a packet a reader passed to the loop.
type arrival struct {
	proto int // probe.ProtoTCP or ProtoUDP from the probe socket; 0 for ICMP
	b     []byte
	meta  rawsock.Meta
	at    time.Time
}

// startReaders starts a reader per socket for the whole run; close stops
// them by closing the sockets.
func (t *tracer) startReaders() {
	ctx, cancel := context.WithCancel(context.Background())
	t.stopReaders = cancel
	t.arrivals = make(chan arrival, 256)
	go read(ctx, t.icmpC, 0, t.arrivals)
	if t.tcpC != nil {
		go read(ctx, t.tcpC, probe.ProtoTCP, t.arrivals)
	}
	if t.udpC != nil {
		go read(ctx, t.udpC, probe.ProtoUDP, t.arrivals)
	}
}

// read passes every packet of c to the loop until c is closed or ctx ends.
func read(ctx context.Context, c rawsock.Conn, proto int, out chan<- arrival) {
	for {
		buf := make([]byte, 1500)
		n, meta, err := c.ReadMsg(buf)
		at := time.Now()
		if err != nil {
			return
		}
		select {
		case out <- arrival{proto: proto, b: buf[:n], meta: meta, at: at}:
		case <-ctx.Done():
			return
		}
	}
}

// handle matches an arrival to its probe and records the answer.
func (t *tracer) handle(a arrival) {
	var p *probeRec
	var r *reply
	switch a.proto {
	case probe.ProtoTCP:
		p, r = t.matchTCP(a.b, a.meta.Src)
	case probe.ProtoUDP:
		p, r = t.matchUDP(a.b, a.meta.Src)
	default:
		if m, err := icmp.Parse(t.family, a.b); err == nil {
			p, r = t.match(m, a.meta.Src)
		}
	}
	if p != nil {
		t.answer(p, r, a.at, a.meta)
		t.cancelBeyondLimit()
	}
}

// cancelBeyondLimit gives up the probes in flight beyond the last TTL
// worth probing: the destination or an unreachable hop answered nearer.
func (t *tracer) cancelBeyondLimit() {
	for _, p := range t.probes[:t.next] {
		if p.sent && !p.done && p.ttl > t.limit {
			p.done = true
			t.inflight--
		}
	}
}

// hopDone reports whether every probe of ttl has its answer or timed out.
func (t *tracer) hopDone(ttl int) bool {
	for _, p := range t.probes {
		if p.ttl == ttl && (!p.sent || !p.done) {
			return false
		}
	}
	return true
}

// hop returns the probes of ttl in send order.
func (t *tracer) hop(ttl int) []*probeRec {
	var out []*probeRec
	for _, p := range t.probes {
		if p.ttl == ttl {
			out = append(out, p)
		}
	}
	return out
}

// cycle sends the scheduled probes, Parallel at a time, and calls done
// for each TTL, in order, once all its probes are answered or timed out,
// up to the limit. It returns early, without error, when ctx ends.
func (t *tracer) cycle(ctx context.Context, first int, flush func() error, done func(ttl int, probes []*probeRec)) error {
	arrivals := t.arrivals
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	printed := first - 1
	for {
		for t.inflight < t.opts.Parallel && len(t.retry) > 0 && t.paceLeft() == 0 {
			p := t.retry[0]
			t.retry = t.retry[1:]
			if err := t.send(p); err != nil {
				return err
			}
		}
		for t.inflight < t.opts.Parallel && t.next < len(t.probes) && t.probes[t.next].ttl <= t.limit && t.paceLeft() == 0 {
			p := t.probes[t.next]
			t.next++
			if err := t.send(p); err != nil {
				return err
			}
		}
		now := time.Now()
		w := t.wait()
		wake := w
		pace := t.paceLeft()
		if pace > 0 {
			wake = pace
		}
		for _, p := range t.probes[:t.next] {
			if !p.sent || p.done {
				continue
			}
			if left := p.sentAt.Add(w).Sub(now); left <= 0 {
				p.done = true // no answer: a "*"
				t.inflight--
			} else {
				wake = min(wake, left)
			}
		}
		for ttl := printed + 1; ttl <= t.limit && t.hopDone(ttl); ttl++ {
			done(ttl, t.hop(ttl))
			printed = ttl
		}
		if printed >= t.limit {
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		if t.inflight == 0 && pace == 0 {
			if len(t.retry) > 0 || t.next < len(t.probes) && t.probes[t.next].ttl <= t.limit {
				continue // answered at once (a local error): send on
			}
			// Nothing in flight and nothing to send: only a hop that can
			// never complete would be left, which cannot happen.
		}
		timer.Reset(wake)
		select {
		case a := <-arrivals:
			t.handle(a)
			for more := true; more; {
				select {
				case a := <-arrivals:
					t.handle(a)
				default:
					more = false
				}
			}
		case <-timer.C:
		case <-ctx.Done():
			return nil
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// paceLeft is how long -z still holds the next probe back.
func (t *tracer) paceLeft() time.Duration {
	if t.opts.SendWait <= 0 || t.lastTx.IsZero() {
		return 0
	}
	return max(time.Until(t.lastTx.Add(t.opts.SendWait)), 0)
}

// runOnce is a classic trace: each hop printed as it completes.
func (t *tracer) runOnce(ctx context.Context, out printer) (result, error) {
	t.schedule(t.opts.FirstTTL, t.opts.MaxTTL)
	res := result{method: t.opts.Method}
	err := t.cycle(ctx, t.opts.FirstTTL, out.flush, func(ttl int, probes []*probeRec) {
		out.hop(ttl, probes)
		for _, p := range probes {
			if p.reply != nil && p.reply.addr.IsValid() {
				res.lastHop = ttl
			}
		}
	})
	res.reached = t.reached
	res.paths = t.pathCount()
	if t.reached {
		res.hops = t.limit
	} else {
		res.hops = res.lastHop
	}
	return res, err
}

// pathCount is the largest number of distinct addresses answering at one
// TTL: 1 on a single path, more where load balancers split flows.
func (t *tracer) pathCount() int {
	most := 0
	for ttl := t.opts.FirstTTL; ttl <= t.limit; ttl++ {
		seen := map[string]bool{}
		for _, p := range t.hop(ttl) {
			if p.reply != nil && p.reply.addr.IsValid() {
				seen[p.reply.addr.String()] = true
			}
		}
		most = max(most, len(seen))
	}
	return most
}
