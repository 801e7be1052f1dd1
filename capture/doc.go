// Package capture is the engine of rawkit's sniff: it reads packets from
// a TPACKET_V3 ring (package rawsock) or a pcap file, filters them with a
// tcpdump expression (package filter), prints a line per packet as
// tcpdump -n does, or writes a pcap file (nanosecond timestamps), and
// counts what the kernel or the engine dropped, so a capture can prove it
// is complete.
//
// The ring is read on its own goroutine into a bounded queue: slow output
// never stalls the ring, and a full queue counts as a drop.
package capture
