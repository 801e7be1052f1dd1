package main

import (
	"runtime"
	"testing"
)

// One P for a single host; the runtime's own count back for a sweep.
func TestSweepProcs(t *testing.T) {
	saved, savedDefault := runtime.GOMAXPROCS(1), defaultProcs
	defer func() { runtime.GOMAXPROCS(saved); defaultProcs = savedDefault }()
	defaultProcs = 2
	for _, c := range []struct {
		targets []string
		want    int
	}{
		{[]string{"198.18.1.2"}, 1},
		{[]string{"db1.example"}, 1},
		{[]string{"198.19.0.0/20"}, 2},
		{[]string{"198.18.1.2", "198.18.1.3"}, 2},
	} {
		runtime.GOMAXPROCS(1)
		sweepProcs(c.targets)
		if got := runtime.GOMAXPROCS(0); got != c.want {
			t.Errorf("%v: GOMAXPROCS %d, want %d", c.targets, got, c.want)
		}
	}
}
