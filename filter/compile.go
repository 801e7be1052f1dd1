package filter

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// LinkType is the link-layer header a filter's packets start with.
type LinkType int

// Link types (the names are libpcap's DLT_ names).
const (
	Ethernet  LinkType = iota // DLT_EN10MB
	LinuxSLL                  // DLT_LINUX_SLL: the cooked header of "any"
	RawIP                     // DLT_RAW: packets start at the IP header
	LinuxSLL2                 // DLT_LINUX_SLL2: the cooked header with the interface index
	Null                      // DLT_NULL: BSD loopback, the address family in host order
	Loop                      // DLT_LOOP: OpenBSD loopback, the family in network order
	IPv4                      // DLT_IPV4: IPv4 packets only
	IPv6                      // DLT_IPV6: IPv6 packets only

	numLinkTypes
)

func (l LinkType) String() string {
	return [...]string{"EN10MB", "LINUX_SLL", "RAW", "LINUX_SLL2", "NULL", "LOOP", "IPV4", "IPV6"}[l]
}

// DefaultSnaplen is what an accepting program returns, as tcpdump's.
const DefaultSnaplen = 262144

// Compile compiles expr for packets of link type lt into a classic BPF
// program that returns snaplen for a packet it accepts and 0 for one it
// rejects. The empty expression accepts everything.
func Compile(expr string, lt LinkType, snaplen uint32) ([]bpf.Instruction, error) {
	n, err := parse(expr)
	if err != nil {
		return nil, err
	}
	c := &compiler{lt: lt}
	accept, reject := c.newLabel(), c.newLabel()
	if n != nil {
		if err := c.node(n, accept, reject); err != nil {
			return nil, err
		}
	}
	c.place(accept)
	c.emit(bpf.RetConstant{Val: snaplen})
	c.place(reject)
	c.emit(bpf.RetConstant{Val: 0})
	prog, err := c.assemble()
	// (libpcap does not optimise a protochain program, so never finds
	// it empty.)
	if err == nil && !UserSpaceOnly(prog) && !accepts(prog) {
		// As libpcap: a protocol this link type never carries ("arp"
		// on raw IP) leaves a filter that matches nothing.
		return nil, fmt.Errorf("filter: expression rejects all packets")
	}
	return prog, err
}

// accepts reports whether a return of a non-zero length can be reached
// in prog (conditional jumps may go either way).
func accepts(prog []bpf.Instruction) bool {
	seen := make([]bool, len(prog))
	var walk func(i int) bool
	walk = func(i int) bool {
		for ; i < len(prog) && !seen[i]; i++ {
			seen[i] = true
			switch ins := prog[i].(type) {
			case bpf.RetConstant:
				return ins.Val != 0
			case bpf.RetA:
				return true
			case bpf.Jump:
				i += int(int32(ins.Skip))
			case bpf.JumpIf:
				if walk(i + 1 + int(ins.SkipTrue)) {
					return true
				}
				i += int(ins.SkipFalse)
			case bpf.JumpIfX:
				if walk(i + 1 + int(ins.SkipTrue)) {
					return true
				}
				i += int(ins.SkipFalse)
			}
		}
		return false
	}
	return walk(0)
}

type label int

// item is an instruction, or a conditional jump to labels, or a label.
type item struct {
	ins        bpf.Instruction
	cond       bool
	x          bool // compare with X, not val
	test       bpf.JumpTest
	val        uint32
	t, f       label
	isLabel    bool
	label      label
	jumpAlways bool
}

type compiler struct {
	lt     LinkType
	items  []item
	labels int
	mem    int // scratch memory slots in use
}

func (c *compiler) newLabel() label { c.labels++; return label(c.labels) }
func (c *compiler) place(l label)   { c.items = append(c.items, item{isLabel: true, label: l}) }
func (c *compiler) emit(i bpf.Instruction) {
	c.items = append(c.items, item{ins: i})
}
func (c *compiler) jump(test bpf.JumpTest, v uint32, t, f label) {
	c.items = append(c.items, item{cond: true, test: test, val: v, t: t, f: f})
}
func (c *compiler) goTo(l label) { c.items = append(c.items, item{jumpAlways: true, t: l}) }

func (c *compiler) assemble() ([]bpf.Instruction, error) {
	positions := func() map[label]int {
		pos := map[label]int{}
		n := 0
		for _, it := range c.items {
			if it.isLabel {
				pos[it.label] = n
			} else {
				n++
			}
		}
		return pos
	}
	pos := positions()
	// A conditional jump reaches 255 instructions: one that must go
	// further goes through unconditional jumps placed right after it.
	for far := true; far && len(c.items) < 4*bpfMaxInsns; {
		far = false
		n := 0
		for i := 0; i < len(c.items); i++ {
			it := c.items[i]
			if it.isLabel {
				continue
			}
			if it.cond && (pos[it.t]-n-1 > 255 || pos[it.f]-n-1 > 255) {
				lt, lf := c.newLabel(), c.newLabel()
				tramp := []item{{isLabel: true, label: lt}, {jumpAlways: true, t: it.t}, {isLabel: true, label: lf}, {jumpAlways: true, t: it.f}}
				c.items[i].t, c.items[i].f = lt, lf
				c.items = append(c.items[:i+1], append(tramp, c.items[i+1:]...)...)
				far = true
				break
			}
			n++
		}
		if far {
			pos = positions()
		}
	}
	var out []bpf.Instruction
	for _, it := range c.items {
		if it.isLabel {
			continue
		}
		here := len(out)
		switch {
		case it.jumpAlways:
			out = append(out, bpf.Jump{Skip: uint32(pos[it.t] - here - 1)})
		case it.cond:
			st, sf := pos[it.t]-here-1, pos[it.f]-here-1
			if st > 255 || sf > 255 || st < 0 || sf < 0 {
				return nil, fmt.Errorf("filter: expression too long for a classic BPF program")
			}
			if it.x {
				out = append(out, bpf.JumpIfX{Cond: it.test, SkipTrue: uint8(st), SkipFalse: uint8(sf)})
			} else {
				out = append(out, bpf.JumpIf{Cond: it.test, Val: it.val, SkipTrue: uint8(st), SkipFalse: uint8(sf)})
			}
		default:
			out = append(out, it.ins)
		}
	}
	if len(out) > 4096 { // BPF_MAXINSNS
		return nil, fmt.Errorf("filter: expression too long for a classic BPF program")
	}
	return out, nil
}

