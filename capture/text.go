package capture

import (
	"fmt"
	"strings"
)

// Text protocols over TCP as tcpdump prints them without -v
// (util-print.c txtproto_print, print-http.c, print-ssh.c).

// httpMethods are the request names tcpdump recognises (print-http.c).
var httpMethods = map[string]bool{}

func init() {
	for _, m := range strings.Fields(`GET PUT COPY HEAD LOCK MOVE POLL POST BCOPY BMOVE MKCOL TRACE LABEL MERGE
		DELETE SEARCH UNLOCK REPORT UPDATE NOTIFY BDELETE CONNECT OPTIONS CHECKIN PROPFIND CHECKOUT CCM_POST
		SUBSCRIBE PROPPATCH BPROPFIND BPROPPATCH UNCHECKOUT MKACTIVITY MKWORKSPACE UNSUBSCRIBE RPC_CONNECT
		VERSION-CONTROL BASELINE-CONTROL`) {
		httpMethods[m] = true
	}
}

func printableASCII(c byte) bool { return c >= 0x20 && c < 0x7f }

// token reads the token at idx and skips the blanks after it; next is 0
// when there is no token (tcpdump's fetch_token).
func token(b []byte, idx int) (tok string, next int) {
	start := idx
	for ; idx < len(b); idx++ {
		c := b[idx]
		if c >= 0x80 {
			return "", 0
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			break
		}
		if !printableASCII(c) || idx-start+2 > 129 {
			return "", 0
		}
	}
	if idx == start {
		return "", 0
	}
	tok = string(b[start:idx])
	for ; idx < len(b); idx++ {
		c := b[idx]
		if c == '\r' || c == '\n' || !printableASCII(c) || c != ' ' && c != '\t' {
			break
		}
	}
	return tok, idx
}

// firstLine is tcpdump's print_txt_line for the first line: the line
// without its end, and whether the line ended in b (else tcpdump marks
// it cut short); ok is false for what is not a text line.
func firstLine(b []byte) (line string, ended, ok bool) {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\n':
			return string(b[:i]), true, true
		case c == '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return "", false, false
			}
			return string(b[:i]), true, true
		case !printableASCII(c) && c != '\t':
			return "", false, false
		}
	}
	return string(b), false, true
}

// txtLines is tcpdump -v's text of a text protocol: every line of the
// segment, each on its own line after a tab, up to what is not text;
// a last line without its end is marked cut short (util-print.c,
// print_txt_line).
func txtLines(b []byte, proto string) string {
	var out strings.Builder
	start := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\n':
			out.WriteString("\n\t" + string(b[start:i]))
			start = i + 1
		case c == '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return out.String()
			}
			out.WriteString("\n\t" + string(b[start:i]))
			i++
			start = i + 1
		case !printableASCII(c) && c != '\t':
			return out.String()
		}
	}
	if start < len(b) {
		out.WriteString("\n\t" + string(b[start:]) + " [|" + proto + "]")
	}
	return out.String()
}

// httpText is what tcpdump adds after ", length N" for a segment of
// port 80 or 8080: ": HTTP", and the request or status line when the
// segment starts one; with -v every line of the segment.
func httpText(b []byte, verbose bool) string {
	text := ": HTTP"
	tok, next := token(b, 0)
	show := next != 0 && httpMethods[strings.ToUpper(tok)]
	if next != 0 {
		// The status code is the second token of a response.
		if code, n := token(b, next); n != 0 && len(code) == 3 && isDigit(code[0]) && isDigit(code[1]) && isDigit(code[2]) {
			show = true
		}
	}
	if !show {
		// A body's or a request's continuation: the protocol alone,
		// with -v too.
		return text
	}
	if verbose {
		return fmt.Sprintf(": HTTP, length: %d", len(b)) + txtLines(b, "http")
	}
	line, ended, ok := firstLine(b)
	switch {
	case !ok:
		return text
	case !ended:
		return text + ": " + line + " [|http]"
	}
	return text + ": " + line
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// sshText is tcpdump's text for a segment of port 22: the version line
// that opens an SSH connection (RFC 4253 4.2), or nothing.
func sshText(b []byte) string {
	if len(b) < 4 || string(b[:4]) != "SSH-" {
		return ""
	}
	for i := 4; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\n':
			return ": SSH: " + string(b[:i])
		case c == '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				return ": SSH: " + string(b[:i])
			}
			return ""
		case !printableASCII(c):
			return ""
		}
	}
	return ""
}
