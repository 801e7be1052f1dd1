package scan

import "testing"

func TestPermutationIsABijection(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 7, 100, 1000, 65535, 65536, 100003} {
		p := NewPermutation(n, 42)
		seen := make([]bool, n)
		for i := uint64(0); i < n; i++ {
			v := p.At(i)
			if v >= n || seen[v] {
				t.Fatalf("n=%d: At(%d)=%d repeats or is out of range", n, i, v)
			}
			seen[v] = true
		}
	}
	a, b := NewPermutation(1000, 1), NewPermutation(1000, 2)
	same := 0
	for i := uint64(0); i < 1000; i++ {
		if a.At(i) == b.At(i) {
			same++
		}
		if a.At(i) != NewPermutation(1000, 1).At(i) {
			t.Fatal("the same seed gave another order")
		}
	}
	if same > 20 {
		t.Errorf("seeds 1 and 2 agree on %d of 1000 places", same)
	}
}

func TestShardsAreDisjointAndComplete(t *testing.T) {
	const total = 10007
	p := NewPermutation(total, 7)
	for _, n := range []uint64{1, 2, 3, 8} {
		seen := make([]int, total)
		sum := uint64(0)
		for i := uint64(0); i < n; i++ {
			s := Shard{I: i, N: n}
			sum += s.Count(total)
			for j := s.I; j < total; j += s.N {
				seen[p.At(j)]++
			}
		}
		if sum != total {
			t.Errorf("%d shards count %d of %d", n, sum, total)
		}
		for v, c := range seen {
			if c != 1 {
				t.Fatalf("%d shards: element %d taken %d times", n, v, c)
			}
		}
	}
}
