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

// pacer spaces sends to a rate, sleeping in slices of at least a
// millisecond so the sleep itself costs little.
type pacer struct {
	rate  float64
	start time.Time
	n     float64
}

func newPacer(rate int) *pacer { return &pacer{rate: float64(rate), start: time.Now()} }

func (p *pacer) wait() {
	p.n++
	due := p.start.Add(time.Duration(p.n / p.rate * float64(time.Second)))
	if ahead := time.Until(due); ahead > time.Millisecond {
		time.Sleep(ahead)
	}
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

// resumeState is what --resume keeps: where the scan was, and what it had
// found, for the same targets, ports and seed.
type resumeState struct {
	// Scan names what is resumed: the scan type, the ports, the number
	// of targets, and a hash over all of them, the targets and the shard;
	// a file whose hash differs is refused.
	Scan    resumeScan     `json:"scan"`
	Seed    uint64         `json:"seed"`
	Shard   [2]uint64      `json:"shard"`
	Probes  uint64         `json:"probes"`
	Pass    int            `json:"pass"`
	Next    uint64         `json:"next"`
	Answers []resumeAnswer `json:"answers"`
}

type resumeScan struct {
	Type    string `json:"type"`
	Ports   string `json:"ports"`
	Targets int    `json:"targets"`
	Hash    string `json:"sha256"`
}

// identity is what a resume file must match.
func (s *scanner) identity() resumeScan {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%d/%d\n", s.opts.Type, FormatPorts(s.ports), s.opts.Shard.I, s.opts.Shard.N)
	// The order of ports matters to the probe numbering, not only the set.
	for _, p := range s.ports {
		fmt.Fprintf(h, "%d,", p)
	}
	for _, a := range s.targets {
		h.Write(a.AsSlice())
	}
	return resumeScan{Type: s.opts.Type.String(), Ports: FormatPorts(s.ports), Targets: len(s.targets), Hash: hex.EncodeToString(h.Sum(nil))}
}

type resumeAnswer struct {
	Index  uint64 `json:"i"`
	State  State  `json:"s"`
	Reason string `json:"r"`
	From   string `json:"f,omitempty"`
	TTL    int    `json:"t"`
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
	if id := s.identity(); r.Scan != id || r.Probes != s.n {
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
	s.opts.Seed = r.Seed
	s.perm = NewPermutation(s.n, r.Seed)
	for _, a := range r.Answers {
		if a.Index >= s.n {
			return nil, report.Usagef("--resume %s: probe %d out of range", s.opts.ResumeFile, a.Index)
		}
		res := &Result{State: a.State, Reason: a.Reason, TTL: a.TTL}
		res.From.UnmarshalText([]byte(a.From))
		s.states[a.Index] = a.State
		s.details[a.Index] = res
		s.probed.set(a.Index)
		s.got.Add(1)
	}
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
}

func newResumeSaver(s *scanner, stderr io.Writer) *resumeSaver {
	return &resumeSaver{s: s, last: time.Now(), stderr: stderr}
}

func (r *resumeSaver) maybeSave(pass int, j uint64) {
	if r.s.opts.ResumeFile == "" || time.Since(r.last) < 2*time.Second {
		return
	}
	r.save(pass, j)
}

func (r *resumeSaver) save(pass int, next uint64) {
	s := r.s
	if s.opts.ResumeFile == "" {
		return
	}
	r.last = time.Now()
	st := resumeState{Scan: s.identity(), Seed: s.opts.Seed, Shard: [2]uint64{s.opts.Shard.I, s.opts.Shard.N}, Probes: s.n, Pass: pass, Next: next}
	s.mu.Lock()
	for idx, d := range s.details {
		a := resumeAnswer{Index: idx, State: d.State, Reason: d.Reason, TTL: d.TTL}
		if d.From.IsValid() {
			a.From = d.From.String()
		}
		st.Answers = append(st.Answers, a)
	}
	s.mu.Unlock()
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

func (r *resumeSaver) stop() {}
func (r *resumeSaver) done() {}
