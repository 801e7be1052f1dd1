package ping

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

// fakeNet answers echo requests in memory, per destination: "up" replies,
// "slow" replies after a 300 us send, "dup" replies twice, "down" drops,
// "ttl" answers time exceeded from
// 198.18.9.1, "foreign" replies with another identifier and from
// another address (both must be ignored).
type fakeNet map[netip.Addr]string

type fakePacket struct {
	b   []byte
	src netip.Addr
}

type fakeConn struct {
	family int
	net    fakeNet
	id     int
	raw    bool
	queue  chan fakePacket
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	deadline time.Time
	poke     chan struct{} // a new deadline was set
	pending  []fakePacket  // taken from queue by WaitReadable
	waits    *atomic.Int64 // the loop's waits (deadlines set, polls)
	idle     *atomic.Int64 // polls begun with nothing queued
}

func (n fakeNet) listen(cfg rawsock.ICMPConfig) (Conn, error) {
	return &fakeConn{family: cfg.Family, net: n, id: cfg.ID, raw: true, queue: make(chan fakePacket, 1024), closed: make(chan struct{}), poke: make(chan struct{}, 1)}, nil
}

func (c *fakeConn) ID() int   { return c.id }
func (c *fakeConn) Raw() bool { return c.raw }
func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *fakeConn) SetReadDeadline(t time.Time) error {
	if c.waits != nil && !t.IsZero() {
		c.waits.Add(1)
	}
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	select {
	case c.poke <- struct{}{}:
	default:
	}
	return nil
}

func (c *fakeConn) deliver(from netip.Addr, m xicmp.Message) {
	b, _ := m.Marshal(nil)
	c.queue <- fakePacket{b, from}
}

func (c *fakeConn) WriteToAddr(b []byte, dst netip.Addr) (time.Time, error) {
	req, err := icmp.Parse(c.family, b)
	if err != nil {
		return time.Time{}, err
	}
	var replyType xicmp.Type = ipv4.ICMPTypeEchoReply
	if c.family == 6 {
		replyType = ipv6.ICMPTypeEchoReply
	}
	reply := xicmp.Message{Type: replyType, Body: &xicmp.Echo{ID: req.ID, Seq: req.Seq, Data: req.Data}}
	switch c.net[dst] {
	case "up":
		c.deliver(dst, reply)
	case "slow":
		// The reply is queued when the send returns, but the send took
		// longer than the loop spins for (a softirq run on the way).
		time.Sleep(300 * time.Microsecond)
		c.deliver(dst, reply)
	case "dup":
		c.deliver(dst, reply)
		c.deliver(dst, reply)
	case "ttl":
		quote := make([]byte, 20, 20+len(b))
		quote[0], quote[8], quote[9] = 0x45, 1, 1
		d := dst.As4()
		copy(quote[16:20], d[:])
		quote = append(quote, b...)
		c.deliver(netip.MustParseAddr("198.18.9.1"), xicmp.Message{Type: ipv4.ICMPTypeTimeExceeded, Body: &xicmp.TimeExceeded{Data: quote}})
	case "foreign":
		other := reply
		other.Body = &xicmp.Echo{ID: req.ID + 1, Seq: req.Seq, Data: req.Data}
		c.deliver(dst, other)
		c.deliver(netip.MustParseAddr("198.18.9.9"), reply)
	}
	return time.Time{}, nil
}

func (c *fakeConn) WaitReadable(d time.Duration) (bool, error) {
	if c.waits != nil {
		c.waits.Add(1)
	}
	c.mu.Lock()
	ready := len(c.pending) > 0
	c.mu.Unlock()
	if ready {
		return true, nil
	}
	if len(c.queue) == 0 && c.idle != nil {
		c.idle.Add(1) // a wait with nothing yet to come
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case p := <-c.queue:
		c.mu.Lock()
		c.pending = append(c.pending, p)
		c.mu.Unlock()
		return true, nil
	case <-c.closed:
		return false, os.ErrClosed
	case <-t.C:
		return false, nil
	}
}

