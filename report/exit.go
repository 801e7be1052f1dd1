package report

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
)

// Exit codes shared by every rawkit tool (DESIGN.md).
const (
	ExitOK        = 0 // the question got the answer "yes"
	ExitNetwork   = 1 // the network said no: no reply, not reached, an --expect failed, packets dropped
	ExitUsage     = 2 // bad flags or bad input
	ExitPrivilege = 3 // CAP_NET_RAW (or ping_group_range) missing
	ExitRuntime   = 4 // anything else
)

// ExitCodesHelp is the paragraph every --help ends with.
const ExitCodesHelp = `EXIT STATUS:
   0  success
   1  the network said no (no reply, not reached, an --expect failed)
   2  usage error or bad input
   3  missing privilege (CAP_NET_RAW)
   4  other runtime error`

// Error carries an exit code with the error that caused it.
type Error struct {
	Code int
	Err  error
	// Bare errors are printed as they are, without the tool's name
	// before them: words of the classic tool that stand on their own.
	Bare bool
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Words is an error that is a classic tool's message as it stands,
// capitals and full stop included.
type Words string

func (w Words) Error() string { return string(w) }

// Usagef returns an error that exits with ExitUsage.
func Usagef(format string, args ...any) error {
	return &Error{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// ErrNetwork is returned by a run whose answer was "no"; its message has
// already been printed as part of the result.
var ErrNetwork = &Error{Code: ExitNetwork, Err: errors.New("the network said no")}

// ExitCode maps an error returned by a tool to its process exit status:
// nil is ExitOK, an *Error its own code, a permission error ExitPrivilege,
// anything else ExitRuntime.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, os.ErrPermission) {
		return ExitPrivilege
	}
	return ExitRuntime
}

// Capitalize gives an error text its first letter in upper case, as C's
// strerror(3) words it ("Network is unreachable"): the classic tools'
// messages, which scripts grep for.
func Capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// version is set by the Makefile (-X) to git describe's answer.
var version string

// Version is the version this binary was built from: the Makefile's, or
// the module's.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// LocalDropsHelp is the --help paragraph of the probing tools on their
// "local:" line (internal/localdrop).
const LocalDropsHelp = `LOCAL DROPS:
   When probes go unanswered, a 'local:' line on stderr (and 'local' in
   --json) says what this host itself dropped: probes a local firewall rule
   refused, probes its own kernel answered unreachable (no ARP/ND answer
   from the next hop), the namespace's kernel counters; with eBPF (root,
   or CAP_BPF and CAP_PERFMON) the kernel's drop reason for each dropped
   probe (kfree_skb: NETFILTER_DROP, NEIGH_FAILED, ...). No 'local:' line:
   the network lost them.
`