func (c *compiler) node(n node, t, f label) error {
	switch n := n.(type) {
	case andNode:
		mid := c.newLabel()
		if err := c.node(n.l, mid, f); err != nil {
			return err
		}
		c.place(mid)
		return c.node(n.r, t, f)
	case orNode:
		mid := c.newLabel()
		if err := c.node(n.l, t, mid); err != nil {
			return err
		}
		c.place(mid)
		return c.node(n.r, t, f)
	case notNode:
		return c.node(n.x, f, t)
	case prim:
		return c.prim(n, t, f)
	case rel:
		return c.rel(n, t, f)
	}
	return fmt.Errorf("filter: internal error: node %T", n)
}

// encap is what a packet is wrapped in before a primitive, as the
// primitives before it said (libpcap's offsets change as it parses "vlan",
// "mpls" and "pppoes", for the rest of the expression).
type encap struct {
	vlans int  // 802.1Q tags: the type field and payload 4 bytes further each
	mpls  int  // MPLS labels: the payload 4 bytes further each
	pppoe bool // a PPPoE session: then a PPP protocol field and payload
	// geneve: inside a Geneve tunnel, whose header's length varies: the
	// inner type field's and network header's offsets are in scratch
	// memory (slotType, slotNet), as libpcap keeps them.
	geneve bool
}

// Scratch memory kept for Geneve's offsets (relations use the slots
// below slotTmp).
const (
	slotTmp  = 13
	slotNet  = 14
	slotType = 15
)

// ldNet loads size bytes at off past the start of the network header.
func (c *compiler) ldNet(e encap, off uint32, size int) {
	if e.geneve {
		c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slotNet})
		c.emit(bpf.LoadIndirect{Off: off, Size: size})
		return
	}
	c.emit(bpf.LoadAbsolute{Off: c.netOff(e) + off, Size: size})
}

// ldxAfterIPv4 sets X so that a load at the returned base plus k (with
// X) reads byte k after the IPv4 header, whose length varies.
func (c *compiler) ldxAfterIPv4(e encap) uint32 {
	if e.geneve {
		c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slotNet})
		c.emit(bpf.LoadIndirect{Off: 0, Size: 1})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
		c.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
		c.emit(bpf.TAX{})
		return 0
	}
	net := c.netOff(e)
	c.emit(bpf.LoadMemShift{Off: net})
	return net
}

// linkOffs are where the link layer's type field and payload start.
func (c *compiler) linkOffs(e encap) (typeOff, payload uint32) {
	switch c.lt {
	case Ethernet:
		typeOff, payload = 12+4*uint32(e.vlans), 14+4*uint32(e.vlans)
	case LinuxSLL:
		typeOff, payload = 14, 16
	case LinuxSLL2:
		typeOff, payload = 0, 20
	case Null, Loop:
		typeOff, payload = 0, 4
	}
	if e.pppoe {
		// The PPPoE header (6 bytes), then PPP's protocol field.
		typeOff, payload = payload+6, payload+8
	}
	return typeOff, payload
}

// netOff is where the network header starts.
func (c *compiler) netOff(e encap) uint32 {
	_, payload := c.linkOffs(e)
	return payload + 4*uint32(e.mpls)
}

// linkHdrOff is where link[0] is: the start of the packet, or after
// pppoes the PPP header inside the session.
func (c *compiler) linkHdrOff(e encap) uint32 {
	if e.pppoe {
		typeOff, _ := c.linkOffs(e)
		return typeOff
	}
	return 0
}

// pppTypes are the PPP protocol numbers of the ethertypes (libpcap's
// ethertype_to_ppptype); others are compared as they are.
var pppTypes = map[uint32]uint32{0x800: 0x21, 0x86dd: 0x57, 0x6003: 0x27, etherAtalk: 0x29, 0x0600: 0x25,
	sapISO: 0x23, sapSTP: 0x31, sapIPX: 0x2b, 0x8847: 0x281}

