package scan

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/rawkit/rawkit/probe"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

var (
	me     = netip.MustParseAddr("198.18.0.1")
	target = netip.MustParseAddr("198.18.1.2")
	router = netip.MustParseAddr("198.18.0.2")
)

func testScanner(t Type) *scanner {
	s := &scanner{opts: Options{Type: t, Shard: Shard{0, 1}}, targets: []netip.Addr{target}, ports: []uint16{22, 23},
		portIdx: make([]int32, 65536), key: 99, sport: 45000,
		table: newTable(2), probed: make(bitset, 1), start: time.Now()}
	s.scanned, s.groupHosts = s.targets, 1
	s.index.set(s.targets)
	for i := range s.portIdx {
		s.portIdx[i] = -1
	}
	s.portIdx[22], s.portIdx[23] = 0, 1
	s.n = 2
	return s
}

func segment(sport, dport uint16, flags uint8, ack uint32) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint32(b[8:12], ack)
	b[12], b[13] = 5<<4, flags
	return b
}

// Answers a SYN scan must ignore, and ones it must take.
func TestHandleTransport(t *testing.T) {
	synack := uint8(probe.FlagSYN | probe.FlagACK)
	tests := []struct {
		name  string
		from  netip.Addr
		b     func(s *scanner) []byte
		state State
	}{
		{"syn-ack", target, func(s *scanner) []byte { return segment(22, 45000, synack, s.cookie(target, 22)+1) }, Open},
		{"rst", target, func(s *scanner) []byte {
			return segment(22, 45000, probe.FlagRST|probe.FlagACK, s.cookie(target, 22)+1)
		}, Closed},
		{"wrong cookie", target, func(s *scanner) []byte { return segment(22, 45000, synack, s.cookie(target, 22)+2) }, Unknown},
		{"cookie of another port", target, func(s *scanner) []byte { return segment(22, 45000, synack, s.cookie(target, 23)+1) }, Unknown},
		{"to another source port", target, func(s *scanner) []byte { return segment(22, 45001, synack, s.cookie(target, 22)+1) }, Unknown},
		{"from another host", router, func(s *scanner) []byte { return segment(22, 45000, synack, s.cookie(target, 22)+1) }, Unknown},
		{"port not scanned", target, func(s *scanner) []byte { return segment(24, 45000, synack, s.cookie(target, 24)+1) }, Unknown},
		{"bare ack", target, func(s *scanner) []byte { return segment(22, 45000, probe.FlagACK, s.cookie(target, 22)+1) }, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testScanner(SYN)
			s.handleTransport(tt.b(s), rawsock.Meta{Src: tt.from, TTL: 63}, time.Now())
			if got := s.table.state(0); got != tt.state {
				t.Errorf("state %v, want %v", got, tt.state)
			}
		})
	}
}

func TestHandleICMP(t *testing.T) {
	s := testScanner(SYN)
	syn := probe.TCPSyn(nil, me, target, 45000, 23, s.cookie(target, 23))
	quote := make([]byte, 20)
	quote[0], quote[9] = 0x45, 6
	src, dst := me.As4(), target.As4()
	copy(quote[12:16], src[:])
	copy(quote[16:20], dst[:])
	quote = append(quote, syn...)
	b, _ := (&xicmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 13, Body: &xicmp.DstUnreach{Data: quote}}).Marshal(nil)
	s.handleICMP(4, b, rawsock.Meta{Src: router, TTL: 64}, time.Now())
	r, ok := s.table.get(1, target)
	if r.State != Filtered || !ok || r.Reason != "admin-prohibited" || r.From != router {
		t.Fatalf("details %+v", r)
	}
	// The same error quoting a SYN with another sequence number is not ours.
	s = testScanner(SYN)
	binary.BigEndian.PutUint32(quote[24:28], 7)
	b, _ = (&xicmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 13, Body: &xicmp.DstUnreach{Data: quote}}).Marshal(nil)
	s.handleICMP(4, b, rawsock.Meta{Src: router}, time.Now())
	if s.table.state(1) != Unknown {
		t.Errorf("forged quote taken: %v", s.table.state(1))
	}
}

// A pass with nothing left to send stops at once (a sender that started
// after stop once waited forever).
func TestSendersStopWithoutWork(t *testing.T) {
	s := testScanner(SYN)
	s.extra = make([]map[int]rawsock.Conn, 3)
	done := make(chan error, 1)
	go func() { done <- newSenders(s).stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return")
	}
}

// --json writes an open port as it is found (a scan killed midway leaves
// it), and once only.
func TestOpenPortsStreamed(t *testing.T) {
	s := testScanner(SYN)
	s.opts.JSON, s.opts.All = true, true
	var out bytes.Buffer
	s.stream, s.streamed = report.NewJSONWriter(&out, "portscan"), make(bitset, 1)
	s.probed.set(0)
	s.probed.set(1)
	s.record(target, 22, Result{State: Open, Reason: "syn-ack"}, time.Now())
	if !strings.Contains(out.String(), `"port":22`) || !strings.Contains(out.String(), `"state":"open"`) {
		t.Fatalf("the open port was not written when found: %q", out.String())
	}
	s.record(target, 23, Result{State: Closed, Reason: "reset"}, time.Now())
	if strings.Contains(out.String(), `"port":23`) {
		t.Fatal("a closed port was streamed")
	}
	writeOutputs(s, s.results(), summary{}, &out, &outputFiles{})
	if n := strings.Count(out.String(), `"port":22`); n != 1 {
		t.Errorf("port 22 written %d times:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), `"port":23`) || !strings.Contains(out.String(), `"type":"summary"`) {
		t.Errorf("the rest and the summary missing:\n%s", out.String())
	}
}

// An answer from a host of a group already ended matches no probe of the
// current group: it is dropped, not given to the probe that now has its
// number.
func TestLateAnswerFromAnotherGroup(t *testing.T) {
	s := testScanner(SYN)
	other := netip.MustParseAddr("198.18.1.9")
	s.scanned, s.groupHosts = []netip.Addr{target, other}, 1
	s.setGroup(0)
	s.setGroup(1)
	if s.targets[0] != other || s.n != 2 {
		t.Fatalf("group 1 is %v, %d probes", s.targets, s.n)
	}
	if s.record(target, 22, Result{State: Open, Reason: "syn-ack"}, time.Now()) {
		t.Error("an answer from group 0's host was taken in group 1")
	}
	if !s.record(other, 22, Result{State: Open, Reason: "syn-ack"}, time.Now()) {
		t.Error("an answer from group 1's host was not taken")
	}
	if r, ok := s.table.get(0, other); !ok || r.State != Open {
		t.Errorf("group 1's port 22: %v %v", r, ok)
	}
}

// A probe still waiting for its answer when a signal ends the scan has no
// state: it is left out of the report (and counted unprobed), not called
// filtered.
func TestInFlightProbeNotReported(t *testing.T) {
	s := testScanner(SYN)
	s.probed.set(0)
	s.probed.set(1)
	s.pending = map[uint64]*flight{1: {idx: 1}}
	rs := s.results()
	if len(rs) != 1 || rs[0].Port != 22 || rs[0].State != Filtered {
		t.Errorf("results %+v; want port 22 filtered (given up), 23 left out (in flight)", rs)
	}
}
