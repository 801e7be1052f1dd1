package sockowner

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// refreshEvery bounds how often the socket tables and /proc are read
// again for a flow not found: at most that often, however many new
// flows a busy link brings.
const refreshEvery = 20 * time.Millisecond

// recheckEvery is how long an attribution is trusted before its process
// is seen to still hold the socket.
const recheckEvery = 100 * time.Millisecond

// A new flow of this host not in the socket tables waits, once, for the
// kernel's record of its process (eBPF), which is written as a send
// returns: after its packet was captured, and later still when the
// sender loses its CPU in between. A datagram this host sent is sure to
// be recorded (only a user socket sends one), so it waits up to
// settleSent, as long as a busy machine can take; any other packet, such
// as the kernel's own RST, which no record follows, waits settle. A flow
// that waited in vain does not wait again.
const (
	settle     = 3 * time.Millisecond
	settleSent = 30 * time.Millisecond
)

type sockKey struct {
	proto         uint8
	local, remote netip.AddrPort
}

type holder struct {
	pid, fd int
}

type cached struct {
	inode   uint32
	holder  holder
	proc    *Process
	checked time.Time
	// unrecorded: the flow waited for the kernel's record in vain.
	unrecorded bool
}

// Table looks flows up; one goroutine uses it.
type Table struct {
	bpf       *bpfWatch // nil without eBPF
	mode      string
	own       map[netip.Addr]bool // this namespace's addresses
	nl        *netlink.Handle
	sockets   map[sockKey]uint32
	inodes    map[uint32]holder
	flows     map[Flow]*cached
	sockRead  time.Time
	procsRead time.Time
}

// New opens the socket tables of the network namespace at netnsPath
// (a file such as /run/netns/NAME or /proc/PID/ns/net; "" for the
// process's own).
func New(netnsPath string) (*Table, error) {
	t := &Table{sockets: map[sockKey]uint32{}, inodes: map[uint32]holder{}, flows: map[Flow]*cached{}}
	var err error
	if netnsPath == "" {
		t.nl, err = netlink.NewHandle(syscall.NETLINK_INET_DIAG)
	} else {
		ns, nerr := netns.GetFromPath(netnsPath)
		if nerr != nil {
			return nil, fmt.Errorf("--process: namespace %s: %w", netnsPath, nerr)
		}
		defer ns.Close()
		t.nl, err = netlink.NewHandleAt(ns, syscall.NETLINK_INET_DIAG)
	}
	if err != nil {
		return nil, fmt.Errorf("--process: sock_diag: %w", err)
	}
	t.own = map[netip.Addr]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				t.own[p.Addr().Unmap()] = true
			}
		}
	}
	t.mode = "eBPF (socket send, receive and connect tracepoints), sock_diag and /proc"
	if netnsPath != "" {
		t.mode = "sock_diag and /proc (no eBPF: its programs are loaded in the capture's namespace only)"
	} else if t.bpf, err = startBPF(); err != nil {
		t.mode = "sock_diag and /proc (no eBPF: " + err.Error() + ")"
	}
	return t, nil
}

// Mode says how processes are found: with eBPF, or why not.
func (t *Table) Mode() string { return t.mode }

// BPF reports whether the eBPF records are in use.
func (t *Table) BPF() bool { return t.bpf != nil }

// Close unloads the eBPF programs.
func (t *Table) Close() {
	if t != nil {
		t.bpf.close()
	}
}

// Lookup returns the process holding f's socket on this host (f seen
// in either direction), or false when none is known to.
func (t *Table) Lookup(f Flow, now time.Time) (*Process, bool) {
	if f.Proto != 6 && f.Proto != 17 {
		return nil, false
	}
	waited := false
	if c := t.flows[f]; c != nil {
		waited = c.unrecorded
		if now.Sub(c.checked) < recheckEvery {
			if c.proc == nil && t.bpf != nil {
				// (The kernel's record may have come since.)
				return t.bpf.lookup(f)
			}
			return c.proc, c.proc != nil
		}
		if c.proc != nil && holds(c.holder, c.inode) {
			c.checked = now
			return c.proc, true
		}
		delete(t.flows, f)
	}
	if c := t.fromTables(f, now); c != nil {
		t.remember(f, c)
		return c.proc, true
	}
	// The socket is gone or not yet listed, or its holder is: the
	// kernel's record of who used it, perhaps still to come.
	c := &cached{checked: now, unrecorded: waited}
	p, ok := t.bpf.lookup(f)
	if wait := t.settleFor(f); !ok && !waited && wait > 0 {
		p, ok = t.bpf.await(f, wait)
		c.unrecorded = !ok
	}
	t.remember(f, c)
	return p, ok
}

