// Package sockowner names the process behind a TCP or UDP flow, as
// ptcpdump does. The socket is found by its addresses in the kernel's
// socket tables (sock_diag(7), inet_diag over netlink), its owner by the
// socket's inode among the open files of /proc/PID/fd (proc(5)); a
// process is named from there only while it holds the socket. Where the
// kernel and the privileges allow eBPF, programs on the sock_send_length,
// sock_recv_length, inet_sock_set_state and net_dev_queue tracepoints
// record which process used each socket, under the socket's addresses
// (ebpf_linux.go), so a flow whose socket is gone before it is looked up
// is still named, by the process the kernel saw use it; without eBPF such
// a flow is unknown, never guessed.
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