// etherType jumps to t when the packet's network protocol is typ.
func (c *compiler) etherType(typ uint32, e encap, t, f label) error {
	if e.geneve {
		// The inner Ethernet type, or Geneve's own protocol type.
		if typ <= etherMTU {
			return fmt.Errorf("filter: only ethertypes are matched inside geneve")
		}
		c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slotType})
		c.emit(bpf.LoadIndirect{Off: 0, Size: 2})
		c.jump(bpf.JumpEqual, typ, t, f)
		return nil
	}
	if e.mpls > 0 {
		// Over MPLS: the last label has the bottom-of-stack bit, and
		// the payload's version is IP's.
		version := map[uint32]uint32{0x800: 0x40, 0x86dd: 0x60}[typ]
		if version == 0 {
			return fmt.Errorf("filter: unsupported protocol over mpls")
		}
		net := c.netOff(e)
		l := c.newLabel()
		c.emit(bpf.LoadAbsolute{Off: net - 2, Size: 1})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 1})
		c.jump(bpf.JumpEqual, 1, l, f)
		c.place(l)
		c.emit(bpf.LoadAbsolute{Off: net, Size: 1})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
		c.jump(bpf.JumpEqual, version, t, f)
		return nil
	}
	if e.pppoe {
		typeOff, _ := c.linkOffs(e)
		if v, ok := pppTypes[typ]; ok {
			typ = v
		}
		c.emit(bpf.LoadAbsolute{Off: typeOff, Size: 2})
		c.jump(bpf.JumpEqual, typ, t, f)
		return nil
	}
	vlans := e.vlans
	switch c.lt {
	case Ethernet:
		return c.ethernetProto(typ, 12+4*uint32(vlans), t, f)
	case LinuxSLL:
		if vlans > 0 {
			return fmt.Errorf("filter: vlan is not supported on the %s link type", c.lt)
		}
		return c.cookedProto(typ, 14, t, f)
	case LinuxSLL2:
		if vlans > 0 {
			return fmt.Errorf("filter: vlan is not supported on the %s link type", c.lt)
		}
		return c.cookedProto(typ, 0, t, f)
	case Null, Loop:
		// The address family: Linux's numbers, in the byte order of
		// the host that wrote the file (taken as little-endian) for
		// NULL, in network order for LOOP.
		af := map[uint32]uint32{0x800: 2, 0x86dd: 10}[typ]
		if af == 0 {
			c.goTo(f) // nothing else rides on a loopback header
			return nil
		}
		if c.lt == Null {
			af <<= 24
		}
		c.emit(bpf.LoadAbsolute{Off: 0, Size: 4})
		c.jump(bpf.JumpEqual, af, t, f)
		return nil
	case IPv4, IPv6:
		if typ == 0x800 && c.lt == IPv4 || typ == 0x86dd && c.lt == IPv6 {
			c.goTo(t)
		} else {
			c.goTo(f)
		}
		return nil
	case RawIP:
		switch typ {
		case 0x800, 0x86dd:
			c.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
			c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
			v := uint32(0x40)
			if typ == 0x86dd {
				v = 0x60
			}
			c.jump(bpf.JumpEqual, v, t, f)
		default:
			c.goTo(f) // raw IP carries nothing else
		}
		return nil
	}
	return fmt.Errorf("filter: internal error: link type %s", c.lt)
}

// ipProto: an IPv4 packet carrying protocol p.
func (c *compiler) ipProto(p uint32, e encap, t, f label) error {
	l := c.newLabel()
	if err := c.etherType(0x800, e, l, f); err != nil {
		return err
	}
	c.place(l)
	c.ldNet(e, 9, 1)
	c.jump(bpf.JumpEqual, p, t, f)
	return nil
}

// ip6Proto: an IPv6 packet whose next header is p, directly or after a
// fragment header (as libpcap checks).
func (c *compiler) ip6Proto(p uint32, e encap, t, f label) error {
	l, frag, after := c.newLabel(), c.newLabel(), c.newLabel()
	if err := c.etherType(0x86dd, e, l, f); err != nil {
		return err
	}
	c.place(l)
	c.ldNet(e, 6, 1)
	c.jump(bpf.JumpEqual, p, t, frag)
	c.place(frag)
	c.jump(bpf.JumpEqual, 44, after, f)
	c.place(after)
	c.ldNet(e, 40, 1)
	c.jump(bpf.JumpEqual, p, t, f)
	return nil
}

// anyProto: IPv4 protocol p or IPv6 next header p.
func (c *compiler) anyProto(p uint32, e encap, t, f label) error {
	six := c.newLabel()
	if err := c.ipProto(p, e, t, six); err != nil {
		return err
	}
	c.place(six)
	return c.ip6Proto(p, e, t, f)
}

// ethertypes are the link-layer protocol numbers of the network protocols.
var ethertypes = map[string]uint32{"ip": 0x800, "ip6": 0x86dd, "arp": 0x806, "rarp": 0x8035}

var transport = map[string]uint32{"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmp6": 58}

