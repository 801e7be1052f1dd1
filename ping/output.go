package ping

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/internal/hosts"
	"github.com/rawkit/rawkit/internal/localdrop"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

// printer receives every event of a run, in order, from the loop.
type printer interface {
	start(targets []*target, payload int)
	sent(t *target, seq int)
	reply(t *target, seq int, meta rawsock.Meta, bytes int, rtt time.Duration, dup bool)
	icmpError(t *target, seq int, from netip.Addr, m *icmp.Message)
	timeout(t *target, seq int)
	summary(t *target, elapsed time.Duration)
	// status writes the statistics so far on stderr, the run going on:
	// a status request (SIGQUIT), or fping's -Q interval.
	status(elapsed time.Duration)
	end(reachable, total int, failed []string)
	// flush writes out what is buffered.
	flush() error
}

// textPrinter writes what iputils ping writes; with several targets, a
// line per target at the end as fping -c does.
type textPrinter struct {
	w     *bufio.Writer
	ew    io.Writer // stderr, for the status line
	opts  *Options
	multi bool
	// targets are the run's, for the status line.
	targets []*target
	// source is the local address of a single-target run with -I or -B,
	// for iputils' "from ADDR IFACE:" header.
	source netip.Addr
	// ids are the echo identifiers per family, printed with -v.
	ids   map[int]int
	names map[netip.Addr]string // reverse lookups done
	line  []byte                // a line being built
}

func (p *textPrinter) start(targets []*target, payload int) {
	p.multi, p.targets = len(targets) > 1, targets
	if len(p.opts.Pattern) > 0 {
		fmt.Fprintf(p.w, "PATTERN: 0x%x\n", p.opts.Pattern)
	}
	if p.multi {
		fmt.Fprintf(p.w, "PING %d targets, %d data bytes each\n", len(targets), payload)
		return
	}
	t := targets[0]
	from := ""
	if p.source.IsValid() && (p.opts.Iface != "" || p.opts.Source.IsValid() || p.opts.StickySource) {
		from = fmt.Sprintf("from %s %s: ", p.source, p.opts.Iface)
	}
	if t.family == 4 {
		fmt.Fprintf(p.w, "PING %s (%s) %s%d(%d) bytes of data.\n", t.name, t.addr, from, payload, payload+28)
	} else {
		fmt.Fprintf(p.w, "PING %s(%s) %s%d data bytes\n", t.name, t.addr, from, payload)
	}
}

// host names an address that answered as iputils does: "NAME (ADDR)"
// when the target was given by name (or -H), the address alone when it
// was numeric (or -n).
func (p *textPrinter) host(t *target, a netip.Addr) string {
	if p.opts.Numeric || !(t.named || p.opts.Names) {
		return a.String()
	}
	name, ok := p.names[a]
	if !ok {
		name = hosts.Name(context.Background(), a)
		if p.names == nil {
			p.names = map[netip.Addr]string{}
		}
		p.names[a] = name
	}
	return name + " (" + a.String() + ")"
}

func (p *textPrinter) stamp() string {
	if !p.opts.Stamp {
		return ""
	}
	now := time.Now()
	return fmt.Sprintf("[%d.%06d] ", now.Unix(), now.Nanosecond()/1000)
}

func (p *textPrinter) sent(t *target, seq int) {
	if p.opts.Flood && !p.opts.Quiet {
		io.WriteString(p.w, ".")
	}
	// -O: as iputils, before each probe, the one before it if no reply
	// came (an ICMP error is no reply).
	if p.opts.Outstand && !p.opts.Quiet && !p.opts.Flood && seq > 1 && !t.replied.has(seq-1) {
		fmt.Fprintf(p.w, "%sno answer yet for icmp_seq=%d\n", p.stamp(), seq-1)
	}
}

func (p *textPrinter) reply(t *target, seq int, meta rawsock.Meta, bytes int, rtt time.Duration, dup bool) {
	if p.opts.Quiet {
		return
	}
	if p.opts.Flood {
		if !dup {
			io.WriteString(p.w, "\b \b")
		}
		return
	}
	d := ""
	if dup {
		d = " (DUP!)"
	}
	ident := ""
	if p.opts.Verbose {
		ident = fmt.Sprintf(" ident=%d", p.ids[t.family])
	}
	bell := ""
	if p.opts.Audible {
		bell = "\a"
	}
	if p.opts.untimed() {
		// As iputils: a payload too short for the send time, no time.
		fmt.Fprintf(p.w, "%s%d bytes from %s: icmp_seq=%d%s ttl=%d%s%s\n",
			p.stamp(), bytes, p.host(t, meta.Src), seq, ident, meta.TTL, d, bell)
		return
	}
	fmt.Fprintf(p.w, "%s%d bytes from %s: icmp_seq=%d%s ttl=%d time=%s ms%s%s\n",
		p.stamp(), bytes, p.host(t, meta.Src), seq, ident, meta.TTL, FormatRTT(rtt), d, bell)
}

