package scan

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rawkit/rawkit/report"
)

// summary is the scan's totals.
type summary struct {
	Targets      int     `json:"targets"`
	Ports        int     `json:"ports"`
	Open         int     `json:"open"`
	Closed       int     `json:"closed"`
	Filtered     int     `json:"filtered"`
	OpenFiltered int     `json:"open_filtered"`
	Probes       uint64  `json:"probes"`
	Duration     float64 `json:"duration_ms"`
	Rate         float64 `json:"rate_pps"`
	Shard        string  `json:"shard"`
	Seed         uint64  `json:"seed"`
	Type         string  `json:"scan"`
}

func summarize(s *scanner, results []Result, d time.Duration) summary {
	sum := summary{Targets: len(s.targets), Ports: len(s.ports), Probes: s.sent.Load(),
		Duration: report.Millis(d), Shard: fmt.Sprintf("%d/%d", s.opts.Shard.I, s.opts.Shard.N),
		Seed: s.opts.Seed, Type: s.opts.Type.String()}
	if d > 0 {
		sum.Rate = float64(sum.Probes) / d.Seconds()
	}
	for _, r := range results {
		switch r.State {
		case Open:
			sum.Open++
		case Closed:
			sum.Closed++
		case Filtered:
			sum.Filtered++
		case OpenFiltered:
			sum.OpenFiltered++
		}
	}
	return sum
}

func (r Result) reasonText() string {
	if r.From.IsValid() && r.From != r.Addr {
		return r.Reason + " from " + r.From.String()
	}
	return r.Reason
}

