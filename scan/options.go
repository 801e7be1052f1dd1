package scan

import (
	"fmt"
	"github.com/rawkit/rawkit/rawsock"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rawkit/rawkit/report"
)

// Type is the kind of scan.
type Type int

// Scan types.
const (
	SYN     Type = iota // TCP SYN, half-open, from a raw socket (nmap -sS)
	Connect             // TCP connect() through the kernel (nmap -sT)
	UDP                 // UDP with protocol payloads (nmap -sU)
)

func (t Type) String() string { return [...]string{"syn", "connect", "udp"}[t] }

// Proto is the transport protocol scanned.
func (t Type) Proto() string {
	if t == UDP {
		return "udp"
	}
	return "tcp"
}

// Options configure a scan. Zero values mean the defaults noted.
type Options struct {
	Targets TargetSpec
	Ports   []uint16
	Type    Type
	// Rate (--rate), when set, pins the pace: that many probes a second,
	// whatever the answers say. 0 leaves the pace to the congestion
	// window, which grows while answers keep up and halves on loss.
	// MaxRate (--max-rate) caps either; MinRate (--min-rate) sends even
	// without room in the window while the scan is behind that rate.
	Rate, MaxRate, MinRate int
	// SourcePort (-g) fixes the probes' source port; 0 picks one.
	SourcePort uint16
	// Retries is the most times an unanswered probe is sent again: 0 is
	// the default, as many as the loss measured calls for, at most 20
	// (nmap's default is 10; at 51 % round-trip loss ten resends leave an
	// open port unseen 6 times in 10⁴); NoRetries sends each probe once.
	// Without loss a filtered port costs one resend.
	Retries int
	// Wait, when set, is how long each probe is waited for; zero derives
	// it from the round-trip times seen (RFC 6298).
	Wait time.Duration
	// MinWait and MaxWait bound the wait derived from round-trip times
	// (100 ms, 10 s: nmap's --min-rtt-timeout and --max-rtt-timeout);
	// InitialWait is it before any answer (1 s).
	MinWait, MaxWait, InitialWait time.Duration
	// Deadline bounds the whole scan (nmap's --host-timeout); the
	// results are then partial, as after Ctrl-C. 0: none.
	Deadline time.Duration
	Seed     uint64 // fixes the probe order; 0 picks one at random
	Shard    Shard  // {0, 1}: the whole scan
	Source   netip.Addr
	Iface    string
	All      bool // list every port: no state is left out as nmap does
	JSON     bool
	// XMLFile (-oX), NormalFile (-oN) and GrepFile (-oG) write nmap's
	// formats to files; "-" puts that format on stdout instead of the
	// normal output.
	XMLFile, NormalFile, GrepFile string
	// Reason (--reason) adds nmap's REASON column; OpenOnly (--open)
	// lists open ports only.
	Reason, OpenOnly bool
	// Verbose is nmap's -v level: 1 prints each phase's progress lines
	// and open ports as they are found; 2 (-vv) adds reasons and each
	// host's scan time. Only on the normal output on the terminal.
	Verbose int
	// Versions (-sV) asks each open TCP port what service it runs
	// (version.go), after the scan.
	Versions bool
	// SkipDiscovery (-Pn) counts every target as up; otherwise a SYN or
	// UDP scan first finds which targets are up (Discovery's probes) and
	// scans those. PingOnly (-sn) stops after discovery.
	SkipDiscovery, PingOnly bool
	Discovery               Discovery
	// Netns (--netns) scans from that network namespace: an ip-netns(8)
	// name or a namespace file.
	Netns string
	// CmdLine is the command line, for the "as:" of nmap's file headers.
	CmdLine []string
	// ResumeFile, when set, records progress there so an interrupted scan
	// can go on where it stopped (--resume).
	ResumeFile string
	// Concurrency is the most connect() calls at once (512).
	Concurrency int
	Expects     []Expectation
	Progress    bool // a progress line on stderr
	// DiffFile (--diff) is a previous scan's --json output: the ports
	// whose state changed since are listed ("change" records with
	// --json) and --expect unchanged holds when none did.
	DiffFile string
	// Network opens the raw sockets of SYN and UDP scans; nil is
	// rawsock.System. Tests give a simulated network.
	Network rawsock.Network
}

// State is a port's state, as nmap names them.
type State uint8

// States.
const (
	Unknown State = iota
	Open
	Closed
	Filtered
	OpenFiltered // UDP without an answer: open, or dropped
	Unfiltered
)

func (s State) String() string {
	return [...]string{"unknown", "open", "closed", "filtered", "open|filtered", "unfiltered"}[s]
}

// Expectation is an --expect such as "open:22,443" (each target has those
// ports in that state) or a count such as "open>=1".
type Expectation struct {
	Text   string
	State  State
	Ports  []uint16
	Metric *report.Expect
}

// Metrics are the counts --expect can compare.
var Metrics = []report.Metric{
	{Name: "open", Kind: report.Count}, {Name: "closed", Kind: report.Count}, {Name: "filtered", Kind: report.Count},
	{Name: "complete", Kind: report.Flag, Help: "the scan finished whole (the summary's complete)"},
	{Name: "unchanged", Kind: report.Flag, Help: "no port changed since the --diff scan"},
}

