package filter

import (
	"golang.org/x/net/bpf"
)

// IEEE 802.2 LLC service access points libpcap names (its llc.h).
const (
	sapIP      = 0x06
	sapSTP     = 0x42 // 802.1D spanning tree
	sapIPX     = 0xe0
	sapNetBEUI = 0xf0
	sapISO     = 0xfe // ISO network layer (CLNP, ES-IS, IS-IS)

	etherMTU     = 1500 // a type/length field above this is an ethertype
	etherIPX     = 0x8137
	etherAtalk   = 0x809b
	etherAARP    = 0x80f3
	cooked8023   = 1 // LINUX_SLL_P_802_3: Novell's raw 802.3
	cooked8022   = 4 // LINUX_SLL_P_802_2: a frame with an LLC header
	ouiAppleTalk = 0x080007
)

// ethernetProto tests the Ethernet type/length field at off for
// protocol p, with the LLC header right after it (libpcap's
// gen_ether_linktype).
func (c *compiler) ethernetProto(p, off uint32, t, f label) error {
	return c.linkProto(p, off, false, t, f)
}

// cookedProto tests a Linux cooked header's protocol field at off for
// protocol p (libpcap's gen_linux_sll_linktype).
func (c *compiler) cookedProto(p, off uint32, t, f label) error {
	return c.linkProto(p, off, true, t, f)
}

// linkProto tests the type field at off for protocol p. An LLC frame is
// one whose field is a length (Ethernet) or says 802.2 (cooked); the LLC
// header follows the field.
func (c *compiler) linkProto(p, off uint32, cooked bool, t, f label) error {
	llc := off + 2
	// isLLC jumps to yes for an LLC frame, with the field loaded.
	isLLC := func(yes, no label) {
		if cooked {
			c.jump(bpf.JumpEqual, cooked8022, yes, no)
		} else {
			c.jump(bpf.JumpGreaterThan, etherMTU, no, yes)
		}
	}
	load := func(at, size uint32) { c.emit(bpf.LoadAbsolute{Off: at, Size: int(size)}) }
	switch {
	case p == sapISO || p == sapIP || p == sapNetBEUI:
		// Always 802.2: DSAP and SSAP both p.
		l := c.newLabel()
		load(off, 2)
		isLLC(l, f)
		c.place(l)
		load(llc, 2)
		c.jump(bpf.JumpEqual, p<<8|p, t, f)
	case p == sapIPX:
		// The IPX ethertype; else an LLC frame with the IPX SAP or SNAP
		// with IPX; else Novell's raw 802.3 (Ethernet: 0xffff where the
		// LLC header would be; cooked: its own protocol number).
		l1, l2, l3, l4 := c.newLabel(), c.newLabel(), c.newLabel(), c.newLabel()
		load(off, 2)
		c.jump(bpf.JumpEqual, etherIPX, t, l1)
		c.place(l1)
		if cooked {
			raw := c.newLabel()
			c.jump(bpf.JumpEqual, cooked8023, t, raw)
			c.place(raw)
		}
		isLLC(l2, f)
		c.place(l2)
		c.snap(llc, 0, etherIPX, t, l3)
		c.place(l3)
		load(llc, 1)
		if cooked {
			c.jump(bpf.JumpEqual, sapIPX, t, f)
			return nil
		}
		c.jump(bpf.JumpEqual, sapIPX, t, l4)
		c.place(l4)
		load(llc, 2)
		c.jump(bpf.JumpEqual, 0xffff, t, f)
	case p == etherAtalk || p == etherAARP:
		// The ethertype, or SNAP with it in an LLC frame.
		l1, l2 := c.newLabel(), c.newLabel()
		load(off, 2)
		c.jump(bpf.JumpEqual, p, t, l1)
		c.place(l1)
		isLLC(l2, f)
		c.place(l2)
		oui := uint32(0)
		if p == etherAtalk {
			oui = ouiAppleTalk
		}
		c.snap(llc, oui, p, t, f)
	case p <= etherMTU:
		// An LLC SAP: an LLC frame to that DSAP.
		l := c.newLabel()
		load(off, 2)
		isLLC(l, f)
		c.place(l)
		load(llc, 1)
		c.jump(bpf.JumpEqual, p, t, f)
	default:
		load(off, 2)
		c.jump(bpf.JumpEqual, p, t, f)
	}
	return nil
}

