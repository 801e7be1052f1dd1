package rawsock

import (
	"errors"
	"os"
	"testing"
	"time"
)

func listenPacketOrSkip(t *testing.T) *PacketConn {
	t.Helper()
	c, err := ListenPacket(PacketConfig{Iface: "lo", Blocks: 2, BlockSize: 1 << 16})
	if errors.Is(err, os.ErrPermission) && os.Getenv("CI") != "true" {
		t.Skipf("needs CAP_NET_RAW (run as root): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Close from another goroutine ends a Next that is waiting, at once and
// with os.ErrClosed, and unmaps the ring only once Next is out of it.
func TestCloseEndsAWaitingNext(t *testing.T) {
	c := listenPacketOrSkip(t)
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		for {
			_, ok, err := c.Next(10 * time.Second)
			if err != nil || !ok {
				done <- result{err, time.Now()}
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	closed := time.Now()
	c.Close()
	select {
	case r := <-done:
		if !errors.Is(r.err, os.ErrClosed) {
			t.Errorf("Next after Close: %v, want os.ErrClosed", r.err)
		}
		if d := r.at.Sub(closed); d > time.Second {
			t.Errorf("Next returned %v after Close", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close left Next waiting")
	}
}

// Many closes racing a busy reader: none may fault on an unmapped ring.
func TestCloseRacesNext(t *testing.T) {
	for range 60 {
		c := listenPacketOrSkip(t)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, _, err := c.Next(0); err != nil {
					return
				}
			}
		}()
		time.Sleep(100 * time.Microsecond)
		c.Close()
		<-done
	}
}
