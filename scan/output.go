package scan

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/rawkit/rawkit/internal/localdrop"
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
	// LocalDrops counts the sends a local firewall rule refused: the
	// reason those ports look filtered is here, not on the network.
	LocalDrops uint64 `json:"local_drops"`
	// Local is what the host's kernel counted as dropped on the way out
	// during a scan with unanswered probes, when it counted any.
	Local *localdrop.Snapshot `json:"local,omitempty"`
	// Answered, Resent and GivenUp count probes answered, sends that
	// were resends, and probes given up without an answer; LossPct is
	// the share of sends lost, estimated from the answers (the tries
	// before each).
	Answered uint64  `json:"answered"`
	Resent   uint64  `json:"resent"`
	GivenUp  uint64  `json:"given_up"`
	LossPct  float64 `json:"loss_pct"`
	// Complete says the scan finished whole: nothing interrupted it,
	// nothing local refused its probes, and at the loss seen its tries
	// leave less than half a port expected missed; Degraded says why
	// not.
	Complete bool     `json:"complete"`
	Degraded []string `json:"degraded,omitempty"`
}

// manifest is what a shard's --json output says of the scan it belongs
// to (written before the summary), so that merge needs only the shards'
// outputs.
type manifest struct {
	Scan   resumeScan `json:"scan"` // the whole scan: the same in every shard
	Seed   uint64     `json:"seed"`
	Shard  uint64     `json:"shard"`  // this shard's index, 0-based
	Shards uint64     `json:"shards"` // how many
	Probes uint64     `json:"probes"` // this shard's
	Start  string     `json:"start"`
	End    string     `json:"end"`
	// All says every port's result is in the output (--all): merge can
	// then write nmap's formats.
	All bool `json:"all"`
	// Pn says every target was taken as up (-Pn): merge writes nmap's
	// formats as the scan would have.
	Pn          bool   `json:"pn"`
	Interrupted bool   `json:"interrupted"`
	Complete    bool   `json:"complete"`
	Answered    uint64 `json:"answered"`
	Resent      uint64 `json:"resent"`
	GivenUp     uint64 `json:"given_up"`
}

// verdict fills the completeness of sum.
func (s *scanner) verdict(sum *summary) {
	s.mu.Lock()
	w := s.win
	sum.GivenUp = s.givenUp
	s.mu.Unlock()
	sum.Answered, sum.Resent = s.got.Load(), w.resends
	var why []string
	if sum.Interrupted {
		why = append(why, fmt.Sprintf("interrupted with %d probes never sent", sum.Unprobed))
	}
	if sum.LocalDrops > 0 {
		why = append(why, fmt.Sprintf("%d probes dropped by a local firewall rule", sum.LocalDrops))
	}
	if n := s.sendErrs.Load(); n > 0 {
		why = append(why, fmt.Sprintf("%d probes could not be sent", n))
	}
	if w.lostSends > 0 {
		q := float64(w.lostSends) / float64(w.lostSends+w.answers)
		sum.LossPct = 100 * q
		if miss := float64(sum.GivenUp) * math.Pow(q, float64(w.tries()+1)); miss >= 0.5 {
			why = append(why, fmt.Sprintf("at the loss seen (%.0f%% of sends) about %.0f of the %d ports given up may have answered: raise --max-retries", 100*q, miss, sum.GivenUp))
		}
	}
	sum.Complete, sum.Degraded = len(why) == 0, why
}

// manifestOf is this shard's manifest record.
func (s *scanner) manifestOf(sum summary, end time.Time) manifest {
	return manifest{Scan: s.scanID(false), Seed: s.opts.Seed, Shard: s.opts.Shard.I, Shards: s.opts.Shard.N,
		Probes: s.shardProbes(), Start: s.start.UTC().Format(report.TimeFormat), End: end.UTC().Format(report.TimeFormat),
		All: s.opts.All, Pn: s.opts.SkipDiscovery, Interrupted: sum.Interrupted, Complete: sum.Complete, Answered: sum.Answered, Resent: sum.Resent, GivenUp: sum.GivenUp}
}

