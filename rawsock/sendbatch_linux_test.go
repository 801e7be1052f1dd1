package rawsock

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawkit/rawkit/icmp"
)

// TestWriteBatch sends echo requests to loopback in one WriteBatch:
// every one is answered. A datagram the kernel refuses (a broadcast
// without SO_BROADCAST, EACCES) stops the batch there, with its error
// and the count of those sent before it; the rest go in the next call.
func TestWriteBatch(t *testing.T) {
	for _, family := range []int{4, 6} {
		t.Run(map[int]string{4: "ipv4", 6: "ipv6"}[family], func(t *testing.T) {
			c := listenOrSkip(t, ICMPConfig{Family: family, Mode: Privileged, ID: 0x5151, Options: Options{NoTxTimestamps: true}})
			var pkts [][]byte
			var dsts []netip.Addr
			for seq := 1; seq <= 100; seq++ { // more than one sendmmsg's 64
				b, _ := icmp.AppendEcho(nil, family, c.ID(), seq, []byte("rawkit batch"))
				pkts, dsts = append(pkts, b), append(dsts, loopback(family))
			}
			refused := 70
			if family == 4 {
				dsts[refused-1] = netip.MustParseAddr("255.255.255.255")
			}
			n, err := c.WriteBatch(pkts, dsts)
			if family == 4 {
				if n != refused-1 || !errors.Is(err, unix.EACCES) {
					t.Fatalf("WriteBatch = %d, %v; want %d sent and EACCES for the broadcast", n, err, refused-1)
				}
				m, err := c.WriteBatch(pkts[n+1:], dsts[n+1:])
				if err != nil || m != len(pkts)-n-1 {
					t.Fatalf("the rest: %d sent, %v; want %d", m, err, len(pkts)-n-1)
				}
			} else if n != len(pkts) || err != nil {
				t.Fatalf("WriteBatch = %d, %v; want %d sent", n, err, len(pkts))
			}
			var want []int
			for seq := 1; seq <= 100; seq++ {
				if family == 6 || seq != refused {
					want = append(want, seq)
				}
			}
			var seqs []int
			for len(seqs) < len(want) {
				m, _, err := readEcho(t, c, 2*time.Second)
				if err != nil {
					break
				}
				seqs = append(seqs, m.Seq)
			}
			slices.Sort(seqs)
			if !slices.Equal(seqs, want) {
				t.Fatalf("answers to %v, want %v", seqs, want)
			}
		})
	}
}
