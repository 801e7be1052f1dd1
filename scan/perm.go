package scan

import "math/bits"

// Permutation is a keyed bijection of [0, n): a Feistel network over the
// smallest power-of-two domain of an even bit count that holds n, walked
// until it lands inside [0, n) (cycle walking, as in format-preserving
// encryption). It spreads a scan's probes over targets and ports, so no
// host or subnet takes a burst, and is the same for the same seed on every
// machine, so shards of one scan agree on the order.
type Permutation struct {
	n    uint64
	half uint // bits per Feistel half
	keys [4]uint64
}

// NewPermutation returns the permutation of [0, n) for seed.
func NewPermutation(n, seed uint64) *Permutation {
	b := uint(bits.Len64(max(n-1, 1)))
	b += b & 1
	p := &Permutation{n: n, half: b / 2}
	s := seed
	for i := range p.keys {
		s = splitmix(s)
		p.keys[i] = s
	}
	return p
}

// Len is n.
func (p *Permutation) Len() uint64 { return p.n }

// At returns the i-th element, for i < n.
func (p *Permutation) At(i uint64) uint64 {
	x := i
	for {
		x = p.feistel(x)
		if x < p.n {
			return x
		}
	}
}

func (p *Permutation) feistel(x uint64) uint64 {
	mask := uint64(1)<<p.half - 1
	l, r := x>>p.half&mask, x&mask
	for _, k := range p.keys {
		l, r = r, l^(splitmix(r^k)&mask)
	}
	return l<<p.half | r
}

// splitmix is SplitMix64's output function: a fast, well-mixing hash.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Shard is one part of a scan split n ways (zmap's --shard/--shards):
// shard i of n (0 <= i < n) takes the permutation's elements i, i+n,
// i+2n, ...
type Shard struct{ I, N uint64 }

// Count is how many of total elements the shard takes.
func (s Shard) Count(total uint64) uint64 {
	if s.I >= total {
		return 0
	}
	return (total-s.I-1)/s.N + 1
}
