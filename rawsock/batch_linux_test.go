package rawsock

import (
	"errors"
	"testing"
	"time"

	"github.com/rawkit/rawkit/icmp"
)

// TryReadBatch gives the queued replies, each with its own source, TTL
// and kernel timestamp, an IPv4 raw socket's without the IP header, in
// fewer calls than datagrams; an empty queue is ErrNoPacket at once.
func TestTryReadBatchOnLoopback(t *testing.T) {
	for _, family := range []int{4, 6} {
		t.Run(map[int]string{4: "ipv4", 6: "ipv6"}[family], func(t *testing.T) {
			c := listenOrSkip(t, ICMPConfig{Family: family, Mode: Privileged, ID: 0x4545})
			b := NewBatch(8, 2048)
			if n, err := c.TryReadBatch(b); !errors.Is(err, ErrNoPacket) {
				t.Fatalf("empty queue: %d, %v; want ErrNoPacket", n, err)
			}
			const probes = 20
			sent := time.Now()
			for seq := range probes {
				p, _ := icmp.AppendEcho(nil, family, c.ID(), seq, []byte("batch"))
				if _, err := c.WriteToAddr(p, loopback(family)); err != nil {
					t.Fatal(err)
				}
			}
			seen := map[int]bool{}
			calls := 0
			for deadline := time.Now().Add(2 * time.Second); len(seen) < probes && time.Now().Before(deadline); {
				n, err := c.TryReadBatch(b)
				if errors.Is(err, ErrNoPacket) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				calls++
				for i := range n {
					m, err := icmp.Parse(family, b.Bufs[i][:b.N[i]])
					if err != nil {
						t.Fatalf("datagram %d of %d: %v", i, n, err)
					}
					if m.Kind != icmp.KindEchoReply {
						continue // our own request, on IPv6 loopback
					}
					meta := b.Meta[i]
					if m.ID != 0x4545 || string(m.Data) != "batch" || meta.Src != loopback(family) || meta.TTL <= 0 ||
						meta.KernelTime.Before(sent.Add(-time.Second)) || meta.KernelTime.After(time.Now()) {
						t.Errorf("reply %+v, meta %+v", m, meta)
					}
					seen[m.Seq] = true
				}
			}
			if len(seen) != probes {
				t.Fatalf("%d of %d replies read", len(seen), probes)
			}
			if calls >= probes {
				t.Errorf("%d calls for %d replies: not batched", calls, probes)
			}
		})
	}
}
