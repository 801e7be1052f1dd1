package filter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// node is a boolean expression.
type node interface{}

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }

// prim is a primitive such as "src host 198.18.0.1" or "tcp".
type prim struct {
	proto string // ether ip ip6 arp rarp tcp udp sctp icmp icmp6, or ""
	dir   string // src dst "src or dst" "src and dst", or ""
	kind  string // host net port portrange proto broadcast multicast less greater vlan, or "" for a bare protocol
	want  []byte // host, net: the address, under mask (4 or 16 bytes)
	mask  []byte
	mac   [6]byte
	lo    uint32 // port, portrange start, protocol number, length, vlan id
	hi    uint32
	hasID bool   // vlan with an id
	sub   string // llc: the frame kind (i, s, u, rr, ui ...)
	enc   encap  // the encapsulations before this primitive (vlan, mpls, pppoes)
}

// rel is a relation between two arithmetic expressions.
type rel struct {
	op   string
	l, r arith
}

type arith interface{}

type numArith struct{ v uint32 }
type lenArith struct{}
type loadArith struct {
	proto string
	off   arith
	size  int
	enc   encap
}
type binArith struct {
	op   string
	l, r arith
}

type parser struct {
	toks []token
	i    int
	last prim // the qualifiers a bare value inherits
	enc  encap
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) errorf(format string, args ...any) error {
	t := p.peek()
	where := "at the end"
	if t.kind != tEOF {
		where = fmt.Sprintf("at %q (offset %d)", t.text, t.pos)
	}
	return fmt.Errorf("filter: %s %s", fmt.Sprintf(format, args...), where)
}

func parse(expr string) (node, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, nil // the empty expression accepts everything
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, p.errorf("unexpected")
	}
	return n, nil
}

func (p *parser) isAnd() bool { t := p.peek(); return t.text == "and" || t.text == "&&" }
func (p *parser) isOr() bool  { t := p.peek(); return t.text == "or" || t.text == "||" }

// parseOr parses "a and b or c ...": and and or bind alike, left to
// right, as in pcap-filter(7).
func (p *parser) parseOr() (node, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.isAnd() || p.isOr() {
		and := p.isAnd()
		p.next()
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if and {
			l = andNode{l, r}
		} else {
			l = orNode{l, r}
		}
	}
	return l, nil
}

