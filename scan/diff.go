package scan

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/rawkit/rawkit/report"
)

// change is a port whose state differs from a previous scan's (--diff).
type change struct {
	IP   string `json:"ip"`
	Port uint16 `json:"port"`
	// Was and Now are the states; "" when the scan listed no record of
	// the port (a state not shown: closed or filtered, without --all).
	Was string `json:"was"`
	Now string `json:"now"`
	// ServiceWas and ServiceNow are -sV's findings on a port open in
	// both scans whose service changed ("ssh OpenSSH 9.2p1 ...").
	ServiceWas string `json:"service_was,omitempty"`
	ServiceNow string `json:"service_now,omitempty"`
}

// previous is the port records of an earlier --json output, by address
// and port, and whether it listed every port (--all).
type previous struct {
	states   map[netip.AddrPort]string
	services map[netip.AddrPort]string // -sV's, as serviceText writes them
	all      bool
}

// serviceText is a -sV finding as one comparable string.
func serviceText(v Service) string { return strings.TrimSpace(v.column() + " " + v.VersionText()) }

// loadPrevious reads --diff's file: bad input when it is not a portscan
// --json output.
func loadPrevious(name string) (*previous, error) {
	so, err := readShard(name)
	if err != nil {
		return nil, report.Usagef("--diff: %v", err)
	}
	p := &previous{states: make(map[netip.AddrPort]string, len(so.ports)), all: so.manifest.All}
	for _, r := range so.ports {
		a, err := netip.ParseAddr(r.IP)
		if err != nil {
			return nil, report.Usagef("--diff %s: address %q: %v", name, r.IP, err)
		}
		p.states[netip.AddrPortFrom(a, r.Port)] = r.State
	}
	if len(so.services) > 0 {
		p.services = map[netip.AddrPort]string{}
		for _, v := range so.services {
			if a, err := netip.ParseAddr(v.IP); err == nil {
				p.services[netip.AddrPortFrom(a, v.Port)] = serviceText(v.Service)
			}
		}
	}
	return p, nil
}

// diff lists the ports of this scan whose state is not the previous
// scan's, in address and port order. A port only one of the two listed
// changed when either is open; states that neither output lists in
// full (closed against filtered without --all) are not compared.
func (s *scanner) diff(p *previous, results []Result) []change {
	var out []change
	now := make(map[netip.AddrPort]bool, len(results))
	for _, r := range results {
		k := netip.AddrPortFrom(r.Addr, r.Port)
		now[k] = true
		shown := s.jsonShown(r)
		was, listed := p.states[k]
		switch {
		case listed && was != r.State.String():
			out = append(out, change{IP: r.Addr.String(), Port: r.Port, Was: was, Now: r.State.String()})
		case !listed && shown && (r.State == Open || p.all):
			out = append(out, change{IP: r.Addr.String(), Port: r.Port, Now: r.State.String()})
		case r.State == Open && p.services != nil && s.services != nil:
			// Open in both, both asked: has the service changed?
			was, asked := p.services[k]
			if v, found := s.services[k]; asked && found && serviceText(v) != was {
				out = append(out, change{IP: r.Addr.String(), Port: r.Port, Was: "open", Now: "open", ServiceWas: was, ServiceNow: serviceText(v)})
			}
		}
	}
	// Listed before, not found now though scanned: no longer in a
	// listed state (open, for outputs without --all).
	scanned := make(map[netip.Addr]bool, len(s.targets))
	for _, a := range s.targets {
		scanned[a] = true
	}
	for k, was := range p.states {
		if !now[k] && scanned[k.Addr()] && s.portIdx[k.Port()] >= 0 {
			out = append(out, change{IP: k.Addr().String(), Port: k.Port(), Was: was})
		}
	}
	slices.SortFunc(out, func(a, b change) int { return byAddrPort(a.IP, a.Port, b.IP, b.Port) })
	return out
}

// byAddrPort orders records of text addresses and ports: by address,
// then port.
func byAddrPort(ipA string, portA uint16, ipB string, portB uint16) int {
	x, _ := netip.ParseAddr(ipA)
	y, _ := netip.ParseAddr(ipB)
	return cmp.Or(x.Compare(y), cmp.Compare(portA, portB))
}

// writeChanges writes the --diff section after nmap's normal output.
func (s *scanner) writeChanges(w io.Writer) {
	fmt.Fprintf(w, "Changes since %s: %s\n", s.opts.DiffFile, plural(len(s.changes), "port", "ports"))
	proto := s.opts.Type.Proto()
	for _, c := range s.changes {
		was, now := cmp.Or(c.Was, "not listed"), cmp.Or(c.Now, "not listed")
		if c.ServiceWas != "" {
			was, now = c.ServiceWas, c.ServiceNow
		}
		fmt.Fprintf(w, "  %s %d/%s: %s -> %s\n", c.IP, c.Port, proto, was, now)
	}
}
