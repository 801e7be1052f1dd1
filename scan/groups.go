package scan

import "net/netip"

// A scan of more probes than a table holds (tableLimit) runs as nmap's
// does: in host groups, each as many hosts as a table of tableLimit
// probes allows, one after another, on the same sockets. A group's hosts
// are written to every output when the group ends, so memory does not
// grow with the scan and every format streams. Groups are disjoint sets
// of targets: a late answer from a group already written matches no
// probe of the current one and is dropped, never given to another
// probe. A scan within the limit is one group: the whole target list.

// groups is the number of host groups.
func (s *scanner) groups() int {
	if len(s.scanned) == 0 {
		return 1
	}
	return (len(s.scanned) + s.groupHosts - 1) / s.groupHosts
}

// setGroup makes group g the one probed: its targets, probe numbering,
// permutation and table. The caller holds s.mu or runs alone.
func (s *scanner) setGroup(g int) {
	s.group = g
	lo := min(g*s.groupHosts, len(s.scanned))
	hi := min(lo+s.groupHosts, len(s.scanned))
	s.targets = s.scanned[lo:hi]
	if s.groups() > 1 {
		s.index.set(s.targets)
	}
	s.n = uint64(len(s.targets)) * uint64(len(s.ports))
	if s.opts.PingOnly {
		s.n = 0
	}
	s.perm = NewPermutation(s.n, s.groupSeed(g))
	s.shardSet = nil
	if s.table == nil || uint64(len(s.table.cell)) < s.n {
		s.table = newTable(s.n)
		s.probed = make(bitset, (s.n+63)/64)
		if s.opts.JSON {
			s.streamed = make(bitset, (s.n+63)/64)
		}
		return
	}
	s.table.reset(s.n)
	clear(s.probed)
	clear(s.streamed)
}

// groupSeed is the permutation's seed for group g: the scan's own for
// the first (a scan of one group is numbered as it always was).
func (s *scanner) groupSeed(g int) uint64 {
	if g == 0 {
		return s.opts.Seed
	}
	return splitmix(s.opts.Seed+uint64(g)) | 1
}

// groupProbes is the number of probes of group g.
func (s *scanner) groupProbes(g int) uint64 {
	lo := min(g*s.groupHosts, len(s.scanned))
	hi := min(lo+s.groupHosts, len(s.scanned))
	if s.opts.PingOnly {
		return 0
	}
	return uint64(hi-lo) * uint64(len(s.ports))
}

// shardProbes is the number of probes this shard sends over the whole
// scan (each group's permutation is shared out the same way).
func (s *scanner) shardProbes() uint64 {
	var n uint64
	for g := range s.groups() {
		n += s.opts.Shard.Count(s.groupProbes(g))
	}
	return n
}

// hostResults are target t's results (t indexes the group's targets), in
// port order; probes not sent in this run, or still waiting for their answer, are
// left out. The caller holds
// s.mu.
func (s *scanner) hostResults(t int, out []Result) []Result {
	if s.n == 0 {
		return out // -sn
	}
	a := s.targets[t]
	np := uint64(len(s.ports))
	for p, port := range s.ports {
		idx := uint64(t)*np + uint64(p)
		if !s.probed.has(idx) || !s.inShard(idx) {
			continue // never probed (interrupted, resumed past it, another shard's)
		}
		if r, ok := s.table.get(idx, a); ok {
			r.Addr, r.Port, r.idx = a, port, idx
			out = append(out, r)
			continue
		}
		if _, waiting := s.pending[idx]; waiting {
			continue // still in flight when a signal ended the scan: no state yet
		}
		r := s.unanswered()
		r.Addr, r.Port, r.idx = a, port, idx
		out = append(out, r)
	}
	return out
}

// writeHosts writes the current host group's hosts to every output, host
// by host (a host's results are all the memory it takes), runs -sV over
// each one's open ports when scanVersions is given, and adds their counts
// to sum. A scan of one group after discovery lists every target, in the
// order nmap reports them; one of several lists each group's hosts up
// (those down are in no group, and only counted at the end).
func (s *scanner) writeHosts(o *reportOutputs, sum *summary, scanVersions func([]Result)) error {
	rs := make([]Result, 0, len(s.ports))
	write := func(t int, discIdx int) {
		rs = rs[:0]
		if t >= 0 {
			s.mu.Lock()
			rs = s.hostResults(t, rs)
			s.mu.Unlock()
		}
		if len(rs) == 0 && discIdx < 0 {
			return // nothing probed: not reported (an interrupted scan)
		}
		h := hostResult{}
		if len(rs) > 0 {
			if scanVersions != nil {
				scanVersions(rs)
			}
			h = s.hostFrom(rs)
			for _, r := range rs {
				sum.count(r.State)
			}
		}
		if discIdx >= 0 {
			h.addr = s.allTargets[discIdx]
			s.withDiscovery(&h, discIdx)
		}
		o.hosts([]hostResult{h}, rs)
	}
	switch {
	case s.disc == nil:
		for t := range s.targets {
			write(t, -1)
		}
	case s.groups() > 1:
		for t, a := range s.targets {
			write(t, s.discIdx[a])
		}
	default:
		for _, i := range s.reportOrder() {
			t, ok := s.index.get(s.allTargets[i])
			if !ok {
				write(-1, i)
				continue
			}
			write(int(t), i)
		}
	}
	return o.flush()
}

// discIndex maps each target to its place in allTargets.
func discIndex(all []netip.Addr) map[netip.Addr]int {
	m := make(map[netip.Addr]int, len(all))
	for i, a := range all {
		m[a] = i
	}
	return m
}
