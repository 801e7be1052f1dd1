package scan

import (
	"net/netip"
	"time"
)

// table is what a scan keeps per probe: four bytes, where a map of
// results took hundreds. A probe's cell is 0 until it is answered; then
// it holds the state (3 bits) and the reason's code (5 bits). The TTL of
// the answer and its round trip (in a 16-bit float of microseconds)
// follow; the rare ICMP answer from a router keeps its address in a map.
type table struct {
	cell []uint8
	ttl  []uint8
	rtt  []uint16
	from map[uint64]netip.Addr

	reasons []string // reason code -> text; code 0 is "" (none)
	codes   map[string]uint8
}

func newTable(n uint64) *table {
	return &table{cell: make([]uint8, n), ttl: make([]uint8, n), rtt: make([]uint16, n),
		from: map[uint64]netip.Addr{}, reasons: []string{""}, codes: map[string]uint8{"": 0}}
}

// reset empties the table for a scan of n probes (no more than it
// was made for).
func (t *table) reset(n uint64) {
	t.cell, t.ttl, t.rtt = t.cell[:n], t.ttl[:n], t.rtt[:n]
	clear(t.cell)
	clear(t.ttl)
	clear(t.rtt)
	clear(t.from)
}

func (t *table) state(idx uint64) State { return State(t.cell[idx] >> 5) }

// code interns a reason. There are far fewer than 32 reasons (nmap's
// names of answers and ICMP codes); any beyond share the last code.
func (t *table) code(reason string) uint8 {
	if c, ok := t.codes[reason]; ok {
		return c
	}
	if len(t.reasons) == 32 {
		return 31
	}
	c := uint8(len(t.reasons))
	t.reasons = append(t.reasons, reason)
	t.codes[reason] = c
	return c
}

// set stores r as probe idx's answer to a probe of target.
func (t *table) set(idx uint64, target netip.Addr, r Result) {
	t.cell[idx] = uint8(r.State)<<5 | t.code(r.Reason)
	t.ttl[idx] = uint8(min(max(r.TTL, 0), 255))
	t.rtt[idx] = packRTT(r.RTT)
	if r.From.IsValid() && r.From.Unmap() != target {
		t.from[idx] = r.From
	}
}

// get is probe idx's answer to a probe of target; ok is false when it
// has none.
func (t *table) get(idx uint64, target netip.Addr) (r Result, ok bool) {
	c := t.cell[idx]
	if c == 0 {
		return r, false
	}
	r = Result{State: State(c >> 5), Reason: t.reasons[c&31], TTL: int(t.ttl[idx]), RTT: unpackRTT(t.rtt[idx]), From: target}
	if f, ok := t.from[idx]; ok {
		r.From = f
	}
	return r, true
}

// packRTT keeps d in 16 bits: a 12-bit count of microseconds and a
// 4-bit shift, exact below 4.096 ms and within 1/4096 of it up to two
// minutes.
func packRTT(d time.Duration) uint16 {
	us := uint64(max(d, 0) / time.Microsecond)
	shift := uint16(0)
	for us >= 1<<12 {
		if shift == 15 {
			return 0xffff
		}
		us >>= 1
		shift++
	}
	return shift<<12 | uint16(us)
}

func unpackRTT(v uint16) time.Duration {
	return time.Duration(uint64(v&0xfff)<<(v>>12)) * time.Microsecond
}
