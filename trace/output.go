package trace

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/internal/localdrop"
	"github.com/rawkit/rawkit/report"
)

// printer receives a run's events in order.
type printer interface {
	start()
	hop(ttl int, probes []*probeRec)
	summary(res result)
	flush() error
}

// namer does reverse DNS within one time budget for the whole run, so a
// path through routers without names cannot make a trace slow.
type namer struct {
	numeric bool
	budget  time.Time
	lookup  func(ctx context.Context, addr string) ([]string, error)
	mu      sync.Mutex
	cache   map[netip.Addr]string
}

func newNamer(opts Options, _ netip.Addr) *namer {
	lookup := opts.Reverse
	if lookup == nil {
		lookup = net.DefaultResolver.LookupAddr
	}
	return &namer{numeric: opts.Numeric, budget: time.Now().Add(opts.DNSBudget), lookup: lookup, cache: map[netip.Addr]string{}}
}

// names looks the addresses up together and returns traceroute's
// "name (address)" for each, or just the address with -n.
func (n *namer) names(addrs []netip.Addr) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	if n.numeric {
		for _, a := range addrs {
			out[a] = a.String()
		}
		return out
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithDeadline(context.Background(), n.budget)
	defer cancel()
	for _, a := range addrs {
		n.mu.Lock()
		_, ok := n.cache[a]
		n.mu.Unlock()
		if ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := a.String()
			if names, err := n.lookup(ctx, a.String()); err == nil && len(names) > 0 {
				name = strings.TrimSuffix(names[0], ".")
			}
			n.mu.Lock()
			n.cache[a] = name
			n.mu.Unlock()
		}()
	}
	wg.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range addrs {
		out[a] = fmt.Sprintf("%s (%s)", n.cache[a], a)
	}
	return out
}

func answered(probes []*probeRec) []netip.Addr {
	var addrs []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, p := range probes {
		if p.reply != nil && p.reply.addr.IsValid() && !seen[p.reply.addr] {
			seen[p.reply.addr] = true
			addrs = append(addrs, p.reply.addr)
		}
	}
	return addrs
}

// mplsText is how traceroute -e shows a label stack.
func mplsText(labels []icmp.MPLSLabel) string {
	var parts []string
	for _, l := range labels {
		s := 0
		if l.S {
			s = 1
		}
		parts = append(parts, fmt.Sprintf("<MPLS:L=%d,E=%d,S=%d,T=%d>", l.Label, l.TC, s, l.TTL))
	}
	return strings.Join(parts, " ")
}

// textPrinter writes what Linux traceroute writes.
type textPrinter struct {
	w     io.Writer
	bw    *bufio.Writer
	t     *tracer
	names *namer
}

func (p *textPrinter) start() {
	p.bw = bufio.NewWriter(p.w)
	o := p.t.opts
	paths := ""
	if o.Paths > 1 {
		paths = fmt.Sprintf(", %d paths", o.Paths)
	}
	fmt.Fprintf(p.bw, "traceroute to %s (%s), %d hops max, %d byte packets%s\n", o.Target, p.t.dst, o.MaxTTL, p.t.pmtu, paths)
}

func (p *textPrinter) hop(ttl int, probes []*probeRec) {
	names := p.names.names(answered(probes))
	fmt.Fprintf(p.bw, "%2d ", ttl)
	if p.t.opts.Paths > 1 {
		p.multipath(probes, names)
		return
	}
	var last netip.Addr
	mtuShown := false
	for _, pr := range probes {
		r := pr.reply
		if r == nil || !r.addr.IsValid() {
			if r != nil && r.annotation != "" {
				fmt.Fprintf(p.bw, " %s", r.annotation)
				continue
			}
			fmt.Fprint(p.bw, " *")
			continue
		}
		if r.addr != last {
			fmt.Fprintf(p.bw, " %s", names[r.addr])
			if back := backHops(r.recvTTL); p.t.opts.Back && back > 0 && back != ttl {
				fmt.Fprintf(p.bw, " '-%d'", back)
			}
			if p.t.opts.MPLS && len(r.mpls) > 0 {
				fmt.Fprintf(p.bw, " %s", mplsText(r.mpls))
			}
			last = r.addr
		}
		fmt.Fprintf(p.bw, "  %.3f ms", report.Millis(r.rtt))
		if mtu, ok := p.t.mtuSeen[ttl]; ok && p.t.opts.MTU && !mtuShown {
			// As traceroute: after the first time measured at the size
			// that got through.
			fmt.Fprintf(p.bw, " F=%d", mtu)
			mtuShown = true
		}
		if r.annotation != "" {
			fmt.Fprintf(p.bw, " %s", r.annotation)
		}
	}
	fmt.Fprintln(p.bw)
}