func (c *compiler) prim(q prim, t, f label) error {
	if q.enc.pppoe || q.enc.mpls > 0 {
		switch {
		case q.proto == "ether", q.kind == "broadcast" && q.proto == "ether", q.kind == "multicast" && q.proto == "ether", q.kind == "llc":
			return fmt.Errorf("filter: ethernet addresses and LLC are not inside PPPoE or MPLS")
		}
	}
	if q.enc.geneve {
		switch {
		case q.proto == "ether", q.kind == "broadcast" && q.proto == "ether", q.kind == "multicast" && q.proto == "ether",
			q.kind == "llc", q.kind == "vlan", q.kind == "mpls", q.kind == "pppoes", q.kind == "protochain", q.kind == "iso", q.proto == "decnet":
			return fmt.Errorf("filter: %s inside geneve is not supported", strings.TrimSpace(q.proto+" "+q.kind))
		}
	}
	switch q.kind {
	case "geneve":
		return c.geneve(q, t, f)
	case "protochain":
		if q.proto == "ip" || q.proto == "ip6" {
			return c.protochain(q.proto == "ip6", q.lo, q.enc, t, f)
		}
		six := c.newLabel()
		if err := c.protochain(false, q.lo, q.enc, t, six); err != nil {
			return err
		}
		c.place(six)
		return c.protochain(true, q.lo, q.enc, t, f)
	case "mpls":
		return c.mpls(q, t, f)
	case "pppoes":
		return c.pppoes(q, t, f)
	case "":
		return c.bareProto(q, t, f)
	case "proto":
		switch q.proto {
		case "ether":
			return c.etherType(q.lo, q.enc, t, f)
		case "ip":
			return c.ipProto(q.lo, q.enc, t, f)
		case "ip6":
			return c.ip6Proto(q.lo, q.enc, t, f)
		case "":
			return c.anyProto(q.lo, q.enc, t, f)
		}
		return fmt.Errorf("filter: %s proto is not supported", q.proto)
	case "host", "net":
		return c.hostNet(q, t, f)
	case "port", "portrange":
		return c.port(q, t, f)
	case "llc":
		if q.sub == "" {
			return c.llc(q, t, f)
		}
		l := c.newLabel()
		if err := c.llc(q, l, f); err != nil {
			return err
		}
		c.place(l)
		return c.llcControl(q, t, f)
	case "linkproto":
		return c.etherType(q.lo, q.enc, t, f)
	case "iso":
		return c.isoPrim(q, t, f)
	case "byte":
		switch q.sub {
		case "=", "==":
			c.emit(bpf.LoadAbsolute{Off: q.lo, Size: 1})
			c.jump(bpf.JumpEqual, q.hi, t, f)
		case "<":
			c.emit(bpf.LoadAbsolute{Off: q.lo, Size: 1})
			c.jump(bpf.JumpLessThan, q.hi, t, f)
		case ">":
			c.emit(bpf.LoadAbsolute{Off: q.lo, Size: 1})
			c.jump(bpf.JumpGreaterThan, q.hi, t, f)
		case "&":
			c.jump(bpf.JumpBitsSet, q.hi, t, f)
		case "|":
			c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpOr, Val: q.hi})
			c.jump(bpf.JumpEqual, 0, f, t)
		}
		return nil
	case "ifindex":
		// The interface: the cooked v2 header's index, else the kernel's
		// (an ancillary load: a live capture's kernel filter answers it).
		if c.lt == LinuxSLL2 {
			c.emit(bpf.LoadAbsolute{Off: 4, Size: 4})
		} else {
			c.emit(bpf.LoadExtension{Num: bpf.ExtInterfaceIndex})
		}
		c.jump(bpf.JumpEqual, q.lo, t, f)
		return nil
	case "inbound", "outbound":
		// The packet's direction: the cooked header's packet type, or
		// the kernel's for the packet (an ancillary load, as libpcap
		// emits it: only a live capture's kernel filter can answer it).
		switch c.lt {
		case LinuxSLL:
			c.emit(bpf.LoadAbsolute{Off: 0, Size: 2})
		case LinuxSLL2:
			c.emit(bpf.LoadAbsolute{Off: 10, Size: 1})
		default:
			c.emit(bpf.LoadExtension{Num: bpf.ExtType})
		}
		if q.kind == "outbound" {
			c.jump(bpf.JumpEqual, 4, t, f) // PACKET_OUTGOING
		} else {
			c.jump(bpf.JumpEqual, 4, f, t)
		}
		return nil
	case "broadcast", "multicast":
		if q.proto == "ip" || q.proto == "ip6" {
			return c.ipCast(q, t, f)
		}
		if c.lt != Ethernet {
			return fmt.Errorf("filter: %s is not supported on the %s link type", q.kind, c.lt)
		}
		if q.kind == "multicast" {
			c.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
			c.jump(bpf.JumpBitsSet, 1, t, f)
			return nil
		}
		l := c.newLabel()
		c.emit(bpf.LoadAbsolute{Off: 2, Size: 4})
		c.jump(bpf.JumpEqual, 0xffffffff, l, f)
		c.place(l)
		c.emit(bpf.LoadAbsolute{Off: 0, Size: 2})
		c.jump(bpf.JumpEqual, 0xffff, t, f)
		return nil
	case "less", "greater":
		c.emit(bpf.LoadExtension{Num: bpf.ExtLen})
		if q.kind == "less" {
			c.jump(bpf.JumpGreaterThan, q.lo, f, t)
		} else {
			c.jump(bpf.JumpGreaterOrEqual, q.lo, t, f)
		}
		return nil
	case "vlan":
		if c.lt != Ethernet {
			return fmt.Errorf("filter: vlan is not supported on the %s link type", c.lt)
		}
		if q.enc.pppoe || q.enc.mpls > 0 {
			return fmt.Errorf("filter: no VLAN support inside PPPoE or MPLS")
		}
		tagged, tpid2, tpid3 := c.newLabel(), c.newLabel(), c.newLabel()
		off := 12 + 4*uint32(q.enc.vlans)
		c.emit(bpf.LoadAbsolute{Off: off, Size: 2})
		c.jump(bpf.JumpEqual, 0x8100, tagged, tpid2)
		c.place(tpid2)
		c.jump(bpf.JumpEqual, 0x88a8, tagged, tpid3)
		c.place(tpid3)
		c.jump(bpf.JumpEqual, 0x9100, tagged, f)
		c.place(tagged)
		if !q.hasID {
			c.goTo(t)
			return nil
		}
		c.emit(bpf.LoadAbsolute{Off: off + 2, Size: 2})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0fff})
		c.jump(bpf.JumpEqual, q.lo, t, f)
		return nil
	}
	return fmt.Errorf("filter: %s is not supported", q.kind)
}

