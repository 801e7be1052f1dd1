//go:build !linux

package capture

// batchMemory is n bytes for a batch buffer; off Linux, from the heap.
func batchMemory(n int) []byte { return make([]byte, 0, n) }
