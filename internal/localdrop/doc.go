// Package localdrop reads the kernel's own counts of packets it could
// not send from this host, so a tool can tell "no answer because the
// network lost it" from "no answer because it never left": no route
// (Ip OutNoRoutes, RFC 4293's ipSystemStatsOutNoRoutes), dropped on the
// way out (OutDiscards), neighbour (ARP/ND) resolution failures and the
// packets they discarded (/proc/net/stat/arp_cache, ndisc_cache), and
// full send buffers (Udp SndbufErrors). The counts are the network
// namespace's, during a run: other traffic of the namespace adds to
// them, which the text says. A netfilter rule that drops a raw socket's
// probe is seen by the tools themselves (EPERM on send).
package localdrop
