package ping

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/rawkit/rawkit/rawsock"
)

// echoConn answers each echo request at once, in memory and without
// allocating: what is left of a flood's time is the loop's own.
type echoConn struct {
	id    int
	reply []byte
	ready bool
	src   netip.Addr
}

func (c *echoConn) ID() int                                     { return c.id }
func (c *echoConn) Raw() bool                                   { return true }
func (c *echoConn) Close() error                                { return nil }
func (c *echoConn) SetReadDeadline(time.Time) error             { return nil }
func (c *echoConn) WaitReadable(time.Duration) (bool, error)    { return c.ready, nil }
func (c *echoConn) ReadMsg(b []byte) (int, rawsock.Meta, error) { return c.TryReadMsg(b) }

func (c *echoConn) WriteToAddr(b []byte, dst netip.Addr) (time.Time, error) {
	c.reply = append(c.reply[:0], b...)
	c.reply[0] = 0 // echo reply
	binary.BigEndian.PutUint16(c.reply[2:4], 0)
	c.ready, c.src = true, dst
	return time.Time{}, nil
}

func (c *echoConn) TryReadMsg(b []byte) (int, rawsock.Meta, error) {
	if !c.ready {
		return 0, rawsock.Meta{}, rawsock.ErrNoPacket
	}
	c.ready = false
	return copy(b, c.reply), rawsock.Meta{Src: c.src, TTL: 64, KernelTime: time.Now()}, nil
}

// BenchmarkFlood is the loop's own work per probe of a flood, every
// probe answered at once by an in-memory socket: what ping spends beyond
// the system calls iputils makes too (go test -bench Flood ./ping).
func BenchmarkFlood(b *testing.B) {
	listen := func(cfg rawsock.ICMPConfig) (Conn, error) { return &echoConn{id: cfg.ID}, nil }
	b.ReportAllocs()
	var out bytes.Buffer
	err := Run(context.Background(), Options{Targets: []string{"198.18.0.1"}, Count: b.N, Flood: true, Quiet: true, Listen: listen}, &out, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
}
