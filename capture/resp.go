package capture

import (
	"strings"
)

// respText is the Redis protocol (RESP; print-resp.c) as tcpdump prints
// it: ": RESP" and each element, strings quoted, pipelined commands one
// after another; " [|resp]" where the segment ends inside one.
func respText(b []byte) string {
	var out strings.Builder
	out.WriteString(": RESP")
	for len(b) > 0 {
		n := respParse(&out, b)
		if n < 0 {
			out.WriteString(" [|resp]")
			break
		}
		b = b[n:]
	}
	return out.String()
}

// respParse writes one element and returns the bytes it took, -1 when
// the segment ends inside it.
func respParse(out *strings.Builder, b []byte) int {
	if len(b) == 0 {
		return -1
	}
	switch b[0] {
	case '+', ':', '-':
		end := crlf(b[1:])
		if end < 0 {
			return -1
		}
		respSegment(out, b[1:1+end])
		return 1 + end + 2
	case '$':
		n, used, code := respLength(b[1:])
		rest := b[1+used:]
		switch {
		case code == -2:
			return -1
		case code < 0:
			respOdd(out, code)
			return 1 + used
		case n == 0:
			out.WriteString(" empty")
		default:
			if len(rest) < n {
				return -1
			}
			respSegment(out, rest[:n])
			rest = rest[n:]
		}
		end := crlf(rest)
		if end < 0 {
			return -1
		}
		return len(b) - len(rest) + end + 2
	case '*':
		n, used, code := respLength(b[1:])
		taken := 1 + used
		switch {
		case code == -2:
			return -1
		case code < 0:
			respOdd(out, code)
			return taken
		case n == 0:
			out.WriteString(" empty")
			return taken
		}
		for i := 0; i < n; i++ {
			k := respParse(out, b[taken:])
			if k < 0 {
				return -1
			}
			taken += k
		}
		return taken
	}
	// An inline command: a line ended by CR, LF or both.
	i := 0
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
		i++
	}
	start := i
	for i < len(b) && b[i] != '\r' && b[i] != '\n' {
		i++
	}
	if i == len(b) {
		return -1
	}
	respSegment(out, b[start:i])
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

func crlf(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// respLength reads "<n>\r\n": n, the bytes used, and a code as
// print-resp.c's: -1 null, -2 cut short, -3 too large, -4 negative, -5
// invalid.
func respLength(b []byte) (n, used, code int) {
	i, neg := 0, false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	digits, large := 0, false
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if n > (1<<31-1)/10 {
			large = true
		} else {
			n = n*10 + int(b[i]-'0')
		}
		digits++
	}
	switch {
	case i >= len(b):
		return 0, i, -2
	case digits == 0 || b[i] != '\r':
		return 0, i + 1, -5
	case i+1 >= len(b):
		return 0, i + 1, -2
	case b[i+1] != '\n':
		return 0, i + 2, -5
	}
	used = i + 2
	switch {
	case neg && (large || n != 1):
		return 0, used, -4
	case neg:
		return -1, used, -1
	case large:
		return 0, used, -3
	}
	return n, used, 0
}

func respOdd(out *strings.Builder, code int) {
	out.WriteString(map[int]string{-1: " null", -3: " length too large", -4: " length negative and not -1"}[code])
	if code == -5 {
		out.WriteString(" invalid")
	}
}

// respSegment writes ` "text"`, unprintable bytes as tcpdump's
// fn_print writes them (M- for the high bit, ^ for control).
func respSegment(out *strings.Builder, b []byte) {
	out.WriteString(` "`)
	for _, c := range b {
		if c >= 0x80 {
			out.WriteString("M-")
			c &= 0x7f
		}
		if c < 0x20 || c == 0x7f {
			out.WriteByte('^')
			c ^= 0x40
		}
		out.WriteByte(c)
	}
	out.WriteByte('"')
}
