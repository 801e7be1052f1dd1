// Package rawsock opens the sockets rawkit's tools send and receive on:
// ICMP and ICMPv6 sockets, raw (SOCK_RAW, needs CAP_NET_RAW, see raw(7))
// or unprivileged datagram "ping" sockets (SOCK_DGRAM with IPPROTO_ICMP,
// allowed by net.ipv4.ping_group_range, see icmp(7)).
//
// Every socket is non-blocking and integrated with the Go runtime's
// poller, so deadlines and Close unblock a pending read. Received
// packets carry the kernel's receive timestamp (SO_TIMESTAMPNS, see
// socket(7)), the TTL or hop limit, and the source address.
//
// Raw ICMP sockets get a classic BPF filter (socket(7) SO_ATTACH_FILTER)
// that passes only echo replies carrying this socket's identifier and
// ICMP error messages, so concurrent pingers on one host neither steal
// nor pay for each other's replies.
//
// Once a tool has opened its sockets it calls DropPrivileges, which
// clears every capability of the process (capabilities(7)).
package rawsock