func (c *fakeConn) TryReadMsg(b []byte) (int, rawsock.Meta, error) {
	c.mu.Lock()
	if len(c.pending) > 0 {
		p := c.pending[0]
		c.pending = c.pending[1:]
		c.mu.Unlock()
		return copy(b, p.b), rawsock.Meta{Src: p.src, TTL: 64, KernelTime: time.Now()}, nil
	}
	c.mu.Unlock()
	select {
	case p := <-c.queue:
		return copy(b, p.b), rawsock.Meta{Src: p.src, TTL: 64, KernelTime: time.Now()}, nil
	default:
		return 0, rawsock.Meta{}, rawsock.ErrNoPacket
	}
}

func (c *fakeConn) ReadMsg(b []byte) (int, rawsock.Meta, error) {
	c.mu.Lock()
	held := len(c.pending) > 0
	c.mu.Unlock()
	if held {
		return c.TryReadMsg(b)
	}
	for {
		c.mu.Lock()
		d := c.deadline
		c.mu.Unlock()
		var expire <-chan time.Time
		if !d.IsZero() {
			t := time.NewTimer(time.Until(d))
			defer t.Stop()
			expire = t.C
		}
		select {
		case p := <-c.queue:
			return copy(b, p.b), rawsock.Meta{Src: p.src, TTL: 64, KernelTime: time.Now()}, nil
		case <-c.closed:
			return 0, rawsock.Meta{}, os.ErrClosed
		case <-expire:
			return 0, rawsock.Meta{}, os.ErrDeadlineExceeded
		case <-c.poke:
		}
	}
}

func runFake(t *testing.T, n fakeNet, opts Options) ([]map[string]any, string, error) {
	t.Helper()
	opts.Listen = n.listen
	opts.JSON = true
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, opts, &out, &errOut)
	if ctx.Err() != nil {
		t.Fatal("run did not end by itself")
	}
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad record %q", line)
		}
		recs = append(recs, m)
	}
	return recs, errOut.String(), err
}

func count(recs []map[string]any, typ string) int {
	n := 0
	for _, r := range recs {
		if r["type"] == typ {
			n++
		}
	}
	return n
}

var (
	up      = netip.MustParseAddr("198.18.0.1")
	down    = netip.MustParseAddr("198.18.0.2")
	dupHost = netip.MustParseAddr("198.18.0.3")
	ttlHost = netip.MustParseAddr("198.18.0.4")
	foreign = netip.MustParseAddr("198.18.0.5")
	up6     = netip.MustParseAddr("2001:db8::1")
	down6   = netip.MustParseAddr("2001:db8::2")
)

func TestEngine(t *testing.T) {
	n := fakeNet{up: "up", down: "down", dupHost: "dup", ttlHost: "ttl", foreign: "foreign", up6: "up", down6: "down"}
	fast := Options{Count: 3, Interval: 5 * time.Millisecond, Wait: 50 * time.Millisecond}
	tests := []struct {
		name                            string
		targets                         []string
		replies, dups, timeouts, errors int
		wantErr                         error
	}{
		{name: "answering host", targets: []string{up.String()}, replies: 3},
		{name: "silent host", targets: []string{down.String()}, timeouts: 3, wantErr: report.ErrNetwork},
		{name: "duplicates", targets: []string{dupHost.String()}, replies: 6, dups: 3},
		{name: "time exceeded", targets: []string{ttlHost.String()}, errors: 3, wantErr: report.ErrNetwork},
		{name: "foreign replies ignored", targets: []string{foreign.String()}, timeouts: 3, wantErr: report.ErrNetwork},
		{name: "two targets one down", targets: []string{up.String(), down.String()}, replies: 3, timeouts: 3, wantErr: report.ErrNetwork},
		{name: "ipv6", targets: []string{up6.String()}, replies: 3},
		// Two families: a reader goroutine per socket instead of one loop.
		{name: "both families", targets: []string{up.String(), up6.String(), down6.String()}, replies: 6, timeouts: 3, wantErr: report.ErrNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fast
			opts.Targets = tt.targets
			recs, _, err := runFake(t, n, opts)
			if !errors.Is(err, tt.wantErr) && err != tt.wantErr {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			dups := 0
			for _, r := range recs {
				if r["type"] == "reply" && r["dup"] == true {
					dups++
				}
			}
			// With both families a reader goroutine may still hold the
			// duplicate of the last reply when the run ends (as with
			// iputils); with one, the final drain takes it.
			late := 0
			if tt.dups > 0 && dups == tt.dups-1 && len(tt.targets) > 1 {
				late = 1
			}
			if got := count(recs, "reply"); got != tt.replies-late {
				t.Errorf("%d replies, want %d", got, tt.replies)
			}
			if dups != tt.dups-late {
				t.Errorf("%d dups, want %d", dups, tt.dups)
			}
			if got := count(recs, "timeout"); got != tt.timeouts {
				t.Errorf("%d timeouts, want %d", got, tt.timeouts)
			}
			if got := count(recs, "error"); got != tt.errors {
				t.Errorf("%d errors, want %d", got, tt.errors)
			}
			if got := count(recs, "summary"); got != len(tt.targets) || recs[len(recs)-1]["type"] != "summary" {
				t.Errorf("%d summaries, last record %v", got, recs[len(recs)-1]["type"])
			}
		})
	}
}

