package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/labtest"
	"github.com/rawkit/rawkit/internal/netlab"
)

var fpingVolatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9]+\.[0-9]+ ms`), "T ms"},
	{regexp.MustCompile(`\([0-9.]+ avg`), "(A avg"},
	{regexp.MustCompile(`= [0-9.]+/[0-9.]+/[0-9.]+`), "= R"},
	{regexp.MustCompile(`^\[[0-9]+\.[0-9]+\] `), "[D] "},
	{regexp.MustCompile(`[0-9]+\.[0-9]+ sec`), "S sec"},
	{regexp.MustCompile(`: ([0-9.]+ |- )*([0-9.]+|-)$`), ": C"},
}

// normalizeFping masks times and, where several targets interleave,
// sorts the lines (their order follows the network's timing).
func normalizeFping(out string, sorted bool) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, line := range lines {
		for _, v := range fpingVolatile {
			line = v.re.ReplaceAllString(line, v.with)
		}
		lines[i] = line
	}
	if sorted {
		slices.Sort(lines)
	}
	return strings.Join(lines, "\n")
}

// fpingLink is a link named fping to the ping under test, in a
// directory every user can read (the lab runs it as root).
func fpingLink(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	link := filepath.Join(dir, "fping")
	if err := os.Symlink(pingBin, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// The ping binary run as fping: fping's runbook command lines, typed
// verbatim, give fping's exit code and lines (times masked), on stdout
// and on stderr.
func TestRunbookFormsLikeFping(t *testing.T) {
	fpingBin := fpingLink(t)
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dst := lab.Server.Addr4.String()
	silent := "198.18.200.1" // the last router answers time exceeded for it
	forms := [][]string{
		{dst},
		{dst, silent},
		{"-a", dst, silent},
		{"-u", dst, silent},
		{"-q", dst, silent},
		{"-q", "-a", dst, silent},
		{"-q", "-u", dst, silent},
		{"-a", "-q", "-g", "198.18.1.1", "198.18.1.2"},
		{"-e", dst},
		{"-s", dst},
		{"-c", "3", "-p", "100", dst},
		{"-c3", "-p100", "-q", dst},
		{"-C", "3", "-p", "100", dst, silent},
		{"-c", "2", "-p", "100", dst, silent},
		{"-D", "-c", "1", dst},
		{"-g", "198.18.1.0/30"},
		{"-g", "198.18.1.1", "198.18.1.2"},
		{"-a", "-g", "198.18.1.0/30"},
		{"-r", "1", "-t", "100", silent},
		{"-x", "1", dst, silent},
		{"-4", "-b", "100", "-c", "1", dst},
	}
	for _, form := range forms {
		t.Run(strings.Join(form, " "), func(t *testing.T) {
			ref := labtest.Run(t, lab, lab.Client, time.Minute, append([]string{"fping"}, form...)...)
			ours := labtest.Run(t, lab, lab.Client, time.Minute, append([]string{fpingBin}, form...)...)
			if ours.Code != ref.Code {
				t.Errorf("exit %d, fping %d\n%s%s", ours.Code, ref.Code, ours.Stdout, ours.Stderr)
			}
			multi := len(form) > 1 && (strings.Contains(strings.Join(form, " "), silent) || slices.Contains(form, "-g"))
			for _, out := range []struct{ name, ours, ref string }{{"stdout", ours.Stdout, ref.Stdout}, {"stderr", ours.Stderr, ref.Stderr}} {
				if a, b := normalizeFping(out.ours, multi), normalizeFping(out.ref, multi); a != b {
					t.Errorf("%s differs\nours:\n%s\nfping:\n%s", out.name, a, b)
				}
			}
		})
	}
}

// fping -Q (and Ctrl-\\, SIGQUIT): on stderr, every interval, the time
// and each target's probes since the last summary, then fping's usual
// summaries. The split counts depend on where the intervals fall, so
// they are masked; the loss of each target is not, and the final
// summaries are compared whole.
func TestIntervalSummariesLikeFping(t *testing.T) {
	fpingBin := fpingLink(t)
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1})
	dst := lab.Server.Addr4.String()
	silent := "198.18.200.1"
	stamp := regexp.MustCompile(`(?m)^\[[0-9]{2}:[0-9]{2}:[0-9]{2}\]$`)
	counts := regexp.MustCompile(`xmt/rcv/%loss = [0-9]+/[0-9]+/`)
	form := []string{"-c", "6", "-p", "100", "-Q", "0.25", dst, silent}
	ref := labtest.Run(t, lab, lab.Client, time.Minute, append([]string{"fping"}, form...)...)
	ours := labtest.Run(t, lab, lab.Client, time.Minute, append([]string{fpingBin}, form...)...)
	if ours.Code != ref.Code || ours.Stdout != ref.Stdout {
		t.Errorf("exit %d, fping %d; stdout %q, fping %q", ours.Code, ref.Code, ours.Stdout, ref.Stdout)
	}
	if n := len(stamp.FindAllString(ref.Stderr, -1)); n < 1 {
		t.Fatalf("fping printed no interval summary:\n%s", ref.Stderr)
	}
	// The summaries before the end, masked; the last lines (a target's
	// each) whole.
	split := func(s string) (string, string) {
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		k := max(len(lines)-2, 0)
		splits := strings.Join(lines[:k], "\n")
		return counts.ReplaceAllString(stamp.ReplaceAllString(splits, "[T]"), "xmt/rcv/%loss = X/X/"), normalizeFping(strings.Join(lines[k:], "\n"), true)
	}
	oursSplits, oursEnd := split(ours.Stderr)
	refSplits, refEnd := split(ref.Stderr)
	if oursEnd != refEnd {
		t.Errorf("final summaries differ\nours:\n%s\nfping:\n%s", oursEnd, refEnd)
	}
	// The number of intervals may differ by one where the run's end
	// falls: compare the first two.
	first := func(s string) string {
		blocks := strings.SplitAfter(s, "[T]")
		return normalizeFping(strings.Join(blocks[:min(3, len(blocks))], ""), false)
	}
	if a, b := first(oursSplits), first(refSplits); a != b {
		t.Errorf("interval summaries differ\nours:\n%s\nfping:\n%s", oursSplits, refSplits)
	}
}
