package scan

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
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
	// Interrupted is set when a signal or --host-timeout ended the scan
	// early; Unprobed counts the probes of this shard never sent, whose
	// ports are left out of the results.
	Interrupted bool   `json:"interrupted"`
	Unprobed    uint64 `json:"unprobed"`
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

// outputFiles are the -oN, -oG and -oX files, opened before the scan.
type outputFiles struct {
	normal, grep, xml *os.File
}

func openOutputs(o Options) (*outputFiles, error) {
	out := &outputFiles{}
	for _, f := range []struct {
		name string
		flag string
		to   **os.File
	}{{o.NormalFile, "-oN", &out.normal}, {o.GrepFile, "-oG", &out.grep}, {o.XMLFile, "-oX", &out.xml}} {
		if f.name == "" || f.name == "-" {
			continue
		}
		file, err := os.Create(f.name)
		if err != nil {
			out.close()
			return nil, report.Usagef("%s %s: %v", f.flag, f.name, unwrapPath(err))
		}
		*f.to = file
	}
	return out, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (o *outputFiles) close() {
	for _, f := range []*os.File{o.normal, o.grep, o.xml} {
		if f != nil {
			f.Close()
		}
	}
}

// writeOutputs writes the results: on stdout NDJSON (--json), or the one
// nmap format sent to "-", or nmap's normal output; and each file asked
// for.
func writeOutputs(s *scanner, results []Result, sum summary, stdout io.Writer, files *outputFiles) error {
	elapsed := time.Duration(sum.Duration * float64(time.Millisecond))
	w := bufio.NewWriter(stdout)
	switch {
	case s.opts.JSON:
		writeJSON(s, results, sum, w)
	case s.opts.XMLFile == "-":
		if err := writeXML(s, results, sum, w); err != nil {
			return err
		}
	case s.opts.GrepFile == "-":
		s.writeGrepable(w, results, elapsed)
	case s.opts.NormalFile == "-":
		s.writeNormal(w, results, elapsed, true)
	default:
		s.writeNormal(w, results, elapsed, false)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, f := range []struct {
		file  *os.File
		write func(io.Writer) error
	}{
		{files.normal, func(w io.Writer) error { s.writeNormal(w, results, elapsed, true); return nil }},
		{files.grep, func(w io.Writer) error { s.writeGrepable(w, results, elapsed); return nil }},
		{files.xml, func(w io.Writer) error { return writeXML(s, results, sum, w) }},
	} {
		if f.file == nil {
			continue
		}
		bw := bufio.NewWriter(f.file)
		if err := f.write(bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("%s: %w", f.file.Name(), err)
		}
	}
	return nil
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

// jsonShown reports whether a result gets a record: open ones always
// (UDP's open|filtered too, for up to 100 ports), every one with --all.
func (s *scanner) jsonShown(r Result) bool {
	return s.opts.All || r.State == Open || s.opts.Type == UDP && r.State == OpenFiltered && len(s.ports) <= 100
}

func writeJSON(s *scanner, results []Result, sum summary, w io.Writer) {
	jw := report.NewJSONWriter(w, "portscan")
	for _, r := range results {
		if !s.jsonShown(r) {
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
	Time     int64   `xml:"time,attr"`
	Elapsed  float64 `xml:"elapsed,attr"`
	Summary  string  `xml:"summary,attr"`
	Exit     string  `xml:"exit,attr"`
	ErrorMsg string  `xml:"errormsg,attr,omitempty"`
}

type xmlCount struct {
	Up    int `xml:"up,attr"`
	Total int `xml:"total,attr"`
}

func writeXML(s *scanner, results []Result, sum summary, w io.Writer) error {
	scanType := map[Type]string{SYN: "syn", Connect: "connect", UDP: "udp"}[s.opts.Type]
	run := xmlRun{Scanner: "rawkit-portscan", Args: strings.Join(os.Args, " "), Start: s.start.Unix(), Version: "1",
		Info:     xmlInfo{Type: scanType, Protocol: s.opts.Type.Proto(), Services: FormatPorts(s.ports)},
		Finished: xmlStats{Time: time.Now().Unix(), Elapsed: sum.Duration / 1000, Summary: fmt.Sprintf("%d hosts scanned", sum.Targets), Exit: "success"},
		HostsRun: xmlCount{Up: sum.Targets, Total: sum.Targets}}
	if sum.Interrupted {
		run.Finished.Exit = "error"
		run.Finished.ErrorMsg = fmt.Sprintf("interrupted: %d probes never sent", sum.Unprobed)
	}
	byAddr := map[netip.Addr]*xmlHost{}
	var order []netip.Addr
	type hostState struct {
		a  netip.Addr
		st State
	}
	counts := map[hostState]int{}
	for _, r := range results {
		counts[hostState{r.Addr, r.State}]++
	}
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
		if s.ignored(r.State, counts[hostState{r.Addr, r.State}]) {
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
			Service: xmlService{Name: ServiceName(s.opts.Type.Proto(), r.Port), Method: "table"}})
	}
	for _, a := range order {
		run.Hosts = append(run.Hosts, *byAddr[a])
	}
	io.WriteString(w, xml.Header+"<!DOCTYPE nmaprun>\n")
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(run); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
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