func (p *parser) parseUnary() (node, error) {
	t := p.peek()
	if t.text == "not" || t.text == "!" {
		p.next()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	// A relation, if what follows parses as one.
	save := p.i
	if r, err := p.parseRel(); err == nil {
		return r, nil
	}
	p.i = save
	if t.text == "(" {
		p.next()
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.next().text != ")" {
			p.i--
			return nil, p.errorf("missing )")
		}
		return n, nil
	}
	return p.parsePrim()
}

var relOps = map[string]string{"=": "==", "==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

func (p *parser) parseRel() (node, error) {
	l, err := p.parseArith(0)
	if err != nil {
		return nil, err
	}
	op, ok := relOps[p.peek().text]
	if !ok {
		return nil, p.errorf("expected a comparison")
	}
	p.next()
	r, err := p.parseArith(0)
	if err != nil {
		return nil, err
	}
	return rel{op, l, r}, nil
}

// Arithmetic precedence, loosest first (C's, as libpcap's grammar).
var arithLevels = [][]string{{"|"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/"}}

func (p *parser) parseArith(level int) (arith, error) {
	if level == len(arithLevels) {
		return p.parseArithPrimary()
	}
	l, err := p.parseArith(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek().text
		if p.peek().kind != tOp || !contains(arithLevels[level], op) {
			return l, nil
		}
		p.next()
		r, err := p.parseArith(level + 1)
		if err != nil {
			return nil, err
		}
		l = binArith{op, l, r}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var loadProtos = map[string]bool{"ether": true, "ip": true, "ip6": true, "tcp": true, "udp": true, "icmp": true, "sctp": true, "arp": true, "rarp": true, "icmp6": true,
	"igmp": true, "igrp": true, "pim": true, "vrrp": true, "carp": true,
	"sca": true, "atalk": true, "decnet": true, "lat": true, "moprc": true, "mopdl": true}

func (p *parser) parseArithPrimary() (arith, error) {
	t := p.next()
	switch {
	case t.text == "(":
		a, err := p.parseArith(0)
		if err != nil {
			return nil, err
		}
		if p.next().text != ")" {
			return nil, p.errorf("missing )")
		}
		return a, nil
	case t.text == "-":
		x, err := p.parseArithPrimary()
		if err != nil {
			return nil, err
		}
		return binArith{"-", numArith{0}, x}, nil
	case t.text == "len" || t.text == "length":
		return lenArith{}, nil
	case t.kind == tWord && (loadProtos[t.text] || linkAliases[t.text]) && p.peek().text == "[":
		p.next()
		off, err := p.parseArith(0)
		if err != nil {
			return nil, err
		}
		size := 1
		if p.peek().text == ":" {
			p.next()
			s := p.next()
			switch s.text {
			case "1", "2", "4":
				size, _ = strconv.Atoi(s.text)
			default:
				return nil, p.errorf("the size of a load must be 1, 2 or 4")
			}
		}
		if p.next().text != "]" {
			return nil, p.errorf("missing ]")
		}
		proto := t.text
		if linkAliases[proto] {
			proto = "ether" // link[] is the link-layer header, whatever it is
		}
		return loadArith{proto: proto, off: off, size: size, enc: p.enc}, nil
	case t.kind == tWord:
		if v, ok := constants[t.text]; ok {
			return numArith{v}, nil
		}
		v, err := parseNum(t.text)
		if err != nil {
			return nil, fmt.Errorf("filter: %q is not a number", t.text)
		}
		return numArith{v}, nil
	}
	return nil, fmt.Errorf("filter: unexpected %q in an expression", t.text)
}

// constants are pcap-filter's named offsets and values.
var constants = map[string]uint32{
	"tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
	"icmptype": 0, "icmpcode": 1, "icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4,
	"icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10,
	"icmp-timxceed": 11, "icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14,
	"icmp-ireq": 15, "icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1, "icmp6-destinationunreach": 1, "icmp6-packettoobig": 2,
	"icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131, "icmp6-multicastlistenerdone": 132,
	"icmp6-routersolicit": 133, "icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136,
	"icmp6-redirect": 137, "icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139, "icmp6-nodeinformationresponse": 140,
	"icmp6-ineighbordiscoverysolicit": 141, "icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
	"icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145, "icmp6-mobileprefixsolicit": 146,
	"icmp6-mobileprefixadvert": 147, "icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152, "icmp6-multicastrouterterm": 153,
}

func parseNum(s string) (uint32, error) {
	base := 10
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	v, err := strconv.ParseUint(s, base, 32)
	return uint32(v), err
}

var protoNames = map[string]bool{"ether": true, "ip": true, "ip6": true, "arp": true, "rarp": true, "tcp": true, "udp": true, "sctp": true, "icmp": true, "icmp6": true}

// etherProtoNumbers are the names "ether proto NAME" takes (a name that
// is also a keyword written \NAME), with their ethertypes, and the LLC
// SAPs of the protocols carried in 802.2 frames (libpcap's eproto_db and
// llc_db).
var etherProtoNumbers = map[string]uint32{"ip": 0x800, "ip6": 0x86dd, "arp": 0x806, "rarp": 0x8035, "atalk": 0x809b,
	"aarp": 0x80f3, "decnet": 0x6003, "sca": 0x6007, "lat": 0x6004, "mopdl": 0x6001, "moprc": 0x6002, "loopback": 0x9000,
	"iso": sapISO, "stp": sapSTP, "ipx": sapIPX, "netbeui": sapNetBEUI}

var protoNumbers = map[string]uint32{"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "ipv6": 41, "gre": 47, "esp": 50, "ah": 51, "icmp6": 58, "pim": 103, "vrrp": 112, "sctp": 132}

// isoProtoNumbers are the names "iso proto \NAME" takes.
var isoProtoNumbers = map[string]uint32{"clnp": isoCLNP, "esis": isoESIS, "isis": isoISIS}

// linkAliases are the names libpcap takes for the link layer, whatever it
// is: "ppp host" on Ethernet is "ether host".
var linkAliases = map[string]bool{"link": true, "ether": true, "fddi": true, "tr": true, "wlan": true, "ppp": true, "slip": true}

// linkProtoKeywords stand alone for a link-layer protocol.
var linkProtoKeywords = map[string]uint32{"atalk": etherAtalk, "aarp": etherAARP, "decnet": 0x6003, "lat": 0x6004,
	"sca": 0x6007, "moprc": 0x6002, "mopdl": 0x6001, "ipx": sapIPX, "netbeui": sapNetBEUI, "pppoed": 0x8863, "stp": sapSTP}

// isoKeywords stand alone for ISO network-layer protocols and IS-IS PDUs.
var isoKeywords = map[string]string{"iso": "iso", "clnp": "clnp", "esis": "esis", "es-is": "esis", "isis": "isis", "is-is": "isis",
	"l1": "l1", "l2": "l2", "iih": "iih", "lsp": "lsp", "snp": "snp", "csnp": "csnp", "psnp": "psnp"}

// parsePrim parses a primitive: qualifiers and a value, or a keyword.
func (p *parser) parsePrim() (node, error) {
	var q prim
	q.enc = p.enc
	t := p.peek()
	switch t.text {
	case "broadcast", "multicast":
		p.next()
		return prim{kind: t.text, proto: "ether", enc: p.enc}, nil
	case "inbound", "outbound":
		p.next()
		return prim{kind: t.text, enc: p.enc}, nil
	case "llc":
		p.next()
		q := prim{kind: "llc", enc: p.enc}
		if n := p.peek(); n.kind == tWord && (!keywords[n.text] || llcSubtypes[n.text] != struct{ mask, val uint32 }{}) {
			if _, ok := llcSubtypes[n.text]; !ok {
				return nil, p.errorf("unknown LLC type name")
			}
			q.sub = p.next().text
		}
		return q, nil
	case "igmp", "pim", "vrrp", "carp", "ah", "esp", "igrp":
		// Protocols that stand alone as pcap-filter's abbreviations of
		// "ip proto N" (and "ip6 proto N" where IPv6 carries them).
		p.next()
		return prim{proto: t.text, enc: p.enc}, nil
	case "less", "greater":
		p.next()
		n, err := parseNum(p.next().text)
		if err != nil {
			return nil, p.errorf("%s needs a length", t.text)
		}
		return prim{kind: t.text, lo: n}, nil
	case "geneve":
		p.next()
		v := prim{kind: "geneve", enc: p.enc}
		if n, err := parseNum(p.peek().text); err == nil && p.peek().kind == tWord {
			p.next()
			if n > 0xffffff {
				return nil, fmt.Errorf("filter: Geneve VNI %d greater than maximum 16777215", n)
			}
			v.lo, v.hasID = n, true
		}
		p.enc.geneve = true
		return v, nil
	case "mpls", "pppoes":
		p.next()
		v := prim{kind: t.text, enc: p.enc}
		if n, err := parseNum(p.peek().text); err == nil && p.peek().kind == tWord {
			p.next()
			if t.text == "mpls" && n > 0xfffff {
				return nil, fmt.Errorf("filter: MPLS label %d greater than maximum 1048575", n)
			}
			if t.text == "pppoes" && n > 0xffff {
				return nil, fmt.Errorf("filter: PPPoE session number %d greater than maximum 65535", n)
			}
			v.lo, v.hasID = n, true
		}
		if t.text == "mpls" {
			p.enc.mpls++
		} else {
			if p.enc.mpls > 0 {
				return nil, fmt.Errorf("filter: unsupported protocol over mpls")
			}
			p.enc.pppoe = true
		}
		return v, nil
	case "vlan":
		p.next()
		v := prim{kind: "vlan", enc: p.enc}
		if n, err := parseNum(p.peek().text); err == nil && p.peek().kind == tWord {
			p.next()
			if n > 4095 {
				return nil, p.errorf("VLAN id %d out of range", n)
			}
			v.lo, v.hasID = n, true
		}
		p.enc.vlans++
		return v, nil
	}
	if nx := p.toks[min(p.i+1, len(p.toks)-1)].text; t.text == "decnet" && (nx == "src" || nx == "dst" || nx == "host") {
		// DECnet addresses: "decnet src 50.764".
		q.proto = p.next().text
	} else if v, ok := linkProtoKeywords[t.text]; ok {
		p.next()
		return prim{kind: "linkproto", lo: v, enc: p.enc}, nil
	}
	if name, ok := isoKeywords[t.text]; ok {
		p.next()
		q := prim{kind: "iso", proto: name, enc: p.enc}
		if (name == "iso" || name == "isis") && p.peek().text == "proto" {
			p.next()
			return p.protoValue(q)
		}
		return q, nil
	}
	if linkAliases[t.text] {
		p.toks[p.i].text, t.text = "ether", "ether"
	}
	if t.text == "byte" {
		// "byte N op V": the byte at offset N of the packet, as
		// libpcap's gen_byteop (op = < > & |; & and | test the value
		// already in the accumulator, as libpcap's code does).
		p.next()
		idx, err1 := parseNum(p.next().text)
		op := p.next()
		val, err2 := parseNum(p.next().text)
		if err1 != nil || err2 != nil || !strings.Contains("= == < > & |", op.text) || op.kind != tOp || op.text == " " {
			p.i--
			return nil, p.errorf("byte takes an offset, one of = < > & | and a value")
		}
		return prim{kind: "byte", lo: idx, hi: val, sub: op.text}, nil
	}
	if t.text == "ifindex" {
		p.next()
		n, err := parseNum(p.peek().text)
		if err != nil || p.peek().kind != tWord {
			return nil, p.errorf("ifindex needs an interface index")
		}
		p.next()
		return prim{kind: "ifindex", lo: n}, nil
	}
	if q.proto == "decnet" {
	} else if protoNames[t.text] {
		q.proto = p.next().text
		switch p.peek().text {
		case "broadcast", "multicast":
			if q.proto != "ether" && q.proto != "ip" && !(q.proto == "ip6" && p.peek().text == "multicast") {
				return nil, p.errorf("%s %s is not supported", q.proto, p.peek().text)
			}
			p.next()
			q.kind = p.toks[p.i-1].text
			return q, nil
		case "proto":
			p.next()
			return p.protoValue(q)
		case "protochain":
			p.next()
			return p.protochainValue(q)
		}
	}
	if p.peek().text == "src" || p.peek().text == "dst" {
		q.dir = p.next().text
		if (p.peek().text == "or" || p.peek().text == "and") && (p.toks[p.i+1].text == "src" || p.toks[p.i+1].text == "dst") {
			q.dir = "src " + p.next().text + " dst"
			p.next()
		}
	}
	switch p.peek().text {
	case "host", "net", "port", "portrange":
		q.kind = p.next().text
	case "proto":
		if q.dir != "" {
			return nil, p.errorf("proto takes no direction")
		}
		p.next()
		return p.protoValue(q)
	case "protochain":
		if q.dir != "" {
			return nil, p.errorf("protochain takes no direction")
		}
		p.next()
		return p.protochainValue(q)
	}
	if q.kind == "" && q.dir == "" && q.proto != "" {
		// A bare protocol ("tcp"), unless a value follows ("ip 198.18.0.1"
		// is not pcap-filter).
		return q, nil
	}
	if q.kind == "" && q.dir == "" && q.proto == "" {
		// A bare value inherits the qualifiers before it: "host a or b".
		if p.last.kind == "" {
			return nil, p.errorf("unknown or unsupported keyword")
		}
		if p.last.kind == "proto" || p.last.kind == "iso" && p.last.hasID {
			// "isis proto 0x1a or 0x18"
			return p.protoValue(p.last)
		}
		q.proto, q.dir, q.kind = p.last.proto, p.last.dir, p.last.kind
	}
	if q.kind == "" {
		q.kind = "host"
	}
	// "src not 1.1": libpcap's grammar takes a negated value.
	negated := false
	for p.peek().text == "not" || p.peek().text == "!" {
		p.next()
		negated = !negated
	}
	if err := p.value(&q); err != nil {
		return nil, err
	}
	p.last = q
	if negated {
		return notNode{q}, nil
	}
	return q, nil
}

// UsesLinkHeader reports whether expr looks at the link-layer header
// itself (its addresses, type field, tags or bytes), not only at what it
// carries.
func UsesLinkHeader(expr string) bool {
	n, err := parse(expr)
	if err != nil {
		return false
	}
	var walk func(n node) bool
	var arithUses func(a arith) bool
	arithUses = func(a arith) bool {
		switch a := a.(type) {
		case loadArith:
			return a.proto == "ether" || arithUses(a.off)
		case binArith:
			return arithUses(a.l) || arithUses(a.r)
		}
		return false
	}
	walk = func(n node) bool {
		switch n := n.(type) {
		case andNode:
			return walk(n.l) || walk(n.r)
		case orNode:
			return walk(n.l) || walk(n.r)
		case notNode:
			return walk(n.x)
		case rel:
			return arithUses(n.l) || arithUses(n.r)
		case prim:
			switch n.kind {
			case "broadcast", "multicast", "inbound", "outbound", "llc", "vlan", "ifindex", "byte":
				return n.proto == "ether" || n.proto == ""
			}
			return n.proto == "ether"
		}
		return false
	}
	return walk(n)
}

func (p *parser) protoValue(q prim) (node, error) {
	t := p.next()
	iso := q.kind == "iso"
	if !iso {
		q.kind = "proto"
	}
	// Protocol names after "proto" that are keywords are written \tcp,
	// \udp ... (pcap-filter(7)).
	name, escaped := strings.CutPrefix(t.text, "\\")
	if escaped || t.kind == tWord && !keywords[name] {
		table := protoNumbers
		switch {
		case q.proto == "ether":
			table = etherProtoNumbers
		case iso:
			table = isoProtoNumbers
		}
		if n, ok := table[name]; ok {
			q.lo, q.hasID = n, true
			p.last = q
			return q, nil
		}
		if n, ok := ipProtocol(name); ok && !iso && q.proto != "ether" {
			q.lo = n
			return q, nil
		}
	}
	q.hasID = true
	n, err := parseNum(t.text)
	if err != nil || q.proto == "ether" && n > 0xffff {
		p.i--
		return nil, p.errorf("bad protocol")
	}
	q.lo = n
	p.last = q
	return q, nil
}

// value reads the host, net or port of q.
func (p *parser) value(q *prim) error {
	t := p.next()
	if t.kind != tWord {
		p.i--
		return p.errorf("expected a %s", q.kind)
	}
	switch q.kind {
	case "host", "net":
		if q.proto == "decnet" {
			if q.kind == "net" {
				return fmt.Errorf("filter: decnet net is not valid")
			}
			a, err := decnetAddress(t.text)
			if err != nil {
				return err
			}
			q.lo = a
			return nil
		}
		if q.proto == "ether" {
			if q.kind == "net" {
				return fmt.Errorf("filter: ether net is not valid (ether takes host, src, dst)")
			}
			hw, err := parseMAC(t.text)
			if err != nil {
				return err
			}
			q.mac = hw
			return nil
		}
		return p.address(q, t)
	case "port", "portrange":
		lo, hi, proto, err := portValue(t.text, q.kind == "portrange")
		if err != nil {
			return err
		}
		if proto != "" {
			// A service name defined for one protocol only matches it.
			if q.proto != "" && q.proto != proto {
				return fmt.Errorf("filter: port '%s' is %s", t.text, proto)
			}
			q.proto = proto
		}
		q.lo, q.hi = lo, hi
	}
	return nil
}

// portValue reads a port, or a range a-b (a single port is a range
// too), of numbers or service names.
func portValue(s string, isRange bool) (lo, hi uint32, proto string, err error) {
	if n, ok := portNumber(s); ok {
		return n, n, "", nil
	}
	if n, proto, ok := servicePort(s); ok {
		return n, n, proto, nil
	}
	if isRange {
		// A name may hold a dash itself: try every split.
		for i := 0; i < len(s); i++ {
			if s[i] != '-' {
				continue
			}
			a, pa, ok1 := portOrService(s[:i])
			b, pb, ok2 := portOrService(s[i+1:])
			if !ok1 || !ok2 {
				continue
			}
			if pa != pb {
				pa = ""
			}
			return min(a, b), max(a, b), pa, nil
		}
		return 0, 0, "", fmt.Errorf("filter: bad port range %q", s)
	}
	return 0, 0, "", fmt.Errorf("filter: bad port %q", s)
}

func portOrService(s string) (uint32, string, bool) {
	if n, ok := portNumber(s); ok {
		return n, "", true
	}
	return servicePort(s)
}

func portNumber(s string) (uint32, bool) {
	n, err := parseNum(s)
	return n, err == nil && n <= 65535
}

// parseMAC reads the forms pcap-filter(7) takes: six groups of one or two
// hex digits separated by ':', '-' or '.', three groups of four
// separated by '.', or twelve hex digits.
func parseMAC(s string) ([6]byte, error) {
	var hw [6]byte
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' || r == '.' })
	whole := strings.Join(parts, "")
	if len(parts) == 1 && len(whole) == 12 || len(parts) == 3 && len(whole) == 12 && strings.Count(s, ".") == 2 {
		parts = nil
		for i := 0; i < 12; i += 2 {
			parts = append(parts, whole[i:i+2])
		}
	}
	if len(parts) != 6 {
		return hw, fmt.Errorf("filter: %q is not a MAC address", s)
	}
	for i, part := range parts {
		v, err := strconv.ParseUint(part, 16, 8)
		if err != nil {
			return hw, fmt.Errorf("filter: %q is not a MAC address", s)
		}
		hw[i] = byte(v)
	}
	return hw, nil
}

// address reads the IP address or network of a host or net primitive,
// as libpcap's grammar has them: an IPv6 address with an optional /len;
// a dotted IPv4 address of one to four numbers (a short one is a network
// even after host: "host 198.18" is 198.18.0.0/16), with /len or mask
// M; or a single number, the whole address (a net of a short number is
// promoted: "net 10" is 10.0.0.0/8).
func (p *parser) address(q *prim, t token) error {
	text := t.text
	// "/len" may stand apart: "10.0.0.2/ 32", "10.0.0.2 / 32".
	bits := -1
	slash := strings.HasSuffix(text, "/")
	text = strings.TrimSuffix(text, "/")
	if !slash && p.peek().text == "/" {
		p.next()
		slash = true
	}
	if a, b, found := strings.Cut(text, "/"); found {
		text, slash = a, true
		if b == "" {
			return fmt.Errorf("filter: bad network %q", t.text)
		}
		p.toks = append(p.toks[:p.i], append([]token{{tWord, b, t.pos + len(a) + 1}}, p.toks[p.i:]...)...)
	}
	if slash {
		n := p.next()
		v, err := parseNum(n.text)
		if err != nil || n.kind != tWord {
			return fmt.Errorf("filter: bad mask length %q after %q", n.text, text)
		}
		bits = int(min(v, 1<<16))
	}
	if strings.Contains(text, ":") {
		a, err := netip.ParseAddr(text)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("filter: %q is not an IP address (host names are not resolved)", text)
		}
		if q.proto != "" && q.proto != "ip6" {
			return fmt.Errorf("filter: %s %s with an IPv6 address", q.proto, q.kind)
		}
		if bits < 0 {
			bits = 128
		}
		if bits > 128 {
			return fmt.Errorf("filter: mask length must be <= 128")
		}
		if q.kind == "host" && bits != 128 {
			return fmt.Errorf("filter: mask syntax for networks only (%q)", t.text)
		}
		pf := netip.PrefixFrom(a, bits)
		if pf.Masked() != pf {
			return fmt.Errorf("filter: non-network bits set in \"%s/%d\"", text, bits)
		}
		q.want, q.mask = a.AsSlice(), prefixMask(16, bits)
		return nil
	}
	var v uint32
	vbits := 32
	if strings.Contains(text, ".") {
		var ok bool
		if v, vbits, ok = dotted(text); !ok {
			return fmt.Errorf("filter: %q is not an IP address (host names are not resolved)", text)
		}
		v <<= 32 - vbits
	} else {
		n, err := parseNum(text)
		if err != nil {
			return fmt.Errorf("filter: %q is not an IP address (host names are not resolved)", text)
		}
		if slash || p.peek().text == "mask" {
			return fmt.Errorf("filter: a network is written with dots before /len or mask: %q", text)
		}
		v = n
		if q.kind == "net" {
			// A short net number is promoted: 10 is 10.0.0.0/8.
			vbits = 32
			for v != 0 && v&0xff000000 == 0 {
				v, vbits = v<<8, vbits-8
			}
		}
	}
	if q.proto == "ip6" {
		return fmt.Errorf("filter: ip6 %s with an IPv4 address", q.kind)
	}
	mask := ^uint32(0) << (32 - vbits)
	if vbits == 0 {
		mask = 0
	}
	switch {
	case bits >= 0:
		if q.kind != "net" {
			return fmt.Errorf("filter: mask syntax for networks only (%q)", t.text)
		}
		if bits > 32 {
			return fmt.Errorf("filter: mask length must be <= 32")
		}
		mask = 0
		if bits > 0 {
			mask = ^uint32(0) << (32 - bits)
		}
	case p.peek().text == "mask":
		if q.kind != "net" {
			return p.errorf("mask syntax for networks only")
		}
		p.next()
		mt := p.next().text
		m, mb, ok := dotted(mt)
		if !ok || !strings.Contains(mt, ".") {
			p.i--
			return p.errorf("bad mask")
		}
		mask = m << (32 - mb)
	}
	if v&^mask != 0 {
		return fmt.Errorf("filter: non-network bits set in %q", t.text)
	}
	q.want = binary.BigEndian.AppendUint32(nil, v)
	q.mask = binary.BigEndian.AppendUint32(nil, mask)
	return nil
}

// dotted reads one to four dot-separated decimal numbers, each below 256,
// as libpcap's __pcap_atoin: their value and 8 bits a number.
func dotted(s string) (uint32, int, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return 0, 0, false
	}
	var v uint32
	for _, part := range parts {
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil || n > 255 {
			return 0, 0, false
		}
		v = v<<8 | uint32(n)
	}
	return v, 8 * len(parts), true
}

// prefixMask is a mask of n bytes with the first bits set.
func prefixMask(n, bits int) []byte {
	m := make([]byte, n)
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// decnetAddress reads a DECnet address, area.node (area up to 63, node
// up to 1023), or a number, as libpcap's __pcap_atodn.
func decnetAddress(s string) (uint32, error) {
	if !strings.Contains(s, ".") {
		n, err := parseNum(s)
		if err != nil || n > 0xffff {
			return 0, fmt.Errorf("filter: malformed decnet address %q", s)
		}
		return n, nil
	}
	a, b, _ := strings.Cut(s, ".")
	area, err1 := strconv.ParseUint(a, 10, 32)
	node, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil || area > 63 || node > 1023 {
		return 0, fmt.Errorf("filter: malformed decnet address %q", s)
	}
	return uint32(area<<10 | node), nil
}

// protochainValue reads "[ip|ip6] protochain N": the protocol found by
// following the IPv6 extension headers and AH.
func (p *parser) protochainValue(q prim) (node, error) {
	switch q.proto {
	case "", "ip", "ip6":
	default:
		return nil, fmt.Errorf("filter: bad protocol applied for 'protochain'")
	}
	n, err := p.protoValue(q)
	if err != nil {
		return nil, err
	}
	v := n.(prim)
	v.kind = "protochain"
	p.last = prim{}
	return v, nil
}
