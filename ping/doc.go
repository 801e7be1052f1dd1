// Package ping is the engine of rawkit's ping: ICMP echo (RFC 792,
// RFC 4443 section 4) to one or many targets at once over one socket per
// address family, with the behaviour of iputils ping(8) — its counts,
// intervals, waits, deadline, duplicate detection and statistics — and
// fping(8)'s many-target sweeps.
//
// A reader goroutine per socket passes replies to one loop that owns all
// state: a table of pending probes keyed by the ICMP sequence number,
// each registered before it is sent. Round-trip times come from the
// kernel's receive timestamp and a monotonic send clock.
package ping
