package scan

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rawkit/rawkit/report"
)

// This file writes nmap's normal (-oN, and the terminal's) and grepable
// (-oG) outputs from a scan's results, line for line as nmap 7 writes
// them, so that scripts that read nmap read portscan.

// hostResult is one target's ports, in port order, and what the scan
// learned of the host.
type hostResult struct {
	addr    netip.Addr
	ports   []Result
	up      bool
	latency time.Duration // the quickest answer, 0 when none
	reason  string        // why the host is up: nmap's "received ..."
}

// byHost groups results per target, in the targets' order, ports
// ascending. Without -Pn a host is up when anything answered from it,
// which is what nmap's discovery probes would have found (portscan sends
// no discovery probes of its own yet); with -Pn every host is up, as
// nmap says: "received user-set".
func (s *scanner) byHost(results []Result) []hostResult {
	var hosts []hostResult
	for i := 0; i < len(results); {
		j := i
		for j < len(results) && results[j].Addr == results[i].Addr {
			j++
		}
		h := hostResult{addr: results[i].Addr, ports: slices.Clone(results[i:j])}
		slices.SortFunc(h.ports, func(a, b Result) int { return cmp.Compare(a.Port, b.Port) })
		for _, r := range h.ports {
			if r.Reason == "no-response" || r.From.IsValid() && r.From != r.Addr {
				continue
			}
			if !h.up {
				h.up, h.reason = true, "received "+r.Reason
				if r.TTL > 0 {
					h.reason += fmt.Sprintf(" ttl %d", r.TTL)
				}
			}
			if r.RTT > 0 && (h.latency == 0 || r.RTT < h.latency) {
				h.latency = r.RTT
			}
		}
		if s.opts.SkipDiscovery {
			h.up, h.reason = true, "received user-set"
		}
		hosts = append(hosts, h)
		i = j
	}
	return hosts
}

// stateOrder is the order nmap lists ignored states in.
var stateOrder = []State{OpenFiltered, Filtered, Closed, Unfiltered}

// ignored reports whether nmap would leave ports of state st out of a
// host's table: never open ones; with --open every other; else a state
// with more than 25 ports. --all (ours) shows every port.
func (s *scanner) ignored(st State, count int) bool {
	switch {
	case st == Open || s.opts.All:
		return false
	case s.opts.OpenOnly:
		return true
	}
	return count > 25
}

