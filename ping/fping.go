package ping

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/rawsock"
)

// FpingOutput selects fping(8)'s output (the ping binary run as fping).
// Zero values are fping's default mode: "NAME is alive" or "NAME is
// unreachable" per target.
type FpingOutput struct {
	// Count is -c (each reply on a line, a summary per target on
	// stderr); VCount -C (the summary lists every RTT).
	Count, VCount  bool
	Alive, Unreach bool // -a, -u: list only the alive, or unreachable, targets
	Quiet          bool // -q: no per-probe lines
	Stats          bool // -s: the statistics block at the end
	Elapsed        bool // -e: the RTT after "is alive"
	Timestamp      bool // -D: "[unix.seconds] " before each line
	// MinReachable is -x: say whether that many targets answered.
	MinReachable int
}

// fpingPrinter writes what fping 5 writes: results on stdout, ICMP errors
// and summaries on stderr.
type fpingPrinter struct {
	opts    *Options
	f       *FpingOutput
	w, ew   *bufio.Writer
	width   int // of the widest target name, in count modes
	began   time.Time
	rtts    map[*target][]time.Duration // per probe, -1 when lost (-C)
	errors  int                         // ICMP errors received
	probes  int
	lost    int
	replies int
	// the RTTs of every target together, for -s
	rttMin, rttMax, rttSum float64
	rttN                   int
	summarized             bool
	targets                []*target // for the interval summaries
}

func newFpingPrinter(opts *Options, stdout, stderr io.Writer) *fpingPrinter {
	return &fpingPrinter{opts: opts, f: opts.Fping, w: bufio.NewWriter(stdout), ew: bufio.NewWriter(stderr),
		rtts: map[*target][]time.Duration{}}
}

func (p *fpingPrinter) counting() bool { return p.f.Count || p.f.VCount }

func (p *fpingPrinter) start(targets []*target, payload int) {
	p.began, p.targets = time.Now(), targets
	if p.counting() {
		for _, t := range targets {
			p.width = max(p.width, len(t.name))
		}
	}
}

func (p *fpingPrinter) name(t *target) string {
	if p.width > 0 {
		return fmt.Sprintf("%-*s", p.width, t.name)
	}
	return t.name
}

func (p *fpingPrinter) stamp() string {
	if !p.f.Timestamp {
		return ""
	}
	now := time.Now()
	return fmt.Sprintf("[%d.%05d] ", now.Unix(), now.Nanosecond()/10000)
}

func (p *fpingPrinter) sent(t *target, seq int) { p.probes++ }

