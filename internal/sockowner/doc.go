// Package sockowner names the process behind a TCP or UDP flow, as
// ptcpdump does, without eBPF: the socket is found by its addresses in
// the kernel's socket tables (sock_diag(7), inet_diag over netlink), its
// owner by the socket's inode among the open files of /proc/PID/fd
// (proc(5)). A flow whose socket is gone before it is looked up (one
// shorter than a lookup, ~100 ms) is unknown, never guessed: a process
// is named only while it holds the socket.
package sockowner

import "net/netip"

// Process is a socket's owner.
type Process struct {
	PID     int    `json:"pid"`
	Comm    string `json:"comm"`
	Cmdline string `json:"cmdline"`
	Cgroup  string `json:"cgroup"`
}

// Flow is a packet's transport addresses: Proto 6 (TCP) or 17 (UDP).
type Flow struct {
	Proto    uint8
	Src, Dst netip.AddrPort
}
