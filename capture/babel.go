package capture

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// babelText is the Babel routing protocol (RFC 8966, 8967; print-babel.c)
// as tcpdump prints it without -v: the version, the body's length and
// the name of each TLV, then " |" and the trailer's.
func babelText(b []byte) string {
	var t strings.Builder
	t.WriteString("babel")
	if len(b) < 4 {
		return t.String() + " [|babel]"
	}
	if b[0] != 42 {
		return t.String() + " invalid header"
	}
	fmt.Fprintf(&t, " %d", b[1])
	if b[1] != 2 {
		return t.String() + " unknown version"
	}
	body := int(binary.BigEndian.Uint16(b[2:]))
	fmt.Fprintf(&t, " (%d)", body)
	rest := b[4:]
	if len(rest) < body {
		return t.String() + " (invalid)"
	}
	if !babelTLVs(&t, rest[:body]) {
		return t.String() + " (invalid)"
	}
	if trailer := rest[body:]; len(trailer) > 0 {
		t.WriteString(" |")
		if !babelTLVs(&t, trailer) {
			return t.String() + " (invalid)"
		}
	}
	return t.String()
}

var babelNames = map[byte]string{1: "padN", 2: "ack-req", 3: "ack", 4: "hello", 5: "ihu", 6: "router-id", 7: "nh", 9: "route-request",
	10: "seqno-request", 11: "tspc", 12: "hmac", 13: "ss-update", 14: "ss-request", 15: "ss-mh-request", 16: "mac", 17: "pc",
	18: "challenge_request", 19: "challenge_reply"}

// babelTLVs writes the TLV names of b; false when one runs past it.
func babelTLVs(t *strings.Builder, b []byte) bool {
	for i := 0; i < len(b); {
		typ := b[i]
		if typ == 0 {
			t.WriteString(" pad1")
			i++
			continue
		}
		if i+2 > len(b) {
			return false
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return false
		}
		switch name, ok := babelNames[typ]; {
		case typ == 8:
			t.WriteString(" update")
			if n < 10 {
				return false
			}
			flags := b[i+3]
			if flags&0x80 != 0 {
				t.WriteString("/prefix")
			}
			if flags&0x40 != 0 {
				t.WriteString("/id")
			}
			if flags&0x3f != 0 {
				t.WriteString("/unknown")
			}
		case ok:
			t.WriteString(" " + name)
		default:
			t.WriteString(" unknown")
		}
		i += n + 2
	}
	return true
}