func summarize(s *scanner, results []Result, d time.Duration) summary {
	targets := len(s.scanned)
	if s.disc != nil {
		targets = len(s.allTargets)
	}
	sum := summary{Targets: targets, Ports: len(s.ports), Probes: s.sent.Load(),
		Duration: report.Millis(d), Shard: fmt.Sprintf("%d/%d", s.opts.Shard.I, s.opts.Shard.N),
		Seed: s.opts.Seed, Type: s.opts.Type.String()}
	if d > 0 {
		sum.Rate = float64(sum.Probes) / d.Seconds()
	}
	for _, r := range results {
		sum.count(r.State)
	}
	return sum
}

// count adds a port in state st to the totals.
func (sum *summary) count(st State) {
	switch st {
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

// outputFiles are the -oN, -oG and -oX files, opened before the scan.
type outputFiles struct {
	normal, grep, xml *os.File
}

func openOutputs(o Options) (*outputFiles, error) {
	out := &outputFiles{}
	_, err := os.Stat(o.ResumeFile)
	resuming := o.ResumeFile != "" && err == nil
	for _, f := range []struct {
		name string
		flag string
		to   **os.File
	}{{o.NormalFile, "-oN", &out.normal}, {o.GrepFile, "-oG", &out.grep}, {o.XMLFile, "-oX", &out.xml}} {
		if f.name == "" || f.name == "-" {
			continue
		}
		flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if resuming {
			// As nmap's --resume: what this run finds follows what the
			// interrupted one wrote.
			flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		}
		file, err := os.OpenFile(f.name, flags, 0o666)
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
	o := newReportOutputs(s, stdout, files)
	o.head()
	o.hosts(s.byHost(results), results)
	return o.tail(sum)
}

// An output kind: what reportOutputs writes to one destination.
const (
	outJSON = iota
	outXML
	outGrep
	outNormalFile
	outNormal // nmap's normal output on the terminal
)

// reportOutputs writes a scan's report to each destination in three
// parts: the opening lines, the hosts (all at once, or a host group at a
// time), and the closing lines with the totals.
type reportOutputs struct {
	s     *scanner
	dests []reportDest
}

type reportDest struct {
	kind  int
	w     *bufio.Writer
	name  string // the file's, for errors; "" for stdout
	tally hostTally
}

func newReportOutputs(s *scanner, stdout io.Writer, files *outputFiles) *reportOutputs {
	kind := outNormal
	switch {
	case s.opts.JSON:
		kind = outJSON
	case s.opts.XMLFile == "-":
		kind = outXML
	case s.opts.GrepFile == "-":
		kind = outGrep
	case s.opts.NormalFile == "-":
		kind = outNormalFile
	}
	o := &reportOutputs{s: s, dests: []reportDest{{kind: kind, w: bufio.NewWriter(stdout)}}}
	for _, f := range []struct {
		file *os.File
		kind int
	}{{files.normal, outNormalFile}, {files.grep, outGrep}, {files.xml, outXML}} {
		if f.file != nil {
			o.dests = append(o.dests, reportDest{kind: f.kind, w: bufio.NewWriter(f.file), name: f.file.Name()})
		}
	}
	return o
}

func (o *reportOutputs) head() {
	s := o.s
	for _, d := range o.dests {
		switch d.kind {
		case outXML:
			s.xmlHead(d.w)
		case outGrep:
			s.grepHead(d.w)
		case outNormalFile, outNormal:
			s.normalHead(d.w, d.kind == outNormalFile)
		}
	}
}

// hosts writes hosts, whose ports are results.
func (o *reportOutputs) hosts(hosts []hostResult, results []Result) {
	s := o.s
	for i := range o.dests {
		d := &o.dests[i]
		switch d.kind {
		case outJSON:
			jw := s.jsonWriter(d.w)
			for _, r := range results {
				if !s.jsonShown(r) || s.streamed != nil && s.streamed.has(r.idx) && r.State == Open {
					continue // written as it was found
				}
				jw.Write("port", s.jsonPort(r))
			}
		case outXML:
			s.xmlHosts(d.w, hosts, &d.tally)
		case outGrep:
			s.grepHosts(d.w, hosts, &d.tally)
		case outNormalFile, outNormal:
			s.normalHosts(d.w, hosts, d.kind == outNormalFile, &d.tally)
		}
	}
}

// flush writes out what is buffered, so that a group's hosts are on
// disk when the next group starts.
func (o *reportOutputs) flush() error {
	for _, d := range o.dests {
		if d.kind == outJSON {
			if err := o.s.jsonWriter(d.w).Flush(); err != nil {
				return err
			}
		}
		if err := d.w.Flush(); err != nil {
			return o.pathErr(d, err)
		}
	}
	return nil
}

func (o *reportOutputs) pathErr(d reportDest, err error) error {
	if d.name != "" {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	return err
}

// tail writes the closing lines and the summary, and flushes.
func (o *reportOutputs) tail(sum summary) error {
	s := o.s
	elapsed := time.Duration(sum.Duration * float64(time.Millisecond))
	for i := range o.dests {
		d := &o.dests[i]
		if s.disc != nil && s.groups() > 1 {
			// Hosts discovery found down were in no group.
			d.tally.hosts += len(s.allTargets) - len(s.scanned)
		}
		switch d.kind {
		case outJSON:
			jw := s.jsonWriter(d.w)
			for _, c := range s.changes {
				jw.Write("change", c)
			}
			jw.Write("manifest", s.manifestOf(sum, time.Now()))
			jw.Write("summary", sum)
			if err := jw.Flush(); err != nil { // a write error is sticky: the first one is here
				return err
			}
		case outXML:
			s.xmlTail(d.w, d.tally, elapsed, sum)
		case outGrep:
			s.grepTail(d.w, d.tally, elapsed)
		case outNormalFile:
			s.normalTail(d.w, d.tally, elapsed, true)
		case outNormal:
			s.normalTail(d.w, d.tally, elapsed, false)
			if s.prev != nil {
				s.writeChanges(d.w)
			}
		}
		if err := d.w.Flush(); err != nil {
			return o.pathErr(*d, err)
		}
	}
	return nil
}

// jsonWriter is the scan's NDJSON stream (opened with --json, for the
// records written as found), or one on w.
func (s *scanner) jsonWriter(w io.Writer) *report.JSONWriter {
	if s.stream == nil {
		s.stream = report.NewJSONWriter(w, "portscan")
	}
	return s.stream
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

// jsonPort is r's NDJSON record.
func (s *scanner) jsonPort(r Result) jsonPort {
	rec := jsonPort{IP: r.Addr.String(), Port: r.Port, Proto: s.opts.Type.Proto(), State: r.State.String(),
		Reason: r.Reason, TTL: r.TTL, RTT: report.Millis(r.RTT)}
	if r.From.IsValid() {
		rec.From = r.From.String()
	}
	return rec
}

// nmap's XML output (nmap.dtd), enough for tools that read it.
// check evaluates an --expect; it returns what failed, or "".
func (e Expectation) check(s *scanner, results []Result, sum summary) string {
	if e.Metric != nil {
		v := map[string]float64{"open": float64(sum.Open), "closed": float64(sum.Closed), "filtered": float64(sum.Filtered)}[e.Metric.Metric.Name]
		if e.Metric.Metric.Name == "complete" && sum.Complete || e.Metric.Metric.Name == "unchanged" && len(s.changes) == 0 {
			v = 1
		}
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
	// A target discovery found down had none of its ports scanned: the
	// ports the expectation names are not in that state.
	for i, h := range s.disc {
		if !h.up {
			bad = append(bad, fmt.Sprintf("%s is down (no answer to host discovery), its ports were not scanned", s.allTargets[i]))
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
