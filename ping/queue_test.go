package ping

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The queue gives what a plain slice would, in any order of pushes and
// pops, and a flood's push-one-pop-one rounds allocate nothing.
func TestProbeQueue(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var f probeQueue
	var model []queued
	for range 20000 {
		if r.IntN(3) > 0 || len(model) == 0 {
			pr := &probe{serial: r.Uint32()}
			f.push(pr)
			model = append(model, queued{pr, pr.serial})
		} else {
			k := 1 + r.IntN(len(model))
			f.pop(k)
			model = model[k:]
		}
		if !slices.Equal(f.items(), model) {
			t.Fatalf("queue %d items, model %d: they differ", len(f.items()), len(model))
		}
	}
	pr := &probe{}
	if n := testing.AllocsPerRun(1000, func() { f.push(pr); f.pop(len(f.items())) }); n != 0 {
		t.Errorf("a push and a pop allocate %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { f.push(pr); f.pop(1) }); n != 0 {
		t.Errorf("a push and a pop with one probe left allocate %v times", n)
	}
}
