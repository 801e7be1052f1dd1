package rawsock

// A Batch is buffers for several datagrams read by one system call
// (TryReadBatch; recvmmsg(2) on Linux): a sweep's thousands of replies in
// tens of calls instead of thousands.
type Batch struct {
	// Bufs are the datagrams' buffers; after a read, Bufs[i][:N[i]] is the
	// i-th datagram (as ReadMsg gives it: an IPv4 raw socket's without
	// its IP header) and Meta[i] what came with it.
	Bufs [][]byte
	N    []int
	Meta []Meta

	sys batchSys
}

// NewBatch makes a Batch of k buffers of size bytes.
func NewBatch(k, size int) *Batch {
	b := &Batch{Bufs: make([][]byte, k), N: make([]int, k), Meta: make([]Meta, k), sys: newBatchSys(k)}
	for i := range k {
		b.Bufs[i] = make([]byte, size)
	}
	return b
}
