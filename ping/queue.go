package ping

// probeQueue holds probes in send order, for expiry. Its array is kept
// when it empties: a flood pushes and pops one probe a round, and a queue
// that let its array go (or sliced it from the front) would allocate one
// a probe.
type probeQueue struct {
	q    []queued
	head int
}

// queued is a probe in the queue. Its slot may have been reused for a
// later probe (see family.pending) while it waited behind older ones:
// serial tells.
type queued struct {
	pr     *probe
	serial uint32
}

// done reports that the probe needs no more waiting for: answered,
// expired, or its slot reused.
func (e queued) done() bool {
	return e.pr.serial != e.serial || e.pr.answered || e.pr.expired
}

func (f *probeQueue) push(pr *probe) {
	if f.head > 0 && f.head >= len(f.q)/2 && len(f.q) == cap(f.q) {
		// Full, and half of it popped: move what is left to the front.
		n := copy(f.q, f.q[f.head:])
		clear(f.q[n:])
		f.q, f.head = f.q[:n], 0
	}
	f.q = append(f.q, queued{pr, pr.serial})
}

// items are the probes not popped, oldest first.
func (f *probeQueue) items() []queued { return f.q[f.head:] }

// pop removes the k oldest.
func (f *probeQueue) pop(k int) {
	clear(f.q[f.head : f.head+k])
	f.head += k
	if f.head == len(f.q) {
		f.q, f.head = f.q[:0], 0
	}
}