// ParseExpectation reads one --expect.
func ParseExpectation(text string) (Expectation, error) {
	name, ports, found := strings.Cut(text, ":")
	if !found {
		e, err := report.ParseExpect(text, Metrics)
		if err != nil {
			return Expectation{}, err
		}
		return Expectation{Text: text, Metric: &e}, nil
	}
	var st State
	for s := Open; s <= Unfiltered; s++ {
		if s.String() == name {
			st = s
		}
	}
	if st == Unknown {
		return Expectation{}, report.Usagef("--expect %q: unknown state %q (open, closed, filtered, open|filtered)", text, name)
	}
	ps, err := ParsePorts(ports)
	if err != nil {
		return Expectation{}, report.Usagef("--expect %q: %v", text, err)
	}
	return Expectation{Text: text, State: st, Ports: ps}, nil
}

// ParseShard reads "i/n" with 0 <= i < n.
//
// "n" alone takes the index from the scheduler that runs the shards, as
// getenv reads its environment: JOB_COMPLETION_INDEX (a Kubernetes
// Indexed Job), else NOMAD_ALLOC_INDEX (Nomad).
func ParseShard(s string, getenv func(string) string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		from := ""
		for _, name := range []string{"JOB_COMPLETION_INDEX", "NOMAD_ALLOC_INDEX"} {
			if v := getenv(name); v != "" {
				a, b, from = v, s, name
				break
			}
		}
		if from == "" {
			return Shard{}, report.Usagef("--shard %s names only the count: give i/%s, or run under a scheduler that sets JOB_COMPLETION_INDEX or NOMAD_ALLOC_INDEX", s, s)
		}
		if _, err := strconv.ParseUint(a, 10, 32); err != nil {
			return Shard{}, report.Usagef("%s=%q is not a shard index", from, a)
		}
	}
	i, err1 := strconv.ParseUint(a, 10, 32)
	n, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil || n == 0 || i >= n {
		return Shard{}, report.Usagef("bad --shard %q: use i/n with 0 <= i < n, such as 0/4 (or n with the index from the scheduler)", s)
	}
	return Shard{I: i, N: n}, nil
}

func (o *Options) validate() error {
	if o.Rate < 0 || o.MaxRate < 0 || o.MinRate < 0 || o.Retries < NoRetries || o.Wait < 0 || o.Concurrency < 0 {
		return report.Usagef("negative rate, retries, wait or concurrency")
	}
	if o.MaxRate > 0 && o.MinRate > o.MaxRate {
		return report.Usagef("--min-rate %d is above --max-rate %d", o.MinRate, o.MaxRate)
	}
	if o.Shard.N == 0 {
		o.Shard = Shard{0, 1}
	}
	if o.Concurrency == 0 {
		o.Concurrency = 512
	}
	if len(o.Ports) == 0 {
		return report.Usagef("no ports to scan")
	}
	for _, e := range o.Expects {
		if e.Metric != nil && e.Metric.Metric.Name == "unchanged" && o.DiffFile == "" {
			return report.Usagef("--expect unchanged needs --diff OLD.json, the scan to compare with")
		}
	}
	return nil
}

// tableLimit is the most probes a scan keeps a table of (4 bytes
// each): a larger scan runs in host groups of at most this many probes,
// each written when it ends (groups.go). A variable for the tests.
var tableLimit uint64 = 1 << 22

// streamable says why a scan of n probes, more than one table holds,
// cannot run in host groups with these options, or nil.
func (o Options) streamable(n uint64) error {
	switch {
	case o.Type == Connect:
		return report.Usagef("%d probes are too many for a connect scan (at most %d): use a SYN scan (-sS), which runs in host groups", n, tableLimit)
	case o.DiffFile != "":
		return report.Usagef("%d probes: --diff compares at most %d", n, tableLimit)
	}
	if o.portExpects() {
		return report.Usagef("%d probes: an --expect on ports needs at most %d probes (counts such as open>=1 work)", n, tableLimit)
	}
	return nil
}

// portExpects reports whether an --expect names ports (it needs every
// result at once).
func (o Options) portExpects() bool {
	for _, e := range o.Expects {
		if e.Metric == nil {
			return true
		}
	}
	return false
}

// NoRetries as Retries sends each probe once (--max-retries 0).
const NoRetries = -1

// retries is the most resends of a probe.
func (o Options) retries() int {
	switch o.Retries {
	case 0:
		return 20
	case NoRetries:
		return 0
	}
	return o.Retries
}

// reasonText is nmap's name for an ICMP unreachable code.
func reasonText(family, typ, code int) string {
	if family == 6 {
		switch {
		case typ == 1 && code == 4:
			return "port-unreach"
		case typ == 1 && (code == 1 || code == 5 || code == 6):
			return "admin-prohibited"
		case typ == 1 && code == 3:
			return "host-unreach"
		case typ == 1:
			return "net-unreach"
		case typ == 3:
			return "time-exceeded"
		}
		return fmt.Sprintf("icmpv6-%d-%d", typ, code)
	}
	switch {
	case typ == 3 && code == 3:
		return "port-unreach"
	case typ == 3 && code == 2:
		return "proto-unreach"
	case typ == 3 && (code == 1 || code == 7 || code == 8 || code == 12):
		return "host-unreach"
	case typ == 3 && (code == 0 || code == 6 || code == 11):
		return "net-unreach"
	case typ == 3 && (code == 9 || code == 10 || code == 13):
		return "admin-prohibited"
	case typ == 11:
		return "time-exceeded"
	}
	return fmt.Sprintf("icmp-%d-%d", typ, code)
}

// normalOnStdout reports whether nmap's normal output goes to stdout: no
// --json, no nmap format sent to "-".
func (o Options) normalOnStdout() bool {
	return !o.JSON && o.XMLFile != "-" && o.GrepFile != "-" && o.NormalFile != "-"
}
