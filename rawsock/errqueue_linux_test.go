package rawsock

import (
	"testing"
	"time"

	"github.com/rawkit/rawkit/icmp"
	"github.com/rawkit/rawkit/internal/netlab"
)

// Transmit timestamps left unread in the error queue raise EPOLLERR on a
// socket whose reader waits in the runtime's poller; ReadMsg must go on
// waiting and deliver the reply that comes later. (The runtime fails reads
// only on an event that is EPOLLERR alone, which a writable socket never
// raises, so this cannot force waitByPoll's fallback; it checks that
// error-queue traffic does not disturb reads.)
func TestReadSurvivesErrorOnlyEvents(t *testing.T) {
	lab := netlab.ForTest(t, netlab.Spec{})
	var c *ICMPConn
	err := lab.InNamespace(lab.Client, func() error {
		var err error
		c, err = ListenICMP(ICMPConfig{Family: 4, Mode: Privileged, ID: 0x5151})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type result struct {
		m   *icmp.Message
		err error
	}
	got := make(chan result, 1)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadMsg(buf)
			if err != nil {
				got <- result{err: err}
				return
			}
			if m, err := icmp.Parse(4, buf[:n]); err == nil && m.Kind == icmp.KindEchoReply {
				got <- result{m: m}
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond) // the reader is waiting in the poller
	silent := netlab.SilentPrefix4.Addr().Next()
	for seq := range 5 {
		b, _ := icmp.AppendEcho(nil, 4, c.ID(), seq, nil)
		// The bare send leaves each transmit timestamp in the queue.
		if err := c.s.sendto(b, silent, 0, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := icmp.AppendEcho(nil, 4, c.ID(), 99, nil)
	if _, err := c.WriteToAddr(b, lab.Server.Addr4); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.m.Seq != 99 {
			t.Fatalf("reader ended with %v, %+v; want the reply to seq 99", r.err, r.m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reader never returned")
	}
}