func TestEngineQuorumAndExpect(t *testing.T) {
	n := fakeNet{up: "up", down: "down"}
	opts := Options{Count: 2, Interval: 5 * time.Millisecond, Wait: 30 * time.Millisecond,
		Targets: []string{up.String(), down.String()}, MinReachable: 1}
	if _, _, err := runFake(t, n, opts); err != nil {
		t.Errorf("quorum of 1 with one host up: %v", err)
	}
	e, _ := report.ParseExpect("reachable>=2", Metrics)
	opts.Expects = []report.Expect{e}
	_, stderr, err := runFake(t, n, opts)
	if err != report.ErrNetwork || !strings.Contains(stderr, "reachable>=2 failed") {
		t.Errorf("reachable>=2 with one up: %v, stderr %q", err, stderr)
	}
}

func TestDeadlineStopsEndlessRun(t *testing.T) {
	n := fakeNet{up: "up"}
	start := time.Now()
	recs, _, err := runFake(t, n, Options{Targets: []string{up.String()}, Interval: 10 * time.Millisecond, Deadline: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 190*time.Millisecond || el > 2*time.Second {
		t.Errorf("ran %v with a 200ms deadline", el)
	}
	if got := count(recs, "reply"); got < 5 {
		t.Errorf("%d replies in 200 ms at 10 ms intervals", got)
	}
}

func TestCancelPrintsSummary(t *testing.T) {
	n := fakeNet{up: "up"}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := Run(ctx, Options{Targets: []string{up.String()}, Interval: 10 * time.Millisecond, Listen: n.listen}, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "--- 198.18.0.1 ping statistics ---") {
		t.Errorf("no summary after cancel:\n%s", out.String())
	}
}

func TestResolveTargets(t *testing.T) {
	tests := []struct {
		arg     string
		family  int
		want    int
		wantErr bool
	}{
		{arg: "198.18.0.0/30", want: 2},
		{arg: "198.18.0.0/31", want: 2},
		{arg: "198.18.0.7/32", want: 1},
		{arg: "2001:db8::/126", want: 4},
		{arg: "198.18.0.0/15", wantErr: true},
		{arg: "198.18.0.1", family: 6, wantErr: true},
		{arg: "bad/prefix", wantErr: true},
	}
	for _, tt := range tests {
		opts := Options{Targets: []string{tt.arg}, Family: tt.family,
			Resolve: func(context.Context, string, string) ([]netip.Addr, error) { return nil, errors.New("no DNS in tests") }}
		got, err := resolveTargets(context.Background(), &opts)
		if (err != nil) != tt.wantErr || len(got) != tt.want {
			t.Errorf("%s: %d targets, err %v; want %d, error %v", tt.arg, len(got), err, tt.want, tt.wantErr)
		}
		if err != nil && report.ExitCode(err) != report.ExitUsage {
			t.Errorf("%s: exit code %d, want usage", tt.arg, report.ExitCode(err))
		}
	}
}

// An address given twice, alone or in a block, is pinged once.
func TestResolveTargetsOnce(t *testing.T) {
	opts := Options{Targets: []string{"198.18.0.0/30", "198.18.0.2", "198.18.0.1", "198.18.0.9", "198.18.0.9"}}
	got, err := resolveTargets(context.Background(), &opts)
	if err != nil || len(got) != 3 {
		t.Errorf("%d targets, err %v; want 3: .1 and .2 of the block, and .9", len(got), err)
	}
}

func TestFormatRTT(t *testing.T) {
	for d, want := range map[time.Duration]string{
		61 * time.Microsecond:     "0.061",
		1234 * time.Microsecond:   "1.23",
		12345 * time.Microsecond:  "12.3",
		123456 * time.Microsecond: "123",
	} {
		if got := FormatRTT(d); got != want {
			t.Errorf("FormatRTT(%v) = %s, want %s", d, got, want)
		}
	}
}

// A run over both families reads each socket on its own goroutine; none
// outlives the run.
func TestReadersJoined(t *testing.T) {
	n := fakeNet{up: "up", up6: "up"}
	_, _, err := runFake(t, n, Options{Targets: []string{up.String(), up6.String()}, Count: 2, Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Read from the goroutines' stacks, not their number: the runtime's
	// finalizer goroutine counts while it runs finalizers, at any moment.
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "(*channelWaiter).read") {
		t.Errorf("a reader was left running after the run:\n%s", stacks)
	}
}

// A flood sends the next probe as soon as the last is answered: the loop
// never sleeps between rounds that are due (the runtime's poller sleeps
// whole milliseconds: a flood that waited per round was capped at a
// thousand probes a second).
// A flood without a count, whose answers keep up so it never waits,
// still stops when its context is cancelled (Ctrl-C), with its summary.
func TestCancelStopsFlood(t *testing.T) {
	n := fakeNet{up: "up"}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Targets: []string{up.String()}, Flood: true, Quiet: true, Listen: n.listen}, &out, &bytes.Buffer{})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a flood went on 5 s after its context was cancelled")
	}
	if !strings.Contains(out.String(), "packets transmitted") {
		t.Errorf("no summary after cancel:\n%s", out.String())
	}
}