func (p *textPrinter) icmpError(t *target, seq int, from netip.Addr, m *icmp.Message) {
	if p.opts.Quiet {
		return
	}
	if p.opts.Flood {
		io.WriteString(p.w, "\bE")
		return
	}
	fmt.Fprintf(p.w, "%sFrom %s icmp_seq=%d %s\n", p.stamp(), p.host(t, from), seq, m.Describe())
}

func (p *textPrinter) timeout(t *target, seq int) {}

func (p *textPrinter) summary(t *target, elapsed time.Duration) {
	if p.multi {
		p.w.Write(p.multiSummary(t))
		return
	}
	// The percentiles (a sort of every sample) only when -v prints them.
	s := t.stats.Basic()
	if p.opts.Verbose {
		s = t.stats.Summary()
	}
	fmt.Fprintf(p.w, "\n--- %s ping statistics ---\n", t.name)
	fmt.Fprintf(p.w, "%d packets transmitted, %d received, ", t.sent, t.received)
	if t.dups > 0 {
		fmt.Fprintf(p.w, "+%d duplicates, ", t.dups)
	}
	if t.errors > 0 {
		fmt.Fprintf(p.w, "+%d errors, ", t.errors)
	}
	fmt.Fprintf(p.w, "%s%% packet loss, time %dms\n", formatLoss(lossPct(t)), elapsed.Milliseconds())
	if t.received == 0 {
		fmt.Fprintln(p.w) // iputils ends a statistics block without RTTs with an empty line
		return
	}
	// The last line as iputils builds it: the RTTs when the payload
	// timed them, pipe, ipg/ewma, each after a comma but the first; it
	// is empty when none is printed.
	sep := ""
	if !p.opts.untimed() {
		if p.opts.Verbose {
			// Ours, not iputils': only when asked, and before iputils'
			// rtt line, which stays the last one, the one scripts split
			// on "/".
			fmt.Fprintf(p.w, "rtt p50/p90/p99 = %.3f/%.3f/%.3f ms, jitter %.3f ms\n", s.P50, s.P90, s.P99, s.Jitter)
		}
		fmt.Fprintf(p.w, "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms", s.Min, s.Avg, s.Max, s.Mdev)
		sep = ", "
	}
	if t.pipe > 1 {
		fmt.Fprintf(p.w, "%spipe %d", sep, t.pipe)
		sep = ", "
	}
	// iputils: with -f, -A or an interval under a millisecond, the mean
	// gap between probes and the RTT's moving average (0 untimed).
	if (p.opts.Flood || p.opts.Adaptive || p.opts.Interval < time.Millisecond) && t.sent > 1 {
		ipg, ewma := elapsed/time.Duration(t.sent-1), t.ewma
		if p.opts.untimed() {
			ewma = 0
		}
		fmt.Fprintf(p.w, "%sipg/ewma %s/%s ms", sep, usecMillis(ipg), usecMillis(ewma))
	}
	fmt.Fprintln(p.w)
}

// status writes iputils' answer to SIGQUIT on stderr: received/sent,
// the loss in whole percent, and the RTTs so far with their moving
// average; with several targets, a line each after its name.
func (p *textPrinter) status(time.Duration) {
	p.w.Flush() // what came before it, first
	var b []byte
	for _, t := range p.targets {
		b = append(b, '\r')
		if p.multi {
			b = fmt.Appendf(b, "%s : ", t.name)
		}
		loss := 0
		if t.sent > 0 {
			loss = (t.sent - t.received) * 100 / t.sent
		}
		b = fmt.Appendf(b, "%d/%d packets, %d%% loss", t.received, t.sent, loss)
		if t.received > 0 && !p.opts.untimed() {
			lo, avg, hi := t.stats.MinAvgMax()
			ms := func(v float64) string { return usecMillis(time.Duration(v * float64(time.Millisecond))) }
			b = fmt.Appendf(b, ", min/avg/ewma/max = %s/%s/%s/%s ms", ms(lo), ms(avg), usecMillis(t.ewma), ms(hi))
		}
		b = append(b, '\n')
	}
	p.ew.Write(b)
}