// hostTable splits a host's ports into the rows nmap lists and its "Not
// shown" text; all is true when every port is ignored.
func (s *scanner) hostTable(h hostResult) (rows []Result, notShown string, ignoredCounts map[State]int) {
	counts := map[State]int{}
	for _, r := range h.ports {
		counts[r.State]++
	}
	type group struct {
		st     State
		reason string
		n      int
	}
	var groups []group
	ignoredCounts = map[State]int{}
	for _, r := range h.ports {
		if !s.ignored(r.State, counts[r.State]) {
			rows = append(rows, r)
			continue
		}
		ignoredCounts[r.State]++
		k := slices.IndexFunc(groups, func(g group) bool { return g.st == r.State && g.reason == r.Reason })
		if k < 0 {
			groups = append(groups, group{st: r.State, reason: r.Reason})
			k = len(groups) - 1
		}
		groups[k].n++
	}
	slices.SortStableFunc(groups, func(a, b group) int {
		return cmp.Or(cmp.Compare(slices.Index(stateOrder, a.st), slices.Index(stateOrder, b.st)),
			cmp.Compare(b.n, a.n),
			cmp.Compare(boolRank(a.reason != "no-response"), boolRank(b.reason != "no-response")),
			strings.Compare(a.reason, b.reason))
	})
	proto := s.opts.Type.Proto()
	var parts []string
	for _, g := range groups {
		noun := "ports"
		if counts[g.st] == 1 {
			noun = "port"
		}
		parts = append(parts, fmt.Sprintf("%d %s %s %s (%s)", g.n, g.st, proto, noun, g.reason))
	}
	if len(parts) > 0 {
		notShown = "Not shown: " + strings.Join(parts, ", ")
	}
	return rows, notShown, ignoredCounts
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nmapReason is the REASON column: the reason, the router that sent an
// ICMP answer, and the answer's TTL.
func nmapReason(r Result) string {
	text := r.Reason
	if r.From.IsValid() && r.From != r.Addr {
		text += " from " + r.From.String()
	}
	if r.TTL > 0 {
		text += fmt.Sprintf(" ttl %d", r.TTL)
	}
	return text
}

// latencyText prints seconds with two significant digits and no
// exponent, as nmap's "Host is up (0.000062s latency)."
func latencyText(d time.Duration) string {
	sec := d.Seconds()
	if sec <= 0 {
		return "0"
	}
	digits := 1
	for v := sec; v < 1 && digits < 12; v *= 10 {
		digits++
	}
	return strconv.FormatFloat(sec, 'f', digits, 64)
}

// writeNormal writes nmap's normal output: to the terminal (with the
// "Starting" line) or to an -oN file (with the "#" lines around it).
func (s *scanner) writeNormal(w io.Writer, results []Result, elapsed time.Duration, file bool) {
	if file {
		fmt.Fprintf(w, "# %s scan initiated %s as: %s\n", nmapBanner(), s.start.Format(time.ANSIC), s.cmdLine())
	} else {
		fmt.Fprintf(w, "Starting %s at %s\n", nmapBanner(), s.start.Format("2006-01-02 15:04 MST"))
	}
	hosts := s.byHost(results)
	up := 0
	for _, h := range hosts {
		if !h.up {
			continue
		}
		up++
		fmt.Fprintf(w, "Nmap scan report for %s\n", h.addr)
		line := "Host is up"
		if s.opts.Reason {
			line += ", " + h.reason
		}
		if h.latency > 0 {
			line += " (" + latencyText(h.latency) + "s latency)"
		}
		fmt.Fprintln(w, line+".")
		rows, notShown, _ := s.hostTable(h)
		if len(rows) == 0 {
			fmt.Fprintf(w, "All %d scanned ports on %s are in ignored states.\n", len(h.ports), h.addr)
		}
		if notShown != "" {
			fmt.Fprintln(w, notShown)
			if s.opts.OpenOnly && strings.Contains(notShown, "filtered") {
				fmt.Fprintln(w, "Some closed ports may be reported as filtered due to --defeat-rst-ratelimit")
			}
		} else {
			fmt.Fprintln(w)
		}
		if len(rows) > 0 {
			s.writeTable(w, rows)
		}
		if mac, ok := macOf(h.addr); ok {
			fmt.Fprintf(w, "MAC Address: %s (%s)\n", mac, macVendor(mac))
		}
		fmt.Fprintln(w)
	}
	if up == 0 && len(hosts) == 1 {
		fmt.Fprintln(w, "Note: Host seems down. If it is really up, but blocking our ping probes, try -Pn")
	}
	done := fmt.Sprintf("%s (%s) scanned in %.2f seconds", plural(len(hosts), "IP address", "IP addresses"), plural(up, "host up", "hosts up"), elapsed.Seconds())
	if file {
		fmt.Fprintf(w, "# Nmap done at %s -- %s\n", time.Now().Format(time.ANSIC), done)
	} else {
		fmt.Fprintf(w, "Nmap done: %s\n", done)
	}
}

// writeTable writes the PORT STATE SERVICE [REASON] table, each column
// as wide as its widest entry and one space.
func (s *scanner) writeTable(w io.Writer, rows []Result) {
	proto := s.opts.Type.Proto()
	cells := [][]string{{"PORT", "STATE", "SERVICE"}}
	if s.opts.Reason {
		cells[0] = append(cells[0], "REASON")
	}
	for _, r := range rows {
		row := []string{fmt.Sprintf("%d/%s", r.Port, proto), r.State.String(), ServiceName(proto, r.Port)}
		if s.opts.Reason {
			row = append(row, nmapReason(r))
		}
		cells = append(cells, row)
	}
	widths := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, row := range cells {
		var b strings.Builder
		for i, c := range row {
			if i == len(row)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(&b, "%-*s ", widths[i], c)
		}
		fmt.Fprintln(w, b.String())
	}
}

// writeGrepable writes nmap's -oG lines.
func (s *scanner) writeGrepable(w io.Writer, results []Result, elapsed time.Duration) {
	fmt.Fprintf(w, "# %s scan initiated %s as: %s\n", nmapBanner(), s.start.Format(time.ANSIC), s.cmdLine())
	proto := s.opts.Type.Proto()
	hosts := s.byHost(results)
	up := 0
	for _, h := range hosts {
		if !h.up {
			continue
		}
		up++
		fmt.Fprintf(w, "Host: %s ()\tStatus: Up\n", h.addr)
		rows, _, ignoredCounts := s.hostTable(h)
		var ports []string
		for _, r := range rows {
			ports = append(ports, fmt.Sprintf("%d/%s/%s//%s///", r.Port, r.State, proto, ServiceName(proto, r.Port)))
		}
		line := fmt.Sprintf("Host: %s ()\tPorts: %s", h.addr, strings.Join(ports, ", "))
		for _, st := range stateOrder {
			if n := ignoredCounts[st]; n > 0 {
				line += fmt.Sprintf("\tIgnored State: %s (%d)", st, n)
			}
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "# Nmap done at %s -- %s (%s) scanned in %.2f seconds\n", time.Now().Format(time.ANSIC),
		plural(len(hosts), "IP address", "IP addresses"), plural(up, "host up", "hosts up"), elapsed.Seconds())
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// nmapBanner names the scanner where nmap names itself.
func nmapBanner() string { return "portscan (rawkit " + report.Version() + ")" }

func (s *scanner) cmdLine() string {
	if len(s.opts.CmdLine) > 0 {
		return strings.Join(s.opts.CmdLine, " ")
	}
	return "portscan"
}
