package rawsock

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/icmp"
)

// chainOrSkip opens a raw socket with transmit timestamps and readies
// its chain; it skips where the kernel cannot chain, except where it
// should (io_uring allowed to everyone, Linux 6.13 or later).
func chainOrSkip(t *testing.T, family int, id int) *ICMPConn {
	t.Helper()
	c := listenOrSkip(t, ICMPConfig{Family: family, Mode: Privileged, ID: id})
	if k := c.PrepareChain(); k != uringChainMax {
		disabled, _ := os.ReadFile("/proc/sys/kernel/io_uring_disabled")
		if strings.TrimSpace(string(disabled)) == "0" && kernelAtLeast(6, 13) {
			t.Fatalf("PrepareChain = %d on a kernel that chains (6.13 or later, io_uring allowed)", k)
		}
		t.Skipf("no chain here (PrepareChain %d): it needs io_uring and Linux 6.13", k)
	}
	return c
}

// TestChainToLoopback sends chains of echo requests to loopback: the
// kernel answers each within its send, so every probe of a chain goes
// out and is answered in the one call, and each comes back with its own
// transmit timestamp: after the answer to the probe before it (which it
// waited for) and before its own answer.
func TestChainToLoopback(t *testing.T) {
	for _, family := range []int{4, 6} {
		t.Run(map[int]string{4: "ipv4", 6: "ipv6"}[family], func(t *testing.T) {
			c := chainOrSkip(t, family, 0x4d4d)
			seq := 0
			for chain := range 3 {
				ps := make([]ChainProbe, uringChainMax)
				for i := range ps {
					seq++
					ps[i].B, _ = icmp.AppendEcho(nil, family, c.ID(), seq, []byte("rawkit chain"))
					ps[i].RB = make([]byte, 1500)
				}
				before := time.Now()
				n := c.WriteChain(loopback(family), ps)
				after := time.Now()
				if n != len(ps) {
					t.Fatalf("chain %d: %d probes sent of %d", chain, n, len(ps))
				}
				prev := before
				for i, p := range ps {
					want := seq - len(ps) + 1 + i
					if !p.Sent || p.WErr != nil || p.RErr != nil {
						t.Fatalf("chain %d probe %d: sent %v, write error %v, read error %v", chain, i, p.Sent, p.WErr, p.RErr)
					}
					kind, id, got, ok := icmp.EchoOf(family, p.RB[:p.N])
					if !ok || kind != icmp.KindEchoReply || id != c.ID() || got != want {
						t.Fatalf("chain %d probe %d: read %x, want the reply to seq %d", chain, i, p.RB[:p.N], want)
					}
					if p.Meta.Src != loopback(family) || p.Meta.KernelTime.IsZero() {
						t.Fatalf("chain %d probe %d: meta %+v", chain, i, p.Meta)
					}
					if p.Stamp.IsZero() || p.Stamp.Before(prev) || p.Meta.KernelTime.Before(p.Stamp) || after.Before(p.Meta.KernelTime) {
						t.Fatalf("chain %d probe %d: sent at %v, answered at %v; want after %v (the answer before it), the answer within %v",
							chain, i, p.Stamp.Format(time.StampNano), p.Meta.KernelTime.Format(time.StampNano), prev.Format(time.StampNano), after.Format(time.StampNano))
					}
					prev = p.Meta.KernelTime
				}
			}
		})
	}
}

// TestChainStopsUnanswered: a probe whose answer is not for this socket
// (another identifier, which its filter drops) leaves the read behind it
// empty, and the probes after it are not sent; the timestamps of those
// sent are still read.
func TestChainStopsUnanswered(t *testing.T) {
	c := chainOrSkip(t, 4, 0x4e4e)
	ps := make([]ChainProbe, 6)
	for i := range ps {
		id := c.ID()
		if i == 2 {
			id++ // answered, but not to us
		}
		ps[i].B, _ = icmp.AppendEcho(nil, 4, id, i+1, []byte("rawkit chain"))
		ps[i].RB = make([]byte, 1500)
	}
	n := c.WriteChain(loopback(4), ps)
	if n != 3 {
		t.Fatalf("%d probes sent, want 3 (the third goes unanswered)", n)
	}
	for i, p := range ps[:n] {
		if !p.Sent || p.WErr != nil || p.Stamp.IsZero() {
			t.Fatalf("probe %d: sent %v, error %v, timestamp %v", i, p.Sent, p.WErr, p.Stamp)
		}
		if wantRead := i < 2; (p.RErr == nil) != wantRead {
			t.Fatalf("probe %d: read error %v, want a reply: %v", i, p.RErr, wantRead)
		}
	}
	if ps[2].RErr != ErrNoPacket {
		t.Fatalf("probe 2: read error %v, want ErrNoPacket", ps[2].RErr)
	}
	// The next chain starts afresh, and its timestamps are its own.
	ps = ps[:2]
	for i := range ps {
		ps[i].B, _ = icmp.AppendEcho(nil, 4, c.ID(), 10+i, []byte("rawkit chain"))
	}
	before := time.Now()
	if n := c.WriteChain(loopback(4), ps); n != 2 {
		t.Fatalf("second chain: %d sent, want 2", n)
	}
	for i, p := range ps {
		if p.RErr != nil || p.Stamp.Before(before) || p.Meta.KernelTime.Before(p.Stamp) {
			t.Fatalf("second chain, probe %d: read error %v, sent at %v, answered at %v, chain began %v", i, p.RErr, p.Stamp, p.Meta.KernelTime, before)
		}
	}
}

// PrepareWriteThenRead turns transmit timestamps off, which a chain
// needs: a flood of one target opens its socket with them, for a chain,
// and sends without them when it has none.
func TestWriteThenReadTurnsStampsOff(t *testing.T) {
	c := listenOrSkip(t, ICMPConfig{Family: 4, Mode: Privileged, ID: 0x4f4f})
	if !c.txStamps {
		t.Fatal("a raw socket without NoTxTimestamps has no transmit timestamps")
	}
	c.PrepareWriteThenRead()
	if c.txStamps {
		t.Fatal("transmit timestamps still on after PrepareWriteThenRead")
	}
	if c.PrepareChain() != 0 {
		t.Fatal("PrepareChain offers a chain without transmit timestamps")
	}
}

// A send made outside a chain is numbered by the kernel's own count;
// its timestamp, read late by a chain, is not taken for a chained
// probe's: the chain's numbers start far from that count.
func TestChainKeysApartFromTheKernels(t *testing.T) {
	c := chainOrSkip(t, 4, 0x5050)
	// Sends outside a chain, their stamps left in the error queue.
	for seq := 1; seq <= 3; seq++ {
		b, _ := icmp.AppendEcho(nil, 4, c.ID(), seq, []byte("rawkit plain"))
		if err := c.s.sendto(b, loopback(4), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	before := time.Now()
	ps := make([]ChainProbe, 3)
	for i := range ps {
		ps[i].B, _ = icmp.AppendEcho(nil, 4, c.ID(), 10+i, []byte("rawkit chain"))
		ps[i].RB = make([]byte, 1500)
	}
	if n := c.WriteChain(loopback(4), ps); n == 0 {
		t.Fatal("nothing sent")
	}
	for i, p := range ps {
		if !p.Stamp.IsZero() && p.Stamp.Before(before) {
			t.Fatalf("probe %d took a stamp from before its chain (%v < %v)", i, p.Stamp, before)
		}
	}
}