// multiSummary is a target's line in a run of several (fping's -c form,
// "%-15s : xmt/rcv/%loss = S/R/L%, min/avg/max = ..."), built in a reused
// buffer: a sweep prints thousands.
func (p *textPrinter) multiSummary(t *target) []byte {
	b := append(p.line[:0], t.name...)
	for n := len(t.name); n < 15; n++ {
		b = append(b, ' ')
	}
	b = append(b, " : xmt/rcv/%loss = "...)
	b = strconv.AppendInt(b, int64(t.sent), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(t.received), 10)
	b = append(b, '/')
	b = strconv.AppendFloat(b, lossPct(t), 'g', 6, 64)
	b = append(b, '%')
	if t.received > 0 {
		lo, avg, hi := t.stats.MinAvgMax()
		b = append(b, ", min/avg/max = "...)
		b = strconv.AppendFloat(b, lo, 'f', 3, 64)
		b = append(b, '/')
		b = strconv.AppendFloat(b, avg, 'f', 3, 64)
		b = append(b, '/')
		b = strconv.AppendFloat(b, hi, 'f', 3, 64)
	}
	p.line = append(b, '\n')
	return p.line
}

func (p *textPrinter) flush() error { return p.w.Flush() }

func (p *textPrinter) end(reachable, total int, failed []string) {
	if p.multi {
		fmt.Fprintf(p.w, "--- %d of %d targets reachable ---\n", reachable, total)
	}
}

// usecMillis prints d in milliseconds with three decimals, truncated to
// the microsecond as iputils does.
func usecMillis(d time.Duration) string {
	us := d.Microseconds()
	return fmt.Sprintf("%d.%03d", us/1000, us%1000)
}

// formatLoss prints a loss percentage as iputils does, with C's %g.
func formatLoss(pct float64) string { return strconv.FormatFloat(pct, 'g', 6, 64) }

// FormatRTT prints a round-trip time as iputils does: three significant
// decimals below 1 ms, fewer above.
func FormatRTT(d time.Duration) string {
	us := d.Microseconds()
	switch {
	case us >= 100000:
		return strconv.FormatInt(us/1000, 10)
	case us >= 10000:
		return fmt.Sprintf("%d.%01d", us/1000, us%1000/100)
	case us >= 1000:
		return fmt.Sprintf("%d.%02d", us/1000, us%1000/10)
	}
	return fmt.Sprintf("%d.%03d", us/1000, us%1000)
}

// jsonPrinter writes the NDJSON records of docs/json.md.
type jsonPrinter struct {
	w      *report.JSONWriter
	opts   *Options
	local  *localdrop.Snapshot // the run's local drops, for the summaries
	fields []byte              // a record being built
}

type jsonReply struct {
	Target string  `json:"target"`
	Seq    int     `json:"seq"`
	Src    string  `json:"src"`
	RTT    float64 `json:"rtt_ms"`
	TTL    int     `json:"ttl"`
	Bytes  int     `json:"bytes"`
	Dup    bool    `json:"dup"`
}

type jsonTimeout struct {
	Target string `json:"target"`
	Seq    int    `json:"seq"`
}

type jsonError struct {
	Target  string `json:"target"`
	Seq     int    `json:"seq"`
	Src     string `json:"src"`
	Type    int    `json:"icmp_type"`
	Code    int    `json:"icmp_code"`
	Message string `json:"message"`
}

type jsonSummary struct {
	Target   string          `json:"target"`
	Addr     string          `json:"addr"`
	Sent     int             `json:"sent"`
	Received int             `json:"received"`
	Dups     int             `json:"dups"`
	Errors   int             `json:"errors"`
	Loss     float64         `json:"loss_pct"`
	Time     float64         `json:"time_ms"`
	RTT      *report.Summary `json:"rtt_ms"`
	// LocalDrops counts probes a local firewall rule dropped: the loss
	// is here, not on the network.
	LocalDrops int `json:"local_drops"`
	// Local is what the host's kernel counted as dropped on the way out
	// during the run, when probes went unanswered and it counted any.
	Local *localdrop.Snapshot `json:"local,omitempty"`
}

func (p *jsonPrinter) start([]*target, int) {}
func (p *jsonPrinter) sent(*target, int)    {}