// A sweep with more probes owed an answer than there are sequence
// numbers (a second round of 65534 targets sent while the first waits)
// reuses the numbers of probes still waiting: each probe is still
// reported once, as answered or timed out, and the run ends.
func TestSweepBeyondSequenceNumbers(t *testing.T) {
	n := fakeNet{up: "up"}
	recs, _, err := runFake(t, n, Options{Targets: []string{"198.18.0.0/16"}, Count: 2, Interval: time.Millisecond, Wait: 2 * time.Second})
	if !errors.Is(err, report.ErrNetwork) {
		t.Fatalf("err %v, want the network's (targets down)", err)
	}
	const targets = 65534
	if r, o := count(recs, "reply"), count(recs, "timeout"); r != 2 || o != 2*(targets-1) {
		t.Errorf("%d replies and %d timeouts, want 2 and %d", r, o, 2*(targets-1))
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r["type"] == "timeout" {
			k := fmt.Sprint(r["target"], r["seq"])
			if seen[k] {
				t.Fatalf("%s timed out twice", k)
			}
			seen[k] = true
		}
	}
}

func TestFloodDoesNotWaitPerRound(t *testing.T) {
	var waits atomic.Int64
	n := fakeNet{up: "up"}
	listen := func(cfg rawsock.ICMPConfig) (Conn, error) {
		c, err := n.listen(cfg)
		c.(*fakeConn).waits = &waits
		return c, err
	}
	var out bytes.Buffer
	err := Run(context.Background(), Options{Targets: []string{up.String()}, Count: 300, Flood: true, Quiet: true, Listen: listen}, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if w := waits.Load(); w > 30 {
		t.Errorf("the loop waited %d times for 300 probes answered at once", w)
	}
}

// A flood whose replies are queued by the time each send returns, but
// whose sends are slow, goes straight on to the next round: the wait is
// measured from after the round, not from before it (which made the loop
// wait as long as the round took, for nothing).
func TestFloodSlowSendsDoNotWait(t *testing.T) {
	var idle atomic.Int64
	n := fakeNet{up: "slow"}
	listen := func(cfg rawsock.ICMPConfig) (Conn, error) {
		c, err := n.listen(cfg)
		c.(*fakeConn).idle = &idle
		return c, err
	}
	var out bytes.Buffer
	err := Run(context.Background(), Options{Targets: []string{up.String()}, Count: 100, Flood: true, Quiet: true, Listen: listen}, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "100 received") {
		t.Fatalf("not every probe answered:\n%s", out.String())
	}
	if w := idle.Load(); w > 10 {
		t.Errorf("the loop waited %d times with every probe answered, in 100 rounds", w)
	}
}

// The reply record written without reflection is the one encoding/json
// writes for jsonReply, field for field.
func TestJSONReplyLikeEncodingJSON(t *testing.T) {
	stamp := regexp.MustCompile(`"time":"[^"]*"`)
	for _, c := range []struct {
		name string
		src  string
		rtt  time.Duration
		ttl  int
		dup  bool
	}{{"198.18.1.2", "198.18.1.2", 12345 * time.Nanosecond, 63, false}, {"host\"x", "2001:db8::1", 0, -1, true},
		{"h", "198.18.1.9", 3*time.Second + 7, 255, false}, {"h", "198.18.1.9", 1, 1, false}} {
		var fast, slow bytes.Buffer
		p := &jsonPrinter{w: report.NewJSONWriter(&fast, "ping")}
		src := netip.MustParseAddr(c.src)
		p.reply(&target{name: c.name}, 7, rawsock.Meta{Src: src, TTL: c.ttl}, 64, c.rtt, c.dup)
		p.w.Flush()
		w := report.NewJSONWriter(&slow, "ping")
		w.Write("reply", jsonReply{Target: c.name, Seq: 7, Src: src.String(), RTT: report.Millis(c.rtt), TTL: c.ttl, Bytes: 64, Dup: c.dup})
		w.Flush()
		if a, b := stamp.ReplaceAllString(fast.String(), ""), stamp.ReplaceAllString(slow.String(), ""); a != b {
			t.Errorf("written %s, encoding/json %s", a, b)
		}
	}
}

// So is the summary record, with round trips and without.
func TestJSONSummaryLikeEncodingJSON(t *testing.T) {
	var stats report.RTTStats
	for _, d := range []time.Duration{1234, 5678901, 42} {
		stats.Add(d)
	}
	s := stats.Summary()
	var one report.RTTStats
	one.Add(12345)
	s1 := one.Summary() // min = avg = max = percentiles
	for _, rec := range []jsonSummary{
		{Target: "198.18.1.2", Addr: "198.18.1.2", Sent: 3, Received: 3, Time: 2000.5, RTT: &s},
		{Target: "198.18.1.4", Addr: "198.18.1.4", Sent: 1, Received: 1, Time: 12.345, RTT: &s1},
		{Target: "198.18.1.5", Addr: "198.18.1.5", Sent: 2, Received: 1, Loss: 50, Time: 50, RTT: &report.Summary{Min: 50, Avg: 0.5, Max: 50, Mdev: 1, P50: 0.5, P90: 2, P99: 3, Jitter: 50}},
		{Target: "a\"b\u2028", Addr: "2001:db8::1", Sent: 5, Received: 0, Dups: 1, Errors: 2, Loss: 100, Time: 0.001, LocalDrops: 4},
		{Target: "x", Addr: "198.18.1.3", Sent: 3, Received: 2, Loss: 100.0 / 3, Time: 1e-7, RTT: &report.Summary{Min: 1e-9, Max: 1e22}},
	} {
		var fast, slow bytes.Buffer
		p := &jsonPrinter{w: report.NewJSONWriter(&fast, "ping")}
		p.w.WriteFields("summary", p.summaryFields(rec))
		p.w.Flush()
		w := report.NewJSONWriter(&slow, "ping")
		w.Write("summary", rec)
		w.Flush()
		stamp := regexp.MustCompile(`"time":"[^"]*"`)
		if a, b := stamp.ReplaceAllString(fast.String(), ""), stamp.ReplaceAllString(slow.String(), ""); a != b {
			t.Errorf("written %s, encoding/json %s", a, b)
		}
	}
}

// A flood fills 65536 probe slots: at 40 bytes, 2.6 MB, half what
// time.Time fields took, and each page is a fault on first touch.
func TestProbeSlotSize(t *testing.T) {
	if n := unsafe.Sizeof(probe{}); n > 40 {
		t.Errorf("a probe takes %d bytes, want at most 40", n)
	}
}

// sendReadConn is a fakeConn whose send also reads the answer (rawsock's
// io_uring path): the reply's kernel time is kernelAfter past the call.
type sendReadConn struct {
	*fakeConn
	kernelAfter time.Duration
	calls       atomic.Int64
}

func (c *sendReadConn) PrepareWriteThenRead() bool { return true }

func (c *sendReadConn) WriteToAddrThenTryRead(b []byte, dst netip.Addr, rb []byte) (int, rawsock.Meta, error, error) {
	c.calls.Add(1)
	req, err := icmp.Parse(c.family, b)
	if err != nil {
		return 0, rawsock.Meta{}, nil, err
	}
	reply, _ := (&xicmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &xicmp.Echo{ID: req.ID, Seq: req.Seq, Data: req.Data}}).Marshal(nil)
	return copy(rb, reply), rawsock.Meta{Src: dst, TTL: 64, KernelTime: time.Now().Round(0).Add(c.kernelAfter)}, nil, nil
}

