package scan

import (
	"net/netip"
	"slices"
)

// targetIndex finds a target's position among the targets scanned: by a
// binary search when they are in ascending order (a block or a range,
// the usual case: then no map of them is made, 4 MB for a /16's
// 65536), else through a map.
type targetIndex struct {
	sorted []netip.Addr // the targets, when ascending
	m      map[netip.Addr]uint32
}

// set makes the index of targets, which it keeps (they are not to
// change while it is used).
func (x *targetIndex) set(targets []netip.Addr) {
	x.sorted, x.m = nil, nil
	if slices.IsSortedFunc(targets, netip.Addr.Compare) {
		x.sorted = targets
		return
	}
	x.m = make(map[netip.Addr]uint32, len(targets))
	for i, a := range targets {
		x.m[a] = uint32(i)
	}
}

// get is a's position, and whether it is a target.
func (x *targetIndex) get(a netip.Addr) (uint32, bool) {
	if x.m != nil {
		t, ok := x.m[a]
		return t, ok
	}
	i, ok := slices.BinarySearchFunc(x.sorted, a, netip.Addr.Compare)
	return uint32(i), ok
}
