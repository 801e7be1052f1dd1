package scan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rawkit/rawkit/report"
)

// pace decides when a probe may go. By default the window decides (a
// probe goes when there is room); --rate pins the pace instead (that many
// probes a second, room or not); --max-rate caps either; --min-rate lets
// a probe go without room while the scan is behind that rate. Sends that
// are due go in bursts of up to a millisecond's worth, so the pace costs
// no sleep per probe.
type pace struct {
	pinned, max, min float64 // probes per second; 0 for none
	next             int64   // ns since the start when the capped pace allows the next send
	n                float64 // probes sent
}

const paceBurst = int64(time.Millisecond)

func newPace(o Options) *pace {
	p := &pace{pinned: float64(o.Rate), max: float64(o.MaxRate), min: float64(o.MinRate)}
	if p.pinned > 0 && p.max > 0 {
		p.pinned = min(p.pinned, p.max)
	}
	return p
}

// capped is the rate sends may not exceed: the pinned or the maximum.
func (p *pace) capped() float64 {
	if p.pinned > 0 {
		return p.pinned
	}
	return p.max
}

// may reports whether a probe may go at now, given whether the window
// has room and the scan holds fewer probes than its bound.
func (p *pace) may(now int64, room, under bool) bool {
	if !under {
		return false
	}
	if r := p.capped(); r > 0 && now+paceBurst < p.next {
		return false
	}
	if p.pinned > 0 || room {
		return true
	}
	// Behind --min-rate: send without room.
	return p.min > 0 && p.n < float64(now)/1e9*p.min
}

// sent counts a send at now.
func (p *pace) sent(now int64) {
	p.n++
	if r := p.capped(); r > 0 {
		p.next = max(p.next, now-paceBurst) + int64(1e9/r)
	}
}

// wait is how long until the capped pace allows a send (an hour when
// nothing caps it).
func (p *pace) wait(now int64) time.Duration {
	if p.capped() == 0 {
		return time.Hour
	}
	return time.Duration(max(p.next-paceBurst-now, 0))
}

