package dropreason

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/rawkit/rawkit/internal/kernelbtf"
)

// maxTargets bounds the addresses watched (a map entry each).
const maxTargets = 1 << 16

// maxReasons bounds the reasons counted (the enum has about 130).
const maxReasons = 1024

// Watch is a running count.
type Watch struct {
	counts  *ebpf.Map
	targets *ebpf.Map
	prog    *ebpf.Program
	link    link.Link
	names   map[uint32]string
}

// offsets are the kernel structure fields the program reads, in bytes.
type offsets struct {
	SKBSK, SKBHead, SKBNetworkHeader uint32
	SockNet                          uint32 // sock.__sk_common.skc_net.net
	NetInum                          uint32 // net.ns.inum
}

// Start loads and attaches the program for packets to targets from
// sockets of the calling thread's network namespace.
func Start(targets []netip.Addr) (*Watch, error) {
	if len(targets) == 0 || len(targets) > maxTargets {
		return nil, fmt.Errorf("%d targets (1 to %d are watched)", len(targets), maxTargets)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return nil, err
	}
	l, err := kernelbtf.Read([]string{"sk_buff.sk", "sk_buff.head", "sk_buff.network_header", "sock.__sk_common.skc_net.net", "net.ns.inum"},
		[]string{"skb_drop_reason"})
	if err != nil {
		return nil, err
	}
	off := offsets{SKBSK: l.Offsets["sk_buff.sk"], SKBHead: l.Offsets["sk_buff.head"], SKBNetworkHeader: l.Offsets["sk_buff.network_header"],
		SockNet: l.Offsets["sock.__sk_common.skc_net.net"], NetInum: l.Offsets["net.ns.inum"]}
	w := &Watch{names: map[uint32]string{}}
	noSocket := int32(-1)
	for v, name := range l.Enums["skb_drop_reason"] {
		w.names[v] = strings.TrimPrefix(name, "SKB_DROP_REASON_")
		if name == "SKB_DROP_REASON_NO_SOCKET" {
			noSocket = int32(v)
		}
	}
	fail := func(err error) (*Watch, error) {
		w.Close()
		return nil, err
	}
	if w.counts, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: maxReasons}); err != nil {
		return fail(err)
	}
	if w.targets, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 16, ValueSize: 1, MaxEntries: uint32(len(targets))}); err != nil {
		return fail(err)
	}
	keys := make([][16]byte, len(targets))
	values := make([]uint8, len(targets))
	for i, a := range targets {
		keys[i], values[i] = a.As16(), 1
	}
	// One system call for a sweep's thousands of targets; one each where
	// the kernel has no batch operations.
	if _, err := w.targets.BatchUpdate(keys, values, nil); err != nil {
		for i := range keys {
			if err := w.targets.Put(keys[i], values[i]); err != nil {
				return fail(err)
			}
		}
	}
	insns := program(off, uint32(st.Ino), noSocket, w.targets.FD(), w.counts.FD())
	// A raw tracepoint: attached by name, with no tracefs (which a
	// namespace's own /sys does not have).
	if w.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, Instructions: insns, License: "GPL"}); err != nil {
		return fail(fmt.Errorf("loading the program: %w", err))
	}
	if w.link, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "kfree_skb", Program: w.prog}); err != nil {
		return fail(fmt.Errorf("attaching to kfree_skb: %w", err))
	}
	return w, nil
}

