package rawsock

import (
	"errors"

	"golang.org/x/net/bpf"
)

// IPConfig describes a raw socket of one IP protocol (raw(7)), such as
// UDP or TCP, on which the caller writes the transport header and the
// kernel adds the IP header.
type IPConfig struct {
	Family   int // 4 or 6
	Protocol int // IP protocol number, e.g. 6 for TCP, 17 for UDP
	// Filter is the classic BPF program that picks which received packets
	// the socket keeps; it sees them as ReadMsg returns them but with the
	// IPv4 header in front on IPv4. Nil keeps none: a socket only to
	// send from, which must not queue a copy of every packet of its
	// protocol the host receives.
	Filter []bpf.Instruction
	Options
}

// ErrNoSuchInterface is returned when an interface named to bind to does
// not exist: bad input.
var ErrNoSuchInterface = errors.New("no such interface")

// PortFilter is a program for a raw TCP or UDP socket that keeps the
// segments whose 16-bit field at offset off of the transport header (0:
// source port, 2: destination port) is port. IPv4 packets reach a raw
// socket's filter with their IP header, of variable length; IPv6 ones
// without.
func PortFilter(family int, off uint32, port uint16) []bpf.Instruction {
	if family == 4 {
		return []bpf.Instruction{
			bpf.LoadMemShift{Off: 0},
			bpf.LoadIndirect{Off: off, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipFalse: 1},
			bpf.RetConstant{Val: 0xffff},
			bpf.RetConstant{Val: 0},
		}
	}
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: off, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipFalse: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	}
}
