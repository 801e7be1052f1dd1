package scan

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"math"
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
	// why and ttl say why the host is up: nmap's "received WHY ttl TTL"
	// (no ttl when 0).
	why string
	ttl int
}

// reason is nmap's text of why the host is up.
func (h hostResult) reason() string {
	if h.ttl > 0 {
		return fmt.Sprintf("received %s ttl %d", h.why, h.ttl)
	}
	return "received " + h.why
}

// byHost groups results per target, in the targets' order, ports
// ascending; after discovery, every target in the order nmap reports its
// host groups, with what discovery found of it (hostFrom, withDiscovery).
func (s *scanner) byHost(results []Result) []hostResult {
	hosts := make([]hostResult, 0, len(s.targets))
	for i := 0; i < len(results); {
		j := i
		for j < len(results) && results[j].Addr == results[i].Addr {
			j++
		}
		hosts = append(hosts, s.hostFrom(results[i:j:j]))
		i = j
	}
	if s.disc == nil {
		return hosts
	}
	scanned := make(map[netip.Addr]int, len(hosts))
	for k, h := range hosts {
		scanned[h.addr] = k
	}
	all := make([]hostResult, 0, len(s.allTargets))
	for _, i := range s.reportOrder() {
		h := hostResult{addr: s.allTargets[i]}
		if k, ok := scanned[h.addr]; ok {
			h = hosts[k]
		}
		s.withDiscovery(&h, i)
		all = append(all, h)
	}
	return all
}

// hostFrom is a host's report from its results (sorted by port in
// place). Without discovery a host is up when anything answered from it;
// with -Pn every host is up, as nmap says: "received user-set".
func (s *scanner) hostFrom(ports []Result) hostResult {
	h := hostResult{addr: ports[0].Addr, ports: ports}
	slices.SortFunc(h.ports, func(a, b Result) int { return cmp.Compare(a.Port, b.Port) })
	for _, r := range h.ports {
		if r.Reason == "no-response" || r.From.IsValid() && r.From != r.Addr {
			continue
		}
		if !h.up {
			h.up, h.why, h.ttl = true, r.Reason, r.TTL
		}
		if r.RTT > 0 && (h.latency == 0 || r.RTT < h.latency) {
			h.latency = r.RTT
		}
	}
	if s.opts.SkipDiscovery {
		h.up, h.why, h.ttl = true, "user-set", 0
	}
	return h
}

// withDiscovery gives h what discovery found of allTargets[i]: whether it
// is up, why, and its latency.
func (s *scanner) withDiscovery(h *hostResult, i int) {
	d := s.disc[i]
	h.up, h.why, h.ttl = d.up, d.why, d.ttl
	if d.rtt > 0 {
		h.latency = d.rtt
	}
}

// reportOrder is allTargets' indexes in the order nmap reports them.
func (s *scanner) reportOrder() []int {
	if len(s.discOrder) == len(s.allTargets) {
		return s.discOrder
	}
	order := make([]int, len(s.allTargets))
	for i := range order {
		order[i] = i
	}
	return order
}