// fpingTime prints milliseconds as fping's sprint_tm: three decimals
// below 1 ms, two below 10, one below 100, none above.
func fpingTime(d time.Duration) string {
	ms := float64(d) / 1e6
	switch {
	case ms < 1:
		return fmt.Sprintf("%.3f", ms)
	case ms < 10:
		return fmt.Sprintf("%.2f", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f", ms)
	}
	return fmt.Sprintf("%.0f", ms)
}

func (p *fpingPrinter) loss(t *target) int {
	if t.sent == 0 {
		return 0
	}
	return (t.sent - t.received) * 100 / t.sent
}

func (p *fpingPrinter) avg(t *target) string {
	if t.received == 0 {
		return "NaN"
	}
	return fpingTime(time.Duration(t.stats.Basic().Avg * float64(time.Millisecond)))
}

func (p *fpingPrinter) reply(t *target, seq int, meta rawsock.Meta, bytes int, rtt time.Duration, dup bool) {
	if dup {
		if p.counting() && !p.f.Quiet {
			fmt.Fprintf(p.ew, "%s%s : duplicate for [%d], %d bytes, %s ms\n", p.stamp(), p.name(t), seq-1, bytes, fpingTime(rtt))
		}
		return
	}
	p.replies++
	t.split.answered(rtt)
	if p.f.VCount {
		p.record(t, seq, rtt)
	}
	switch {
	case p.counting():
		if !p.f.Quiet {
			fmt.Fprintf(p.w, "%s%s : [%d], %d bytes, %s ms (%s avg, %d%% loss)\n", p.stamp(), p.name(t), seq-1, bytes, fpingTime(rtt), p.avg(t), p.loss(t))
		}
	case t.received == 1:
		// The default mode: said once, at the first reply. -q keeps
		// the -a list (fping's alive_flag outlives its quiet_flag).
		switch {
		case p.f.Unreach || p.f.MinReachable > 0:
		case p.f.Alive:
			fmt.Fprintf(p.w, "%s%s\n", p.stamp(), t.name)
		case p.f.Quiet:
		case p.f.Elapsed:
			fmt.Fprintf(p.w, "%s%s is alive (%s ms)\n", p.stamp(), t.name, fpingTime(rtt))
		default:
			fmt.Fprintf(p.w, "%s%s is alive\n", p.stamp(), t.name)
		}
	}
}

// record keeps probe seq's RTT for -C (-1 for a lost probe).
func (p *fpingPrinter) record(t *target, seq int, rtt time.Duration) {
	r := p.rtts[t]
	for len(r) < seq {
		r = append(r, -1)
	}
	r[seq-1] = rtt
	p.rtts[t] = r
}

// fpingUnreach4 are fping's words for ICMPv4 unreachable codes.
var fpingUnreach4 = []string{
	"ICMP Network Unreachable", "ICMP Host Unreachable", "ICMP Protocol Unreachable", "ICMP Port Unreachable",
	"ICMP Unreachable (Fragmentation Needed)", "ICMP Unreachable (Source Route Failed)",
	"ICMP Unreachable (Destination Network Unknown)", "ICMP Unreachable (Destination Host Unknown)",
	"ICMP Unreachable (Source Host Isolated)", "ICMP Unreachable (Communication with Network Prohibited)",
	"ICMP Unreachable (Communication with Host Prohibited)", "ICMP Unreachable (Network Unreachable For Type Of Service)",
	"ICMP Unreachable (Host Unreachable For Type Of Service)", "ICMP Unreachable (Communication Administratively Prohibited)",
	"ICMP Unreachable (Host Precedence Violation)", "ICMP Unreachable (Precedence cutoff in effect)",
}

func fpingICMP(m *icmp.Message) string {
	switch {
	case m.Kind == icmp.KindTimeExceeded:
		return "ICMP Time Exceeded"
	case m.Kind == icmp.KindDestUnreachable && m.Family == 4 && m.Code < len(fpingUnreach4):
		return fpingUnreach4[m.Code]
	case m.Kind == icmp.KindDestUnreachable:
		return "ICMPv6 Destination Unreachable (" + m.Describe() + ")"
	case m.Kind == icmp.KindPacketTooBig:
		return "ICMPv6 Packet Too Big"
	case m.Kind == icmp.KindParamProblem:
		return "ICMP Parameter Problem"
	}
	return "ICMP " + m.Describe()
}

func (p *fpingPrinter) icmpError(t *target, seq int, from netip.Addr, m *icmp.Message) {
	p.errors++
	if !p.f.Quiet {
		fmt.Fprintf(p.ew, "%s%s from %s for ICMP Echo sent to %s\n", p.stamp(), fpingICMP(m), from, t.addr)
	}
	if p.counting() {
		// An error is no reply: fping reports the probe timed out.
		p.timeout(t, seq)
	}
}

func (p *fpingPrinter) timeout(t *target, seq int) {
	p.lost++
	t.split.sent++
	if p.f.VCount {
		p.record(t, seq, -1)
	}
	if p.counting() && !p.f.Quiet {
		fmt.Fprintf(p.w, "%s%s : [%d], timed out (%s avg, %d%% loss)\n", p.stamp(), p.name(t), seq-1, p.avg(t), p.loss(t))
	}
}

func (p *fpingPrinter) summary(t *target, elapsed time.Duration) {
	if t.received > 0 {
		s := t.stats.Basic()
		if p.rttN == 0 || s.Min < p.rttMin {
			p.rttMin = s.Min
		}
		p.rttMax = max(p.rttMax, s.Max)
		p.rttSum += s.Avg * float64(t.received)
		p.rttN += t.received
	}
	if !p.counting() {
		if t.received == 0 && !p.f.Alive && p.f.MinReachable == 0 {
			if p.f.Unreach {
				fmt.Fprintf(p.w, "%s%s\n", p.stamp(), t.name)
			} else if !p.f.Quiet {
				fmt.Fprintf(p.w, "%s%s is unreachable\n", p.stamp(), t.name)
			}
		}
		return
	}
	if !p.summarized {
		// A blank line between the per-probe lines and the summaries,
		// as fping prints when it printed any.
		p.summarized = true
		if !p.f.Quiet {
			p.w.Flush()
			fmt.Fprintln(p.ew)
		}
	}
	if p.f.VCount {
		r := p.rtts[t]
		for len(r) < t.sent {
			r = append(r, -1)
		}
		var parts []string
		for _, d := range r {
			if d < 0 {
				parts = append(parts, "-")
			} else {
				parts = append(parts, fpingTime(d))
			}
		}
		fmt.Fprintf(p.ew, "%s : %s\n", p.name(t), strings.Join(parts, " "))
		return
	}
	fmt.Fprintf(p.ew, "%s : xmt/rcv/%%loss = %d/%d/%d%%", p.name(t), t.sent, t.received, p.loss(t))
	if t.received > 0 {
		s := t.stats.Basic()
		ms := func(v float64) string { return fpingTime(time.Duration(v * float64(time.Millisecond))) }
		fmt.Fprintf(p.ew, ", min/avg/max = %s/%s/%s", ms(s.Min), ms(s.Avg), ms(s.Max))
	}
	fmt.Fprintln(p.ew)
}

// status writes fping's interval summary (print_per_system_splits) on
// stderr: the time, then each target's probes and RTTs since the last.
func (p *fpingPrinter) status(time.Duration) {
	p.w.Flush()
	if !(p.f.Quiet || p.f.Alive || p.f.Unreach || p.f.MinReachable > 0) {
		p.ew.WriteString("\n") // after the per-probe lines
	}
	width := 0
	for _, t := range p.targets {
		width = max(width, len(t.name))
	}
	now := time.Now()
	fmt.Fprintf(p.ew, "[%02d:%02d:%02d]\n", now.Hour(), now.Minute(), now.Second())
	for _, t := range p.targets {
		s := &t.split
		loss := 0
		if s.sent > 0 {
			loss = (s.sent - s.received) * 100 / s.sent
		}
		fmt.Fprintf(p.ew, "%-*s : xmt/rcv/%%loss = %d/%d/%d%%", width, t.name, s.sent, s.received, loss)
		if s.received > 0 {
			fmt.Fprintf(p.ew, ", min/avg/max = %s/%s/%s", fpingTime(s.min), fpingTime(s.sum/time.Duration(s.received)), fpingTime(s.max))
		}
		p.ew.WriteString("\n")
		*s = split{}
	}
	p.ew.Flush()
}

func (p *fpingPrinter) end(reachable, total int, failed []string) {
	if p.f.MinReachable > 0 {
		if reachable >= p.f.MinReachable {
			fmt.Fprintf(p.w, "Enough hosts reachable (required: %d, reachable: %d)\n", p.f.MinReachable, reachable)
		} else {
			fmt.Fprintf(p.w, "Not enough hosts reachable (required: %d, reachable: %d)\n", p.f.MinReachable, reachable)
		}
	}
	if !p.f.Stats {
		return
	}
	p.w.Flush()
	fmt.Fprintln(p.ew)
	fmt.Fprintf(p.ew, " %7d targets\n %7d alive\n %7d unreachable\n %7d unknown addresses\n\n", total, reachable, total-reachable, 0)
	fmt.Fprintf(p.ew, " %7d timeouts (waiting for response)\n %7d ICMP Echos sent\n %7d ICMP Echo Replies received\n %7d other ICMP received\n\n",
		p.lost, p.probes, p.replies, p.errors)
	min, avg, max := p.overall()
	fmt.Fprintf(p.ew, " %s ms (min round trip time)\n %s ms (avg round trip time)\n %s ms (max round trip time)\n", min, avg, max)
	fmt.Fprintf(p.ew, " %12.3f sec (elapsed real time)\n\n", time.Since(p.began).Seconds())
}

// overall is the min, avg and max RTT over every target, as fping's
// statistics block prints them.
func (p *fpingPrinter) overall() (string, string, string) {
	ms := func(v float64) string { return fpingTime(time.Duration(v * float64(time.Millisecond))) }
	if p.rttN == 0 {
		return ms(0), ms(0), ms(0)
	}
	return ms(p.rttMin), ms(p.rttSum / float64(p.rttN)), ms(p.rttMax)
}

func (p *fpingPrinter) flush() error {
	if err := p.w.Flush(); err != nil {
		return err
	}
	return p.ew.Flush()
}
