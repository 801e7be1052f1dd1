package rawsock

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DropPrivileges clears the effective, permitted and inheritable
// capability sets of every thread of the process. Sockets already open
// keep working: the kernel checks CAP_NET_RAW only when they are created.
//
// Capabilities are per thread in Linux, so this uses AllThreadsSyscall,
// which works only in binaries built without cgo (as rawkit's are). In a
// cgo binary, such as a race-enabled test, it returns nil and changes
// nothing.
func DropPrivileges() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET,
		uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	switch errno {
	case 0, syscall.ENOTSUP:
		return nil
	}
	return errno
}

// EffectiveCapabilities returns the calling thread's effective
// capability bits (capabilities(7)), for tests and diagnostics.
func EffectiveCapabilities() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}