// llc compiles "llc" (an 802.3 frame, its length field at most 1500, that
// is not Novell's raw 0xffff) and "stp" (an 802.3 frame to the spanning
// tree's LLC address 0x42), as libpcap does; on a cooked capture stp is
// the 802.2 protocol with that address, and llc is refused as libpcap
// refuses it.
func (c *compiler) llc(q prim, t, f label) error {
	switch c.lt {
	case Ethernet:
		off := 12 + 4*uint32(q.enc.vlans)
		l := c.newLabel()
		c.emit(bpf.LoadAbsolute{Off: off, Size: 2})
		c.jump(bpf.JumpGreaterThan, 1500, f, l)
		c.place(l)
		if q.kind == "stp" {
			c.emit(bpf.LoadAbsolute{Off: off + 2, Size: 1})
			c.jump(bpf.JumpEqual, 0x42, t, f)
		} else {
			c.emit(bpf.LoadAbsolute{Off: off + 2, Size: 2})
			c.jump(bpf.JumpEqual, 0xffff, f, t)
		}
		return nil
	case LinuxSLL:
		if q.kind == "stp" {
			l := c.newLabel()
			c.emit(bpf.LoadAbsolute{Off: 14, Size: 2})
			c.jump(bpf.JumpEqual, 4, l, f) // LINUX_SLL_P_802_2
			c.place(l)
			c.emit(bpf.LoadAbsolute{Off: 16, Size: 1})
			c.jump(bpf.JumpEqual, 0x42, t, f)
			return nil
		}
	}
	return fmt.Errorf("filter: %s is not supported on the %s link type", q.kind, c.lt)
}

// ipCast compiles "ip broadcast", "ip multicast" and "ip6 multicast" as
// libpcap does: the destination address all ones or zero (no netmask is
// known), at least 224.0.0.0, or starting with 0xff.
func (c *compiler) ipCast(q prim, t, f label) error {
	l := c.newLabel()
	if err := c.etherType(ethertypes[q.proto], q.enc, l, f); err != nil {
		return err
	}
	c.place(l)
	switch {
	case q.proto == "ip6":
		c.ldNet(q.enc, 24, 1)
		c.jump(bpf.JumpEqual, 0xff, t, f)
	case q.kind == "multicast":
		c.ldNet(q.enc, 16, 1)
		c.jump(bpf.JumpGreaterOrEqual, 0xe0, t, f)
	default:
		zero := c.newLabel()
		c.ldNet(q.enc, 16, 4)
		c.jump(bpf.JumpEqual, 0, t, zero)
		c.place(zero)
		c.jump(bpf.JumpEqual, 0xffffffff, t, f)
	}
	return nil
}

func (c *compiler) bareProto(q prim, t, f label) error {
	switch q.proto {
	case "ip", "ip6", "arp", "rarp":
		return c.etherType(ethertypes[q.proto], q.enc, t, f)
	case "tcp", "udp", "sctp":
		return c.anyProto(transport[q.proto], q.enc, t, f)
	case "icmp":
		return c.ipProto(1, q.enc, t, f)
	case "icmp6":
		return c.ip6Proto(58, q.enc, t, f)
	case "igmp":
		return c.ipProto(2, q.enc, t, f)
	case "igrp":
		return c.ipProto(9, q.enc, t, f)
	case "vrrp", "carp": // both IP protocol 112, IPv4 only, as libpcap has them
		return c.ipProto(112, q.enc, t, f)
	case "pim", "ah", "esp":
		return c.anyProto(map[string]uint32{"pim": 103, "ah": 51, "esp": 50}[q.proto], q.enc, t, f)
	}
	return fmt.Errorf("filter: %q alone is not supported", q.proto)
}

// addrTest compares the bytes at off with want under mask (both as long
// as want), jumping to t on a match. An all-zero mask matches anything.
func (c *compiler) addrTest(e encap, off uint32, want, mask []byte, t, f label) {
	zero := true
	for _, b := range mask {
		zero = zero && b == 0
	}
	if zero {
		c.goTo(t)
		return
	}
	for i := 0; i < len(want); i += 4 {
		m := binary.BigEndian.Uint32(mask[i:])
		if m == 0 {
			continue
		}
		next := t
		if i+4 < len(want) && binary.BigEndian.Uint32(mask[i+4:]) != 0 {
			next = c.newLabel()
		}
		c.ldNet(e, off+uint32(i), 4)
		if m != 0xffffffff {
			c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: m})
		}
		c.jump(bpf.JumpEqual, binary.BigEndian.Uint32(want[i:])&m, next, f)
		if next != t {
			c.place(next)
		}
	}
}

// dirTest applies test to the source and destination fields as dir says.
func (c *compiler) dirTest(dir string, src, dst func(t, f label), t, f label) {
	switch dir {
	case "src":
		src(t, f)
	case "dst":
		dst(t, f)
	case "src and dst":
		l := c.newLabel()
		src(l, f)
		c.place(l)
		dst(t, f)
	default: // "" or "src or dst"
		l := c.newLabel()
		src(t, l)
		c.place(l)
		dst(t, f)
	}
}

