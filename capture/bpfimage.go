package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// ancillaryNames are Linux's ancillary data, as libpcap's listing names
// them (SKF_AD_ offsets).
var ancillaryNames = map[uint32]string{0: "proto", 4: "type", 8: "ifidx", 12: "nla", 16: "nlan", 20: "mark",
	24: "queue", 28: "hatype", 32: "rxhash", 36: "cpu", 44: "vlan_tci", 48: "vlanp", 52: "pay_offset", 56: "random"}

// bpfImage is instruction n of a program as libpcap's bpf_image prints
// it (tcpdump -d): the mnemonic, the operand, and a conditional jump's
// targets as instruction numbers.
func bpfImage(ins bpf.RawInstruction, n int) string {
	k := ins.K
	var op, operand string
	size := map[uint16]string{0x00: "", 0x08: "h", 0x10: "b"}[ins.Op&0x18]
	switch class := ins.Op & 0x07; class {
	case 0x00, 0x01: // ld, ldx
		op = "ld"
		if class == 0x01 {
			op = "ldx"
		}
		switch ins.Op & 0xe0 {
		case 0x00:
			operand = fmt.Sprintf("#0x%x", k)
		case 0x20:
			op += size
			operand = fmt.Sprintf("[%d]", k)
			if k >= 0xfffff000 {
				if name, ok := ancillaryNames[k-0xfffff000]; ok {
					operand = "[" + name + "]"
				}
			}
		case 0x40:
			op += size
			operand = fmt.Sprintf("[x + %d]", k)
		case 0x60:
			operand = fmt.Sprintf("M[%d]", k)
		case 0x80:
			operand = "#pktlen"
		case 0xa0:
			op = "ldxb"
			operand = fmt.Sprintf("4*([%d]&0xf)", k)
		}
	case 0x02:
		op, operand = "st", fmt.Sprintf("M[%d]", k)
	case 0x03:
		op, operand = "stx", fmt.Sprintf("M[%d]", k)
	case 0x04:
		names := map[uint16]string{0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and",
			0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xa0: "xor"}
		op = names[ins.Op&0xf0]
		switch {
		case op == "neg":
		case ins.Op&0x08 != 0:
			operand = "x"
		case op == "and" || op == "or" || op == "xor":
			operand = fmt.Sprintf("#0x%x", k)
		default:
			operand = fmt.Sprintf("#%d", k)
		}
	case 0x05:
		if ins.Op&0xf0 == 0x00 {
			return fmt.Sprintf("(%03d) %-8s %d", n, "ja", uint32(n)+1+k)
		}
		op = map[uint16]string{0x10: "jeq", 0x20: "jgt", 0x30: "jge", 0x40: "jset"}[ins.Op&0xf0]
		operand = fmt.Sprintf("#0x%x", k)
		if ins.Op&0x08 != 0 {
			operand = "x"
		}
		return fmt.Sprintf("(%03d) %-8s %-16s jt %d\tjf %d", n, op, operand, n+1+int(ins.Jt), n+1+int(ins.Jf))
	case 0x06:
		op = "ret"
		switch ins.Op & 0x18 {
		case 0x10:
			operand = "a"
		case 0x08:
			operand = "x"
		default:
			operand = fmt.Sprintf("#%d", k)
		}
	case 0x07:
		op = "tax"
		if ins.Op&0xf8 != 0 {
			op = "txa"
		}
	}
	return fmt.Sprintf("(%03d) %-8s %s", n, op, operand)
}