// A flood whose send reads its answer takes the round trip from the
// kernel's receive time less the send's clock reading, as iputils does,
// and reads no clock after it; with -U (user latency) it reads one. The
// fake kernel time is far enough ahead (200 ms) that no scheduling delay
// of a loaded -race run can make one reading pass for the other.
func TestFloodRTTFromTheSendsOwnRead(t *testing.T) {
	for _, userLatency := range []bool{false, true} {
		var conn *sendReadConn
		listen := func(cfg rawsock.ICMPConfig) (Conn, error) {
			c, err := fakeNet{up: "up"}.listen(cfg)
			conn = &sendReadConn{fakeConn: c.(*fakeConn), kernelAfter: 200 * time.Millisecond}
			return conn, err
		}
		var out bytes.Buffer
		err := Run(context.Background(), Options{Targets: []string{up.String()}, Count: 50, Flood: true, JSON: true, UserLatency: userLatency, Listen: listen}, &out, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if got := conn.calls.Load(); got != 50 {
			t.Errorf("-U %v: %d sends that read, want 50", userLatency, got)
		}
		replies := 0
		for _, line := range strings.Split(out.String(), "\n") {
			var rec struct {
				Type string  `json:"type"`
				RTT  float64 `json:"rtt_ms"`
			}
			if json.Unmarshal([]byte(line), &rec) != nil || rec.Type != "reply" {
				continue
			}
			replies++
			kernel := rec.RTT >= 200
			if kernel == userLatency {
				t.Errorf("-U %v: RTT %.3f ms; the kernel's says 200 ms and more, the clock's (-U) less", userLatency, rec.RTT)
			}
		}
		if replies != 50 {
			t.Fatalf("-U %v: %d replies\n%s", userLatency, replies, out.String())
		}
	}
}

// chainConn is a fakeConn that sends chains (rawsock's WriteChain): each
// probe is answered within the call unless its sequence number is in
// drop, and the chain stops there. A probe's transmit timestamp and its
// reply's kernel time are made so that its RTT is 200 µs plus its
// sequence number in µs. It keeps the length of each chain asked for
// and sent.
type chainConn struct {
	*fakeConn
	drop          map[int]bool
	asked, sent   []int
	prepareResult int
}

func (c *chainConn) PrepareChain() int { return c.prepareResult }

func (c *chainConn) WriteChain(dst netip.Addr, ps []rawsock.ChainProbe) int {
	entry := time.Now()
	// The times made below are all past when the call returns.
	time.Sleep(2 * time.Millisecond)
	c.asked = append(c.asked, len(ps))
	n := 0
	for i := range ps {
		p := &ps[i]
		req, err := icmp.Parse(c.family, p.B)
		if err != nil {
			panic(err)
		}
		n++
		p.Sent, p.WErr, p.Stamp = true, nil, entry.Add(time.Duration(i)*10*time.Microsecond)
		if c.drop[req.Seq] {
			p.RErr = rawsock.ErrNoPacket
			break
		}
		reply, _ := (&xicmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &xicmp.Echo{ID: req.ID, Seq: req.Seq, Data: req.Data}}).Marshal(nil)
		rtt := 200*time.Microsecond + time.Duration(req.Seq)*time.Microsecond
		p.N, p.RErr = copy(p.RB, reply), nil
		p.Meta = rawsock.Meta{Src: dst, TTL: 64, KernelTime: p.Stamp.Round(0).Add(rtt)}
	}
	c.sent = append(c.sent, n)
	return n
}

