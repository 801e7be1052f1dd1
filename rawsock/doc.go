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
// A raw socket without transmit timestamps can send a packet and read
// what is queued in one system call (WriteToAddrThenTryRead): a sendmsg
// and a recvmsg, both MSG_DONTWAIT, submitted together to an io_uring of
// the socket (io_uring_setup(2), io_uring_enter(2)), the socket
// registered with it. A flood's answer is queued before its send
// returns on a fast path. Where the kernel refuses io_uring the two
// calls are made apart.
//
// A raw socket with transmit timestamps sends chains (WriteChain): up
// to 16 probes in one io_uring_enter, each sent when the read behind
// the one before found a datagram (linked operations, IOSQE_IO_LINK),
// then reads of their transmit timestamps from the error queue, each
// send naming its own (SCM_TS_OPT_ID, Linux 6.13).
//
// Many datagrams go in one system call with WriteBatch (sendmmsg(2)),
// and many are read in one with TryReadBatch (recvmmsg(2)).
//
// Once a tool has opened its sockets it calls DropPrivileges, which
// clears every capability of the process (capabilities(7)).
package rawsock