// program is the eBPF program. R1 is the raw tracepoint's arguments:
// trace_kfree_skb(skb, location, reason[, rx_sk]), 8 bytes each.
// noSocket is the reason NO_SOCKET's value (-1: none): a received packet
// no socket wanted, never a probe of ours on its way out. Every echo
// reply a raw socket reads is also dropped so (ping_rcv finds no ping
// socket), and every answer to a raw SYN, so it is let go before any
// read of kernel memory: a flood's replies cost the watch the least.
func program(off offsets, netns uint32, noSocket int32, targetsFD, countsFD int) asm.Instructions {
	// read copies size bytes at src (a register) plus offset to the
	// stack at fp+dst, with bpf_probe_read_kernel.
	read := func(dst int16, size int32, src asm.Register, offset int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.RFP),
			asm.Add.Imm(asm.R1, int32(dst)),
			asm.Mov.Imm(asm.R2, size),
			asm.Mov.Reg(asm.R3, src),
			asm.Add.Imm(asm.R3, offset),
			asm.FnProbeReadKernel.Call(),
			asm.JNE.Imm(asm.R0, 0, "out"),
		}
	}
	var p asm.Instructions
	add := func(is ...asm.Instruction) { p = append(p, is...) }
	addAll := func(is asm.Instructions) { p = append(p, is...) }
	// R6 = skb, R7 = reason.
	add(asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord))
	add(asm.LoadMem(asm.R7, asm.R1, 16, asm.DWord))
	add(asm.JGE.Imm(asm.R7, maxReasons, "out"))
	if noSocket >= 0 {
		add(asm.JEq.Imm(asm.R7, noSocket, "out"))
	}
	// The sending socket, of our namespace.
	addAll(read(-8, 8, asm.R6, int32(off.SKBSK)))
	add(asm.LoadMem(asm.R8, asm.RFP, -8, asm.DWord))
	add(asm.JEq.Imm(asm.R8, 0, "out"))
	addAll(read(-8, 8, asm.R8, int32(off.SockNet)))
	add(asm.LoadMem(asm.R8, asm.RFP, -8, asm.DWord))
	add(asm.JEq.Imm(asm.R8, 0, "out"))
	addAll(read(-8, 4, asm.R8, int32(off.NetInum)))
	add(asm.LoadMem(asm.R2, asm.RFP, -8, asm.Word))
	add(asm.JNE.Imm32(asm.R2, int32(netns), "out")) // (32-bit: an inode number is above 2^31)
	// The IP header: skb->head + skb->network_header.
	addAll(read(-8, 8, asm.R6, int32(off.SKBHead)))
	add(asm.LoadMem(asm.R8, asm.RFP, -8, asm.DWord))
	addAll(read(-8, 2, asm.R6, int32(off.SKBNetworkHeader)))
	add(asm.LoadMem(asm.R2, asm.RFP, -8, asm.Half))
	add(asm.Add.Reg(asm.R8, asm.R2))
	// 40 bytes at fp-64 (an IPv6 header, or the start of IPv4's).
	addAll(read(-64, 40, asm.R8, 0))
	// The key at fp-80: 16 bytes, the destination as IPv4-mapped IPv6
	// or IPv6.
	add(asm.LoadMem(asm.R2, asm.RFP, -64, asm.Byte))
	add(asm.RSh.Imm(asm.R2, 4))
	add(asm.JEq.Imm(asm.R2, 6, "six"))
	add(asm.JNE.Imm(asm.R2, 4, "out"))
	add(asm.Mov.Imm(asm.R2, 0))
	add(asm.StoreMem(asm.RFP, -80, asm.R2, asm.DWord))
	add(asm.StoreImm(asm.RFP, -72, 0, asm.Half))
	add(asm.StoreImm(asm.RFP, -70, -1, asm.Half)) // ::ffff:
	add(asm.LoadMem(asm.R2, asm.RFP, -64+16, asm.Word))
	add(asm.StoreMem(asm.RFP, -68, asm.R2, asm.Word))
	add(asm.Ja.Label("lookup"))
	add(asm.LoadMem(asm.R2, asm.RFP, -64+24, asm.DWord).WithSymbol("six"))
	add(asm.StoreMem(asm.RFP, -80, asm.R2, asm.DWord))
	add(asm.LoadMem(asm.R2, asm.RFP, -64+32, asm.DWord))
	add(asm.StoreMem(asm.RFP, -72, asm.R2, asm.DWord))
	add(asm.LoadMapPtr(asm.R1, targetsFD).WithSymbol("lookup"))
	add(asm.Mov.Reg(asm.R2, asm.RFP))
	add(asm.Add.Imm(asm.R2, -80))
	add(asm.FnMapLookupElem.Call())
	add(asm.JEq.Imm(asm.R0, 0, "out"))
	// counts[reason]++
	add(asm.StoreMem(asm.RFP, -84, asm.R7, asm.Word))
	add(asm.LoadMapPtr(asm.R1, countsFD))
	add(asm.Mov.Reg(asm.R2, asm.RFP))
	add(asm.Add.Imm(asm.R2, -84))
	add(asm.FnMapLookupElem.Call())
	add(asm.JEq.Imm(asm.R0, 0, "out"))
	add(asm.Mov.Imm(asm.R1, 1))
	add(asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
	add(asm.Mov.Imm(asm.R0, 0).WithSymbol("out"))
	add(asm.Return())
	return p
}

// Counts is the drops counted so far, by the kernel's name of the reason
// (NETFILTER_DROP, NEIGH_FAILED, ...).
func (w *Watch) Counts() map[string]uint64 {
	out := map[string]uint64{}
	if w == nil || w.counts == nil {
		return out
	}
	keys, values := make([]uint32, maxReasons), make([]uint64, maxReasons)
	// One system call for the whole array where the kernel batches
	// (5.6 and later); one a reason otherwise.
	var cursor ebpf.MapBatchCursor
	n, err := w.counts.BatchLookup(&cursor, keys, values, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		n = 0
		for k := uint32(0); k < maxReasons; k++ {
			if w.counts.Lookup(k, &values[n]) == nil {
				keys[n] = k
				n++
			}
		}
	}
	for i, v := range values[:n] {
		if v == 0 {
			continue
		}
		name, ok := w.names[keys[i]]
		if !ok {
			name = fmt.Sprintf("REASON_%d", keys[i])
		}
		out[name] += v
	}
	return out
}

// Close detaches the program and frees its maps; nil closes nothing.
func (w *Watch) Close() {
	if w == nil {
		return
	}
	if w.link != nil {
		w.link.Close()
	}
	if w.prog != nil {
		w.prog.Close()
	}
	for _, m := range []*ebpf.Map{w.counts, w.targets} {
		if m != nil {
			m.Close()
		}
	}
}
