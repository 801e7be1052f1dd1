package scan

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/rawkit/rawkit/internal/hosts"
	"github.com/rawkit/rawkit/report"
)

// MaxTargets is the most addresses a scan takes without AllowLarge.
const MaxTargets = 1 << 16

// TargetSpec says which addresses to scan.
type TargetSpec struct {
	Args    []string // addresses, host names, CIDR blocks, ranges (198.18.0.1-20)
	Exclude []string // the same forms, left out
	Family  int      // 4 or 6 for host names; 0 takes either
	// AllowBroadcast scans the limited broadcast, multicast and
	// unspecified addresses, which are refused (or, inside a block,
	// skipped) otherwise.
	AllowBroadcast bool
	// AllowLarge scans more than MaxTargets addresses.
	AllowLarge bool
	Lookup     hosts.Resolver // nil: the system resolver
}

// ReadTargetFile reads the targets of an -iL file: whitespace-separated,
// '#' starts a comment.
func ReadTargetFile(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		out = append(out, strings.Fields(line)...)
	}
	return out, sc.Err()
}

// addrRange is an inclusive range of addresses of one family.
type addrRange struct{ first, last netip.Addr }

// parseRange reads one target argument that is not a host name: an
// address, a CIDR block, a full range (a-b) or a last-part range
// (198.18.0.1-20).
func parseRange(arg string) (r addrRange, ok bool, err error) {
	if strings.Contains(arg, "/") {
		p, perr := netip.ParsePrefix(arg)
		if perr != nil {
			return r, true, report.Usagef("bad CIDR block %q: %v", arg, perr)
		}
		p = p.Masked()
		return addrRange{p.Addr(), lastOf(p)}, true, nil
	}
	if a, perr := netip.ParseAddr(arg); perr == nil {
		return addrRange{a.Unmap(), a.Unmap()}, true, nil
	}
	lo, hi, found := strings.Cut(arg, "-")
	if !found {
		return r, false, nil
	}
	first, perr := netip.ParseAddr(lo)
	if perr != nil {
		return r, false, nil
	}
	last, perr := netip.ParseAddr(hi)
	if perr != nil {
		// 198.18.0.1-20: the last octet (or IPv6 group) only.
		sep := "."
		base := 10
		if first.Is6() {
			sep, base = ":", 16
		}
		i := strings.LastIndex(lo, sep)
		n, nerr := strconv.ParseUint(hi, base, 16)
		if i < 0 || nerr != nil {
			return r, true, report.Usagef("bad range %q", arg)
		}
		last, perr = netip.ParseAddr(lo[:i+1] + strconv.FormatUint(n, base))
		if perr != nil {
			return r, true, report.Usagef("bad range %q", arg)
		}
	}
	if first.Is4() != last.Is4() || last.Less(first) {
		return r, true, report.Usagef("bad range %q: the end is before the start or of another family", arg)
	}
	return addrRange{first, last}, true, nil
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// special reports an address no scan should hit unasked: multicast,
// limited broadcast, unspecified.
func special(a netip.Addr) bool {
	return a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || a.IsUnspecified()
}

// Resolve expands the spec into addresses in order, without duplicates.
func (s TargetSpec) Resolve(ctx context.Context) ([]netip.Addr, error) {
	var excl []addrRange
	for _, arg := range s.Exclude {
		for _, one := range strings.Split(arg, ",") {
			if one == "" {
				continue
			}
			r, ok, err := parseRange(one)
			if err != nil {
				return nil, err
			}
			if !ok {
				a, err := hosts.Lookup(ctx, one, s.Family, s.Lookup)
				if err != nil {
					return nil, err
				}
				r = addrRange{a, a}
			}
			excl = append(excl, r)
		}
	}
	excluded := func(a netip.Addr) bool {
		for _, r := range excl {
			if !a.Less(r.first) && !r.last.Less(a) {
				return true
			}
		}
		return false
	}
	var out []netip.Addr
	// Duplicates are looked for only once an argument overlaps one
	// before it: a /16 alone would otherwise fill a map of 65536
	// addresses (10 MB) to find none. Past 64 arguments (-iL) the map
	// is made anyway, rather than compare each with all before it.
	var seen map[netip.Addr]bool
	var before []addrRange
	overlaps := func(r addrRange) bool {
		if seen != nil {
			return true
		}
		for _, b := range before {
			if !r.last.Less(b.first) && !b.last.Less(r.first) {
				return true
			}
		}
		return len(before) >= 64
	}
	add := func(a netip.Addr) error {
		if seen != nil && seen[a] || excluded(a) {
			return nil
		}
		if s.Family == 4 && !a.Is4() || s.Family == 6 && !a.Is6() {
			return report.Usagef("%v is not an IPv%d address", a, s.Family)
		}
		if len(out) >= MaxTargets && !s.AllowLarge {
			return report.Usagef("more than %d targets: add --allow-large to scan them all", MaxTargets)
		}
		if seen != nil {
			seen[a] = true
		}
		out = append(out, a)
		return nil
	}
	for _, arg := range s.Args {
		r, ok, err := parseRange(arg)
		if err != nil {
			return nil, err
		}
		if !ok {
			a, err := hosts.Lookup(ctx, arg, s.Family, s.Lookup)
			if err != nil {
				return nil, err
			}
			r = addrRange{a, a}
		}
		if seen == nil && overlaps(r) {
			seen = make(map[netip.Addr]bool, len(out))
			for _, a := range out {
				seen[a] = true
			}
		}
		before = append(before, r)
		if r.first == r.last {
			if special(r.first) && !s.AllowBroadcast {
				return nil, report.Usagef("%v is a broadcast, multicast or unspecified address: add --allow-broadcast to scan it", r.first)
			}
			if err := add(r.first); err != nil {
				return nil, err
			}
			continue
		}
		// A block is every address in it, its network and broadcast
		// addresses too, as nmap scans it ("256 IP addresses" for a
		// /24); the kernel sends nothing to a local broadcast address
		// without SO_BROADCAST, and routers drop directed broadcasts
		// (RFC 2644).
		first, last := r.first, r.last
		for a := first; a.IsValid() && !last.Less(a); a = a.Next() {
			if special(a) && !s.AllowBroadcast {
				continue
			}
			if err := add(a); err != nil {
				return nil, err
			}
			if a == last {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, report.Usagef("no targets to scan")
	}
	return out, nil
}

// ParsePorts reads a port list such as "22,80,1000-2000" or "-" (all).
func ParsePorts(spec string) ([]uint16, error) {
	if spec == "-" {
		spec = "1-65535"
	}
	var out []uint16
	var seen [65536 / 64]uint64 // a bit per port
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		if isRange && lo == "" {
			lo = "1"
		}
		if isRange && hi == "" {
			hi = "65535"
		}
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || a == 0 || b < a {
			return nil, report.Usagef("bad port or range %q: use 1 to 65535, such as 22,80,1000-2000", part)
		}
		for p := a; p <= b; p++ {
			if seen[p/64]&(1<<(p%64)) == 0 {
				seen[p/64] |= 1 << (p % 64)
				out = append(out, uint16(p))
			}
		}
	}
	if len(out) == 0 {
		return nil, report.Usagef("no ports given")
	}
	return out, nil
}

// TopPorts returns the n most commonly open ports of the protocol, in
// order of frequency: nmap's own ranking when nmap is installed (so -F
// and --top-ports scan what nmap scans), else the embedded list.
func TopPorts(proto string, n int) ([]uint16, error) {
	list := topTCP
	if proto == "udp" {
		list = topUDP
	}
	if n < 1 || n > 65535 {
		return nil, report.Usagef("--top-ports %d out of range", n)
	}
	out := topFromNmap(proto, n)
	if out == nil {
		out = slices.Clone(list[:min(n, len(list))])
	}
	// Past the listed ones, the rest of the port space in order.
	seen := map[uint16]bool{}
	for _, p := range out {
		seen[p] = true
	}
	for p := 1; len(out) < n && p <= 65535; p++ {
		if !seen[uint16(p)] {
			out = append(out, uint16(p))
		}
	}
	return out, nil
}

// FormatPorts is the inverse of ParsePorts, with ranges folded.
func FormatPorts(ports []uint16) string {
	s := slices.Clone(ports)
	slices.Sort(s)
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", s[i], s[j])
		} else {
			fmt.Fprint(&b, s[i])
		}
		i = j + 1
	}
	return b.String()
}
