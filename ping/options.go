package ping

import (
	"net/netip"
	"os"
	"time"

	"github.com/rawkit/rawkit/internal/hosts"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

// Options configures a run. The zero value of each field means the
// iputils default noted beside it.
type Options struct {
	Targets []string // addresses, host names, CIDR blocks; at least one
	Family  int      // 4 or 6 to force one; 0 picks per target

	Count    int           // probes per target; 0 sends until stopped or Deadline
	Interval time.Duration // between probes to a target; 0 is 1s (10ms when Flood)
	// Wait is how long to wait for each reply (-W). Zero means iputils'
	// linger: twice the largest RTT seen from the target, or 10s when
	// it has not answered.
	Wait     time.Duration
	Deadline time.Duration // -w: stop after this long whatever was sent; 0 is none

	Size     int    // payload bytes (-s); 0 is 56. Use NoPayload for none.
	Pattern  []byte // fill for the payload (-p); nil is iputils' counting pattern
	TTL      int    // -t; 0 keeps the kernel default
	TOS      int    // -Q
	PMTU     string // -M do|dont|want|probe; "" keeps the kernel default
	Iface    string // -I with an interface name
	Source   netip.Addr
	Mark     int // -m
	Mode     rawsock.Mode
	Flood    bool // -f: a probe as soon as the last is answered, at least 100/s
	Quiet    bool // -q: summary only
	Stamp    bool // -D: print a Unix timestamp before each line
	Outstand bool // -O: report a missing reply before the next probe

	JSON bool // NDJSON records instead of text

	Audible      bool // -a: a bell after each reply line
	Adaptive     bool // -A: the next probe once the last is answered, within [200 ms (2 ms raw), Interval]
	Broadcast    bool // -b: allow a broadcast destination
	StickySource bool // -B: bind to the source address the kernel picks
	Debug        bool // -d: SO_DEBUG
	ID           int  // -e: the echo identifier of a raw socket, when IDSet
	IDSet        bool
	// Names (-H) names the hosts that answer even when the target was
	// numeric; Numeric (-n) never does. Otherwise, as iputils, replies
	// are named when the target was given as a name.
	Names, Numeric bool
	Preload        int  // -l: probes sent at once at the start; 0 is 1
	NoLoop         bool // -L: no multicast loopback
	DontRoute      bool // -r: SO_DONTROUTE
	SendBuffer     int  // -S: SO_SNDBUF; 0 keeps the default
	// UserLatency (-U) measures from before the send call to the read,
	// not between the kernel's timestamps.
	UserLatency bool
	Verbose     bool // -v: percentiles and jitter, identifiers

	// UntilReply stops probing a target once it has answered: Count is
	// then the most probes sent to it (fping's default mode, retries+1).
	UntilReply bool
	// Backoff multiplies the interval after each round (fping -B); 0 or
	// 1 keeps it constant.
	Backoff float64
	// Netns (--netns) opens the sockets in that network namespace: a
	// name of ip-netns(8) or a namespace file such as /proc/PID/ns/net.
	Netns string
	// Fping, when set, writes fping's output instead of iputils'.
	Fping *FpingOutput
	// NoStamp leaves the send time out of the payload, as fping does;
	// otherwise a payload of at least 16 bytes starts with it, as
	// iputils' (a struct timeval), and a shorter one makes an iputils
	// run untimed: its text shows no RTTs (--json still has them).
	NoStamp bool
	// StatusRequests asks for the statistics so far, on stderr, without
	// stopping: SIGQUIT (Ctrl-\), as iputils and fping answer it.
	StatusRequests <-chan os.Signal
	// SplitEvery prints fping's interval summary (-Q) that often.
	SplitEvery time.Duration

	// MinReachable is the quorum of targets that must answer for
	// success; 0 means all of them.
	MinReachable int
	Expects      []report.Expect

	// Listen opens a socket; nil opens real ones with rawsock.ListenICMP.
	// Tests substitute a fake.
	Listen func(rawsock.ICMPConfig) (Conn, error)
	// Resolve looks a host name up; nil uses the system resolver.
	Resolve hosts.Resolver
}

// NoPayload as Size sends echo requests with no data.
const NoPayload = -1

// stampSize is the size of the send time iputils puts at the start of a
// payload (a struct timeval of 64-bit Linux): a shorter payload has none,
// and iputils then prints no times.
const stampSize = 16

// untimed reports an iputils run whose payload is too short for its
// send time: as iputils, its text has no RTTs and -A cannot adapt.
func (o *Options) untimed() bool { return !o.NoStamp && o.Size < stampSize }

// Conn is what the engine needs of a socket: rawsock.ICMPConn, or a fake.
type Conn interface {
	ReadMsg(b []byte) (int, rawsock.Meta, error)
	// TryReadMsg is ReadMsg that returns rawsock.ErrNoPacket at once when
	// nothing is queued.
	TryReadMsg(b []byte) (int, rawsock.Meta, error)
	// WriteToAddr sends b and returns the kernel's transmit timestamp,
	// or the zero Time when there is none.
	WriteToAddr(b []byte, dst netip.Addr) (time.Time, error)
	SetReadDeadline(t time.Time) error
	// WaitReadable waits at most d, outside the runtime's poller, until
	// a read would not block; it may return early, not ready.
	WaitReadable(d time.Duration) (bool, error)
	Close() error
	// ID is the echo identifier replies carry.
	ID() int
	// Raw reports a raw socket, which sees every echo reply and ICMP error
	// and so must match the identifier itself.
	Raw() bool
}

var _ Conn = (*rawsock.ICMPConn)(nil)

// Metrics are what --expect can assert about a ping run. Every one but
// reachable applies to each target.
var Metrics = []report.Metric{
	{Name: "loss", Kind: report.Percent, Help: "packet loss, percent"},
	{Name: "sent", Kind: report.Count},
	{Name: "received", Kind: report.Count},
	{Name: "min", Kind: report.Duration},
	{Name: "avg", Kind: report.Duration},
	{Name: "max", Kind: report.Duration},
	{Name: "mdev", Kind: report.Duration},
	{Name: "p50", Kind: report.Duration},
	{Name: "p90", Kind: report.Duration},
	{Name: "p99", Kind: report.Duration},
	{Name: "jitter", Kind: report.Duration},
	{Name: "reachable", Kind: report.Count, Help: "targets that answered"},
}

const (
	defaultInterval = time.Second
	floodInterval   = 10 * time.Millisecond
	defaultLinger   = 10 * time.Second
	defaultSize     = 56
	maxTargets      = 1 << 16
)
