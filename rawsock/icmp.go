package rawsock

import (
	"errors"
	"net/netip"
	"time"
)

// Mode chooses between a raw ICMP socket and an unprivileged datagram one.
type Mode int

const (
	// Auto opens a raw socket when the process may, and otherwise an
	// unprivileged datagram socket.
	Auto Mode = iota
	// Privileged opens a raw socket (CAP_NET_RAW) or fails.
	Privileged
	// Unprivileged opens a datagram ping socket (ping_group_range) or fails.
	Unprivileged
)

// ICMPConfig describes an ICMP socket. The zero value, with Family set,
// is an Auto socket with the kernel's defaults for every option.
type ICMPConfig struct {
	Family int // 4 or 6
	Mode   Mode

	// ID is the echo identifier a raw socket's filter passes replies for.
	// Datagram sockets ignore it: the kernel assigns their identifier.
	ID int

	Options
}

// Options are the socket options every socket of this package takes.
// The zero value of each keeps the kernel's default.
type Options struct {
	TTL   int    // time to live or hop limit; 0 keeps the kernel default
	TOS   int    // IPv4 TOS or IPv6 traffic class; 0 keeps the default
	PMTU  string // path MTU discovery: "do" (set DF), "dont", "want", "probe"; "" keeps the default
	Mark  int    // SO_MARK for policy routing; 0 sets none
	Iface string // SO_BINDTODEVICE; "" binds to no interface
	// Source is the local address to send from; the zero Addr lets the
	// kernel choose.
	Source netip.Addr
	// RecvBuffer is the receive buffer size in bytes; 0 keeps the default.
	// Sweeps of many targets need a large one so replies arriving
	// together are not dropped.
	RecvBuffer int
	// NoTxTimestamps turns transmit timestamps off: a sender that needs
	// no RTT precision (a port scan) saves a system call per packet.
	NoTxTimestamps bool
	// Unpolled keeps the socket out of the runtime's network poller:
	// reads and writes that must wait do so in ppoll(2) of their own
	// thread. A read notices a new read deadline or Close within 50 ms;
	// a send that finds the buffer full waits for room until Close
	// (write deadlines are not kept). In the
	// poller, every packet that arrives makes the kernel wake the
	// poller's entry (a lock and a call per packet); a loop that reads
	// each answer itself as it comes (a flood) spares that, as iputils'
	// plain socket does.
	Unpolled bool
	// Broadcast allows sending to a broadcast address (SO_BROADCAST,
	// ping -b).
	Broadcast bool
	// DontRoute sends only to hosts on an attached network, bypassing
	// the routing table (SO_DONTROUTE, ping -r).
	DontRoute bool
	// NoMulticastLoop keeps multicast probes from looping back to this
	// host (IP_MULTICAST_LOOP 0, ping -L).
	NoMulticastLoop bool
	// Debug sets SO_DEBUG (ping -d); the kernel ignores it for most
	// sockets.
	Debug bool
	// SendBuffer is the send buffer size in bytes (ping -S); 0 keeps the
	// default.
	SendBuffer int
}

// Meta is what the kernel says about a received packet besides its bytes.
type Meta struct {
	Src netip.Addr
	// TTL is the received time to live or hop limit, -1 when unknown.
	TTL int
	TOS int
	// KernelTime is when the packet reached the socket (SO_TIMESTAMPNS),
	// the zero Time when the kernel gave none.
	KernelTime time.Time
	// Truncated is set when the packet was longer than the buffer.
	Truncated bool
}

// ErrNoPacket is TryReadMsg's answer when no packet is queued.
var ErrNoPacket = errors.New("rawsock: no packet queued")
