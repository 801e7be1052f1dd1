//go:build linux

// Package netlab builds private network labs out of Linux network
// namespaces (ip-netns(8)) joined by veth pairs (veth(4)), for rawkit's
// tests, benchmarks and demo.
//
// A lab is a chain: a client, zero or more routers, a server. Link k
// joins node k and node k+1 and is numbered 198.18.k.0/24 and
// 2001:db8:k::/64 (RFC 2544 benchmarking and RFC 3849 documentation
// ranges), the left node .1 / ::1, the right node .2 / ::2. Every node
// routes only 198.18.0.0/15 and 2001:db8::/32: there is no route out of
// the lab, so nothing a test sends can leave the machine.
//
// Options add what the tools must cope with: a silent router that drops
// its ICMP time-exceeded, a lossy link into the server (iptables
// statistic match), a narrow MTU on the server's link, a prefix the
// server answers for as a whole (a local route on lo) for sweeps, a
// blackholed prefix nobody answers for, and TCP and UDP ports that are
// open, closed, filtered (dropped) or rejected (ICMP administratively
// prohibited).
//
// Close removes every namespace of the lab; ForTest arranges that with
// t.Cleanup so a lab is removed when its test ends, also on failure.
package netlab
