package rawsock

import (
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/icmp"
)

// listenOrSkip opens an ICMP socket; without the privilege it skips with
// the fix, except in CI, which runs as root and must run every test.
func listenOrSkip(t *testing.T, cfg ICMPConfig) *ICMPConn {
	t.Helper()
	c, err := ListenICMP(cfg)
	if errors.Is(err, os.ErrPermission) && os.Getenv("CI") != "true" {
		t.Skipf("needs CAP_NET_RAW (run as root, or setcap cap_net_raw+ep on the test binary): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func loopback(family int) netip.Addr {
	if family == 6 {
		return netip.IPv6Loopback()
	}
	return netip.MustParseAddr("127.0.0.1")
}

// readEcho reads until an echo reply arrives or the deadline passes.
func readEcho(t *testing.T, c *ICMPConn, wait time.Duration) (*icmp.Message, Meta, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1500)
	for {
		n, meta, err := c.ReadMsg(buf)
		if err != nil {
			return nil, meta, err
		}
		m, err := icmp.Parse(c.Family(), buf[:n])
		if err != nil {
			t.Fatalf("unparsable packet from %v: %v", meta.Src, err)
		}
		if m.Kind == icmp.KindEchoReply {
			return m, meta, nil
		}
	}
}

func defaultTTL(t *testing.T, family int) int {
	path := "/proc/sys/net/ipv4/ip_default_ttl"
	if family == 6 {
		path = "/proc/sys/net/ipv6/conf/lo/hop_limit"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRawEchoOnLoopback(t *testing.T) {
	for _, family := range []int{4, 6} {
		t.Run(map[int]string{4: "ipv4", 6: "ipv6"}[family], func(t *testing.T) {
			mine := listenOrSkip(t, ICMPConfig{Family: family, Mode: Privileged, ID: 0x4242, Options: Options{TTL: 33}})
			other := listenOrSkip(t, ICMPConfig{Family: family, Mode: Privileged, ID: 0x4343})
			b, _ := icmp.AppendEcho(nil, family, mine.ID(), 9, []byte("rawkit"))
			sent := time.Now()
			tx, err := mine.WriteToAddr(b, loopback(family))
			if err != nil {
				t.Fatal(err)
			}
			m, meta, err := readEcho(t, mine, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if m.ID != 0x4242 || m.Seq != 9 || string(m.Data) != "rawkit" {
				t.Errorf("reply %+v", m)
			}
			if meta.Src != loopback(family) {
				t.Errorf("source %v", meta.Src)
			}
			// The kernel answers with its default TTL, whatever ours was.
			if want := defaultTTL(t, family); meta.TTL != want {
				t.Errorf("ttl %d, want the kernel default %d", meta.TTL, want)
			}
			if meta.KernelTime.IsZero() || meta.KernelTime.Before(sent.Add(-time.Second)) || meta.KernelTime.After(time.Now()) {
				t.Errorf("kernel timestamp %v not between send %v and now", meta.KernelTime, sent)
			}
			// The transmit timestamp comes back with the send, before the
			// reply's receive timestamp.
			if tx.IsZero() || tx.After(meta.KernelTime) || tx.Before(sent.Add(-time.Second)) {
				t.Errorf("transmit timestamp %v, receive %v, send called at %v", tx, meta.KernelTime, sent)
			}
			// The other socket's filter drops a reply with a foreign id.
			if m, _, err := readEcho(t, other, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("socket with id 0x4343 got %+v, %v; want a timeout", m, err)
			}
		})
	}
}

// pingGroupAllows reports whether net.ipv4.ping_group_range admits our gid.
func pingGroupAllows(t *testing.T) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	return lo <= os.Getgid() && os.Getgid() <= hi
}

// Datagram sockets are governed by ping_group_range, for root too. The
// test does not change the host's sysctl: it checks the outcome the
// current setting implies (cmd/ping's lab tests cover both settings).
func TestDatagramEchoOnLoopback(t *testing.T) {
	c, err := ListenICMP(ICMPConfig{Family: 4, Mode: Unprivileged})
	if !pingGroupAllows(t) {
		var pe *PrivilegeError
		if !errors.As(err, &pe) || !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "ping_group_range") {
			t.Fatalf("ping_group_range excludes gid %d, yet: %v", os.Getgid(), err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Raw() || c.ID() == 0 {
		t.Fatalf("raw %v id %d", c.Raw(), c.ID())
	}
	b, _ := icmp.AppendEcho(nil, 4, 1, 3, nil)
	if _, err := c.WriteToAddr(b, loopback(4)); err != nil {
		t.Fatal(err)
	}
	m, meta, err := readEcho(t, c, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != c.ID() || m.Seq != 3 || meta.TTL <= 0 {
		t.Errorf("reply id %d (socket %d) seq %d ttl %d", m.ID, c.ID(), m.Seq, meta.TTL)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	c := listenOrSkip(t, ICMPConfig{Family: 4, ID: 0x7777})
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMsg(make([]byte, 100))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("read after close returned no error")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock ReadMsg")
	}
}

func TestBadConfig(t *testing.T) {
	if _, err := ListenICMP(ICMPConfig{Family: 5}); err == nil {
		t.Error("family 5 accepted")
	}
	c, err := ListenICMP(ICMPConfig{Family: 4, Options: Options{PMTU: "sometimes"}})
	if err == nil {
		c.Close()
		t.Error("bad PMTU mode accepted")
	}
}

// A read that does not wait returns at once while another goroutine
// waits in ReadMsg on the same socket (ping's loop and reader do this).
func TestTryReadMsgBesideAWaitingReader(t *testing.T) {
	c := listenOrSkip(t, ICMPConfig{Family: 4, Mode: Privileged, ID: 0x7171})
	defer c.Close()
	go func() {
		b := make([]byte, 1500)
		c.ReadMsg(b) // waits until Close
	}()
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, _, err := c.TryReadMsg(make([]byte, 1500))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNoPacket) {
			t.Errorf("TryReadMsg: %v, want ErrNoPacket", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("TryReadMsg waited for the reader")
	}
}
