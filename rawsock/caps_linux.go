package rawsock

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
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
// cgo binary, such as a race-enabled test, it changes nothing and returns
// ErrCannotDrop: a tool must not go on believing it holds nothing.
func DropPrivileges() error { return DropPrivilegesExcept() }

// CapSysPtrace is CAP_SYS_PTRACE's number (capabilities(7)): reading
// another user's /proc/PID/fd needs it.
const CapSysPtrace = 19

// DropPrivilegesExcept is DropPrivileges keeping the capabilities keep
// (CAP_* numbers) in the effective and permitted sets, where the thread
// has them.
func DropPrivilegesExcept(keep ...int) error {
	if dropDisabled {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var now [2]unix.CapUserData
	if err := unix.Capget(&hdr, &now[0]); err != nil {
		return os.NewSyscallError("capget", err)
	}
	var data [2]unix.CapUserData
	for _, c := range keep {
		bit := uint32(1) << (c % 32)
		data[c/32].Effective |= now[c/32].Effective & bit
		data[c/32].Permitted |= now[c/32].Permitted & bit
	}
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET,
		uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	switch errno {
	case 0:
		return nil
	case syscall.ENOTSUP:
		return ErrCannotDrop
	}
	return os.NewSyscallError("capset", errno)
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

// BecomeUser looks name up (a user name or a numeric uid) and returns a
// function that switches the whole process to that user, its group and
// its supplementary groups, as tcpdump -Z does once its capture is
// open. The switch leaves no capability behind. The lookup reads the
// password and group files (os/user in pure Go).
func BecomeUser(name string) (func() error, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.LookupId(name); err != nil {
			return nil, fmt.Errorf("-Z %s: no such user", name)
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("-Z %s: uid %q or gid %q is not a number", name, u.Uid, u.Gid)
	}
	var groups []int
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.Atoi(id); err == nil {
				groups = append(groups, g)
			}
		}
	}
	return func() error {
		// Groups first: once the uid is not root they cannot change.
		if err := syscall.Setgroups(groups); err != nil {
			return fmt.Errorf("-Z %s: setgroups: %w", name, err)
		}
		if err := syscall.Setgid(gid); err != nil {
			return fmt.Errorf("-Z %s: setgid: %w", name, err)
		}
		if err := syscall.Setuid(uid); err != nil {
			return fmt.Errorf("-Z %s: setuid: %w", name, err)
		}
		return nil
	}, nil
}
