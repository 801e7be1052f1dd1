// Package scan is the engine of rawkit's portscan: which ports of which
// hosts answer, with nmap's states and reasons (open, closed, filtered,
// open|filtered; syn-ack, rst, no-response, ICMP type and code and the
// router that sent it), found at masscan's pace.
//
// A TCP SYN scan (half-open, as nmap -sS) sends from a raw socket and is
// stateless: each SYN's sequence number is a keyed hash of the target,
// port and a per-scan key, so an answer is matched by arithmetic, without
// a table, and a SYN-ACK that does not carry the right acknowledgement is
// ignored. The local kernel, which knows no connection, answers each
// SYN-ACK with a RST by itself; that closes the half-open connection on the
// target as nmap's scans do. A UDP scan sends real protocol payloads to
// well-known ports (DNS, NTP, SNMP, ...). A connect scan uses the kernel's
// TCP and needs no privilege.
//
// Probes go out in a random order: a keyed permutation of targets × ports,
// which --seed fixes and --shard i/n divides (zmap's meaning: shard i of n
// takes every n-th probe of the permutation from the i-th, so shards are
// disjoint and together the whole scan).
package scan
