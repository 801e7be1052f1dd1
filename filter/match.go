package filter

import (
	"encoding/binary"
	"errors"

	"golang.org/x/net/bpf"
)

// Matcher runs a classic BPF program on packets in user space, as
// libpcap's bpf_filter does: loads are bounded by the captured bytes,
// while the packet length (len, less, greater) is the length on the wire.
// x/net/bpf's VM knows only the captured bytes, so a truncated packet
// would be judged by the wrong length.
type Matcher struct {
	prog []bpf.RawInstruction
}

// NewMatcher checks prog and prepares it to run.
func NewMatcher(prog []bpf.Instruction) (*Matcher, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 || len(raw) > bpfMaxInsns {
		return nil, errors.New("filter: program of 0 or too many instructions")
	}
	for i, ins := range raw {
		if ins.Op&0x07 == classJmp {
			if ins.Op&0xf0 == jmpJA {
				// Sign-extended, as libpcap's bpf_filter: its protochain
				// programs jump back (no kernel takes them; libpcap runs
				// them in user space).
				if to := i + 1 + int(int32(ins.K)); to < 0 || to >= len(raw) {
					return nil, errors.New("filter: jump out of the program")
				}
			} else if i+1+int(ins.Jt) >= len(raw) || i+1+int(ins.Jf) >= len(raw) {
				return nil, errors.New("filter: jump out of the program")
			}
		}
		if (ins.Op&0x07 == classSt || ins.Op&0x07 == classStx || ins.Op&0xe0 == modeMem && (ins.Op&0x07 == classLd || ins.Op&0x07 == classLdx)) && ins.K >= scratch {
			return nil, errors.New("filter: scratch memory index out of range")
		}
	}
	if last := raw[len(raw)-1]; last.Op&0x07 != classRet {
		return nil, errors.New("filter: the program does not end with a return")
	}
	return &Matcher{prog: raw}, nil
}

const (
	bpfMaxInsns = 4096
	// maxBackJumps bounds the backward jumps of one run.
	maxBackJumps = 1 << 16
	scratch      = 16

	classLd   = 0x00
	classLdx  = 0x01
	classSt   = 0x02
	classStx  = 0x03
	classAlu  = 0x04
	classJmp  = 0x05
	classRet  = 0x06
	classMisc = 0x07

	sizeW = 0x00
	sizeH = 0x08
	sizeB = 0x10

	modeImm = 0x00
	modeAbs = 0x20
	modeInd = 0x40
	modeMem = 0x60
	modeLen = 0x80
	modeMsh = 0xa0

	srcX = 0x08

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJSET = 0x40

	// Linux's ancillary loads: an absolute load at this offset plus the
	// extension's number.
	extOffset = 0xfffff000
)

// Match runs the program on pkt (the captured bytes) of a packet wire
// bytes long on the wire, and reports whether it is kept.
func (m *Matcher) Match(pkt []byte, wire int) bool {
	return m.Run(pkt, wire) != 0
}

// Run returns what the program returns: 0 to drop the packet, else the
// number of bytes to keep.
func (m *Matcher) Run(pkt []byte, wire int) uint32 {
	var a, x uint32
	var mem [scratch]uint32
	steps := 0
	load := func(off uint32, size uint16) (uint32, bool) {
		end := uint64(off)
		switch size {
		case sizeW:
			if end+4 > uint64(len(pkt)) {
				return 0, false
			}
			return binary.BigEndian.Uint32(pkt[off:]), true
		case sizeH:
			if end+2 > uint64(len(pkt)) {
				return 0, false
			}
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		}
		if end+1 > uint64(len(pkt)) {
			return 0, false
		}
		return uint32(pkt[off]), true
	}
	for pc := 0; pc < len(m.prog); pc++ {
		ins := m.prog[pc]
		k := ins.K
		switch ins.Op & 0x07 {
		case classLd:
			switch ins.Op & 0xe0 {
			case modeImm:
				a = k
			case modeAbs:
				if k >= extOffset {
					if k-extOffset != uint32(bpf.ExtLen) {
						return 0 // other ancillary data is not known here
					}
					a = uint32(wire)
					break
				}
				v, ok := load(k, ins.Op&0x18)
				if !ok {
					return 0
				}
				a = v
			case modeInd:
				v, ok := load(x+k, ins.Op&0x18)
				if !ok || x+k < x {
					return 0
				}
				a = v
			case modeMem:
				a = mem[k]
			case modeLen:
				a = uint32(wire)
			default:
				return 0
			}
		case classLdx:
			switch ins.Op & 0xe0 {
			case modeImm:
				x = k
			case modeMem:
				x = mem[k]
			case modeLen:
				x = uint32(wire)
			case modeMsh:
				v, ok := load(k, sizeB)
				if !ok {
					return 0
				}
				x = 4 * (v & 0x0f)
			default:
				return 0
			}
		case classSt:
			mem[k] = a
		case classStx:
			mem[k] = x
		case classAlu:
			v := k
			if ins.Op&srcX != 0 {
				v = x
			}
			switch ins.Op & 0xf0 {
			case 0x00:
				a += v
			case 0x10:
				a -= v
			case 0x20:
				a *= v
			case 0x30:
				if v == 0 {
					return 0
				}
				a /= v
			case 0x40:
				a |= v
			case 0x50:
				a &= v
			case 0x60:
				a <<= v // 0 from 32 on, as x/net/bpf's VM gives
			case 0x70:
				a >>= v
			case 0x80:
				a = -a
			case 0x90:
				if v == 0 {
					return 0
				}
				a %= v
			case 0xa0:
				a ^= v
			default:
				return 0
			}
		case classJmp:
			if ins.Op&0xf0 == jmpJA {
				if int32(k) < 0 {
					if steps++; steps > maxBackJumps {
						return 0 // a loop that does not end
					}
				}
				pc += int(int32(k))
				continue
			}
			v := k
			if ins.Op&srcX != 0 {
				v = x
			}
			var cond bool
			switch ins.Op & 0xf0 {
			case jmpJEQ:
				cond = a == v
			case jmpJGT:
				cond = a > v
			case jmpJGE:
				cond = a >= v
			case jmpJSET:
				cond = a&v != 0
			default:
				return 0
			}
			if cond {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case classRet:
			switch ins.Op & 0x18 {
			case 0x00:
				return k
			case 0x08:
				return x
			case 0x10:
				return a
			}
			return 0
		case classMisc:
			if ins.Op&0xf8 == 0x80 {
				a = x // TXA
			} else {
				x = a // TAX
			}
		}
	}
	return 0
}
