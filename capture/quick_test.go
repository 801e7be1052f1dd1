package capture

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// -q: TCP and UDP by their lengths alone, the DNS query too; ICMP as
// without it (tcpdump's print-tcp.c and print-udp.c under ndo_qflag).
func TestQuickLines(t *testing.T) {
	out, stderr, err := capture(t, &fakeSource{queue: packets(threePackets(t))}, Options{Count: 3, Stamps: 1, Quick: 1})
	if err != nil {
		t.Fatalf("%v %s", err, stderr)
	}
	want := "IP 198.18.0.1.40000 > 198.18.0.2.53: UDP, length 29\n" +
		"IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 7, seq 1, length 12\n" +
		"IP 198.18.0.1.40001 > 198.18.0.2.80: tcp 0\n"
	if out != want {
		t.Errorf("-q lines:\n%s\nwant:\n%s", out, want)
	}
}

// -A leaves out a CR before an LF and shows any other as '.'; -v's
// HTTP lines are a request's or a response's, not a body's.
func TestASCIIAndHTTPText(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	asciiDump(w, []byte("GET / HTTP/1.0\r\n\r\na\rb\r"))
	w.Flush()
	if got, want := b.String(), "GET / HTTP/1.0\n\na.b.\n"; got != want {
		t.Errorf("-A: %q, want %q", got, want)
	}
	if got := httpText([]byte("\r\n"), true); got != ": HTTP" {
		t.Errorf("-v, a segment of CR LF: %q, want \": HTTP\"", got)
	}
	if got := httpText([]byte("GET / HTTP/1.0\r\n\r\n"), true); !strings.HasPrefix(got, ": HTTP, length: 18\n\tGET / HTTP/1.0") {
		t.Errorf("-v, a request: %q", got)
	}
}