// fromTables finds f's socket in the socket tables and the process
// holding it in /proc, or returns nil.
func (t *Table) fromTables(f Flow, now time.Time) *cached {
	inode, ok := t.socketOf(f, now)
	if !ok {
		return nil
	}
	h, ok := t.inodes[inode]
	if !ok || !holds(h, inode) {
		if now.Sub(t.procsRead) >= refreshEvery {
			t.readProcs(now)
		}
		if h, ok = t.inodes[inode]; !ok {
			return nil
		}
	}
	p := readProcess(h.pid)
	if p == nil {
		return nil
	}
	return &cached{inode: inode, holder: h, proc: p, checked: now}
}

// settleFor is how long f waits for its record: 0 without eBPF or for a
// flow not of this host.
func (t *Table) settleFor(f Flow) time.Duration {
	switch {
	case t.bpf == nil:
		return 0
	case f.Proto == 17 && t.own[f.Src.Addr().Unmap()]:
		return settleSent
	case t.own[f.Src.Addr().Unmap()] || t.own[f.Dst.Addr().Unmap()]:
		return settle
	}
	return 0
}

// remember caches an answer, within bounds: a long capture of many
// flows keeps at most 1<<16.
func (t *Table) remember(f Flow, c *cached) {
	if len(t.flows) >= 1<<16 {
		clear(t.flows)
	}
	t.flows[f] = c
}

// socketOf finds f's socket: connected (both ends), or bound to the
// local port alone (a listening or unconnected UDP socket).
func (t *Table) socketOf(f Flow, now time.Time) (uint32, bool) {
	find := func() (uint32, bool) {
		for _, k := range []sockKey{
			{f.Proto, f.Src, f.Dst}, {f.Proto, f.Dst, f.Src},
			{proto: f.Proto, local: f.Src}, {proto: f.Proto, local: f.Dst},
			{proto: f.Proto, local: netip.AddrPortFrom(unspecified(f.Src.Addr()), f.Src.Port())},
			{proto: f.Proto, local: netip.AddrPortFrom(unspecified(f.Dst.Addr()), f.Dst.Port())},
		} {
			if inode, ok := t.sockets[k]; ok && inode != 0 {
				return inode, true
			}
		}
		return 0, false
	}
	if inode, ok := find(); ok {
		return inode, true
	}
	if now.Sub(t.sockRead) < refreshEvery {
		return 0, false
	}
	t.readSockets(now)
	return find()
}

func unspecified(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// readSockets dumps the TCP and UDP sockets of both families.
func (t *Table) readSockets(now time.Time) {
	t.sockRead = now
	clear(t.sockets)
	for _, fam := range []uint8{syscall.AF_INET, syscall.AF_INET6} {
		for proto, dump := range map[uint8]func(uint8) ([]*netlink.Socket, error){6: t.nl.SocketDiagTCP, 17: t.nl.SocketDiagUDP} {
			socks, err := dump(fam)
			if err != nil {
				continue
			}
			for _, s := range socks {
				local, ok1 := netip.AddrFromSlice(s.ID.Source)
				remote, ok2 := netip.AddrFromSlice(s.ID.Destination)
				if !ok1 || !ok2 {
					continue
				}
				local, remote = local.Unmap(), remote.Unmap()
				k := sockKey{proto: proto, local: netip.AddrPortFrom(local, s.ID.SourcePort)}
				if !remote.IsUnspecified() || s.ID.DestinationPort != 0 {
					k.remote = netip.AddrPortFrom(remote, s.ID.DestinationPort)
				}
				t.sockets[k] = s.INode
			}
		}
	}
}

// readProcs maps every socket inode open in a process to the process.
func (t *Table) readProcs(now time.Time) {
	t.procsRead = now
	clear(t.inodes)
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", d.Name(), "fd"))
		if err != nil {
			continue // gone, or another user's without CAP_SYS_PTRACE
		}
		for _, fd := range fds {
			n, err := strconv.Atoi(fd.Name())
			if err != nil {
				continue
			}
			if inode, ok := socketInode(pid, n); ok {
				if _, seen := t.inodes[inode]; !seen {
					t.inodes[inode] = holder{pid: pid, fd: n}
				}
			}
		}
	}
}

// socketInode reads which socket fd n of pid is.
func socketInode(pid, n int) (uint32, bool) {
	link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(n))
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 32)
	return uint32(v), err == nil
}

// holds reports whether the process still has the socket open where it
// was found.
func holds(h holder, inode uint32) bool {
	got, ok := socketInode(h.pid, h.fd)
	return ok && got == inode
}

func readProcess(pid int) *Process {
	dir := "/proc/" + strconv.Itoa(pid)
	comm, err := os.ReadFile(dir + "/comm")
	if err != nil {
		return nil
	}
	p := &Process{PID: pid, Comm: strings.TrimSpace(string(comm))}
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil {
		p.Cmdline = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	if b, err := os.ReadFile(dir + "/cgroup"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		if i := strings.LastIndex(line, ":"); i >= 0 {
			p.Cgroup = line[i+1:]
		}
	}
	return p
}
