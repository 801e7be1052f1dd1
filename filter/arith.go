package filter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

var relTests = map[string]bpf.JumpTest{
	"==": bpf.JumpEqual, "!=": bpf.JumpNotEqual, "<": bpf.JumpLessThan, "<=": bpf.JumpLessOrEqual,
	">": bpf.JumpGreaterThan, ">=": bpf.JumpGreaterOrEqual,
}

var aluOps = map[string]bpf.ALUOp{
	"+": bpf.ALUOpAdd, "-": bpf.ALUOpSub, "*": bpf.ALUOpMul, "/": bpf.ALUOpDiv,
	"&": bpf.ALUOpAnd, "|": bpf.ALUOpOr, "<<": bpf.ALUOpShiftLeft, ">>": bpf.ALUOpShiftRight,
}

// guard is a protocol a load in a relation needs the packet to carry; a
// relation is false for a packet without it, as in libpcap.
type guard struct {
	proto string
	enc   encap
}

func guards(a arith, out map[guard]bool) {
	switch a := a.(type) {
	case loadArith:
		out[guard{a.proto, a.enc}] = true
		guards(a.off, out)
	case binArith:
		guards(a.l, out)
		guards(a.r, out)
	}
}

func (c *compiler) rel(r rel, t, f label) error {
	gs := map[guard]bool{}
	guards(r.l, gs)
	guards(r.r, gs)
	for _, p := range guardOrder {
		for g := range gs {
			if g.proto != p {
				continue
			}
			ok := c.newLabel()
			if err := c.guard(g, ok, f); err != nil {
				return err
			}
			c.place(ok)
		}
	}
	c.mem = 0
	test := relTests[r.op]
	if k, ok := r.r.(numArith); ok {
		if err := c.eval(r.l); err != nil {
			return err
		}
		c.jump(test, k.v, t, f)
		return nil
	}
	if err := c.eval(r.r); err != nil {
		return err
	}
	slot, err := c.store()
	if err != nil {
		return err
	}
	if err := c.eval(r.l); err != nil {
		return err
	}
	c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slot})
	c.items = append(c.items, item{cond: true, x: true, test: test, t: t, f: f})
	return nil
}

// guardOrder is the order the guards of a relation are tested in.
var guardOrder = []string{"ether", "ip", "ip6", "arp", "rarp", "sca", "atalk", "decnet", "lat", "moprc", "mopdl",
	"tcp", "udp", "sctp", "icmp", "igmp", "igrp", "pim", "vrrp", "carp", "icmp6"}

// overIP are the protocols whose loads count from the end of the IPv4
// header, with their protocol numbers.
var overIP = map[string]uint32{"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "igmp": 2, "igrp": 9, "pim": 103, "vrrp": 112, "carp": 112}

func (c *compiler) guard(g guard, t, f label) error {
	if v, ok := linkProtoKeywords[g.proto]; ok {
		return c.etherType(v, g.enc, t, f)
	}
	switch g.proto {
	case "ether":
		// ether[] is the link-layer header, whatever it is.
		c.goTo(t)
		return nil
	case "ip", "ip6", "arp", "rarp":
		return c.etherType(ethertypes[g.proto], g.enc, t, f)
	case "icmp6":
		// As libpcap: ICMPv6 right after the fixed IPv6 header.
		l := c.newLabel()
		if err := c.etherType(0x86dd, g.enc, l, f); err != nil {
			return err
		}
		c.place(l)
		c.ldNet(g.enc, 6, 1)
		c.jump(bpf.JumpEqual, 58, t, f)
		return nil
	}
	// A transport load needs an IPv4 first fragment of that protocol.
	l := c.newLabel()
	if err := c.ipProto(overIP[g.proto], g.enc, l, f); err != nil {
		return err
	}
	c.place(l)
	c.ldNet(g.enc, 6, 2)
	c.jump(bpf.JumpBitsSet, 0x1fff, f, t)
	return nil
}

// store saves A in a new scratch slot.
func (c *compiler) store() (int, error) {
	if c.mem >= slotTmp {
		return 0, fmt.Errorf("filter: expression too complex")
	}
	c.mem++
	c.emit(bpf.StoreScratch{Src: bpf.RegA, N: c.mem - 1})
	return c.mem - 1, nil
}

// eval computes a into the A register.
func (c *compiler) eval(a arith) error {
	switch a := a.(type) {
	case numArith:
		c.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: a.v})
	case lenArith:
		c.emit(bpf.LoadExtension{Num: bpf.ExtLen})
	case binArith:
		op := aluOps[a.op]
		if k, ok := a.r.(numArith); ok && k.v == 0 && (a.op == "&" || a.op == "*") {
			// Zero whatever the left side loads: libpcap's optimiser drops
			// the load, so a packet too short for it is not rejected.
			c.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 0})
			return nil
		}
		if k, ok := a.r.(numArith); ok {
			if k.v == 0 && a.op == "/" {
				return fmt.Errorf("filter: division by zero")
			}
			if err := c.eval(a.l); err != nil {
				return err
			}
			c.emit(bpf.ALUOpConstant{Op: op, Val: k.v})
			return nil
		}
		if err := c.eval(a.r); err != nil {
			return err
		}
		slot, err := c.store()
		if err != nil {
			return err
		}
		if err := c.eval(a.l); err != nil {
			return err
		}
		c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slot})
		c.emit(bpf.ALUOpX{Op: op})
	case loadArith:
		return c.load(a)
	default:
		return fmt.Errorf("filter: internal error: arith %T", a)
	}
	return nil
}

func (c *compiler) load(a loadArith) error {
	var base uint32
	indexed := false
	switch a.proto {
	case "ether":
		if a.enc.geneve {
			return fmt.Errorf("filter: link-layer loads inside geneve are not supported")
		}
		base = c.linkHdrOff(a.enc)
	case "ip", "ip6", "arp", "rarp", "sca", "atalk", "decnet", "lat", "moprc", "mopdl":
		base = c.netOff(a.enc)
	case "icmp6":
		base = c.netOff(a.enc) + 40
	default: // tcp udp icmp sctp: after the IPv4 header, whose length varies
		base, indexed = c.netOff(a.enc), true
	}
	variable := a.enc.geneve && a.proto != "ether" // the network header's offset is in memory
	if variable && !indexed {
		base -= c.netOff(a.enc)
	}
	if k, ok := a.off.(numArith); ok {
		switch {
		case indexed:
			b := c.ldxAfterIPv4(a.enc)
			c.emit(bpf.LoadIndirect{Off: b + k.v, Size: a.size})
		case variable:
			c.ldNet(a.enc, base+k.v, a.size)
		default:
			c.emit(bpf.LoadAbsolute{Off: base + k.v, Size: a.size})
		}
		return nil
	}
	if err := c.eval(a.off); err != nil {
		return err
	}
	if indexed || variable {
		slot, err := c.store()
		if err != nil {
			return err
		}
		if indexed {
			base = c.ldxAfterIPv4(a.enc)
		} else {
			c.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slotNet})
		}
		c.emit(bpf.LoadScratch{Dst: bpf.RegA, N: slot})
		c.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	}
	c.emit(bpf.TAX{})
	c.emit(bpf.LoadIndirect{Off: base, Size: a.size})
	return nil
}
