package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// DNS messages (RFC 1035) as tcpdump prints them without -v
// (print-domain.c): a query as "ID[+] [counts] TYPE? NAME", a response
// as "ID[flags] [counts] an/ns/ar TYPE DATA, ...".

// dnsTypes are tcpdump's names of resource record types.
var dnsTypes = map[uint16]string{1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR",
	10: "NULL", 11: "WKS", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP", 18: "AFSDB", 19: "X25",
	20: "ISDN", 21: "RT", 22: "NSAP", 23: "NSAP_PTR", 24: "SIG", 25: "KEY", 26: "PX", 27: "GPOS", 28: "AAAA", 29: "LOC",
	30: "NXT", 31: "EID", 32: "NIMLOC", 33: "SRV", 34: "ATMA", 35: "NAPTR", 36: "KX", 37: "CERT", 38: "A6", 39: "DNAME",
	40: "SINK", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY",
	49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP", 56: "NINFO", 57: "RKEY",
	58: "TALINK", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB", 65: "HTTPS",
	99: "SPF", 100: "UINFO", 101: "UID", 102: "GID", 103: "UNSPEC", 108: "EUI48", 109: "EUI64", 249: "TKEY",
	250: "TSIG", 251: "IXFR", 252: "AXFR", 253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI", 257: "CAA",
	258: "AVC", 259: "DOA", 260: "AMTRELAY", 32768: "TA", 32769: "DLV"}

var dnsClasses = map[uint16]string{1: "IN", 3: "CHAOS", 4: "HS", 255: "ANY"}

var dnsRcodes = []string{"", " FormErr", " ServFail", " NXDomain", " NotImp", " Refused", " YXDomain", " YXRRSet",
	" NXRRSet", " NotAuth", " NotZone", " Resp11", " Resp12", " Resp13", " Resp14", " Resp15"}

var dnsOpcodes = []string{"", " inv_q", " stat", " op3", " notify", " update", " op6", " op7", " op8", " updateA",
	" updateD", " updateDA", " updateM", " updateMA", " zoneInit", " zoneRef"}

func typeName(t uint16) string {
	if n, ok := dnsTypes[t]; ok {
		return n
	}
	return fmt.Sprintf("Type%d", t)
}

func className(c uint16) string {
	if n, ok := dnsClasses[c]; ok {
		return n
	}
	return fmt.Sprintf("(Class %d)", c)
}

// dnsTooShort is tcpdump's word for a DNS port's datagram of n bytes,
// too few for a DNS header.
func dnsTooShort(n int) string {
	return fmt.Sprintf("domain [length %d < 12] (invalid)", n)
}

// dnsText is the text of DNS message b, "" when b is too short to be
// one; mdns marks multicast DNS (port 5353), whose class words carry
// flags. What is cut short ends in tcpdump's " [|domain]".
func dnsText(b []byte, mdns bool) string {
	if len(b) < 12 {
		return ""
	}
	be := binary.BigEndian
	id, flags := be.Uint16(b[0:]), be.Uint16(b[2:])
	qd, an, ns, ar := be.Uint16(b[4:]), be.Uint16(b[6:]), be.Uint16(b[8:]), be.Uint16(b[10:])
	opcode := dnsOpcodes[flags>>11&0xf]
	var t strings.Builder
	off := 12
	trunc := func() string { return t.String() + " [|domain]" }
	if flags&0x8000 != 0 {
		fmt.Fprintf(&t, "%d%s%s", id, opcode, dnsRcodes[flags&0xf])
		if flags&0x0400 != 0 {
			t.WriteString("*")
		}
		if flags&0x0080 == 0 {
			t.WriteString("-")
		}
		if flags&0x0200 != 0 {
			t.WriteString("|")
		}
		if flags&0x0020 != 0 {
			t.WriteString("$")
		}
		if qd != 1 {
			fmt.Fprintf(&t, " [%dq]", qd)
		}
		for range qd {
			end, ok := skipName(b, off)
			if !ok || end+4 > len(b) {
				return trunc()
			}
			off = end + 4
		}
		fmt.Fprintf(&t, " %d/%d/%d", an, ns, ar)
		for i := range an {
			if i > 0 {
				t.WriteString(",")
			}
			var ok bool
			if off, ok = dnsRecord(&t, b, off, mdns); !ok {
				return trunc()
			}
		}
		return t.String()
	}
	fmt.Fprintf(&t, "%d%s", id, opcode)
	if flags&0x0100 != 0 {
		t.WriteString("+")
	}
	if flags&0x0010 != 0 {
		t.WriteString("%")
	}
	if flags&0x6cf != 0 {
		fmt.Fprintf(&t, " [b2&3=0x%x]", flags)
	}
	if flags>>11&0xf == 1 { // an inverse query
		if qd != 0 {
			fmt.Fprintf(&t, " [%dq]", qd)
		}
		if an != 1 {
			fmt.Fprintf(&t, " [%da]", an)
		}
	} else {
		if an != 0 {
			fmt.Fprintf(&t, " [%da]", an)
		}
		if qd != 1 {
			fmt.Fprintf(&t, " [%dq]", qd)
		}
	}
	if ns != 0 {
		fmt.Fprintf(&t, " [%dn]", ns)
	}
	if ar != 0 {
		fmt.Fprintf(&t, " [%dau]", ar)
	}
	for range qd {
		end, ok := skipName(b, off)
		if !ok || end+4 > len(b) {
			return trunc()
		}
		qtype, class := be.Uint16(b[end:]), be.Uint16(b[end+2:])
		fmt.Fprintf(&t, " %s", typeName(qtype))
		if mdns {
			if c := class &^ 0x8000; c != 1 {
				fmt.Fprintf(&t, " %s", className(c))
			}
			if class&0x8000 != 0 {
				t.WriteString(" (QU)")
			} else {
				t.WriteString(" (QM)")
			}
		} else if class != 1 {
			fmt.Fprintf(&t, " %s", className(class))
		}
		name, _ := readName(b, off)
		fmt.Fprintf(&t, "? %s", name)
		off = end + 4
	}
	return t.String()
}