func (c *compiler) hostNet(q prim, t, f label) error {
	if q.proto == "decnet" {
		return c.decnetHost(q, t, f)
	}
	if q.proto == "ether" {
		if c.lt != Ethernet {
			return fmt.Errorf("filter: ether host is not supported on the %s link type", c.lt)
		}
		mac := q.mac[:]
		test := func(off uint32) func(t, f label) {
			return func(t, f label) {
				l := c.newLabel()
				c.emit(bpf.LoadAbsolute{Off: off + 2, Size: 4})
				c.jump(bpf.JumpEqual, binary.BigEndian.Uint32(mac[2:]), l, f)
				c.place(l)
				c.emit(bpf.LoadAbsolute{Off: off, Size: 2})
				c.jump(bpf.JumpEqual, uint32(binary.BigEndian.Uint16(mac[:2])), t, f)
			}
		}
		c.dirTest(q.dir, test(6), test(0), t, f)
		return nil
	}
	want, mask := q.want, q.mask
	if len(want) == 16 {
		switch q.proto {
		case "", "ip6":
		default:
			return fmt.Errorf("filter: %s %s with an IPv6 address", q.proto, q.kind)
		}
		l := c.newLabel()
		if err := c.etherType(0x86dd, q.enc, l, f); err != nil {
			return err
		}
		c.place(l)
		c.dirTest(q.dir,
			func(t, f label) { c.addrTest(q.enc, 8, want, mask, t, f) },
			func(t, f label) { c.addrTest(q.enc, 24, want, mask, t, f) }, t, f)
		return nil
	}
	// IPv4: ip, and unless qualified arp and rarp too (as libpcap does).
	protos := []string{"ip", "arp", "rarp"}
	switch c.lt {
	case RawIP, Null, Loop, IPv4, IPv6:
		protos = protos[:1] // no ARP without a link layer
	}
	if q.enc.mpls > 0 {
		protos = protos[:1] // nor over MPLS
	}
	switch q.proto {
	case "":
	case "ip", "arp", "rarp":
		protos = []string{q.proto}
	default:
		return fmt.Errorf("filter: %s %s is not supported", q.proto, q.kind)
	}
	for i, p := range protos {
		next := f
		if i+1 < len(protos) {
			next = c.newLabel()
		}
		yes := c.newLabel()
		if err := c.etherType(ethertypes[p], q.enc, yes, next); err != nil {
			return err
		}
		c.place(yes)
		srcOff, dstOff := uint32(12), uint32(16)
		if p != "ip" {
			srcOff, dstOff = 14, 24
		}
		c.dirTest(q.dir,
			func(t, ff label) { c.addrTest(q.enc, srcOff, want, mask, t, ff) },
			func(t, ff label) { c.addrTest(q.enc, dstOff, want, mask, t, ff) }, t, next)
		if next != f {
			c.place(next)
		}
	}
	return nil
}

// oneOf jumps to t when A is one of vals, to f when it is none.
func (c *compiler) oneOf(vals []uint32, t, f label) {
	for i, v := range vals {
		next := f
		if i+1 < len(vals) {
			next = c.newLabel()
		}
		c.jump(bpf.JumpEqual, v, t, next)
		if next != f {
			c.place(next)
		}
	}
}

// portTest tests the half-word at the loaded offset against a port or range.
func (c *compiler) portTest(lo, hi uint32, t, f label) {
	if lo == hi {
		c.jump(bpf.JumpEqual, lo, t, f)
		return
	}
	l := c.newLabel()
	c.jump(bpf.JumpGreaterOrEqual, lo, l, f)
	c.place(l)
	c.jump(bpf.JumpGreaterThan, hi, f, t)
}

func (c *compiler) port(q prim, t, f label) error {
	protos := []uint32{132, 6, 17}
	switch q.proto {
	case "":
	case "tcp", "udp", "sctp":
		protos = []uint32{transport[q.proto]}
	default:
		return fmt.Errorf("filter: %s port is not supported", q.proto)
	}
	// IPv6: the next header must be one of the protocols.
	six, four := c.newLabel(), c.newLabel()
	if err := c.etherType(0x86dd, q.enc, six, four); err != nil {
		return err
	}
	c.place(six)
	ports6 := c.newLabel()
	c.ldNet(q.enc, 6, 1)
	c.oneOf(protos, ports6, four)
	c.place(ports6)
	c.dirTest(q.dir,
		func(t, f label) { c.ldNet(q.enc, 40, 2); c.portTest(q.lo, q.hi, t, f) },
		func(t, f label) { c.ldNet(q.enc, 42, 2); c.portTest(q.lo, q.hi, t, f) }, t, four)
	// IPv4: the protocol, not a later fragment, then the ports.
	c.place(four)
	is4, ports4, first := c.newLabel(), c.newLabel(), c.newLabel()
	if err := c.etherType(0x800, q.enc, is4, f); err != nil {
		return err
	}
	c.place(is4)
	c.ldNet(q.enc, 9, 1)
	c.oneOf(protos, ports4, f)
	c.place(ports4)
	c.ldNet(q.enc, 6, 2)
	c.jump(bpf.JumpBitsSet, 0x1fff, f, first)
	c.place(first)
	base := c.ldxAfterIPv4(q.enc)
	c.dirTest(q.dir,
		func(t, f label) { c.emit(bpf.LoadIndirect{Off: base, Size: 2}); c.portTest(q.lo, q.hi, t, f) },
		func(t, f label) { c.emit(bpf.LoadIndirect{Off: base + 2, Size: 2}); c.portTest(q.lo, q.hi, t, f) }, t, f)
	return nil
}

// LinkTypeByName is the link type libpcap names name (its DLT_ name
// without the prefix), when this package compiles filters for it.
func LinkTypeByName(name string) (LinkType, bool) {
	for l := range numLinkTypes {
		if l.String() == name {
			return l, true
		}
	}
	return 0, false
}

// LinkTypeOfDLT is the link type of a savefile's link-type number.
func LinkTypeOfDLT(dlt int) (LinkType, bool) {
	switch dlt {
	case 1:
		return Ethernet, true
	case 113:
		return LinuxSLL, true
	case 101:
		return RawIP, true
	case 276:
		return LinuxSLL2, true
	case 0:
		return Null, true
	case 108:
		return Loop, true
	case 228:
		return IPv4, true
	case 229:
		return IPv6, true
	}
	return 0, false
}

