package rawsock

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/rawkit/rawkit/icmp"
)

// WaitReadable waits out its time on an empty queue, says ready as soon
// as a reply is queued (the packet is still there to read), and refuses a
// closed socket.
func TestWaitReadableOnLoopback(t *testing.T) {
	for _, family := range []int{4, 6} {
		t.Run(map[int]string{4: "ipv4", 6: "ipv6"}[family], func(t *testing.T) {
			c := listenOrSkip(t, ICMPConfig{Family: family, Mode: Privileged, ID: 0x4646})
			start := time.Now()
			ready, err := c.WaitReadable(30 * time.Millisecond)
			if err != nil || ready {
				t.Fatalf("empty queue: ready %v, %v", ready, err)
			}
			if waited := time.Since(start); waited < 25*time.Millisecond {
				t.Errorf("an empty queue waited %v of 30ms", waited)
			}
			p, _ := icmp.AppendEcho(nil, family, c.ID(), 1, []byte("wait"))
			if _, err := c.WriteToAddr(p, loopback(family)); err != nil {
				t.Fatal(err)
			}
			if ready, err := c.WaitReadable(2 * time.Second); err != nil || !ready {
				t.Fatalf("after a send to loopback: ready %v, %v", ready, err)
			}
			buf := make([]byte, 2048)
			if _, _, err := c.TryReadMsg(buf); err != nil {
				t.Fatalf("ready, but the read: %v", err)
			}
			c.Close()
			if _, err := c.WaitReadable(time.Millisecond); !errors.Is(err, os.ErrClosed) {
				t.Errorf("closed socket: %v", err)
			}
		})
	}
}
