package localdrop

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/rawkit/rawkit/internal/dropreason"
)

// Snapshot is the counters at one moment, or their change over a run.
type Snapshot struct {
	NoRoute           uint64 `json:"no_route"`
	OutputDiscards    uint64 `json:"output_discards"`
	NeighbourFailures uint64 `json:"neighbour_failures"`
	NeighbourDiscards uint64 `json:"neighbour_discards"`
	SendBufferErrors  uint64 `json:"send_buffer_errors"`
	// OwnUnreachable counts probes this host's own kernel answered with
	// an ICMP unreachable (from one of its own addresses): the next hop
	// did not answer ARP/ND. The tools count these themselves.
	OwnUnreachable uint64 `json:"own_unreachable"`
	// KernelDrops are the kernel's reasons for dropping probes to the
	// targets (kfree_skb's enum skb_drop_reason, NETFILTER_DROP,
	// NEIGH_FAILED, ...), counted with eBPF when the kernel and the
	// privileges allow (Counters.WatchDrops).
	KernelDrops map[string]uint64 `json:"kernel_drops,omitempty"`
}

// Counters are the counter files of one network namespace, opened once:
// a proc file shows the namespace it was opened in, so reading it again
// later needs no privilege and no setns.
type Counters struct {
	snmp, snmp6, arp, ndisc *os.File
	drops                   *dropreason.Watch
	// DropMode says how drop reasons are known: "eBPF (kfree_skb)", or
	// why not.
	DropMode string
}

// WatchDrops starts counting the kernel's drops of packets to targets
// sent from the calling thread's namespace, with eBPF, when the kernel
// and the privileges allow it (CAP_BPF and CAP_PERFMON, or root; call it
// before capabilities are dropped). It reports whether it runs;
// DropMode says why not.
func (c *Counters) WatchDrops(targets []netip.Addr) bool {
	if c == nil {
		return false
	}
	w, err := dropreason.Start(targets)
	if err != nil {
		c.DropMode = "no eBPF: " + err.Error()
		return false
	}
	c.drops, c.DropMode = w, "eBPF (kfree_skb)"
	return true
}

// Open opens the calling thread's namespace's counters; a file that
// cannot be opened (a kernel without IPv6) counts nothing.
func Open() *Counters {
	open := func(name string) *os.File {
		f, err := os.Open("/proc/thread-self/net/" + name)
		if err != nil {
			return nil
		}
		return f
	}
	return &Counters{snmp: open("snmp"), snmp6: open("snmp6"), arp: open("stat/arp_cache"), ndisc: open("stat/ndisc_cache")}
}

// Close closes the files; nil closes nothing.
func (c *Counters) Close() {
	if c == nil {
		return
	}
	for _, f := range []*os.File{c.snmp, c.snmp6, c.arp, c.ndisc} {
		if f != nil {
			f.Close()
		}
	}
	c.drops.Close()
}

func reread(f *os.File) []byte {
	if f == nil {
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(f)
	return b
}

// Read takes a snapshot; nil counts nothing.
func (c *Counters) Read() Snapshot {
	var s Snapshot
	if c == nil {
		return s
	}
	snmp := parseSNMP(reread(c.snmp))
	s.NoRoute = snmp["Ip.OutNoRoutes"]
	s.OutputDiscards = snmp["Ip.OutDiscards"]
	s.SendBufferErrors = snmp["Udp.SndbufErrors"]
	six := parseSNMP6(reread(c.snmp6))
	s.NoRoute += six["Ip6OutNoRoutes"]
	s.OutputDiscards += six["Ip6OutDiscards"]
	s.SendBufferErrors += six["Udp6SndbufErrors"]
	for _, f := range []*os.File{c.arp, c.ndisc} {
		n := parseNeighStat(reread(f))
		s.NeighbourFailures += n["res_failed"]
		s.NeighbourDiscards += n["unresolved_discards"]
	}
	if c.drops != nil {
		if counts := c.drops.Counts(); len(counts) > 0 {
			s.KernelDrops = counts
		}
	}
	return s
}

// parseSNMP reads /proc/net/snmp: pairs of lines, names then values,
// each starting with "Proto:"; keys are "Proto.Name".
func parseSNMP(b []byte) map[string]uint64 {
	out := map[string]uint64{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || len(names) != len(values) || names[0] != values[0] {
			continue
		}
		proto := strings.TrimSuffix(names[0], ":")
		for k := 1; k < len(names); k++ {
			if v, err := strconv.ParseInt(values[k], 10, 64); err == nil && v >= 0 {
				out[proto+"."+names[k]] = uint64(v)
			}
		}
	}
	return out
}

// parseSNMP6 reads /proc/net/snmp6: "Name value" per line.
func parseSNMP6(b []byte) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out
}

