package ping

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/rawkit/rawkit/internal/hosts"
	"github.com/rawkit/rawkit/report"
)

// target is one address being pinged and everything counted for it.
type target struct {
	name   string // as the user wrote it, or the address for a CIDR member
	addr   netip.Addr
	family int
	named  bool // the user wrote a host name, not an address

	sent, received, dups, errors int
	stats                        report.RTTStats
	maxRTT                       float64 // ms
	// pipe is the most probes ever outstanding at once, and ewma the
	// moving average of RTTs (weight 1/8): iputils' "pipe N" and
	// "ipg/ewma" in the statistics.
	pipe int
	ewma time.Duration
	// localDrops counts probes a local firewall rule dropped (EPERM).
	localDrops int
	replied    bitset // target sequence numbers answered
	split      split  // since fping's last interval summary
}

// split is what fping's interval summaries (-Q, SIGQUIT) count: probes
// answered or given up since the last, as fping counts a probe sent only
// then, and the RTTs of the answers.
type split struct {
	sent, received int
	min, max, sum  time.Duration
}

func (s *split) answered(rtt time.Duration) {
	s.sent++
	s.received++
	s.sum += rtt
	if s.received == 1 || rtt < s.min {
		s.min = rtt
	}
	s.max = max(s.max, rtt)
}

// resolveTargets turns the user's arguments into addresses: literals,
// CIDR blocks (every host address; for IPv4 blocks larger than /31 the
// network and broadcast addresses are left out, as fping -g does) and
// host names (the first address of the wanted family).
func resolveTargets(ctx context.Context, opts *Options) ([]*target, error) {
	var out []*target
	var block []target // made 256 at a time: a sweep has thousands
	// Duplicates come only from different arguments: one argument (a
	// sweep's block) needs no map of thousands of addresses, whose
	// growth took a seventh of a /20 sweep's page faults.
	var seen map[netip.Addr]bool
	if len(opts.Targets) > 1 {
		seen = map[netip.Addr]bool{}
	}
	// add takes target a, written as name; named says name is a host
	// name, not an address.
	add := func(name string, a netip.Addr, named bool) error {
		a = a.Unmap()
		if opts.Family == 4 && !a.Is4() || opts.Family == 6 && !a.Is6() {
			return report.Usagef("%s: not an IPv%d address", name, opts.Family)
		}
		if seen != nil {
			if seen[a] {
				return nil
			}
			seen[a] = true
		}
		if len(out) >= maxTargets {
			return report.Usagef("more than %d targets", maxTargets)
		}
		fam := 4
		if a.Is6() {
			fam = 6
		}
		if len(block) == 0 {
			block = make([]target, min(256, maxTargets-len(out)))
		}
		t := &block[0]
		block = block[1:]
		*t = target{name: name, addr: a, family: fam, named: named}
		out = append(out, t)
		return nil
	}
	for _, arg := range opts.Targets {
		if strings.Contains(arg, "/") {
			p, err := netip.ParsePrefix(arg)
			if err != nil {
				return nil, report.Usagef("bad CIDR block %q: %v", arg, err)
			}
			p = p.Masked()
			hostBits := p.Addr().BitLen() - p.Bits()
			if hostBits > 16 {
				return nil, report.Usagef("%s has more than %d addresses", arg, maxTargets)
			}
			first, last := p.Addr(), lastAddr(p)
			if p.Addr().Is4() && hostBits > 1 {
				first, last = first.Next(), last.Prev()
			}
			for a := first; a.IsValid() && a.Compare(last) <= 0; a = a.Next() {
				if err := add(a.String(), a, false); err != nil {
					return nil, err
				}
			}
			continue
		}
		a, err := hosts.Lookup(ctx, arg, opts.Family, opts.Resolve)
		if err != nil {
			return nil, err
		}
		_, literal := netip.ParseAddr(arg)
		if err := add(arg, a, literal != nil); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, report.Usagef("no target given")
	}
	return out, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// bitset is a growable set of small non-negative integers.
type bitset []uint64

func (b *bitset) set(i int) {
	for i/64 >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[i/64] |= 1 << (i % 64)
}

func (b bitset) has(i int) bool { return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0 }