func writeOutputs(s *scanner, results []Result, sum summary, stdout io.Writer) error {
	w := bufio.NewWriter(stdout)
	if s.opts.JSON {
		writeJSON(s, results, sum, w)
	} else {
		writeText(s, results, sum, w)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if s.opts.XMLFile != "" {
		return writeXML(s, results, sum)
	}
	return nil
}

// shown reports whether a result is listed: open ones always (UDP's
// open|filtered too), every one with --all.
func (s *scanner) shown(r Result) bool {
	return s.opts.All || r.State == Open || s.opts.Type == UDP && r.State == OpenFiltered && len(s.ports) <= 100
}

func writeText(s *scanner, results []Result, sum summary, w io.Writer) {
	fmt.Fprintf(w, "Starting rawkit portscan (%s scan) at %s\n", s.opts.Type, s.start.UTC().Format("2006-01-02 15:04 MST"))
	proto := s.opts.Type.Proto()
	for i := 0; i < len(results); {
		j := i
		for j < len(results) && results[j].Addr == results[i].Addr {
			j++
		}
		host := results[i:j]
		fmt.Fprintf(w, "\nScan report for %s\n", host[0].Addr)
		hidden := map[string]int{}
		var rows []Result
		for _, r := range host {
			if s.shown(r) {
				rows = append(rows, r)
			} else {
				hidden[r.State.String()+" "+proto+" ports ("+r.Reason+")"]++
			}
		}
		if len(rows) > 0 {
			fmt.Fprintf(w, "%-9s %-14s %-15s %s\n", "PORT", "STATE", "SERVICE", "REASON")
			for _, r := range rows {
				reason := r.reasonText()
				if r.TTL > 0 {
					reason += fmt.Sprintf(" ttl %d", r.TTL)
				}
				fmt.Fprintf(w, "%-9s %-14s %-15s %s\n", fmt.Sprintf("%d/%s", r.Port, proto), r.State, Service(r.Port), reason)
			}
		}
		if len(hidden) > 0 {
			var parts []string
			for k, n := range hidden {
				parts = append(parts, fmt.Sprintf("%d %s", n, k))
			}
			sort.Strings(parts)
			fmt.Fprintf(w, "Not shown: %s\n", strings.Join(parts, ", "))
		}
		i = j
	}
	fmt.Fprintf(w, "\nScanned %d targets × %d ports (shard %s) in %.2f s, %d probes (%.0f/s): %d open, %d closed, %d filtered",
		sum.Targets, sum.Ports, sum.Shard, sum.Duration/1000, sum.Probes, sum.Rate, sum.Open, sum.Closed, sum.Filtered)
	if sum.OpenFiltered > 0 {
		fmt.Fprintf(w, ", %d open|filtered", sum.OpenFiltered)
	}
	fmt.Fprintln(w)
}

type jsonPort struct {
	IP     string  `json:"ip"`
	Port   uint16  `json:"port"`
	Proto  string  `json:"proto"`
	State  string  `json:"state"`
	Reason string  `json:"reason"`
	From   string  `json:"from,omitempty"`
	TTL    int     `json:"ttl"`
	RTT    float64 `json:"rtt_ms"`
}

func writeJSON(s *scanner, results []Result, sum summary, w io.Writer) {
	jw := report.NewJSONWriter(w, "portscan")
	for _, r := range results {
		if !s.shown(r) {
			continue
		}
		rec := jsonPort{IP: r.Addr.String(), Port: r.Port, Proto: s.opts.Type.Proto(), State: r.State.String(),
			Reason: r.Reason, TTL: r.TTL, RTT: report.Millis(r.RTT)}
		if r.From.IsValid() {
			rec.From = r.From.String()
		}
		jw.Write("port", rec)
	}
	jw.Write("summary", sum)
	jw.Flush()
}

// nmap's XML output (nmap.dtd), enough for tools that read it.
type xmlRun struct {
	XMLName  xml.Name  `xml:"nmaprun"`
	Scanner  string    `xml:"scanner,attr"`
	Args     string    `xml:"args,attr"`
	Start    int64     `xml:"start,attr"`
	Version  string    `xml:"version,attr"`
	Info     xmlInfo   `xml:"scaninfo"`
	Hosts    []xmlHost `xml:"host"`
	Finished xmlStats  `xml:"runstats>finished"`
	HostsRun xmlCount  `xml:"runstats>hosts"`
}

type xmlInfo struct {
	Type     string `xml:"type,attr"`
	Protocol string `xml:"protocol,attr"`
	Services string `xml:"services,attr"`
}

type xmlHost struct {
	Status  xmlStatus  `xml:"status"`
	Address xmlAddress `xml:"address"`
	Extra   []xmlExtra `xml:"ports>extraports,omitempty"`
	Ports   []xmlPort  `xml:"ports>port"`
}

type xmlStatus struct {
	State  string `xml:"state,attr"`
	Reason string `xml:"reason,attr"`
}

type xmlAddress struct {
	Addr string `xml:"addr,attr"`
	Type string `xml:"addrtype,attr"`
}

type xmlExtra struct {
	State string `xml:"state,attr"`
	Count int    `xml:"count,attr"`
}

type xmlPort struct {
	Protocol string     `xml:"protocol,attr"`
	Port     uint16     `xml:"portid,attr"`
	State    xmlState   `xml:"state"`
	Service  xmlService `xml:"service"`
}

type xmlState struct {
	State     string `xml:"state,attr"`
	Reason    string `xml:"reason,attr"`
	ReasonTTL int    `xml:"reason_ttl,attr"`
	ReasonIP  string `xml:"reason_ip,attr,omitempty"`
}

type xmlService struct {
	Name   string `xml:"name,attr"`
	Method string `xml:"method,attr"`
}

type xmlStats struct {
	Time    int64   `xml:"time,attr"`
	Elapsed float64 `xml:"elapsed,attr"`
	Summary string  `xml:"summary,attr"`
}

type xmlCount struct {
	Up    int `xml:"up,attr"`
	Total int `xml:"total,attr"`
}

func writeXML(s *scanner, results []Result, sum summary) error {
	scanType := map[Type]string{SYN: "syn", Connect: "connect", UDP: "udp"}[s.opts.Type]
	run := xmlRun{Scanner: "rawkit-portscan", Args: strings.Join(os.Args, " "), Start: s.start.Unix(), Version: "1",
		Info:     xmlInfo{Type: scanType, Protocol: s.opts.Type.Proto(), Services: FormatPorts(s.ports)},
		Finished: xmlStats{Time: time.Now().Unix(), Elapsed: sum.Duration / 1000, Summary: fmt.Sprintf("%d hosts scanned", sum.Targets)},
		HostsRun: xmlCount{Up: sum.Targets, Total: sum.Targets}}
	byAddr := map[netip.Addr]*xmlHost{}
	var order []netip.Addr
	for _, r := range results {
		h := byAddr[r.Addr]
		if h == nil {
			typ := "ipv4"
			if r.Addr.Is6() {
				typ = "ipv6"
			}
			h = &xmlHost{Status: xmlStatus{State: "up", Reason: "user-set"}, Address: xmlAddress{Addr: r.Addr.String(), Type: typ}}
			byAddr[r.Addr] = h
			order = append(order, r.Addr)
		}
		if !s.shown(r) {
			found := false
			for i := range h.Extra {
				if h.Extra[i].State == r.State.String() {
					h.Extra[i].Count++
					found = true
				}
			}
			if !found {
				h.Extra = append(h.Extra, xmlExtra{State: r.State.String(), Count: 1})
			}
			continue
		}
		st := xmlState{State: r.State.String(), Reason: r.Reason, ReasonTTL: r.TTL}
		if r.From.IsValid() {
			st.ReasonIP = r.From.String()
		}
		h.Ports = append(h.Ports, xmlPort{Protocol: s.opts.Type.Proto(), Port: r.Port, State: st,
			Service: xmlService{Name: Service(r.Port), Method: "table"}})
	}
	for _, a := range order {
		run.Hosts = append(run.Hosts, *byAddr[a])
	}
	f, err := os.Create(s.opts.XMLFile)
	if err != nil {
		return err
	}
	io.WriteString(f, xml.Header+"<!DOCTYPE nmaprun>\n")
	enc := xml.NewEncoder(f)
	enc.Indent("", "  ")
	if err := enc.Encode(run); err != nil {
		f.Close()
		return err
	}
	io.WriteString(f, "\n")
	return f.Close()
}

// check evaluates an --expect; it returns what failed, or "".
func (e Expectation) check(s *scanner, results []Result, sum summary) string {
	if e.Metric != nil {
		v := map[string]float64{"open": float64(sum.Open), "closed": float64(sum.Closed), "filtered": float64(sum.Filtered)}[e.Metric.Metric.Name]
		if !e.Metric.Check(v) {
			return e.Metric.Failure(v)
		}
		return ""
	}
	var bad []string
	for _, p := range e.Ports {
		if s.portIdx[p] < 0 {
			bad = append(bad, fmt.Sprintf("port %d was not scanned", p))
		}
	}
	for _, r := range results {
		for _, p := range e.Ports {
			if r.Port == p && r.State != e.State {
				bad = append(bad, fmt.Sprintf("%s port %d is %s", r.Addr, p, r.State))
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Sprintf("expect %s failed: %s", e.Text, strings.Join(bad, "; "))
	}
	return ""
}
