package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// mptcpOption is tcpdump's text of a Multipath TCP option (RFC 8684,
// kind 30; print-mptcp.c): "mptcp LEN SUBTYPE ...". v is the option's
// data after kind and length; syn and ack are the segment's flags, which
// tell the option's forms apart.
func mptcpOption(v []byte, syn, ack bool) string {
	n := len(v) + 2
	if len(v) < 1 {
		return fmt.Sprintf("mptcp %d", n)
	}
	names := []string{"capable", "join", "dss", "add-addr", "rem-addr", "prio", "fail", "fast-close"}
	sub := int(v[0] >> 4)
	name := "unknown"
	if sub < len(names) {
		name = names[sub]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mptcp %d %s", n, name)
	if !mptcpDetail(&b, sub, v, n, syn, ack) {
		return b.String() + "[bad opt]"
	}
	return b.String()
}

// mptcpDetail writes a subtype's fields; false where the option's length
// does not fit its form.
func mptcpDetail(b *strings.Builder, sub int, v []byte, n int, syn, ack bool) bool {
	u64 := func(at int) uint64 { return binary.BigEndian.Uint64(v[at:]) }
	u32 := func(at int) uint32 { return binary.BigEndian.Uint32(v[at:]) }
	switch sub {
	case 0: // MP_CAPABLE
		if !(n == 4 || n == 12) || !syn {
			if !((n == 20 || n == 22) && ack && !syn) {
				return false
			}
		}
		ver := v[0] & 0xf
		if ver > 1 {
			fmt.Fprintf(b, " Unknown Version (%d)", ver)
			return true
		}
		fmt.Fprintf(b, " v%d", ver)
		if v[1]&0x80 != 0 {
			b.WriteString(" csum")
		}
		if n == 12 || n >= 20 {
			fmt.Fprintf(b, " {0x%x", u64(2))
			if n >= 20 {
				fmt.Fprintf(b, ",0x%x", u64(10))
			}
			b.WriteString("}")
		}
	case 1: // MP_JOIN
		switch {
		case n == 12 && syn && !ack, n == 16 && syn && ack, n == 24 && ack && !syn:
		default:
			return false
		}
		if n != 24 {
			if v[0]&1 != 0 {
				b.WriteString(" backup")
			}
			fmt.Fprintf(b, " id %d", v[1])
		}
		switch n {
		case 12:
			fmt.Fprintf(b, " token 0x%x nonce 0x%x", u32(2), u32(6))
		case 16:
			fmt.Fprintf(b, " hmac 0x%x nonce 0x%x", u64(2), u32(10))
		case 24:
			fmt.Fprintf(b, " hmac 0x%x", v[2:22])
		}
	case 2: // DSS
		if n < 4 || syn {
			return false
		}
		flags := v[1]
		rest := v[2:]
		take := func(size int) (uint64, bool) {
			if len(rest) < size {
				return 0, false
			}
			var x uint64
			for _, c := range rest[:size] {
				x = x<<8 | uint64(c)
			}
			rest = rest[size:]
			return x, true
		}
		if flags&0x10 != 0 {
			b.WriteString(" fin")
		}
		if flags&0x01 != 0 {
			size := 4
			if flags&0x02 != 0 {
				size = 8
			}
			x, ok := take(size)
			if !ok {
				return false
			}
			fmt.Fprintf(b, " ack %d", x)
		}
		if flags&0x04 != 0 {
			size := 4
			if flags&0x08 != 0 {
				size = 8
			}
			seq, ok1 := take(size)
			sub, ok2 := take(4)
			length, ok3 := take(2)
			if !ok1 || !ok2 || !ok3 {
				return false
			}
			fmt.Fprintf(b, " seq %d subseq %d len %d", seq, sub, length)
			if len(rest) >= 2 {
				csum, _ := take(2)
				fmt.Fprintf(b, " csum 0x%x", csum)
			}
		}
		return len(rest) == 0
	case 3: // ADD_ADDR: RFC 6824's (v0: the low bits are the IP
		// version) or RFC 8684's (v1: an echo flag, else an HMAC).
		low := v[0] & 0xf
		four, six := n == 8 || n == 10 || n == 16 || n == 18, n == 20 || n == 22 || n == 28 || n == 30
		switch {
		case low == 4 && (n == 8 || n == 10), low == 6 && (n == 20 || n == 22):
			fmt.Fprintf(b, " v0-ip%d", low)
		case low == 1 && (n == 8 || n == 10 || n == 20 || n == 22):
			b.WriteString(" v1-echo")
		case low == 0 && (n == 16 || n == 18 || n == 28 || n == 30):
			b.WriteString(" v1")
		default:
			return false
		}
		port := n == 10 || n == 18 || n == 22 || n == 30
		switch {
		case four:
			fmt.Fprintf(b, " id %d %s", v[1], netip.AddrFrom4([4]byte(v[2:6])))
			if port {
				fmt.Fprintf(b, ":%d", binary.BigEndian.Uint16(v[6:]))
			}
		case six:
			fmt.Fprintf(b, " id %d %s", v[1], netip.AddrFrom16([16]byte(v[2:18])))
			if port {
				fmt.Fprintf(b, ":%d", binary.BigEndian.Uint16(v[18:]))
			}
		}
		if low == 0 {
			fmt.Fprintf(b, " hmac 0x%x", u64(len(v)-8))
		}
	case 4: // REMOVE_ADDR
		if n < 4 {
			return false
		}
		b.WriteString(" id")
		for _, id := range v[1:] {
			fmt.Fprintf(b, " %d", id)
		}
	case 5: // MP_PRIO
		if n != 3 && n != 4 {
			return false
		}
		if v[0]&1 != 0 {
			b.WriteString(" backup")
		} else {
			b.WriteString(" non-backup")
		}
		if n == 4 {
			fmt.Fprintf(b, " id %d", v[1])
		}
	case 6: // MP_FAIL
		if n != 12 {
			return false
		}
		fmt.Fprintf(b, " seq %d", u64(2))
	case 7: // MP_FASTCLOSE
		if n != 12 {
			return false
		}
		fmt.Fprintf(b, " key 0x%x", u64(2))
	}
	return true
}
