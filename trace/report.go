package trace

import (
	"context"
	"math"
	"net/netip"
	"time"

	"github.com/rawkit/rawkit/internal/localdrop"
	"github.com/rawkit/rawkit/report"
)

// result is what a run found, for the summary and --expect.
type result struct {
	method  Method
	reached bool
	hops    int
	lastHop int
	paths   int
	table   []*hopStats // report mode: one row per TTL
	// local is what the host's kernel counted as dropped on the way out
	// during an unanswered run, when it counted any.
	local *localdrop.Snapshot
}

func (r result) metric(name string) float64 {
	switch name {
	case "reached":
		if r.reached {
			return 1
		}
		return 0
	case "hops":
		return float64(r.hops)
	case "loss", "avg":
		if len(r.table) == 0 {
			return 0
		}
		last := r.table[len(r.table)-1]
		if name == "loss" {
			return last.lossPct()
		}
		return last.avg()
	}
	return 0
}

// hopStats are one TTL's figures over the cycles of a report.
type hopStats struct {
	ttl         int
	addrs       []netip.Addr // in order of first answer
	sent, recv  int
	last        float64 // ms
	best, worst float64
	sum, sum2   float64
	jitter      float64 // sum of |consecutive differences|
	// rateLimited marks a hop whose loss does not persist to later hops:
	// the router limits the ICMP it sends, the path itself loses nothing.
	rateLimited bool
}

func (h *hopStats) add(p *probeRec) {
	h.sent++
	if p.reply == nil || !p.reply.addr.IsValid() {
		return
	}
	v := report.Millis(p.reply.rtt)
	if h.recv > 0 {
		h.jitter += math.Abs(v - h.last)
		h.best, h.worst = min(h.best, v), max(h.worst, v)
	} else {
		h.best, h.worst = v, v
	}
	h.recv++
	h.last = v
	h.sum += v
	h.sum2 += v * v
	known := false
	for _, a := range h.addrs {
		known = known || a == p.reply.addr
	}
	if !known {
		h.addrs = append(h.addrs, p.reply.addr)
	}
}

func (h *hopStats) lossPct() float64 {
	if h.sent == 0 {
		return 0
	}
	return 100 * float64(h.sent-h.recv) / float64(h.sent)
}

func (h *hopStats) avg() float64 {
	if h.recv == 0 {
		return 0
	}
	return h.sum / float64(h.recv)
}

func (h *hopStats) stdev() float64 {
	if h.recv == 0 {
		return 0
	}
	a := h.avg()
	return math.Sqrt(math.Max(0, h.sum2/float64(h.recv)-a*a))
}

func (h *hopStats) meanJitter() float64 {
	if h.recv < 2 {
		return 0
	}
	return h.jitter / float64(h.recv-1)
}

// runReport traces Cycles times, one probe per hop each time, and returns
// per-hop statistics.
func (t *tracer) runReport(ctx context.Context, out printer) (result, error) {
	rows := map[int]*hopStats{}
	live, _ := out.(*mtrLive)
	paused := false
	// key applies one of the live view's keys (mtr's: r restarts the
	// statistics, p pauses, space resumes).
	key := func(k byte) {
		switch k {
		case 'r', 'R':
			clear(rows)
		case 'p', 'P':
			paused = true
		case ' ':
			paused = false
		}
	}
	var keys chan byte
	if live != nil {
		ctx = live.watchKeys(ctx)
		keys = live.keys
		live.draw(nil)
	}
	for c := 0; c < t.opts.Cycles && ctx.Err() == nil; c++ {
		if c > 0 {
			deadline := time.After(t.opts.Interval)
		wait:
			for {
				select {
				case <-deadline:
					if !paused {
						break wait
					}
				case k := <-keys:
					key(k)
					live.draw(t.tableOf(rows))
					continue
				case <-ctx.Done():
				}
				if ctx.Err() != nil {
					break wait
				}
			}
			if ctx.Err() != nil {
				break
			}
		}
		t.probes, t.next, t.inflight = nil, 0, 0
		t.schedule(t.opts.FirstTTL, t.limit)
		err := t.cycle(ctx, t.opts.FirstTTL, func() error { return nil }, func(ttl int, probes []*probeRec) {
			h := rows[ttl]
			if h == nil {
				h = &hopStats{ttl: ttl}
				rows[ttl] = h
			}
			for _, p := range probes {
				h.add(p)
			}
			if live != nil {
				for len(keys) > 0 {
					key(<-keys)
				}
				live.draw(t.tableOf(rows))
			}
		})
		if err != nil {
			return result{}, err
		}
	}
	res := result{method: t.opts.Method, reached: t.reached, paths: 1, table: t.tableOf(rows)}
	for _, h := range res.table {
		if h.recv > 0 {
			res.lastHop = h.ttl
		}
	}
	// A hop losing what a later hop does not lose only rate-limits the
	// ICMP errors it sends (mtr's classic false alarm).
	for i, h := range res.table {
		for _, later := range res.table[i+1:] {
			if later.recv > 0 && later.lossPct() < h.lossPct() {
				h.rateLimited = true
			}
		}
	}
	res.hops = res.lastHop
	if t.reached {
		res.hops = t.limit
	}
	return res, nil
}

// tableOf is the report's rows in TTL order, up to the destination's.
func (t *tracer) tableOf(rows map[int]*hopStats) []*hopStats {
	var table []*hopStats
	for ttl := t.opts.FirstTTL; ttl <= t.limit; ttl++ {
		if h := rows[ttl]; h != nil {
			table = append(table, h)
		}
	}
	return table
}
