// Package icmp decodes and encodes the ICMP and ICMPv6 messages a
// diagnostics tool sends and receives: echo request and reply
// (RFC 792, RFC 4443 section 4), time exceeded, destination unreachable
// with every code, parameter problem, and packet too big (RFC 4443
// section 3.2) or fragmentation needed (RFC 1191).
//
// For error messages it extracts the quoted original datagram — its IP
// header and the leading bytes of its transport header — so that a
// traceroute or port scanner can match the error to the probe that
// caused it, and it decodes RFC 4884 multi-part extensions carrying
// RFC 4950 MPLS label stacks.
//
// The package is a pure codec built on golang.org/x/net/icmp: it turns
// bytes into values and back and performs no I/O. Sockets live in
// package rawsock.
package icmp
