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
		Probes: s.opts.Shard.Count(s.n), Start: s.start.UTC().Format(report.TimeFormat), End: end.UTC().Format(report.TimeFormat),
		All: s.opts.All, Pn: s.opts.SkipDiscovery, Interrupted: sum.Interrupted, Complete: sum.Complete, Answered: sum.Answered, Resent: sum.Resent, GivenUp: sum.GivenUp}
}

func summarize(s *scanner, results []Result, d time.Duration) summary {
	targets := len(s.targets)
	if s.disc != nil {
		targets = len(s.allTargets)
	}
	sum := summary{Targets: targets, Ports: len(s.ports), Probes: s.sent.Load(),
		Duration: report.Millis(d), Shard: fmt.Sprintf("%d/%d", s.opts.Shard.I, s.opts.Shard.N),
		Seed: s.opts.Seed, Type: s.opts.Type.String()}
	if d > 0 {
		sum.Rate = float64(sum.Probes) / d.Seconds()
	}
	if s.table == nil {
		sum.Open, sum.Closed = int(s.counts[Open].Load()), int(s.counts[Closed].Load())
		sum.Filtered, sum.OpenFiltered = int(s.counts[Filtered].Load()), int(s.counts[OpenFiltered].Load())
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
		if err := writeJSON(s, results, sum, w); err != nil {
			return err
		}
	case s.opts.XMLFile == "-":
		s.writeXML(w, results, elapsed, sum)
	case s.opts.GrepFile == "-":
		s.writeGrepable(w, results, elapsed)
	case s.opts.NormalFile == "-":
		s.writeNormal(w, results, elapsed, true)
	default:
		s.writeNormal(w, results, elapsed, false)
		if s.prev != nil {
			s.writeChanges(w)
		}
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
		{files.xml, func(w io.Writer) error { s.writeXML(w, results, elapsed, sum); return nil }},
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

func writeJSON(s *scanner, results []Result, sum summary, w io.Writer) error {
	jw := s.stream
	if jw == nil {
		jw = report.NewJSONWriter(w, "portscan")
	}
	for _, r := range results {
		if !s.jsonShown(r) || s.streamed != nil && s.streamed.has(r.idx) && r.State == Open {
			continue // written as it was found
		}
		jw.Write("port", s.jsonPort(r))
	}
	for _, c := range s.changes {
		jw.Write("change", c)
	}
	jw.Write("manifest", s.manifestOf(sum, time.Now()))
	jw.Write("summary", sum)
	return jw.Flush() // a write error is sticky: the first one is here
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
