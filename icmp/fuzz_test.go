package icmp

import (
	"testing"

	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

func FuzzParse(f *testing.F) {
	echo, _ := AppendEcho(nil, 4, 1, 2, []byte("abc"))
	f.Add(4, echo)
	echo6, _ := AppendEcho(nil, 6, 1, 2, []byte("abc"))
	f.Add(6, echo6)
	quote := append(ipv4Header(1, 1, 1, "198.18.0.2", "198.18.3.2", len(echo)), echo...)
	te, _ := (&xicmp.Message{Type: ipv4.ICMPTypeTimeExceeded, Body: &xicmp.TimeExceeded{Data: quote, Extensions: []xicmp.Extension{
		&xicmp.MPLSLabelStack{Class: 1, Type: 1, Labels: []xicmp.MPLSLabel{{Label: 3, S: true, TTL: 1}}}}}}).Marshal(nil)
	f.Add(4, te)
	f.Add(6, append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, ipv6Header(60, 1, "2001:db8::1", "2001:db8::2", 0)...))
	f.Fuzz(func(t *testing.T, family int, b []byte) {
		m, err := Parse(family, b)
		if err != nil {
			return
		}
		_ = m.Describe()
		_ = m.Annotation()
		m.Quote.QuotedEcho()
		m.Quote.Ports()
	})
}

func FuzzParseQuote(f *testing.F) {
	f.Add(ipv4Header(17, 1, 1, "198.18.0.1", "198.18.0.2", 0))
	f.Add(ipv6Header(0, 1, "2001:db8::1", "2001:db8::2", 0))
	f.Add(append(ipv6Header(44, 1, "2001:db8::1", "2001:db8::2", 8), 43, 0, 0, 0, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseQuote(b)
		if err != nil {
			return
		}
		q.QuotedEcho()
		q.Ports()
	})
}
