package rawsock

import (
	"errors"
	"fmt"
	"os"
)

// PrivilegeError reports a socket the process may not open, and says how
// to grant the right. errors.Is(err, os.ErrPermission) holds for it.
type PrivilegeError struct {
	Op  string // what was attempted, such as "open a raw ICMP socket"
	Fix string // one line naming the fix
	Err error
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("cannot %s: %v; %s", e.Op, e.Err, e.Fix)
}

func (e *PrivilegeError) Unwrap() error { return e.Err }

// Is makes every PrivilegeError match os.ErrPermission.
func (e *PrivilegeError) Is(target error) bool { return target == os.ErrPermission }

// FixRaw is the fix for a missing CAP_NET_RAW, naming this executable.
func FixRaw() string {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return fmt.Sprintf("run as root or grant the capability: sudo setcap cap_net_raw+ep %s", exe)
}

// FixPing is the fix for ping: the capability, or unprivileged ICMP
// sockets for the user's group.
func FixPing() string {
	return FixRaw() + ` (or allow unprivileged ping: sudo sysctl -w net.ipv4.ping_group_range="0 2147483647")`
}

func isPermission(err error) bool { return errors.Is(err, os.ErrPermission) }
