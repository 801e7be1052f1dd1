package capture

import (
	"fmt"
	"testing"
)

// TestVerboseIPHeaders holds -v's IP header text, now built with strconv,
// to fmt's formatting of the same fields (tcpdump's format strings).
func TestVerboseIPHeaders(t *testing.T) {
	v4 := func(tos byte, frag uint16, ttl, proto byte, badSum bool) []byte {
		h := []byte{0x45, tos, 0, 40, 0x12, 0x34, byte(frag >> 8), byte(frag), ttl, proto, 0, 0, 198, 18, 0, 1, 198, 18, 1, 2}
		sum := ^onesSum(0, h)
		if badSum {
			sum ^= 0x0101
		}
		h[10], h[11] = byte(sum>>8), byte(sum)
		return h
	}
	for _, c := range []struct {
		nh   []byte
		want string
	}{
		{v4(0, 0x4000, 64, 6, false), "IP (tos 0x0, ttl 64, id 4660, offset 0, flags [DF], proto TCP (6), length 40)\n    x"},
		{v4(0xb9, 0x2003, 1, 17, false), "IP (tos 0xb9,ECT(1), ttl 1, id 4660, offset 24, flags [+], proto UDP (17), length 40)\n    x"},
		{v4(3, 0xe000, 0, 1, false), "IP (tos 0x3,CE, id 4660, offset 0, flags [+, DF, rsvd], proto ICMP (1), length 40)\n    x"},
	} {
		if got := string(appendVerboseIP(nil, 0x800, c.nh, "IP x")); got != c.want {
			t.Errorf("\n got %q\nwant %q", got, c.want)
		}
	}
	bad := v4(2, 0, 64, 6, true)
	want := fmt.Sprintf("IP (tos 0x2,ECT(0), ttl 64, id 4660, offset 0, flags [none], proto TCP (6), length 40, bad cksum %x (->%x)!)\n    x",
		uint16(bad[10])<<8|uint16(bad[11]), shouldBe(bad, 10, 0))
	if got := string(appendVerboseIP(nil, 0x800, bad, "IP x")); got != want {
		t.Errorf("bad checksum:\n got %q\nwant %q", got, want)
	}
	v6 := make([]byte, 40)
	for _, c := range []struct {
		flow uint32
		want string
	}{
		{0, "IP6 (hlim 64, next-header UDP (17) payload length: 8) x"},
		{0x00a00005, "IP6 (class 0x0a, flowlabel 0x00005, hlim 64, next-header UDP (17) payload length: 8) x"},
		{0x0ff12345, "IP6 (class 0xff, flowlabel 0x12345, hlim 64, next-header UDP (17) payload length: 8) x"},
	} {
		v6[0], v6[1], v6[2], v6[3] = byte(c.flow>>24|0x60), byte(c.flow>>16), byte(c.flow>>8), byte(c.flow)
		v6[4], v6[5], v6[6], v6[7] = 0, 8, 17, 64
		if got := string(appendVerboseIP(nil, 0x86dd, v6, "IP6 x")); got != c.want {
			t.Errorf("flow %#x:\n got %q\nwant %q", c.flow, got, c.want)
		}
	}
}