// progress writes a line with rate and ETA to stderr, when stderr is a
// terminal, a few times a second.
type progress struct {
	done chan struct{}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newProgress(s *scanner, w io.Writer) *progress {
	p := &progress{done: make(chan struct{})}
	if !s.opts.Progress || !isTerminal(w) {
		return p
	}
	total := s.opts.Shard.Count(s.n)
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				sent := s.sent.Load()
				el := time.Since(s.start).Seconds()
				rate := float64(sent) / max(el, 1e-3)
				eta := time.Duration(float64(total-min(sent, total))/max(rate, 1)) * time.Second
				fmt.Fprintf(w, "\r\033[K%d/%d probes, %.0f/s, %d answered, ETA %v", sent, total, rate, s.got.Load(), eta.Round(time.Second))
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
}

// resumeState is what --resume keeps: which scan it is (its targets,
// ports, type and shard, hashed; its seed) and where it was. Its size does
// not depend on the scan's: a resumed scan probes again from the record's
// place, the first probe of the host group that was not final, and writes
// what it finds after what the interrupted run wrote (the files of nmap's
// formats are appended to, as nmap's --resume does).
type resumeState struct {
	// Scan names what is resumed: the scan type, the ports, the number
	// of targets, and a hash over all of them, the targets and the shard;
	// a file whose hash differs is refused.
	Scan   resumeScan `json:"scan"`
	Seed   uint64     `json:"seed"`
	Shard  [2]uint64  `json:"shard"`
	Probes uint64     `json:"probes"`
	// Group is the host group the scan was in (0 for a scan of one
	// group), Next the first position of that group's permutation whose
	// probe was not final: the resumed scan starts there.
	Group int    `json:"group"`
	Next  uint64 `json:"next"`
}

type resumeScan struct {
	Type    string `json:"type"`
	Ports   string `json:"ports"`
	Targets int    `json:"targets"`
	Hash    string `json:"sha256"`
}

// identity is what a resume file must match.
func (s *scanner) identity() resumeScan { return s.scanID(true) }

// scanID names the scan: its type, ports, targets and number of shards,
// and with index, which shard this is. Without it, every shard of one
// scan has the same: what merge checks.
func (s *scanner) scanID(index bool) resumeScan {
	h := sha256.New()
	if index {
		fmt.Fprintf(h, "%s\n%s\n%d/%d\n", s.opts.Type, FormatPorts(s.ports), s.opts.Shard.I, s.opts.Shard.N)
	} else {
		fmt.Fprintf(h, "%s\n%s\nof %d\n", s.opts.Type, FormatPorts(s.ports), s.opts.Shard.N)
	}
	// The order of ports matters to the probe numbering, not only the set.
	for _, p := range s.ports {
		fmt.Fprintf(h, "%d,", p)
	}
	for _, a := range s.scanned {
		h.Write(a.AsSlice())
	}
	return resumeScan{Type: s.opts.Type.String(), Ports: FormatPorts(s.ports), Targets: len(s.scanned), Hash: hex.EncodeToString(h.Sum(nil))}
}

// totalProbes is the number of probes of the whole scan, every shard's.
func (s *scanner) totalProbes() uint64 {
	if s.opts.PingOnly {
		return 0
	}
	return uint64(len(s.scanned)) * uint64(len(s.ports))
}

// loadResume reads the resume file, if one is named and exists, and
// restores the scan's seed and answers from it.
func loadResume(s *scanner) (*resumeState, error) {
	if s.opts.ResumeFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(s.opts.ResumeFile)
	if os.IsNotExist(err) {
		// It will be written as the scan goes: say now, before any
		// probe, if it cannot be.
		tmp := s.opts.ResumeFile + ".tmp"
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, report.Usagef("--resume %s: %v", s.opts.ResumeFile, unwrapPath(err))
		}
		f.Close()
		os.Remove(tmp)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r resumeState
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, report.Usagef("--resume %s: %v", s.opts.ResumeFile, err)
	}
	if id := s.identity(); r.Scan != id || r.Probes != s.totalProbes() {
		what := "other targets or shard"
		switch {
		case r.Scan.Type != id.Type:
			what = fmt.Sprintf("a %s scan, not a %s scan", r.Scan.Type, id.Type)
		case r.Scan.Ports != id.Ports:
			what = fmt.Sprintf("ports %s, not %s", r.Scan.Ports, id.Ports)
		case r.Scan.Targets != id.Targets:
			what = fmt.Sprintf("%d targets, not %d", r.Scan.Targets, id.Targets)
		}
		return nil, report.Usagef("--resume %s is the record of another scan (%s): not resumed", s.opts.ResumeFile, what)
	}
	if r.Group < 0 || r.Group >= s.groups() || r.Next > s.groupProbes(r.Group) || r.Next%s.opts.Shard.N != s.opts.Shard.I%s.opts.Shard.N {
		return nil, report.Usagef("--resume %s: no place %d of host group %d in this scan", s.opts.ResumeFile, r.Next, r.Group)
	}
	s.opts.Seed = r.Seed
	s.group = r.Group
	// What the interrupted run sent before the record's place is not
	// sent again.
	for g := range r.Group {
		s.skipped += s.opts.Shard.Count(s.groupProbes(g))
	}
	s.skipped += s.opts.Shard.Count(r.Next)
	return &r, nil
}

// resumeSaver writes the resume file every two seconds and when stopped.
type resumeSaver struct {
	s    *scanner
	last time.Time
	// failed is the first write error, said once on stderr: a resume
	// record that cannot be written must not be advised later.
	failed error
	stderr io.Writer
	id     *resumeScan // the scan's identity, hashed once
}

func newResumeSaver(s *scanner, stderr io.Writer) *resumeSaver {
	return &resumeSaver{s: s, last: time.Now(), stderr: stderr}
}

// maybeSave saves when two seconds have passed; next gives the position
// to resume from, asked only then.
func (r *resumeSaver) maybeSave(next func() uint64) {
	if r.s.opts.ResumeFile == "" || time.Since(r.last) < 2*time.Second {
		return
	}
	r.save(next())
}

// save writes the record: the current group, and next in it.
func (r *resumeSaver) save(next uint64) {
	s := r.s
	if s.opts.ResumeFile == "" {
		return
	}
	r.last = time.Now()
	if r.id == nil {
		id := s.identity()
		r.id = &id
	}
	st := resumeState{Scan: *r.id, Seed: s.opts.Seed, Shard: [2]uint64{s.opts.Shard.I, s.opts.Shard.N},
		Probes: s.totalProbes(), Group: s.group, Next: next}
	b, _ := json.Marshal(st)
	tmp := s.opts.ResumeFile + ".tmp"
	err := os.WriteFile(tmp, b, 0o600)
	if err == nil {
		err = os.Rename(tmp, s.opts.ResumeFile)
	}
	if err != nil && r.failed == nil {
		r.failed = err
		s.resumeErr = err
		if r.stderr != nil {
			fmt.Fprintf(r.stderr, "portscan: --resume %s: the record cannot be written: %v\n", s.opts.ResumeFile, err)
		}
	}
}