// floodWithChains runs a flood of count probes over a chainConn and
// returns it and the RTT of each reply, by sequence number.
func floodWithChains(t *testing.T, count int, drop map[int]bool) (*chainConn, map[int]float64, string) {
	t.Helper()
	var conn *chainConn
	listen := func(cfg rawsock.ICMPConfig) (Conn, error) {
		c, err := fakeNet{up: "up"}.listen(cfg)
		conn = &chainConn{fakeConn: c.(*fakeConn), drop: drop, prepareResult: 16}
		return conn, err
	}
	var out bytes.Buffer
	err := Run(context.Background(), Options{Targets: []string{up.String()}, Count: count, Flood: true, JSON: true, Wait: 50 * time.Millisecond, Listen: listen}, &out, &bytes.Buffer{})
	if err != nil && report.ExitCode(err) == report.ExitUsage {
		t.Fatal(err)
	}
	rtts := map[int]float64{}
	for _, line := range strings.Split(out.String(), "\n") {
		var rec struct {
			Type string  `json:"type"`
			Seq  int     `json:"seq"`
			RTT  float64 `json:"rtt_ms"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Type == "reply" {
			rtts[rec.Seq] = rec.RTT
		}
	}
	return conn, rtts, out.String()
}

// A flood of one target sends chains that double while every probe is
// answered within the call, up to the socket's most, and end at the
// count; each reply's RTT is its own probe's, from its transmit
// timestamp to its kernel receive time.
func TestFloodChains(t *testing.T) {
	conn, rtts, out := floodWithChains(t, 100, nil)
	wantAsked := []int{1, 2, 4, 8, 16, 16, 16, 16, 16, 5}
	if fmt.Sprint(conn.asked) != fmt.Sprint(wantAsked) || fmt.Sprint(conn.sent) != fmt.Sprint(wantAsked) {
		t.Errorf("chains asked %v, sent %v; want %v", conn.asked, conn.sent, wantAsked)
	}
	if len(rtts) != 100 {
		t.Fatalf("%d replies, want 100\n%s", len(rtts), out)
	}
	for seq, rtt := range rtts {
		if want := 0.2 + float64(seq)/1000; rtt < want-1e-6 || rtt > want+1e-6 {
			t.Errorf("seq %d: RTT %.6f ms, want %.6f (its own transmit timestamp to its receive time)", seq, rtt, want)
		}
	}
}

// A probe left unanswered ends its chain: the probes behind it are not
// sent, the next chain is as long as the answered part of this one, and
// the probe counts as lost.
func TestFloodChainStopsUnanswered(t *testing.T) {
	conn, rtts, out := floodWithChains(t, 20, map[int]bool{10: true})
	// 1, 2-3, 4-7, 8-10 (10 unanswered: 8 asked, 3 sent), then 2, 4, 4
	// (the count's rest).
	wantAsked, wantSent := []int{1, 2, 4, 8, 2, 4, 4}, []int{1, 2, 4, 3, 2, 4, 4}
	if fmt.Sprint(conn.asked) != fmt.Sprint(wantAsked) || fmt.Sprint(conn.sent) != fmt.Sprint(wantSent) {
		t.Errorf("chains asked %v, sent %v; want %v, %v", conn.asked, conn.sent, wantAsked, wantSent)
	}
	if _, ok := rtts[10]; ok || len(rtts) != 19 {
		t.Errorf("replies to %d probes (seq 10 among them: %v), want 19 without seq 10\n%s", len(rtts), ok, out)
	}
	if !strings.Contains(out, `"sent":20`) || !strings.Contains(out, `"received":19`) {
		t.Errorf("summary does not say 20 sent, 19 received:\n%s", out)
	}
}