// dnsRecord writes the resource record at off as " TYPE DATA" and returns
// the offset after it.
func dnsRecord(t *strings.Builder, b []byte, off int, mdns bool) (int, bool) {
	be := binary.BigEndian
	end, ok := skipName(b, off)
	if !ok || end+10 > len(b) {
		return off, false
	}
	typ, class := be.Uint16(b[end:]), be.Uint16(b[end+2:])
	flags := be.Uint16(b[end+6:]) // OPT: the extended flags in the TTL field
	n := int(be.Uint16(b[end+8:]))
	rd := end + 10
	c := class
	if mdns && typ != 41 {
		c = class &^ 0x8000
	}
	if c != 1 && typ != 41 {
		fmt.Fprintf(t, " %s", className(c))
	}
	if mdns && typ != 41 && class&0x8000 != 0 {
		t.WriteString(" (Cache flush)")
	}
	fmt.Fprintf(t, " %s", typeName(typ))
	if rd+n > len(b) {
		return off, false
	}
	data := b[rd : rd+n]
	switch typ {
	case 1:
		if n < 4 {
			return off, false
		}
		fmt.Fprintf(t, " %s", netip.AddrFrom4([4]byte(data)))
	case 28:
		if n < 16 {
			return off, false
		}
		fmt.Fprintf(t, " %s", netip.AddrFrom16([16]byte(data)))
	case 2, 5, 12, 39:
		name, ok := readName(b, rd)
		if !ok {
			return off, false
		}
		fmt.Fprintf(t, " %s", name)
	case 15:
		if n < 2 {
			return off, false
		}
		name, ok := readName(b, rd+2)
		if !ok {
			return off, false
		}
		fmt.Fprintf(t, " %s %d", name, be.Uint16(data))
	case 16:
		for i := 0; i < n; {
			l := int(data[i])
			if i+1+l > n {
				return off, false
			}
			fmt.Fprintf(t, " \"%s\"", printableText(data[i+1:i+1+l]))
			i += 1 + l
		}
	case 33:
		if n < 6 {
			return off, false
		}
		name, ok := readName(b, rd+6)
		if !ok {
			return off, false
		}
		fmt.Fprintf(t, " %s:%d %d %d", name, be.Uint16(data[4:]), be.Uint16(data), be.Uint16(data[2:]))
	case 41:
		fmt.Fprintf(t, " UDPsize=%d", class)
		if flags&0x8000 != 0 {
			t.WriteString(" DO")
		}
	}
	return rd + n, true
}

// skipName returns the offset after the (possibly compressed) name at off.
func skipName(b []byte, off int) (int, bool) {
	for off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			if off+2 > len(b) {
				return off, false
			}
			return off + 2, true
		case l&0xc0 != 0:
			return off, false // an extended label type: not read
		}
		off += 1 + l
	}
	return off, false
}

// readName reads the name at off, following compression pointers
// (RFC 1035 4.1.4), as "label.label." ("." for the root).
func readName(b []byte, off int) (string, bool) {
	var s strings.Builder
	for hops := 0; hops < 64 && off < len(b); {
		l := int(b[off])
		switch {
		case l == 0:
			if s.Len() == 0 {
				return ".", true
			}
			return s.String(), true
		case l&0xc0 == 0xc0:
			if off+2 > len(b) {
				return "", false
			}
			off = int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			hops++
			continue
		case l&0xc0 != 0 || off+1+l > len(b):
			return "", false
		}
		s.WriteString(printableText(b[off+1 : off+1+l]))
		s.WriteByte('.')
		off += 1 + l
	}
	return "", false
}

// printableText is b with what is not printable ASCII written as tcpdump
// writes it (\ddd).
func printableText(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, "\\%03d", c)
		}
	}
	return s.String()
}
