package rawsock

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// NetnsPath is the file of a network namespace given as ip-netns(8)
// names it (in /run/netns) or as any namespace file (/proc/PID/ns/net, a
// container's bind mount).
func NetnsPath(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	return "/run/netns/" + name
}

// ErrNoSuchNamespace is returned for a namespace that does not exist:
// bad input.
var ErrNoSuchNamespace = errors.New("no such network namespace")

// InNetns runs f on an OS thread moved into the network namespace ns
// (NetnsPath's forms). Sockets f opens belong to that namespace for their
// whole life, whichever thread uses them later; everything else of the
// process stays where it is. Entering needs CAP_SYS_ADMIN: without it a
// *PrivilegeError. "" runs f where the process is.
func InNetns(ns string, f func() error) error {
	if ns == "" {
		return f()
	}
	target, err := openNetns(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		err = os.NewSyscallError("setns", err)
		if isPermission(err) {
			return &PrivilegeError{Op: "enter network namespace " + ns, Fix: "it needs CAP_SYS_ADMIN besides CAP_NET_RAW: run as root", Err: err}
		}
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("--netns %s: not a network namespace: %w", ns, ErrNoSuchNamespace)
		}
		return err
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is stuck there: it stays locked, and the runtime
		// ends it with this goroutine rather than reuse it.
		return os.NewSyscallError("setns back", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// EnterNetnsForGood moves the calling goroutine's thread into ns for the
// rest of the goroutine's life (the thread is never handed back: the
// runtime ends it with the goroutine). For workers that open sockets as
// they go, such as a connect scan's.
func EnterNetnsForGood(ns string) error {
	if ns == "" {
		return nil
	}
	target, err := openNetns(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	runtime.LockOSThread()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return os.NewSyscallError("setns", err)
	}
	return nil
}

// openNetns opens a namespace file: a missing one is bad input, one the
// user may not open a missing privilege.
func openNetns(ns string) (*os.File, error) {
	f, err := os.Open(NetnsPath(ns))
	switch {
	case isPermission(err):
		return nil, &PrivilegeError{Op: "open network namespace " + ns, Fix: "it needs CAP_SYS_ADMIN besides CAP_NET_RAW: run as root", Err: err}
	case err != nil:
		return nil, fmt.Errorf("--netns %s: %w", ns, ErrNoSuchNamespace)
	}
	return f, nil
}