// decnetHost compiles "decnet [src|dst] host AREA.NODE" as libpcap's
// gen_dnhostop: the address (little-endian on the wire) in the long or
// short data header, with or without the padding byte.
func (c *compiler) decnetHost(q prim, t, f label) error {
	l := c.newLabel()
	if err := c.etherType(0x6003, q.enc, l, f); err != nil {
		return err
	}
	c.place(l)
	net := c.netOff(q.enc)
	addr := q.lo>>8 | (q.lo&0xff)<<8
	test := func(short, long uint32) func(t, f label) {
		return func(t, f label) {
			forms := []struct {
				size      int
				mask, val uint32
				off       uint32
			}{
				{1, 0x7, 0x2, net + 2 + short},       // short header, no pad
				{2, 0xff07, 0x8102, net + 3 + short}, // short header, pad
				{1, 0x7, 0x6, net + 2 + long},        // long header, no pad
				{2, 0xff07, 0x8106, net + 3 + long},  // long header, pad
			}
			for i, fm := range forms {
				next := f
				if i+1 < len(forms) {
					next = c.newLabel()
				}
				m := c.newLabel()
				c.emit(bpf.LoadAbsolute{Off: net + 2, Size: fm.size})
				c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: fm.mask})
				c.jump(bpf.JumpEqual, fm.val, m, next)
				c.place(m)
				c.emit(bpf.LoadAbsolute{Off: fm.off, Size: 2})
				c.jump(bpf.JumpEqual, addr, t, next)
				if next != f {
					c.place(next)
				}
			}
		}
	}
	c.dirTest(q.dir, test(3, 15), test(1, 7), t, f)
	return nil
}

// NeedsKernel reports whether prog asks the kernel about the packet (its
// interface or direction, with an ancillary load): only a live capture's
// socket filter can answer.
func NeedsKernel(prog []bpf.Instruction) bool {
	for _, ins := range prog {
		if e, ok := ins.(bpf.LoadExtension); ok && e.Num != bpf.ExtLen {
			return true
		}
	}
	return false
}

// mpls compiles "mpls [label]": the MPLS ethertype (or, after another
// label, that label's bottom-of-stack bit clear), and the label; what
// follows looks 4 bytes further.
func (c *compiler) mpls(q prim, t, f label) error {
	if c.lt != Ethernet && !q.enc.pppoe { // Ethernet, or PPP inside PPPoE
		return fmt.Errorf("filter: no MPLS support for the %s link type", c.lt)
	}
	l := c.newLabel()
	if q.enc.mpls == 0 {
		if err := c.etherType(0x8847, q.enc, l, f); err != nil {
			return err
		}
	} else {
		c.emit(bpf.LoadAbsolute{Off: c.netOff(q.enc) - 2, Size: 1})
		c.jump(bpf.JumpBitsSet, 1, f, l)
	}
	c.place(l)
	if !q.hasID {
		c.goTo(t)
		return nil
	}
	c.emit(bpf.LoadAbsolute{Off: c.netOff(q.enc), Size: 4})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xfffff000})
	c.jump(bpf.JumpEqual, q.lo<<12, t, f)
	return nil
}

// pppoes compiles "pppoes [session]": the PPPoE session ethertype and
// the session id; what follows is PPP inside it.
func (c *compiler) pppoes(q prim, t, f label) error {
	l := c.newLabel()
	if err := c.etherType(0x8864, q.enc, l, f); err != nil {
		return err
	}
	c.place(l)
	if !q.hasID {
		c.goTo(t)
		return nil
	}
	_, payload := c.linkOffs(q.enc)
	c.emit(bpf.LoadAbsolute{Off: payload, Size: 4})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffff})
	c.jump(bpf.JumpEqual, q.lo, t, f)
	return nil
}

// protochain compiles "ip protochain V" and "ip6 protochain V" as
// libpcap's gen_protochain does: from the IP header's protocol, follow
// the IPv6 extension headers (hop-by-hop, routing, fragment, destination
// options; IPv6 only) and AH until V, no next header (59), or another
// protocol. As libpcap's, the program loops with a jump back, which no
// kernel accepts: it runs in user space (UserSpaceOnly), and, as
// libpcap's, the offset after an AH header is counted from the IP
// header's end, not from the AH header.
func (c *compiler) protochain(six bool, v uint32, e encap, t, f label) error {
	l := c.newLabel()
	typ := uint32(0x800)
	if six {
		typ = 0x86dd
	}
	if err := c.etherType(typ, e, l, f); err != nil {
		return err
	}
	c.place(l)
	net := c.netOff(e)
	if six {
		c.emit(bpf.LoadAbsolute{Off: net + 6, Size: 1})
		c.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
	} else {
		c.emit(bpf.LoadAbsolute{Off: net + 9, Size: 1})
		c.emit(bpf.LoadMemShift{Off: net})
	}
	loop, yes, no, ext, ah := c.newLabel(), c.newLabel(), c.newLabel(), c.newLabel(), c.newLabel()
	c.place(loop)
	var checks []label
	c.jump(bpf.JumpEqual, v, yes, c.chainLabel(&checks))
	c.place(checks[0])
	c.jump(bpf.JumpEqual, 59, no, c.chainLabel(&checks))
	c.place(checks[1])
	if six {
		for _, h := range []uint32{0, 60, 43, 44} {
			c.jump(bpf.JumpEqual, h, ext, c.chainLabel(&checks))
			c.place(checks[len(checks)-1])
		}
	}
	c.jump(bpf.JumpEqual, 51, ah, no)
	c.place(yes)
	c.goTo(t)
	c.place(no)
	c.goTo(f)
	if six {
		// Next header, then the length in 8-byte units past the first 8.
		c.place(ext)
		c.emit(bpf.LoadIndirect{Off: net, Size: 1})
		c.emit(bpf.StoreScratch{Src: bpf.RegA, N: 0})
		c.emit(bpf.LoadIndirect{Off: net + 1, Size: 1})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 8})
		c.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
		c.emit(bpf.TAX{})
		c.emit(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
		c.goTo(loop)
	}
	// AH: next header, then the length in 4-byte units past the first 8.
	c.place(ah)
	c.emit(bpf.LoadIndirect{Off: net, Size: 1})
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	c.emit(bpf.TXA{})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1})
	c.emit(bpf.TAX{})
	c.emit(bpf.LoadIndirect{Off: net, Size: 1})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 4})
	c.emit(bpf.TAX{})
	c.emit(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
	c.goTo(loop)
	return nil
}

