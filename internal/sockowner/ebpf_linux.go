package sockowner

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/rawkit/rawkit/internal/kernelbtf"
)

// The eBPF side: a process is recorded when it sends or receives on a
// socket (the sock_send_length and sock_recv_length tracepoints fire in
// the calling process), and when it connects a TCP socket
// (inet_sock_set_state to SYN_SENT, in connect(); the flow's addresses
// are written as its SYN is queued to a device, net_dev_queue, before any
// capture sees it, and again at its next state change). Each record is
// keyed by the socket's own addresses at that moment, so a flow that
// ended before any lookup is still named: by the process that the kernel
// saw use it. A send is recorded as the call returns, after its packet
// was captured; the lookup waits for that record (owner_linux.go).

// flowKey is the maps' key: the socket's protocol and its addresses as
// the socket has them (IPv4 as IPv4-mapped IPv6; the remote end zero for
// an unconnected UDP socket).
type flowKey struct {
	Proto uint8
	_     uint8
	LPort uint16  // host order (skc_num)
	RPort [2]byte // network order (skc_dport)
	_     [2]byte
	LAddr [16]byte
	RAddr [16]byte
}

// flowOwner is the recorded process.
type flowOwner struct {
	TGID uint32
	_    uint32
	Comm [16]byte
}

// bpfWatch is the loaded programs and their maps.
type bpfWatch struct {
	flows, connecting *ebpf.Map
	progs             []*ebpf.Program
	links             []link.Link
}

func (w *bpfWatch) close() {
	if w == nil {
		return
	}
	for _, l := range w.links {
		l.Close()
	}
	for _, p := range w.progs {
		p.Close()
	}
	for _, m := range []*ebpf.Map{w.flows, w.connecting} {
		if m != nil {
			m.Close()
		}
	}
}

// sockFields are the struct sock fields the programs read.
var sockFields = []string{
	"sock.__sk_common.skc_net.net", "net.ns.inum", "sock.__sk_common.skc_family", "sock.sk_protocol",
	"sock.__sk_common.skc_num", "sock.__sk_common.skc_dport", "sock.__sk_common.skc_rcv_saddr", "sock.__sk_common.skc_daddr",
	"sock.__sk_common.skc_v6_rcv_saddr", "sock.__sk_common.skc_v6_daddr",
	"sock.__sk_common.skc_state", "sk_buff.sk",
}

// startBPF loads the programs for sockets of the calling thread's
// network namespace (CAP_BPF and CAP_PERFMON, or root, needed).
func startBPF() (*bpfWatch, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return nil, err
	}
	l, err := kernelbtf.Read(sockFields, nil)
	if err != nil {
		return nil, err
	}
	w := &bpfWatch{}
	fail := func(err error) (*bpfWatch, error) {
		w.close()
		return nil, err
	}
	if w.flows, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.LRUHash, KeySize: 40, ValueSize: 24, MaxEntries: 1 << 16}); err != nil {
		return fail(err)
	}
	if w.connecting, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.LRUHash, KeySize: 8, ValueSize: 24, MaxEntries: 1 << 14}); err != nil {
		return fail(err)
	}
	for _, tp := range []struct {
		name string
		prog asm.Instructions
	}{
		{"sock_send_length", useProgram(l.Offsets, uint32(st.Ino), w.flows.FD())},
		{"sock_recv_length", useProgram(l.Offsets, uint32(st.Ino), w.flows.FD())},
		{"inet_sock_set_state", stateProgram(l.Offsets, uint32(st.Ino), w.flows.FD(), w.connecting.FD())},
		{"net_dev_queue", synProgram(l.Offsets, uint32(st.Ino), w.flows.FD(), w.connecting.FD())},
	} {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, Instructions: tp.prog, License: "GPL"})
		if err != nil {
			return fail(fmt.Errorf("loading the %s program: %w", tp.name, err))
		}
		w.progs = append(w.progs, p)
		lk, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp.name, Program: p})
		if err != nil {
			return fail(fmt.Errorf("attaching to %s: %w", tp.name, err))
		}
		w.links = append(w.links, lk)
	}
	return w, nil
}

// Stack layout of the programs: the key at fp-48 (40 bytes), the owner
// at fp-72 (24 bytes), scratch at fp-8.
const (
	keyAt   = -48
	ownerAt = -72
)

// probeRead copies size bytes at src+off into the stack at fp+dst.
func probeRead(dst int16, size int32, src asm.Register, off uint32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, int32(dst)),
		asm.Mov.Imm(asm.R2, size),
		asm.Mov.Reg(asm.R3, src),
		asm.Add.Imm(asm.R3, int32(off)),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
	}
}