// snap tests for an LLC SNAP header at llc (AA AA 03) with organisation
// code oui and protocol ptype.
func (c *compiler) snap(llc, oui, ptype uint32, t, f label) {
	l := c.newLabel()
	c.emit(bpf.LoadAbsolute{Off: llc + 4, Size: 4})
	c.jump(bpf.JumpEqual, (oui&0xffff)<<16|ptype, l, f)
	c.place(l)
	c.emit(bpf.LoadAbsolute{Off: llc, Size: 4})
	c.jump(bpf.JumpEqual, 0xaaaa0300|oui>>16, t, f)
}

// llcSubtypes are the LLC frame kinds "llc NAME" takes: the I, S and U
// formats, and the S and U commands (masked as libpcap masks them).
var llcSubtypes = map[string]struct{ mask, val uint32 }{
	"i": {0x01, 0x00}, "s": {0x03, 0x01}, "u": {0x03, 0x03},
	"rr": {0x0f, 0x01}, "rnr": {0x0f, 0x05}, "rej": {0x0f, 0x09},
	"ui": {0xef, 0x03}, "ua": {0xef, 0x63}, "disc": {0xef, 0x43}, "dm": {0xef, 0x0f},
	"sabme": {0xef, 0x6f}, "test": {0xef, 0xe3}, "xid": {0xef, 0xaf}, "frmr": {0xef, 0x87},
}

// llcControl tests the control byte of an LLC frame (llc already
// matched) against a subtype.
func (c *compiler) llcControl(q prim, t, f label) error {
	sub := llcSubtypes[q.sub]
	off := uint32(16) // Ethernet: the LLC header at 14
	if c.lt == Ethernet {
		off += 4 * uint32(q.enc.vlans)
	} else {
		off = 18 // cooked: at 16
	}
	c.emit(bpf.LoadAbsolute{Off: off, Size: 1})
	c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: sub.mask})
	c.jump(bpf.JumpEqual, sub.val, t, f)
	return nil
}

// ISO network layer protocols (in the first byte after the LLC header)
// and IS-IS PDU types (four bytes further).
const (
	isoCLNP = 0x81
	isoESIS = 0x82
	isoISIS = 0x83
)

var isisPDUs = map[string][]uint32{
	"l1":   {26, 24, 18, 15, 17},
	"l2":   {27, 25, 20, 16, 17},
	"iih":  {15, 16, 17},
	"lsp":  {18, 20},
	"snp":  {24, 25, 26, 27},
	"csnp": {24, 25},
	"psnp": {26, 27},
}

// iso tests for an ISO frame whose network layer protocol is proto and,
// for IS-IS, whose PDU type is one of pdus.
func (c *compiler) iso(proto uint32, pdus []uint32, e encap, t, f label) error {
	l := c.newLabel()
	if err := c.etherType(sapISO, e, l, f); err != nil {
		return err
	}
	c.place(l)
	// After the LLC header (3 bytes).
	if len(pdus) == 0 {
		c.ldNet(e, 3, 1)
		c.jump(bpf.JumpEqual, proto, t, f)
		return nil
	}
	m := c.newLabel()
	c.ldNet(e, 3, 1)
	c.jump(bpf.JumpEqual, isoISIS, m, f)
	c.place(m)
	c.ldNet(e, 7, 1)
	c.oneOf(pdus, t, f)
	return nil
}

func (c *compiler) isoPrim(q prim, t, f label) error {
	switch q.proto {
	case "iso":
		if q.hasID {
			return c.iso(q.lo, nil, q.enc, t, f)
		}
		return c.etherType(sapISO, q.enc, t, f)
	case "clnp":
		return c.iso(isoCLNP, nil, q.enc, t, f)
	case "esis":
		return c.iso(isoESIS, nil, q.enc, t, f)
	case "isis":
		if q.hasID {
			return c.iso(isoISIS, []uint32{q.lo}, q.enc, t, f)
		}
		return c.iso(isoISIS, nil, q.enc, t, f)
	}
	return c.iso(isoISIS, isisPDUs[q.proto], q.enc, t, f)
}