// parseNeighStat reads /proc/net/stat/{arp,ndisc}_cache: a header of
// names, then a row of hexadecimal counts per CPU, summed.
func parseNeighStat(b []byte) map[string]uint64 {
	out := map[string]uint64{}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return out
	}
	names := strings.Fields(lines[0])
	for _, row := range lines[1:] {
		for k, v := range strings.Fields(row) {
			if k < len(names) {
				if n, err := strconv.ParseUint(v, 16, 64); err == nil {
					out[names[k]] += n
				}
			}
		}
	}
	// "entries" is a gauge repeated on every row, not a count per CPU.
	delete(out, "entries")
	return out
}

// Sub is the change from before to s.
func (s Snapshot) Sub(before Snapshot) Snapshot {
	d := func(a, b uint64) uint64 {
		if a < b {
			return 0 // a counter reset (the namespace's own) is no drop
		}
		return a - b
	}
	out := Snapshot{NoRoute: d(s.NoRoute, before.NoRoute), OutputDiscards: d(s.OutputDiscards, before.OutputDiscards),
		NeighbourFailures: d(s.NeighbourFailures, before.NeighbourFailures), NeighbourDiscards: d(s.NeighbourDiscards, before.NeighbourDiscards),
		SendBufferErrors: d(s.SendBufferErrors, before.SendBufferErrors), OwnUnreachable: d(s.OwnUnreachable, before.OwnUnreachable)}
	for reason, n := range s.KernelDrops {
		if n = d(n, before.KernelDrops[reason]); n > 0 {
			if out.KernelDrops == nil {
				out.KernelDrops = map[string]uint64{}
			}
			out.KernelDrops[reason] = n
		}
	}
	return out
}

// Zero reports whether nothing was counted.
func (s Snapshot) Zero() bool {
	return len(s.KernelDrops) == 0 && s.NoRoute+s.OutputDiscards+s.NeighbourFailures+s.NeighbourDiscards+s.SendBufferErrors+s.OwnUnreachable == 0
}

// String is the one line a tool prints on stderr after "local: ".
func (s Snapshot) String() string {
	var parts []string
	for _, c := range []struct {
		n    uint64
		what string
	}{
		{s.OwnUnreachable, "probes answered unreachable by this host's own kernel (the next hop did not answer ARP/ND)"},
		{s.NeighbourFailures, "neighbour (ARP/ND) resolutions failed"},
		{s.NeighbourDiscards, "packets discarded waiting for a neighbour"},
		{s.NoRoute, "packets found no route"},
		{s.OutputDiscards, "packets dropped on output"},
		{s.SendBufferErrors, "sends failed on a full buffer"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	text := strings.Join(parts, ", ")
	if s.NeighbourFailures+s.NeighbourDiscards+s.NoRoute+s.OutputDiscards+s.SendBufferErrors > 0 {
		text += " (this namespace's kernel counters during the run)"
	}
	if len(s.KernelDrops) > 0 {
		if text != "" {
			text += "; "
		}
		text += "the kernel dropped probes: " + dropreason.Text(s.KernelDrops) + " (kfree_skb reasons, eBPF)"
	}
	return text
}

// Own is the set of this host's addresses (in the calling thread's
// network namespace): an ICMP error from one of them was made here.
type Own map[netip.Addr]bool

// OwnAddrs reads the addresses of the calling thread's namespace.
func OwnAddrs() Own {
	own := Own{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return own
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			own[p.Addr().Unmap()] = true
		}
	}
	return own
}

// Has reports whether a is one of the host's addresses.
func (o Own) Has(a netip.Addr) bool { return o[a.Unmap()] }