// ignoredOrder is the order nmap lists a host's ignored states in
// (PortList::nextIgnoredState): the most common first, ties in the order
// of nmap's state numbers (closed, open, filtered, unfiltered,
// open|filtered).
func ignoredOrder(counts map[State]int) []State {
	rank := map[State]int{Closed: 1, Open: 2, Filtered: 3, Unfiltered: 6, OpenFiltered: 7}
	var out []State
	for st, n := range counts {
		if n > 0 {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b State) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(rank[a], rank[b])) })
	return out
}

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
	order := ignoredOrder(ignoredCounts)
	slices.SortStableFunc(groups, func(a, b group) int {
		return cmp.Or(cmp.Compare(slices.Index(order, a.st), slices.Index(order, b.st)),
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

// hostTally is what one output has written, for its closing lines.
type hostTally struct {
	hosts, up int
	mac       bool // a host up had a MAC address
}

// nmap's normal output goes to the terminal (with the "Starting" line) or
// to an -oN file (with the "#" lines around it), in three parts: the
// head, the hosts (normalHosts, all at once or a host group at a time)
// and the tail with the totals. The grepable (-oG) and XML (-oX) outputs
// are written in the same three parts.
func (s *scanner) normalHead(w io.Writer, file bool) {
	if file {
		fmt.Fprintf(w, "# %s scan initiated %s as: %s\n", nmapBanner(), s.start.Format(time.ANSIC), s.cmdLine())
	} else if !s.startPrinted {
		fmt.Fprintf(w, "Starting %s at %s\n", nmapBanner(), s.start.Format("2006-01-02 15:04 MST"))
	}
}

// normalHosts writes the normal output's report of each host.
func (s *scanner) normalHosts(w io.Writer, hosts []hostResult, file bool, t *hostTally) {
	verbose := !file && s.verbose != nil
	t.hosts += len(hosts)
	t.mac = t.mac || s.anyMAC(hosts)
	elapsed := time.Since(s.start)
	for _, h := range hosts {
		if !h.up {
			if verbose && s.opts.PingOnly {
				fmt.Fprintf(w, "Nmap scan report for %s [host down]\n", h.addr)
			}
			continue
		}
		t.up++
		fmt.Fprintf(w, "Nmap scan report for %s\n", h.addr)
		line := "Host is up"
		if s.opts.Reason {
			line += ", " + h.reason()
		}
		if h.latency > 0 {
			line += " (" + latencyText(h.latency) + "s latency)"
		}
		fmt.Fprintln(w, line+".")
		if verbose && s.verbose.level > 1 && !s.opts.PingOnly {
			fmt.Fprintf(w, "Scanned at %s for %ds\n", s.start.Format("2006-01-02 15:04:05 MST"), int(elapsed.Seconds()))
		}
		if s.opts.PingOnly {
			if mac, ok := s.macOf(h.addr); ok {
				fmt.Fprintf(w, "MAC Address: %s (%s)\n", mac, macVendor(mac))
			}
			continue
		}
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
		if mac, ok := s.macOf(h.addr); ok {
			fmt.Fprintf(w, "MAC Address: %s (%s)\n", mac, macVendor(mac))
		}
		fmt.Fprintln(w)
	}
}

// normalTail writes the closing lines: nmap's note, "Nmap done".
func (s *scanner) normalTail(w io.Writer, t hostTally, elapsed time.Duration, file bool) {
	verbose := !file && s.verbose != nil
	if t.up == 0 && t.hosts == 1 {
		fmt.Fprintln(w, "Note: Host seems down. If it is really up, but blocking our ping probes, try -Pn")
	}
	done := doneText(t.hosts, t.up, elapsed)
	if s.services != nil {
		// nmap asks here for reports of wrong results; rawkit's rules are
		// its own, so only the first half is said.
		fmt.Fprintln(w, "Service detection performed.")
	}
	// (-sn reads no data file, unless for a MAC address's vendor.)
	if svc := nmapServices(); s.verbose != nil && svc != nil && (!s.opts.PingOnly || t.mac) {
		fmt.Fprintf(w, "Read data files from: %s\n", svc.dir)
	}
	if file {
		fmt.Fprintf(w, "# Nmap done at %s -- %s\n", time.Now().Format(time.ANSIC), done)
		return
	}
	fmt.Fprintf(w, "Nmap done: %s\n", done)
	if verbose {
		fmt.Fprint(w, s.verbose.packets())
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
	if s.services != nil {
		cells[0] = append(cells[0], "VERSION")
	}
	for _, r := range rows {
		v, found := s.services[netip.AddrPortFrom(r.Addr, r.Port)]
		name := ServiceName(proto, r.Port)
		if found {
			name = v.column()
		}
		row := []string{fmt.Sprintf("%d/%s", r.Port, proto), r.State.String(), name}
		if s.opts.Reason {
			row = append(row, nmapReason(r))
		}
		if s.services != nil {
			row = append(row, v.VersionText())
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
		// An empty last column leaves no trailing blanks, as nmap's.
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// grepHead opens nmap's -oG output.
func (s *scanner) grepHead(w io.Writer) {
	fmt.Fprintf(w, "# %s scan initiated %s as: %s\n", nmapBanner(), s.start.Format(time.ANSIC), s.cmdLine())
}

// grepHosts writes the -oG lines of each host up.
func (s *scanner) grepHosts(w io.Writer, hosts []hostResult, t *hostTally) {
	proto := s.opts.Type.Proto()
	t.hosts += len(hosts)
	for _, h := range hosts {
		if !h.up {
			continue
		}
		t.up++
		fmt.Fprintf(w, "Host: %s ()\tStatus: Up\n", h.addr)
		if s.opts.PingOnly {
			continue
		}
		rows, _, ignoredCounts := s.hostTable(h)
		var ports []string
		for _, r := range rows {
			name, version := ServiceName(proto, r.Port), ""
			if v, ok := s.services[netip.AddrPortFrom(r.Addr, r.Port)]; ok {
				name, version = v.column(), v.VersionText()
			}
			ports = append(ports, fmt.Sprintf("%d/%s/%s//%s//%s/", r.Port, r.State, proto, name, version))
		}
		line := fmt.Sprintf("Host: %s ()\tPorts: %s", h.addr, strings.Join(ports, ", "))
		for _, st := range ignoredOrder(ignoredCounts) {
			if n := ignoredCounts[st]; n > 0 {
				line += fmt.Sprintf("\tIgnored State: %s (%d)", st, n)
			}
		}
		fmt.Fprintln(w, line)
	}
}

// grepTail writes -oG's closing comment.
func (s *scanner) grepTail(w io.Writer, t hostTally, elapsed time.Duration) {
	fmt.Fprintf(w, "# Nmap done at %s -- %s\n", time.Now().Format(time.ANSIC), doneText(t.hosts, t.up, elapsed))
}

// doneText is nmap's closing count: "1 IP address (1 host up) scanned in
// 0.09 seconds".
func doneText(hosts, up int, elapsed time.Duration) string {
	return fmt.Sprintf("%s (%s) scanned in %.2f seconds", plural(hosts, "IP address", "IP addresses"), plural(up, "host up", "hosts up"), elapsed.Seconds())
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

// attr escapes a value for an XML attribute.
func attr(v string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(v))
	return strings.ReplaceAll(b.String(), `"`, "&quot;")
}

// xmlHead opens nmap's XML output (-oX), line for line as nmap 7 writes
// it, so that ndiff and nmap.xsl read it: the stylesheet line, nmaprun
// with scaninfo, the hints of hosts found by ARP or ND ping. xmlHosts
// writes a host element per host up with its ports (extraports for the
// states left out, as in the normal output), xmlTail the runstats, whose
// finished element says exit="error" for an interrupted scan.
func (s *scanner) xmlHead(w io.Writer) {
	proto := s.opts.Type.Proto()
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n")
	fmt.Fprintf(w, "<?xml-stylesheet href=\"file:///usr/bin/../share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n")
	// As nmap: "--" may not stand in an XML comment, its second dash
	// becomes a character reference.
	fmt.Fprintf(w, "<!-- %s scan initiated %s as: %s -->\n", nmapBanner(), s.start.Format(time.ANSIC),
		strings.ReplaceAll(s.cmdLine(), "--", "-&#45;"))
	fmt.Fprintf(w, "<nmaprun scanner=\"portscan\" args=\"%s\" start=\"%d\" startstr=\"%s\" version=\"%s\" xmloutputversion=\"1.05\">\n",
		attr(s.cmdLine()), s.start.Unix(), s.start.Format(time.ANSIC), attr(report.Version()))
	if !s.opts.PingOnly { // -sn scans no ports
		fmt.Fprintf(w, "<scaninfo type=\"%s\" protocol=\"%s\" numservices=\"%d\" services=\"%s\"/>\n", s.opts.Type, proto, len(s.ports), FormatPorts(s.ports))
	}
	fmt.Fprintf(w, "<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n")
	if !s.opts.PingOnly {
		// nmap's hint of the hosts its ARP or ND ping found, written as
		// that phase ends (before the hosts' own elements).
		for i, h := range s.disc {
			if h.up && (h.why == "arp-response" || h.why == "nd-response") {
				a := s.allTargets[i]
				typ := "ipv4"
				if a.Is6() {
					typ = "ipv6"
				}
				fmt.Fprintf(w, "<hosthint><status state=\"up\" reason=\"%s\" reason_ttl=\"0\"/>\n", h.why)
				fmt.Fprintf(w, "<address addr=\"%s\" addrtype=\"%s\"/>\n", a, typ)
				if h.mac != "" {
					fmt.Fprintf(w, "<address addr=\"%s\" addrtype=\"mac\"/>\n", h.mac)
				}
				fmt.Fprintf(w, "<hostnames>\n</hostnames>\n</hosthint>\n")
			}
		}
	}
}

// xmlHosts writes a host element for each host up.
func (s *scanner) xmlHosts(w io.Writer, hosts []hostResult, t *hostTally) {
	end := time.Now()
	proto := s.opts.Type.Proto()
	t.hosts += len(hosts)
	for _, h := range hosts {
		if !h.up {
			continue
		}
		t.up++
		typ := "ipv4"
		if h.addr.Is6() {
			typ = "ipv6"
		}
		reason, ttl := "user-set", 0
		if !s.opts.SkipDiscovery {
			reason, ttl = h.firstAnswer()
		}
		times := fmt.Sprintf(" starttime=\"%d\" endtime=\"%d\"", s.start.Unix(), end.Unix())
		if s.opts.PingOnly {
			times = ""
		}
		fmt.Fprintf(w, "<host%s><status state=\"up\" reason=\"%s\" reason_ttl=\"%d\"/>\n", times, reason, ttl)
		fmt.Fprintf(w, "<address addr=\"%s\" addrtype=\"%s\"/>\n", h.addr, typ)
		if mac, ok := s.macOf(h.addr); ok {
			vendor := ""
			if v := macVendor(mac); v != "Unknown" {
				vendor = fmt.Sprintf(" vendor=\"%s\"", attr(v))
			}
			fmt.Fprintf(w, "<address addr=\"%s\" addrtype=\"mac\"%s/>\n", mac, vendor)
		}
		fmt.Fprintf(w, "<hostnames>\n</hostnames>\n")
		if s.opts.PingOnly {
			if h.why != "localhost-response" { // (nmap times no probe to itself)
				srtt, rttvar := h.rttStats()
				fmt.Fprintf(w, "<times srtt=\"%d\" rttvar=\"%d\" to=\"%d\"/>\n", srtt, rttvar, max(100000, srtt+4*rttvar))
			}
			fmt.Fprintf(w, "</host>\n")
			continue
		}
		fmt.Fprintf(w, "<ports>")
		rows, _, ignored := s.hostTable(h)
		for _, st := range ignoredOrder(ignored) {
			n := ignored[st]
			if n == 0 {
				continue
			}
			fmt.Fprintf(w, "<extraports state=\"%s\" count=\"%d\">\n", st, n)
			byReason := map[string][]uint16{}
			var order []string
			for _, r := range h.ports {
				if r.State == st && s.ignored(st, n) {
					if byReason[r.Reason] == nil {
						order = append(order, r.Reason)
					}
					byReason[r.Reason] = append(byReason[r.Reason], r.Port)
				}
			}
			for _, reason := range order {
				fmt.Fprintf(w, "<extrareasons reason=\"%s\" count=\"%d\" proto=\"%s\" ports=\"%s\"/>\n", reason, len(byReason[reason]), proto, FormatPorts(byReason[reason]))
			}
			fmt.Fprintf(w, "</extraports>\n")
		}
		for i, r := range rows {
			if i > 0 {
				fmt.Fprintln(w)
			}
			state := fmt.Sprintf("<state state=\"%s\" reason=\"%s\" reason_ttl=\"%d\"", r.State, r.Reason, r.TTL)
			if r.From.IsValid() && r.From != r.Addr {
				state += fmt.Sprintf(" reason_ip=\"%s\"", r.From)
			}
			service := fmt.Sprintf("<service name=\"%s\" method=\"table\" conf=\"3\"/>", attr(ServiceName(proto, r.Port)))
			if v, ok := s.services[netip.AddrPortFrom(r.Addr, r.Port)]; ok {
				service = v.xml()
			}
			fmt.Fprintf(w, "<port protocol=\"%s\" portid=\"%d\">%s/>%s</port>", proto, r.Port, state, service)
		}
		if len(rows) > 0 {
			fmt.Fprintln(w)
		}
		srtt, rttvar := h.rttStats()
		fmt.Fprintf(w, "</ports>\n<times srtt=\"%d\" rttvar=\"%d\" to=\"%d\"/>\n</host>\n", srtt, rttvar, max(100000, srtt+4*rttvar))
	}
}

// xmlTail writes runstats and closes nmaprun.
func (s *scanner) xmlTail(w io.Writer, t hostTally, elapsed time.Duration, sum summary) {
	end := time.Now()
	exit, errmsg := "success", ""
	if sum.Interrupted {
		exit, errmsg = "error", fmt.Sprintf(" errormsg=\"interrupted: %d probes never sent\"", sum.Unprobed)
	}
	done := doneText(t.hosts, t.up, elapsed)
	fmt.Fprintf(w, "<runstats><finished time=\"%d\" timestr=\"%s\" summary=\"Nmap done at %s; %s\" elapsed=\"%.2f\" exit=\"%s\"%s/><hosts up=\"%d\" down=\"%d\" total=\"%d\"/>\n",
		end.Unix(), end.Format(time.ANSIC), end.Format(time.ANSIC), done, elapsed.Seconds(), exit, errmsg, t.up, t.hosts-t.up, t.hosts)
	fmt.Fprintf(w, "</runstats>\n</nmaprun>\n")
}

// firstAnswer is the reason (and TTL) the host is known to be up by.
func (h hostResult) firstAnswer() (string, int) { return h.why, h.ttl }

// rttStats are the mean and deviation of the host's answers' RTTs, in
// microseconds, for nmap's times element.
func (h hostResult) rttStats() (int64, int64) {
	var sum, n float64
	var rtts []float64
	for _, r := range h.ports {
		if r.RTT > 0 {
			us := float64(r.RTT.Microseconds())
			rtts, sum, n = append(rtts, us), sum+us, n+1
		}
	}
	if n == 0 {
		return 0, 0
	}
	mean := sum / n
	dev := 0.0
	for _, v := range rtts {
		dev += math.Abs(v - mean)
	}
	return int64(mean), int64(dev / n)
}

// anyMAC reports whether a host up has a MAC address to print.
func (s *scanner) anyMAC(hosts []hostResult) bool {
	for _, h := range hosts {
		if _, ok := s.macOf(h.addr); ok && h.up {
			return true
		}
	}
	return false
}
