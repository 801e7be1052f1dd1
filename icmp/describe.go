package icmp

import "fmt"

// Describe returns the phrase iputils ping prints for an error message,
// such as "Time to live exceeded" or "Destination Host Unreachable".
func (m *Message) Describe() string {
	if m.Family == 6 {
		return m.describe6()
	}
	switch m.Type {
	case 0:
		return "Echo Reply"
	case 8:
		return "Echo Request"
	case 11:
		if m.Code == 1 {
			return "Frag reassembly time exceeded"
		}
		return "Time to live exceeded"
	case 12:
		return "Parameter problem: pointer = " + fmt.Sprint(m.Pointer)
	case 3:
		if m.Code < len(unreach4) {
			s := unreach4[m.Code]
			if m.Code == 4 {
				s += fmt.Sprintf(" (mtu = %d)", m.MTU)
			}
			return s
		}
	}
	return fmt.Sprintf("Bad ICMP type: %d, code: %d", m.Type, m.Code)
}

var unreach4 = []string{
	"Destination Net Unreachable",
	"Destination Host Unreachable",
	"Destination Protocol Unreachable",
	"Destination Port Unreachable",
	"Frag needed and DF set",
	"Source Route Failed",
	"Destination Net Unknown",
	"Destination Host Unknown",
	"Source Host Isolated",
	"Destination Net Prohibited",
	"Destination Host Prohibited",
	"Destination Net Unreachable for Type of Service",
	"Destination Host Unreachable for Type of Service",
	"Packet filtered",
	"Precedence Violation",
	"Precedence Cutoff",
}

var unreach6 = []string{
	"No route",
	"Administratively prohibited",
	"Beyond scope of source address",
	"Address unreachable",
	"Port unreachable",
	"Source address failed ingress/egress policy",
	"Reject route to destination",
}

func (m *Message) describe6() string {
	switch m.Type {
	case 129:
		return "Echo Reply"
	case 128:
		return "Echo Request"
	case 1:
		if m.Code < len(unreach6) {
			return "Destination unreachable: " + unreach6[m.Code]
		}
	case 2:
		return fmt.Sprintf("Packet too big: mtu=%d", m.MTU)
	case 3:
		if m.Code == 1 {
			return "Time exceeded: Fragment reassembly time exceeded"
		}
		return "Time exceeded: Hop limit"
	case 4:
		return fmt.Sprintf("Parameter problem: pointer = %d", m.Pointer)
	}
	return fmt.Sprintf("Bad ICMP type: %d, code: %d", m.Type, m.Code)
}

// Annotation returns the mark Linux traceroute prints after a hop for an
// unreachable message — "!H", "!N", "!P", "!X", "!F-1500" and the like —
// or "" for a message that ends no trace by itself (time exceeded, and
// port unreachable, which means the destination was reached).
func (m *Message) Annotation() string {
	switch m.Kind {
	case KindPacketTooBig:
		return fmt.Sprintf("!F-%d", m.MTU)
	case KindDestUnreachable:
	default:
		return ""
	}
	if m.Family == 6 {
		switch m.Code {
		case 0, 2, 7: // no route, beyond scope, source routing header error
			return "!N"
		case 1, 5, 6: // prohibited, policy, reject route
			return "!X"
		case 3:
			return "!H"
		case 4:
			return ""
		}
		return fmt.Sprintf("!<%d>", m.Code)
	}
	switch m.Code {
	case 0, 6, 11:
		return "!N"
	case 1, 7, 8, 12:
		return "!H"
	case 2:
		return "!P"
	case 3:
		return ""
	case 5:
		return "!S"
	case 9, 10, 13:
		return "!X"
	case 14:
		return "!V"
	case 15:
		return "!C"
	}
	return fmt.Sprintf("!<%d>", m.Code)
}