// backHops guesses the length of the way back from an answer's TTL as
// traceroute --back does: the sender started at 64, 128 or 255.
func backHops(ttl int) int {
	switch {
	case ttl <= 0:
		return 0
	case ttl <= 64:
		return 65 - ttl
	case ttl <= 128:
		return 129 - ttl
	}
	return 256 - ttl
}

// multipath lists each address of the hop once, with its RTTs and the
// flows that reached it.
func (p *textPrinter) multipath(probes []*probeRec, names map[netip.Addr]string) {
	addrs := answered(probes)
	if len(addrs) == 0 {
		fmt.Fprintln(p.bw, strings.Repeat(" *", len(probes)))
		return
	}
	for i, a := range addrs {
		if i > 0 {
			fmt.Fprint(p.bw, "\n   ")
		}
		fmt.Fprintf(p.bw, " %s", names[a])
		flows := map[int]bool{}
		for _, pr := range probes {
			if pr.reply != nil && pr.reply.addr == a {
				fmt.Fprintf(p.bw, "  %.3f ms", report.Millis(pr.reply.rtt))
				flows[pr.flow] = true
			}
		}
		fmt.Fprintf(p.bw, "  [flows %s]", flowList(flows))
	}
	fmt.Fprintln(p.bw)
}

func flowList(flows map[int]bool) string {
	var parts []string
	for f := 0; f < 256; f++ {
		if flows[f] {
			parts = append(parts, fmt.Sprint(f))
		}
	}
	return strings.Join(parts, ",")
}

func (p *textPrinter) summary(res result) {}
func (p *textPrinter) flush() error       { return p.bw.Flush() }

// jsonPrinter writes hop records and a summary (docs/json.md).
type jsonPrinter struct {
	w     *report.JSONWriter
	t     *tracer
	names *namer
}

type jsonHop struct {
	TTL        int              `json:"ttl"`
	Addr       *string          `json:"addr"`
	Name       string           `json:"name,omitempty"`
	RTT        []*float64       `json:"rtt_ms"`
	Flow       int              `json:"flow"`
	Flows      []int            `json:"flows"`
	Annotation string           `json:"annotation,omitempty"`
	MPLS       []icmp.MPLSLabel `json:"mpls,omitempty"`
	MTU        int              `json:"mtu,omitempty"`
	Reached    bool             `json:"reached"`
}

func (p *jsonPrinter) start() {}

func (p *jsonPrinter) hop(ttl int, probes []*probeRec) {
	addrs := answered(probes)
	names := p.names.names(addrs)
	if len(addrs) == 0 {
		rec := jsonHop{TTL: ttl, RTT: []*float64{}, Flows: []int{}}
		for _, pr := range probes {
			rec.RTT = append(rec.RTT, nil)
			if pr.reply != nil && pr.reply.annotation != "" {
				rec.Annotation = pr.reply.annotation
			}
		}
		p.w.Write("hop", rec)
		return
	}
	for _, a := range addrs {
		s := a.String()
		rec := jsonHop{TTL: ttl, Addr: &s, RTT: []*float64{}, Flows: []int{}, Flow: -1}
		if !p.names.numeric {
			rec.Name = strings.TrimSuffix(names[a], " ("+s+")")
		}
		seen := map[int]bool{}
		for _, pr := range probes {
			if pr.reply == nil || pr.reply.addr != a {
				continue
			}
			v := report.Millis(pr.reply.rtt)
			rec.RTT = append(rec.RTT, &v)
			if !seen[pr.flow] {
				seen[pr.flow] = true
				rec.Flows = append(rec.Flows, pr.flow)
			}
			if rec.Flow < 0 {
				rec.Flow = pr.flow
			}
			if pr.reply.annotation != "" {
				rec.Annotation = pr.reply.annotation
			}
			if len(pr.reply.mpls) > 0 {
				rec.MPLS = pr.reply.mpls
			}
			rec.Reached = rec.Reached || pr.reply.reached
		}
		if mtu, ok := p.t.mtuSeen[ttl]; ok {
			rec.MTU = mtu
		}
		p.w.Write("hop", rec)
	}
}