// reply writes jsonReply's record without reflection (a sweep writes
// thousands): the same fields, in its order, encoded as encoding/json
// would.
func (p *jsonPrinter) reply(t *target, seq int, meta rawsock.Meta, bytes int, rtt time.Duration, dup bool) {
	b := append(p.fields[:0], `"target":`...)
	b = report.AppendJSONString(b, t.name)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `,"src":"`...)
	b = meta.Src.AppendTo(b)
	b = append(b, `","rtt_ms":`...)
	b = report.AppendJSONFloat(b, report.Millis(rtt))
	b = append(b, `,"ttl":`...)
	b = strconv.AppendInt(b, int64(meta.TTL), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(bytes), 10)
	b = append(b, `,"dup":`...)
	b = strconv.AppendBool(b, dup)
	p.fields = b
	p.w.WriteFields("reply", b)
}

func (p *jsonPrinter) icmpError(t *target, seq int, from netip.Addr, m *icmp.Message) {
	p.w.Write("error", jsonError{Target: t.name, Seq: seq, Src: from.String(), Type: m.Type, Code: m.Code, Message: m.Describe()})
}

func (p *jsonPrinter) timeout(t *target, seq int) {
	p.w.Write("timeout", jsonTimeout{Target: t.name, Seq: seq})
}

func (p *jsonPrinter) summary(t *target, elapsed time.Duration) {
	rec := jsonSummary{Target: t.name, Addr: t.addr.String(), Sent: t.sent, Received: t.received,
		Dups: t.dups, Errors: t.errors, Loss: lossPct(t), Time: report.Millis(elapsed), LocalDrops: t.localDrops, Local: p.local}
	if t.received > 0 {
		s := t.stats.Summary()
		rec.RTT = &s
	}
	if rec.Local != nil {
		p.w.Write("summary", rec) // rare: the local counts' own encoding
		return
	}
	p.w.WriteFields("summary", p.summaryFields(rec))
}

// summaryFields encodes a jsonSummary without Local as encoding/json
// would, without reflection: a sweep writes thousands.
func (p *jsonPrinter) summaryFields(rec jsonSummary) []byte {
	b := append(p.fields[:0], `"target":`...)
	b = report.AppendJSONString(b, rec.Target)
	b = append(b, `,"addr":`...)
	b = report.AppendJSONString(b, rec.Addr)
	for _, f := range []struct {
		name string
		v    int
	}{{`,"sent":`, rec.Sent}, {`,"received":`, rec.Received}, {`,"dups":`, rec.Dups}, {`,"errors":`, rec.Errors}} {
		b = append(b, f.name...)
		b = strconv.AppendInt(b, int64(f.v), 10)
	}
	// A value met again in the record is copied, not formatted again:
	// one probe's RTT is its min, avg, max and percentiles alike, and a
	// sweep writes thousands of records.
	var seen floatsSeen
	b = append(b, `,"loss_pct":`...)
	b = seen.append(b, rec.Loss)
	b = append(b, `,"time_ms":`...)
	b = seen.append(b, rec.Time)
	b = append(b, `,"rtt_ms":`...)
	if r := rec.RTT; r == nil {
		b = append(b, "null"...)
	} else {
		for i, f := range []struct {
			name string
			v    float64
		}{{`"min":`, r.Min}, {`"avg":`, r.Avg}, {`"max":`, r.Max}, {`"mdev":`, r.Mdev}, {`"p50":`, r.P50}, {`"p90":`, r.P90}, {`"p99":`, r.P99}, {`"jitter":`, r.Jitter}} {
			b = append(b, "{,"[min(i, 1)])
			b = append(b, f.name...)
			b = seen.append(b, f.v)
		}
		b = append(b, '}')
	}
	b = append(b, `,"local_drops":`...)
	b = strconv.AppendInt(b, int64(rec.LocalDrops), 10)
	p.fields = b
	return b
}

// floatsSeen remembers where in a record its floats were written.
type floatsSeen struct {
	n    int
	bits [4]uint64
	at   [4][2]int // start and end in the record
}

// append appends f as report.AppendJSONFloat does, copying the text of an
// equal value written before into b.
func (s *floatsSeen) append(b []byte, f float64) []byte {
	bits := math.Float64bits(f)
	for i := range min(s.n, len(s.bits)) {
		if s.bits[i] == bits {
			return append(b, b[s.at[i][0]:s.at[i][1]]...)
		}
	}
	start := len(b)
	b = report.AppendJSONFloat(b, f)
	i := s.n % len(s.bits)
	s.bits[i], s.at[i] = bits, [2]int{start, len(b)}
	s.n++
	return b
}

func (p *jsonPrinter) end(int, int, []string) {}

// status has no record: the records of each reply already say it all.
func (p *jsonPrinter) status(time.Duration) {}

func (p *jsonPrinter) flush() error { return p.w.Flush() }
