package scan

import (
	"cmp"
	"math"
	"sync/atomic"
	"time"
)

// window is a raw scan's congestion control, in probes in flight, as
// TCP's (RFC 5681) and nmap's (ultra_scan) are: it starts small, grows by
// one probe per answer (doubling each round trip) up to ssthresh, then by
// one per window of answers; an answer to a resent probe means the first
// was lost, and halves it once per round trip. Answers make it grow, so a
// scan goes as fast as the path and the target keep up; silence (a
// filtered port) neither grows nor shrinks it.
//
// The wait for each probe (the retransmission timeout) follows RFC 6298
// from the round trips of first sends (Karn's rule), between MinWait and
// MaxWait, InitialWait before any answer. An unanswered probe is resent up
// to one try more than the highest that was ever answered (at least once,
// at most Retries), as nmap does: no loss, no needless retries of
// filtered ports; loss, as many as it takes.
type window struct {
	cwnd, ssthresh   float64
	minCwnd, maxCwnd float64
	srtt, rttvar     time.Duration
	sampled          bool
	initial, lo, hi  time.Duration
	fixed            time.Duration // --wait: every probe waits this long
	maxTry           int           // the highest try that was answered
	retries          int           // the most resends of a probe
	lastCut          int64         // when the window was last halved (ns since the start)
	inflight         int
	resends          uint64
	answers          uint64 // probes answered
	lostSends        uint64 // the sends before the answered one, over all answers
}

// Window bounds, in probes.
const (
	initialWindow = 64
	minWindow     = 64
	maxWindow     = 1 << 16
)

func newWindow(o Options) window {
	return window{cwnd: initialWindow, ssthresh: maxWindow, minCwnd: minWindow, maxCwnd: maxWindow,
		initial: cmp.Or(o.InitialWait, time.Second), lo: cmp.Or(o.MinWait, 100*time.Millisecond),
		hi: cmp.Or(o.MaxWait, 10*time.Second), fixed: o.Wait, retries: o.retries()}
}

// rto is how long a probe sent now is waited for.
func (w *window) rto() time.Duration {
	switch {
	case w.fixed > 0:
		return w.fixed
	case !w.sampled:
		return w.initial
	}
	return min(max(w.srtt+4*w.rttvar, w.lo), w.hi)
}

// tries is the highest try a probe may be sent with (0 is the first
// send): one beyond the highest try answered (nmap's rule), and enough
// that at the loss the answers show, a port that answers is silent for
// all its tries less than once in 10⁴; never more than Retries.
func (w *window) tries() int {
	t := max(1, w.maxTry+1)
	if w.lostSends > 0 {
		// Each answer at try k followed k lost sends: the share of sends
		// lost, estimated over the ports that answer.
		q := float64(w.lostSends) / float64(w.lostSends+w.answers)
		// A one-in-a-million miss: the estimate runs low early in a scan
		// and over the ports that answer late, and at 1e-4 an open port
		// was missed about once in ten lab runs through 30 % loss each
		// way (CI, session 4).
		t = max(t, int(math.Ceil(math.Log(1e-6)/math.Log(q)))-1)
	}
	return min(w.retries, t)
}

// room reports whether another probe may be sent now.
func (w *window) room() bool { return float64(w.inflight) < w.cwnd }

// answered takes an answer to a probe sent with try at sent (ns since
// the start), arriving at now.
func (w *window) answered(try int, sent, now int64) {
	w.maxTry = max(w.maxTry, try)
	w.answers++
	w.lostSends += uint64(try)
	if try == 0 {
		w.sample(time.Duration(now - sent))
	}
	if try > 0 && sent > w.lastCut {
		// The first send of this probe, or its answer, was lost: one
		// loss event per round trip (what was sent before the last cut
		// belongs to the event already counted).
		w.ssthresh = max(w.cwnd/2, w.minCwnd)
		w.cwnd = w.ssthresh
		w.lastCut = now
		return
	}
	if w.cwnd < w.ssthresh {
		w.cwnd++
	} else {
		w.cwnd += 1 / w.cwnd
	}
	w.cwnd = min(w.cwnd, w.maxCwnd)
}

// sample updates the smoothed round trip (RFC 6298 2.2, 2.3).
func (w *window) sample(r time.Duration) {
	if !w.sampled {
		w.srtt, w.rttvar, w.sampled = r, r/2, true
		return
	}
	d := w.srtt - r
	if d < 0 {
		d = -d
	}
	w.rttvar = (3*w.rttvar + d) / 4
	w.srtt = (7*w.srtt + r) / 8
}

// flight is one probe between its send and its final answer (or its last
// timeout).
type flight struct {
	idx   uint64
	pos   uint64 // its position in the permutation
	try   int
	sent  atomic.Int64 // ns since the scan's start, set by the sender; 0 before
	air   bool         // in flight (not waiting in the resend queue)
	final bool
}
