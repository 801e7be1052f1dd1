package capture

// batchPackets and batchBytes bound a batch handed from the ring's reader
// to the output.
const (
	batchPackets = 256
	batchBytes   = 64 << 10
)

// batch is packets copied out of the ring into one buffer.
type batch struct {
	pkts []captured
	buf  []byte
}

// batchPool is a capture's fixed set of batches, made as first needed
// and reused, never more than limit: what waits between the ring and the
// output is bounded, and a slow output shows as counted drops, not as
// growth. The buffers are outside the Go heap (batchMemory), so the
// collector's pacing, which lets the heap grow to twice what is live,
// does not double them.
type batchPool struct {
	free  chan *batch
	made  int
	limit int
}

func newBatchPool(limit int) *batchPool {
	return &batchPool{free: make(chan *batch, limit), limit: limit}
}

// get is a free batch, or nil when all are in use. One goroutine gets.
func (p *batchPool) get() *batch {
	select {
	case b := <-p.free:
		return b
	default:
	}
	if p.made >= p.limit {
		return nil
	}
	p.made++
	return &batch{pkts: make([]captured, 0, batchPackets), buf: batchMemory(batchBytes)}
}

// put gives a batch back once its packets are written.
func (p *batchPool) put(b *batch) {
	b.reset()
	p.free <- b
}

func (b *batch) reset() {
	clear(b.pkts) // the strings and slices they hold are the collector's
	b.pkts, b.buf = b.pkts[:0], b.buf[:0]
}

// full reports a buffer without room for another large packet.
func (b *batch) full() bool { return cap(b.buf)-len(b.buf) < 16<<10 }

// add copies head and data (at most snaplen bytes in all) into the batch
// and returns the copy. A packet that does not fit gets its own buffer:
// the batch's buffer never moves, so earlier copies stay valid.
func (b *batch) add(head, data []byte, snaplen int) []byte {
	return b.add3(head, nil, data, snaplen)
}

func (b *batch) add3(a, c, d []byte, snaplen int) []byte {
	n := min(len(a)+len(c)+len(d), snaplen)
	var out []byte
	if cap(b.buf)-len(b.buf) >= n {
		start := len(b.buf)
		out = b.buf[start : start+n : start+n]
		b.buf = b.buf[:start+n]
	} else {
		out = make([]byte, n)
	}
	k := copy(out, a)
	k += copy(out[k:], c)
	copy(out[k:], d)
	return out
}

// unadd takes back the last copy when the packet is not kept after all.
func (b *batch) unadd(last []byte) {
	if n := len(b.buf) - len(last); n >= 0 && len(last) > 0 && &b.buf[n:][0] == &last[0] {
		b.buf = b.buf[:n]
	}
}
