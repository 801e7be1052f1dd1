package trace

import (
	"context"
	"net/netip"
	"time"

	"github.com/rawkit/rawkit/internal/hosts"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

// Method is how probes are sent.
type Method int

// The probe methods.
const (
	UDP      Method = iota // UDP to the traceroute port range (33434), as traceroute does by default
	ICMP                   // ICMP echo requests (-I)
	TCP                    // TCP SYN, half-open (-T)
	UDPFixed               // UDP to one fixed port, 53 unless -p (-U)
)

func (m Method) String() string {
	return [...]string{"udp", "icmp", "tcp", "udp-fixed"}[m]
}

// Options configure a trace. Zero values mean the defaults noted.
type Options struct {
	Target string
	Family int // 4 or 6 to force; 0 follows the target
	Method Method
	// Port is the destination port: for UDP the base of the range
	// (33434), for UDPFixed 53, for TCP 80.
	Port     int
	FirstTTL int // 1
	MaxTTL   int // 30
	Queries  int // probes per hop (3)
	// Parallel is how many probes may be in flight at once (16).
	Parallel int
	// Wait, when set, is how long each probe is waited for. Zero adapts
	// the wait to the round-trip times seen: ten times the largest, at
	// least MinWait, at most MaxWait.
	Wait time.Duration
	// Classic sends UDP probes to incrementing ports as Linux traceroute
	// does, instead of flow-constant (Paris) ones.
	Classic bool
	// Paths is the number of flows traced (1); more map multipath routes.
	Paths int

	PacketLen int // total IP packet length (60 as traceroute; 0 is that)
	Source    netip.Addr
	Iface     string
	Numeric   bool          // no reverse DNS
	DNSBudget time.Duration // all reverse lookups together (2s)
	MPLS      bool          // -e: show RFC 4950 MPLS label stacks
	MTU       bool          // --mtu: discover the path MTU per hop

	TOS          int           // -t: IPv4 TOS or IPv6 traffic class
	DontFragment bool          // -F: set DF, do not fragment
	DontRoute    bool          // -r: only hosts on an attached network
	Debug        bool          // -d: SO_DEBUG
	Mark         int           // --fwmark
	SendWait     time.Duration // -z: at least this long between probes
	// Back (--back) prints the hops of the way back where they differ,
	// guessed from the TTL of each answer.
	Back bool

	Report   bool          // mtr-style statistics
	Cycles   int           // report cycles (10)
	Interval time.Duration // between report cycles (0.25s)

	JSON    bool
	Expects []report.Expect
	// Netns (--netns) traces from that network namespace: an ip-netns(8)
	// name or a namespace file.
	Netns string
	// Mtr, with Report, writes mtr's report formats.
	Mtr *MtrOutput

	// Network opens the sockets; nil is rawsock.System. Tests give a
	// simulated network.
	Network rawsock.Network
	// Resolve looks a host name up; nil uses the system resolver.
	Resolve hosts.Resolver
	// Reverse looks an address up; nil uses the system resolver.
	Reverse func(ctx context.Context, addr string) ([]string, error)
}

// Adaptive wait bounds.
const (
	MinWait = 50 * time.Millisecond
	MaxWait = 5 * time.Second
)

// Metrics for --expect.
var Metrics = []report.Metric{
	{Name: "reached", Kind: report.Flag, Help: "the destination answered"},
	{Name: "hops", Kind: report.Count, Help: "hops to the destination (or traced)"},
	{Name: "loss", Kind: report.Percent, Help: "report mode: loss at the destination"},
	{Name: "avg", Kind: report.Duration, Help: "report mode: average RTT to the destination"},
}
