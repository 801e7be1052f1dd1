// Package trace is the engine of rawkit's traceroute: it finds the
// routers on the path to a host by sending probes with increasing time to
// live (RFC 1393's idea, as traceroute(8) does) and reading the ICMP time
// exceeded messages they provoke (RFC 792, RFC 4443).
//
// Probes are UDP (the default), ICMP echo, or TCP SYN, and flow-constant
// in the manner of Paris traceroute (see package probe), so per-flow load
// balancers keep a trace on one path; with several flows it maps every
// path (multipath). Probes go out in parallel and a probe's wait adapts
// to the round-trip times already seen, so a trace toward a silent
// destination ends quickly. The report mode repeats the trace in cycles
// and gives per-hop loss and latency statistics, as mtr(8) does.
package trace
