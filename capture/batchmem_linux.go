package capture

import "golang.org/x/sys/unix"

// batchMemory is n bytes of anonymous memory outside the Go heap, for a
// batch buffer that lives as long as the process; the heap's own on a
// failure.
func batchMemory(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, 0, n)
	}
	return b[:0]
}
