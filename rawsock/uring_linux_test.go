package rawsock

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rawkit/rawkit/icmp"
)

// TestWriteThenReadInOneCall sends echo requests to loopback with
// WriteToAddrThenTryRead: the kernel answers within the send, so the
// reply comes back from the same call, through the socket's io_uring
// wherever the kernel allows one (kernel.io_uring_disabled is 0).
func TestWriteThenReadInOneCall(t *testing.T) {
	// 0: every process may make a ring; 2: none; 1: only privileged ones
	// (or io_uring_group's), which this test does not predict.
	disabled, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled")
	mode := "0"
	if err == nil {
		mode = strings.TrimSpace(string(disabled))
	}
	allowed := mode == "0"
	for _, family := range []int{4, 6} {
		t.Run(map[int]string{4: "ipv4", 6: "ipv6"}[family], func(t *testing.T) {
			c := listenOrSkip(t, ICMPConfig{Family: family, Mode: Privileged, ID: 0x4a4a, Options: Options{NoTxTimestamps: true, TTL: 41}})
			if got := c.PrepareWriteThenRead(); got != allowed && mode != "1" {
				t.Fatalf("PrepareWriteThenRead = %v, want %v (kernel.io_uring_disabled %s)", got, allowed, mode)
			}
			ringed := c.s.ring != nil
			rb := make([]byte, 1500)
			for seq := 1; seq <= 3; seq++ {
				b, _ := icmp.AppendEcho(nil, family, c.ID(), seq, []byte("rawkit one call"))
				n, meta, rerr, werr := c.WriteToAddrThenTryRead(b, loopback(family), rb)
				if werr != nil || rerr != nil {
					t.Fatalf("seq %d: write error %v, read error %v", seq, werr, rerr)
				}
				kind, id, gotSeq, ok := icmp.EchoOf(family, rb[:n])
				if !ok || kind != icmp.KindEchoReply || id != c.ID() || gotSeq != seq {
					t.Fatalf("seq %d: read %x (echo %v: kind %v id %#x seq %d)", seq, rb[:n], ok, kind, id, gotSeq)
				}
				if meta.Src != loopback(family) || meta.KernelTime.IsZero() || meta.TTL != defaultTTL(t, family) {
					t.Fatalf("seq %d: meta %+v, want from %v, a kernel timestamp, TTL %d", seq, meta, loopback(family), defaultTTL(t, family))
				}
			}
			if (c.s.ring != nil) != ringed {
				t.Fatalf("ring in use after the sends: %v, before: %v (a failed call gives it up)", c.s.ring != nil, ringed)
			}
		})
	}
}

// TestWriteThenReadErrors: the send's error is the kernel's (a
// broadcast without SO_BROADCAST is EACCES), an empty queue is
// ErrNoPacket, and a closed socket neither sends nor crashes.
func TestWriteThenReadErrors(t *testing.T) {
	c := listenOrSkip(t, ICMPConfig{Family: 4, Mode: Privileged, ID: 0x4b4b, Options: Options{NoTxTimestamps: true}})
	c.PrepareWriteThenRead()
	rb := make([]byte, 1500)
	b, _ := icmp.AppendEcho(nil, 4, c.ID(), 1, nil)
	_, _, rerr, werr := c.WriteToAddrThenTryRead(b, netip.MustParseAddr("255.255.255.255"), rb)
	if !errors.Is(werr, unix.EACCES) {
		t.Errorf("broadcast without SO_BROADCAST: write error %v, want EACCES", werr)
	}
	if !errors.Is(rerr, ErrNoPacket) {
		t.Errorf("nothing queued: read error %v, want ErrNoPacket", rerr)
	}
	c.Close()
	if _, _, _, werr := c.WriteToAddrThenTryRead(b, loopback(4), rb); werr == nil {
		t.Error("a closed socket sent")
	}
	if c.s.ring != nil {
		t.Error("Close left the ring open")
	}
}

// Close ends a send that waits for room in the buffer (an unpolled
// socket's, holding the send lock until the descriptor is closed) and
// then frees the ring: it does not wait for the lock first.
func TestCloseEndsAWaitingSend(t *testing.T) {
	c := listenOrSkip(t, ICMPConfig{Family: 4, Mode: Privileged, ID: 0x4c4c, Options: Options{NoTxTimestamps: true, Unpolled: true}})
	c.PrepareWriteThenRead()
	held := make(chan struct{})
	go func() {
		// What sendUnpolled does while the buffer stays full.
		c.s.wmu.Lock()
		defer c.s.wmu.Unlock()
		close(held)
		for c.s.rc.Control(func(uintptr) {}) == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}()
	<-held
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		c.s.file.Close() // ends the wait, so the test fails rather than hangs
		<-closed
		t.Fatal("Close waited for a send that waits for Close")
	}
	if c.s.ring != nil {
		t.Error("Close left the ring open")
	}
}