// sockKeyCode checks that the sock in R6 is a TCP or UDP socket of the
// namespace and builds its key at fp+keyAt; it jumps to "out" if not.
func sockKeyCode(off map[string]uint32, netns uint32) asm.Instructions {
	var p asm.Instructions
	add := func(is ...asm.Instruction) { p = append(p, is...) }
	// The namespace.
	p = append(p, probeRead(-8, 8, asm.R6, off["sock.__sk_common.skc_net.net"])...)
	add(asm.LoadMem(asm.R8, asm.RFP, -8, asm.DWord), asm.JEq.Imm(asm.R8, 0, "out"))
	p = append(p, probeRead(-8, 4, asm.R8, off["net.ns.inum"])...)
	add(asm.LoadMem(asm.R2, asm.RFP, -8, asm.Word), asm.JNE.Imm32(asm.R2, int32(netns), "out"))
	// The key, zeroed.
	add(asm.Mov.Imm(asm.R2, 0))
	for i := int16(0); i < 40; i += 8 {
		add(asm.StoreMem(asm.RFP, keyAt+i, asm.R2, asm.DWord))
	}
	// Protocol (TCP or UDP), family, ports.
	p = append(p, probeRead(-8, 2, asm.R6, off["sock.sk_protocol"])...)
	add(asm.LoadMem(asm.R2, asm.RFP, -8, asm.Half))
	add(asm.JEq.Imm(asm.R2, 6, "proto"), asm.JNE.Imm(asm.R2, 17, "out"))
	add(asm.StoreMem(asm.RFP, keyAt, asm.R2, asm.Byte).WithSymbol("proto"))
	p = append(p, probeRead(keyAt+2, 2, asm.R6, off["sock.__sk_common.skc_num"])...)
	p = append(p, probeRead(keyAt+4, 2, asm.R6, off["sock.__sk_common.skc_dport"])...)
	p = append(p, probeRead(-8, 2, asm.R6, off["sock.__sk_common.skc_family"])...)
	add(asm.LoadMem(asm.R2, asm.RFP, -8, asm.Half))
	add(asm.JEq.Imm(asm.R2, unix.AF_INET6, "v6"), asm.JNE.Imm(asm.R2, unix.AF_INET, "out"))
	// IPv4: ::ffff:a.b.c.d at both ends.
	add(asm.StoreImm(asm.RFP, keyAt+8+10, -1, asm.Half), asm.StoreImm(asm.RFP, keyAt+24+10, -1, asm.Half))
	p = append(p, probeRead(keyAt+8+12, 4, asm.R6, off["sock.__sk_common.skc_rcv_saddr"])...)
	p = append(p, probeRead(keyAt+24+12, 4, asm.R6, off["sock.__sk_common.skc_daddr"])...)
	add(asm.Ja.Label("keyed"))
	p = append(p, probeRead(keyAt+8, 16, asm.R6, off["sock.__sk_common.skc_v6_rcv_saddr"])...)
	p[len(p)-7] = p[len(p)-7].WithSymbol("v6")
	p = append(p, probeRead(keyAt+24, 16, asm.R6, off["sock.__sk_common.skc_v6_daddr"])...)
	add(asm.Mov.Imm(asm.R0, 0).WithSymbol("keyed"))
	return p
}

// ownerCode writes the current process at fp+ownerAt.
func ownerCode() asm.Instructions {
	return asm.Instructions{
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(asm.RFP, ownerAt, asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, ownerAt+8),
		asm.Mov.Imm(asm.R2, 16),
		asm.FnGetCurrentComm.Call(),
	}
}

// updateCode stores the owner at fp+ownerAt under the key at fp+keyAt.
func updateCode(flowsFD int) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, flowsFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyAt),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, ownerAt),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
	}
}

// useProgram records the process sending or receiving on a socket:
// sock_send_length and sock_recv_length(sk, ret, flags).
func useProgram(off map[string]uint32, netns uint32, flowsFD int) asm.Instructions {
	p := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord),
		asm.JEq.Imm(asm.R6, 0, "out"),
	}
	p = append(p, sockKeyCode(off, netns)...)
	p = append(p, ownerCode()...)
	p = append(p, updateCode(flowsFD)...)
	return append(p, asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())
}

// stateProgram follows TCP connects: inet_sock_set_state(sk, old, new).
// At SYN_SENT (in connect(), the caller current) the process is kept by
// the socket; at the socket's next state, when its addresses are whole,
// it is written under them.
func stateProgram(off map[string]uint32, netns uint32, flowsFD, connectingFD int) asm.Instructions {
	p := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord),
		asm.LoadMem(asm.R7, asm.R1, 16, asm.DWord), // the new state
		asm.JEq.Imm(asm.R6, 0, "out"),
		asm.StoreMem(asm.RFP, -16, asm.R6, asm.DWord), // the socket, as a key
		asm.JNE.Imm(asm.R7, 2, "later"),               // TCP_SYN_SENT
	}
	p = append(p, ownerCode()...)
	p = append(p,
		asm.LoadMapPtr(asm.R1, connectingFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, ownerAt),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.Ja.Label("out"),
	)
	later := connectedCode(off, netns, flowsFD, connectingFD)
	later[0] = later[0].WithSymbol("later")
	p = append(p, later...)
	return append(p, asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())
}