// UserSpaceOnly reports whether prog jumps back (protochain's loop): the
// kernel refuses such a program, so it is run on each packet here, as
// libpcap does.
func UserSpaceOnly(prog []bpf.Instruction) bool {
	for _, ins := range prog {
		if j, ok := ins.(bpf.Jump); ok && int32(j.Skip) < 0 {
			return true
		}
	}
	return false
}

// chainLabel makes a new label and appends it to list.
func (c *compiler) chainLabel(list *[]label) label {
	l := c.newLabel()
	*list = append(*list, l)
	return l
}

// geneve compiles "geneve [vni]" as libpcap's gen_geneve: UDP to port
// 6081 over IPv4 or IPv6, Geneve version 0, the VNI; then the offsets of
// what the tunnel carries (an Ethernet frame, protocol 0x6558, or a
// network packet of the protocol type) are stored for what follows.
func (c *compiler) geneve(q prim, t, f label) error {
	const port = 6081
	found, try6 := c.newLabel(), c.newLabel()
	// IPv4: A is left at the Geneve header's offset.
	steps := []label{c.newLabel(), c.newLabel(), c.newLabel(), c.newLabel(), c.newLabel()}
	if err := c.etherType(0x800, q.enc, steps[0], try6); err != nil {
		return err
	}
	c.place(steps[0])
	c.ldNet(q.enc, 9, 1)
	c.jump(bpf.JumpEqual, 17, steps[1], try6)
	c.place(steps[1])
	c.ldNet(q.enc, 6, 2)
	c.jump(bpf.JumpBitsSet, 0x1fff, try6, steps[2])
	c.place(steps[2])
	base := c.ldxAfterIPv4(q.enc)
	c.emit(bpf.LoadIndirect{Off: base + 2, Size: 2})
	c.jump(bpf.JumpEqual, port, steps[3], try6)
	c.place(steps[3])
	c.emit(bpf.LoadIndirect{Off: base + 8, Size: 1})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xc0})
	c.jump(bpf.JumpEqual, 0, steps[4], try6)
	c.place(steps[4])
	if q.hasID {
		l := c.newLabel()
		c.emit(bpf.LoadIndirect{Off: base + 12, Size: 4})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffffff00})
		c.jump(bpf.JumpEqual, q.lo<<8, l, try6)
		c.place(l)
	}
	c.emit(bpf.TXA{})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: base + 8})
	c.goTo(found)
	// IPv6: UDP right after the fixed header.
	c.place(try6)
	steps = []label{c.newLabel(), c.newLabel(), c.newLabel(), c.newLabel()}
	if err := c.etherType(0x86dd, q.enc, steps[0], f); err != nil {
		return err
	}
	c.place(steps[0])
	c.ldNet(q.enc, 6, 1)
	c.jump(bpf.JumpEqual, 17, steps[1], f)
	c.place(steps[1])
	c.ldNet(q.enc, 42, 2)
	c.jump(bpf.JumpEqual, port, steps[2], f)
	c.place(steps[2])
	c.ldNet(q.enc, 48, 1)
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xc0})
	c.jump(bpf.JumpEqual, 0, steps[3], f)
	c.place(steps[3])
	if q.hasID {
		l := c.newLabel()
		c.ldNet(q.enc, 52, 4)
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffffff00})
		c.jump(bpf.JumpEqual, q.lo<<8, l, f)
		c.place(l)
	}
	if q.enc.geneve {
		c.emit(bpf.LoadScratch{Dst: bpf.RegA, N: slotNet})
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 48})
	} else {
		c.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: c.netOff(q.enc) + 48})
	}
	// A is the Geneve header's offset: the type field is 2 bytes in, the
	// payload after 8 bytes and the options (4-byte units in the low 6
	// bits of the first byte); an Ethernet payload has its own type
	// field and network header.
	c.place(found)
	eth, join := c.newLabel(), c.newLabel()
	c.emit(bpf.TAX{})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2})
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: slotType})
	c.emit(bpf.LoadIndirect{Off: 0, Size: 1})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x3f})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 4})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 8})
	c.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: slotTmp})
	c.emit(bpf.LoadIndirect{Off: 2, Size: 2})
	c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slotTmp})
	c.jump(bpf.JumpEqual, 0x6558, eth, join)
	c.place(eth)
	c.emit(bpf.TXA{})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 12})
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: slotType})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2})
	c.emit(bpf.TAX{})
	c.place(join)
	c.emit(bpf.StoreScratch{Src: bpf.RegX, N: slotNet})
	c.goTo(t)
	return nil
}
