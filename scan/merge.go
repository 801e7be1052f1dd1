package scan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rawkit/rawkit/report"
)

// MergeOptions configure Merge.
type MergeOptions struct {
	// Files are the shards' --json outputs; "-" is standard input.
	Files []string
	// XMLFile, NormalFile and GrepFile write nmap's formats ("-" for
	// stdout instead of NDJSON); they need shards run with --all.
	XMLFile, NormalFile, GrepFile string
	CmdLine                       []string
}

// shardOutput is what one shard's --json output holds.
type shardOutput struct {
	name        string
	manifest    manifest
	hasManifest bool // outputs before manifests existed have none
	ports       []jsonPort
	services    []jsonService // -sV's records
	summary     summary
}

// Merge checks that the shards' outputs make one scan, every shard
// present once, and writes the whole scan's results: NDJSON (port
// records by address and port, then the merged summary), or nmap's
// formats. A shard missing or interrupted is the network's no (exit 1),
// naming it; files of different scans are bad input (exit 2). Two
// outputs of one shard (a retried pod) are one: the complete one, or
// the later.
func Merge(opts MergeOptions, stdout, stderr io.Writer) error {
	if len(opts.Files) == 0 {
		return report.Usagef("name the shards' --json outputs")
	}
	var shards []*shardOutput
	for _, name := range opts.Files {
		so, err := readShard(name)
		if err != nil {
			return err
		}
		if !so.hasManifest {
			return report.Usagef("%s has no manifest: not a whole portscan --json output (killed before its end?)", name)
		}
		if so.manifest.Shards == 0 || so.manifest.Shard >= so.manifest.Shards {
			return report.Usagef("%s: shard %d of %d", name, so.manifest.Shard, so.manifest.Shards)
		}
		shards = append(shards, so)
	}
	first := shards[0].manifest
	byIndex := map[uint64]*shardOutput{}
	for _, so := range shards {
		m := so.manifest
		switch {
		case m.Scan != first.Scan:
			return report.Usagef("%s is of another scan than %s (%s %s over %d targets, sha256 %.12s, not %s %s over %d, %.12s)",
				so.name, shards[0].name, m.Scan.Type, m.Scan.Ports, m.Scan.Targets, m.Scan.Hash, first.Scan.Type, first.Scan.Ports, first.Scan.Targets, first.Scan.Hash)
		case m.Seed != first.Seed:
			return report.Usagef("%s has seed %d, %s seed %d: shards of one scan share a seed", so.name, m.Seed, shards[0].name, first.Seed)
		case m.Shards != first.Shards:
			return report.Usagef("%s is a shard of %d, %s of %d", so.name, m.Shards, shards[0].name, first.Shards)
		}
		if old, ok := byIndex[m.Shard]; ok {
			keep := better(old, so)
			fmt.Fprintf(stderr, "portscan merge: shard %d twice (%s, %s): %s taken\n", m.Shard, old.name, so.name, keep.name)
			byIndex[m.Shard] = keep
			continue
		}
		byIndex[m.Shard] = so
	}
	var missing, interrupted []string
	for i := range first.Shards {
		so, ok := byIndex[i]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprint(i))
		case so.manifest.Interrupted:
			interrupted = append(interrupted, fmt.Sprintf("%d (%s)", i, so.name))
		}
	}
	if len(missing) > 0 {
		return &report.Error{Code: report.ExitNetwork, Err: fmt.Errorf("shard %s of %d (0-based) missing: the scan is not whole", strings.Join(missing, ", "), first.Shards)}
	}
	// Every shard's port records, each port once.
	seen := map[string]bool{}
	var ports []jsonPort
	var sum summary
	for i := range first.Shards {
		so := byIndex[i]
		for _, p := range so.ports {
			k := p.IP + " " + fmt.Sprint(p.Port)
			if !seen[k] {
				seen[k] = true
				ports = append(ports, p)
			}
		}
		add(&sum, so.summary)
	}
	slices.SortFunc(ports, func(a, b jsonPort) int { return byAddrPort(a.IP, a.Port, b.IP, b.Port) })
	sum.Shard = fmt.Sprintf("all/%d", first.Shards)
	sum.Seed, sum.Type, sum.Targets = first.Seed, first.Scan.Type, first.Scan.Targets
	sum.Interrupted = len(interrupted) > 0
	if sum.Interrupted {
		sum.Degraded = append(sum.Degraded, "shard "+strings.Join(interrupted, ", ")+" interrupted")
	}
	sum.Complete = len(sum.Degraded) == 0
	if err := writeMerged(opts, first, byIndex, ports, sum, stdout); err != nil {
		return err
	}
	if sum.Interrupted {
		return &report.Error{Code: report.ExitNetwork, Err: fmt.Errorf("shard %s interrupted: the results are partial", strings.Join(interrupted, ", "))}
	}
	return nil
}

// better is the output of a shard to keep of two: the whole one, else
// the later.
func better(a, b *shardOutput) *shardOutput {
	if a.manifest.Interrupted != b.manifest.Interrupted {
		if a.manifest.Interrupted {
			return b
		}
		return a
	}
	if b.manifest.End > a.manifest.End {
		return b
	}
	return a
}