type jsonSummary struct {
	Target  string              `json:"target"`
	Addr    string              `json:"addr"`
	Method  string              `json:"method"`
	Reached bool                `json:"reached"`
	Hops    int                 `json:"hops"`
	Paths   int                 `json:"paths"`
	Local   *localdrop.Snapshot `json:"local,omitempty"`
	Report  []jsonReportHop     `json:"report,omitempty"`
}

type jsonReportHop struct {
	TTL         int      `json:"ttl"`
	Addrs       []string `json:"addrs"`
	Loss        float64  `json:"loss_pct"`
	Sent        int      `json:"sent"`
	Last        float64  `json:"last_ms"`
	Avg         float64  `json:"avg_ms"`
	Best        float64  `json:"best_ms"`
	Worst       float64  `json:"worst_ms"`
	Stdev       float64  `json:"stdev_ms"`
	Jitter      float64  `json:"jitter_ms"`
	RateLimited bool     `json:"rate_limited"`
}

func (p *jsonPrinter) summary(res result) {
	s := jsonSummary{Target: p.t.opts.Target, Addr: p.t.dst.String(), Method: res.method.String(),
		Reached: res.reached, Hops: res.hops, Paths: res.paths, Local: res.local}
	for _, h := range res.table {
		r := jsonReportHop{TTL: h.ttl, Addrs: []string{}, Loss: h.lossPct(), Sent: h.sent, Last: h.last,
			Avg: h.avg(), Best: h.best, Worst: h.worst, Stdev: h.stdev(), Jitter: h.meanJitter(), RateLimited: h.rateLimited}
		for _, a := range h.addrs {
			r.Addrs = append(r.Addrs, a.String())
		}
		s.Report = append(s.Report, r)
	}
	p.w.Write("summary", s)
}

func (p *jsonPrinter) flush() error { return p.w.Flush() }

// reportPrinter writes mtr's report table, with a jitter column and a
// note on hops that only rate-limit their ICMP.
type reportPrinter struct {
	w     *bufio.Writer
	t     *tracer
	names *namer
}

func (p *reportPrinter) start()                          {}
func (p *reportPrinter) hop(ttl int, probes []*probeRec) {}
func (p *reportPrinter) flush() error                    { return p.w.Flush() }

func (p *reportPrinter) summary(res result) {
	host, _ := os.Hostname()
	fmt.Fprintf(p.w, "Start: %s\n", time.Now().Format("2006-01-02T15:04:05-0700"))
	fmt.Fprintf(p.w, "HOST: %-30s Loss%%   Snt    Last     Avg    Best    Wrst   StDev    Jttr\n", host)
	for _, h := range res.table {
		name := "???"
		if len(h.addrs) > 0 {
			names := p.names.names(h.addrs)
			var parts []string
			for _, a := range h.addrs {
				if p.names.numeric {
					parts = append(parts, a.String())
				} else {
					parts = append(parts, names[a])
				}
			}
			name = strings.Join(parts, " ")
		}
		note := ""
		if h.rateLimited {
			note = "  (rate-limits ICMP; no loss beyond)"
		}
		fmt.Fprintf(p.w, "%3d.|-- %-30s %5.1f%% %5d %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f%s\n",
			h.ttl, name, h.lossPct(), h.sent, h.last, h.avg(), h.best, h.worst, h.stdev(), h.meanJitter(), note)
	}
}
