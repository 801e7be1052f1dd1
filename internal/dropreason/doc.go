// Package dropreason counts why the kernel dropped this tool's own
// probes: an eBPF program on the kfree_skb raw tracepoint (its reason
// argument, enum skb_drop_reason, as pwru shows it) counts, by reason, the
// packets that a socket of the tool's network namespace sent to one of
// its targets and that the kernel freed as dropped (a netfilter rule, a
// failed neighbour resolution, no route, a full queue ...).
//
// The program is written with cilium/ebpf's assembler (pure Go, no C
// compiler) and reads the kernel's structures at offsets taken from the
// kernel's own BTF (/sys/kernel/btf/vmlinux), so it runs on the kernel it
// is loaded on. It needs CAP_BPF and CAP_PERFMON (or root) at start;
// where the kernel or the privileges do not allow it, Start says why and
// the tools say the mode they run in.
package dropreason
