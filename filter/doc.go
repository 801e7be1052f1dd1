// Package filter compiles tcpdump filter expressions (pcap-filter(7)) to
// classic BPF (the Linux socket filter, see the kernel's filter.rst), in
// pure Go, for Ethernet, Linux cooked (SLL) and raw-IP link types.
//
// Its programs accept and reject the same packets as libpcap's: a test
// compiles every expression of its table with both (libpcap through
// tcpdump -ddd) and runs both programs on a corpus of packets. An
// expression outside what this package supports is an error naming the
// part it does not know — never silently something else.
//
// Supported: host, net (CIDR or mask), port, portrange, with src, dst,
// src or dst, src and dst; ip, ip6, arp, rarp, tcp, udp, sctp, icmp,
// icmp6, proto N (also ip proto, ip6 proto, ether proto); ether host, src,
// dst; broadcast, multicast; less, greater, len; vlan [id]; and, or, not
// with tcpdump's precedence (not binds tightest; and and or bind alike,
// left to right) and parentheses; relations over byte-offset expressions
// (proto[expr:size] for ether, ip, ip6, tcp, udp, icmp, sctp) with + - * /
// & | << >> and the named offsets and values (tcpflags, tcp-syn, icmptype,
// icmp-echo, ...).
package filter