// add sums a shard's summary into sum.
func add(sum *summary, s summary) {
	sum.Ports = s.Ports
	sum.Open += s.Open
	sum.Closed += s.Closed
	sum.Filtered += s.Filtered
	sum.OpenFiltered += s.OpenFiltered
	sum.Probes += s.Probes
	sum.Duration = max(sum.Duration, s.Duration)
	sum.Unprobed += s.Unprobed
	sum.LocalDrops += s.LocalDrops
	sum.Answered += s.Answered
	sum.Resent += s.Resent
	sum.GivenUp += s.GivenUp
	sum.Degraded = append(sum.Degraded, s.Degraded...)
}

// readShard reads one portscan --json output (a shard's for merge, an
// earlier scan's for --diff): bad input when it is not one, or was cut
// before its summary.
func readShard(name string) (*shardOutput, error) {
	f := os.Stdin
	if name != "-" {
		var err error
		if f, err = os.Open(name); err != nil {
			return nil, report.Usagef("%v", unwrapPath(err))
		}
		defer f.Close()
	}
	so := &shardOutput{name: name}
	var hasSummary bool
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var rec struct {
			Tool string `json:"tool"`
			Type string `json:"type"`
		}
		b := sc.Bytes()
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, report.Usagef("%s line %d: not NDJSON: %v", name, line, err)
		}
		if rec.Tool != "portscan" {
			return nil, report.Usagef("%s line %d: a record of %q, not of portscan", name, line, rec.Tool)
		}
		var err error
		switch rec.Type {
		case "port":
			var p jsonPort
			err = json.Unmarshal(b, &p)
			so.ports = append(so.ports, p)
		case "service":
			var v jsonService
			err = json.Unmarshal(b, &v)
			so.services = append(so.services, v)
		case "manifest":
			err, so.hasManifest = json.Unmarshal(b, &so.manifest), true
		case "summary":
			err, hasSummary = json.Unmarshal(b, &so.summary), true
		}
		if err != nil {
			return nil, report.Usagef("%s line %d: %v", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, report.Usagef("%s: %v", name, err)
	}
	if !hasSummary {
		return nil, report.Usagef("%s has no summary: not a whole portscan --json output (killed before its end?)", name)
	}
	return so, nil
}

// writeMerged writes the merged scan: NDJSON, or nmap's formats rebuilt
// from every port's record (shards run with --all).
func writeMerged(opts MergeOptions, m manifest, shards map[uint64]*shardOutput, ports []jsonPort, sum summary, stdout io.Writer) error {
	nmapFormats := opts.XMLFile != "" || opts.NormalFile != "" || opts.GrepFile != ""
	if !nmapFormats || (opts.XMLFile != "-" && opts.NormalFile != "-" && opts.GrepFile != "-") {
		jw := report.NewJSONWriter(stdout, "portscan")
		for _, p := range ports {
			jw.Write("port", p)
		}
		jw.Write("summary", sum)
		if err := jw.Flush(); err != nil {
			return err
		}
	}
	if !nmapFormats {
		return nil
	}
	for _, so := range shards {
		if !so.manifest.All {
			return report.Usagef("nmap's formats need every port's state: run the shards with --all (%s was not)", so.name)
		}
	}
	s, results, err := rebuild(m, ports, opts.CmdLine)
	if err != nil {
		return err
	}
	s.opts.XMLFile, s.opts.NormalFile, s.opts.GrepFile = opts.XMLFile, opts.NormalFile, opts.GrepFile
	files, err := openOutputs(s.opts)
	if err != nil {
		return err
	}
	defer files.close()
	w := stdout
	if opts.XMLFile != "-" && opts.NormalFile != "-" && opts.GrepFile != "-" {
		w = io.Discard // NDJSON went there
	}
	s.opts.JSON = false
	return writeOutputs(s, results, sum, w, files)
}

// rebuild makes a scanner and its results from port records: targets
// and ports as the records name them, in order.
func rebuild(m manifest, ports []jsonPort, cmdLine []string) (*scanner, []Result, error) {
	s := &scanner{opts: Options{CmdLine: cmdLine, Seed: m.Seed, SkipDiscovery: m.Pn}, start: time.Now()}
	if t, err := time.Parse(report.TimeFormat, m.Start); err == nil {
		s.start = t
	}
	for t := SYN; t <= UDP; t++ {
		if t.String() == m.Scan.Type {
			s.opts.Type = t
		}
	}
	var err error
	if s.ports, err = ParsePorts(m.Scan.Ports); err != nil {
		return nil, nil, report.Usagef("the manifest's ports %q: %v", m.Scan.Ports, err)
	}
	var results []Result
	for _, p := range ports {
		a, err := netip.ParseAddr(p.IP)
		if err != nil {
			return nil, nil, report.Usagef("address %q: %v", p.IP, err)
		}
		if len(s.targets) == 0 || s.targets[len(s.targets)-1] != a {
			s.targets = append(s.targets, a)
		}
		r := Result{Addr: a, Port: p.Port, Reason: p.Reason, TTL: p.TTL, RTT: time.Duration(p.RTT * float64(time.Millisecond))}
		for st := Open; st <= Unfiltered; st++ {
			if st.String() == p.State {
				r.State = st
			}
		}
		r.From, _ = netip.ParseAddr(p.From)
		results = append(results, r)
	}
	s.scanned, s.groupHosts = s.targets, max(len(s.targets), 1)
	return s, results, nil
}