// synProgram writes a connecting socket's owner under its addresses as
// its SYN is queued to a device: net_dev_queue(skb), before the capture
// sees the SYN, and after connect() chose the port. Its owner was kept
// at SYN_SENT; the context here need not be the owner's.
func synProgram(off map[string]uint32, netns uint32, flowsFD, connectingFD int) asm.Instructions {
	p := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord), // the skb
		asm.JEq.Imm(asm.R6, 0, "out"),
	}
	p = append(p, probeRead(-16, 8, asm.R6, off["sk_buff.sk"])...)
	p = append(p, asm.LoadMem(asm.R6, asm.RFP, -16, asm.DWord), asm.JEq.Imm(asm.R6, 0, "out"))
	p = append(p, probeRead(-8, 1, asm.R6, off["sock.__sk_common.skc_state"])...)
	p = append(p, asm.LoadMem(asm.R2, asm.RFP, -8, asm.Byte), asm.JNE.Imm(asm.R2, 2, "out")) // TCP_SYN_SENT
	p = append(p, connectedCode(off, netns, flowsFD, connectingFD)...)
	return append(p, asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())
}

// connectedCode writes the owner kept for the connecting socket at fp-16
// (and in R6) under the socket's addresses, if one was kept.
func connectedCode(off map[string]uint32, netns uint32, flowsFD, connectingFD int) asm.Instructions {
	p := asm.Instructions{
		asm.LoadMapPtr(asm.R1, connectingFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		// Copy the owner out of the map value.
		asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord),
		asm.StoreMem(asm.RFP, ownerAt, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.R0, 8, asm.DWord),
		asm.StoreMem(asm.RFP, ownerAt+8, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.R0, 16, asm.DWord),
		asm.StoreMem(asm.RFP, ownerAt+16, asm.R2, asm.DWord),
	}
	p = append(p, sockKeyCode(off, netns)...)
	return append(p, updateCode(flowsFD)...)
}

// keyOf is the records' key of a socket of proto with these ends.
func keyOf(proto uint8, local, remote netip.AddrPort) flowKey {
	k := flowKey{Proto: proto, LPort: local.Port(), LAddr: local.Addr().As16()}
	binary.BigEndian.PutUint16(k.RPort[:], remote.Port())
	if remote.IsValid() {
		k.RAddr = remote.Addr().As16()
	}
	return k
}

// await looks f up until it is recorded or d has passed, often at
// first, as a record is most likely to come at once.
func (w *bpfWatch) await(f Flow, d time.Duration) (*Process, bool) {
	deadline := time.Now().Add(d)
	for step := 250 * time.Microsecond; ; step = min(2*step, 4*time.Millisecond) {
		time.Sleep(min(step, time.Until(deadline)))
		if p, ok := w.lookup(f); ok || !time.Now().Before(deadline) {
			return p, ok
		}
	}
}

// lookup finds f's owner among the records: the exact flow either way
// round, then the local end alone (an unconnected UDP socket).
func (w *bpfWatch) lookup(f Flow) (*Process, bool) {
	if w == nil {
		return nil, false
	}
	key := func(local, remote netip.AddrPort) flowKey { return keyOf(f.Proto, local, remote) }
	anyAddr := func(a netip.Addr) netip.Addr {
		if a.Is4() {
			return netip.IPv4Unspecified()
		}
		return netip.IPv6Unspecified()
	}
	none := func(a netip.Addr) netip.AddrPort { return netip.AddrPortFrom(anyAddr(a), 0) }
	for _, k := range []flowKey{
		key(f.Src, f.Dst), key(f.Dst, f.Src),
		key(f.Src, none(f.Dst.Addr())), key(f.Dst, none(f.Src.Addr())),
		key(netip.AddrPortFrom(anyAddr(f.Src.Addr()), f.Src.Port()), none(f.Dst.Addr())),
		key(netip.AddrPortFrom(anyAddr(f.Dst.Addr()), f.Dst.Port()), none(f.Src.Addr())),
	} {
		var o flowOwner
		if w.flows.Lookup(&k, &o) == nil && o.TGID != 0 {
			comm := unix.ByteSliceToString(o.Comm[:])
			if p := readProcess(int(o.TGID)); p != nil && p.Comm == comm {
				return p, true
			}
			// Gone since (or its pid reused): what the kernel saw is
			// all there is.
			return &Process{PID: int(o.TGID), Comm: comm}, true
		}
	}
	return nil, false
}
