package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rawkit/rawkit/internal/labtest"
	"github.com/rawkit/rawkit/internal/netlab"
)

var mtrVolatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^Start: .*$`), "Start: T"},
	// The five times of a report line, each in its six columns.
	{regexp.MustCompile(`(?m)(\d+)(( +[0-9.]+){5})$`), "$1 TIMES"},
	{regexp.MustCompile(`"(Last|Avg|Best|Wrst|StDev)": [0-9.]+`), `"$1": T`},
	{regexp.MustCompile(`(?m)^MTR\.0\.95,\d+,`), "MTR.0.95,START,"},
	{regexp.MustCompile(`(?m),\d+,0(,[0-9.]+){5}$`), ",SNT,0,TIMES"},
}

func normalizeMtr(out string) string {
	for _, v := range mtrVolatile {
		out = v.re.ReplaceAllString(out, v.with)
	}
	return out
}

// The traceroute binary run as mtr: mtr's report command lines, typed
// verbatim, give mtr's lines (times masked). mtr exits 0 whether or not
// the destination answered; ours 1 when it did not (docs/compat.md): all
// these reach it.
func TestRunbookFormsLikeMtr(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	mtrBin := filepath.Join(dir, "mtr")
	if err := os.Symlink(bin, mtrBin); err != nil {
		t.Fatal(err)
	}
	lab := netlab.ForTest(t, netlab.Spec{Routers: 2, Services: netlab.Services{TCP: map[int]netlab.PortState{80: netlab.Open}}})
	dst := lab.Server.Addr4.String()
	forms := [][]string{
		{"-rwnc", "2", "-i", "0.2", dst},
		{"-rnc", "2", "-i", "0.2", dst},
		{"-rwbc", "2", "-i", "0.2", dst},
		{"-r", "-n", "-c", "3", "-i", "0.2", dst},
		{"--report", "--report-wide", "--no-dns", "--report-cycles", "2", "--interval", "0.2", dst},
		{"-jnc", "2", "-i", "0.2", dst},
		{"--csv", "-nc", "1", "-i", "0.2", dst},
		{"-rwnc", "2", "-i", "0.2", "-u", dst},
		{"-rwnc", "2", "-i", "0.2", "-T", "-P", "80", dst},
		{"-rwnc", "2", "-i", "0.2", "-6", lab.Server.Addr6.String()},
	}
	for _, form := range forms {
		t.Run(strings.Join(form, " "), func(t *testing.T) {
			ref := labtest.Run(t, lab, lab.Client, time.Minute, append([]string{"mtr"}, form...)...)
			ours := labtest.Run(t, lab, lab.Client, time.Minute, append([]string{mtrBin}, form...)...)
			if ours.Code != ref.Code {
				t.Errorf("exit %d, mtr %d\n%s", ours.Code, ref.Code, ours.Stderr)
			}
			if a, b := normalizeMtr(ours.Stdout), normalizeMtr(ref.Stdout); a != b {
				t.Errorf("stdout differs\nours:\n%s\nmtr:\n%s", a, b)
			}
		})
	}
}

// tmuxScreen runs argv in a detached tmux session of 100x30 inside the
// lab's client namespace and returns a function that reads its screen;
// the session ends with the test. The command's exit code is printed as
// "rc=N" on the screen when it ends.
func tmuxScreen(t *testing.T, lab *netlab.Lab, name string, argv ...string) (screen func() string, keys func(string)) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is needed for mtr's live view (make deps installs it)")
	}
	session := fmt.Sprintf("rawkit-%d-%s", os.Getpid(), name)
	shell := "ip netns exec " + lab.Client.NS + " " + strings.Join(argv, " ") + "; echo rc=$?; sleep 60"
	if out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", shell).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	screen = func() string {
		out, err := exec.Command("tmux", "capture-pane", "-p", "-t", session).Output()
		if err != nil {
			t.Fatalf("tmux capture-pane: %v", err)
		}
		return string(out)
	}
	keys = func(k string) { exec.Command("tmux", "send-keys", "-t", session, k).Run() }
	return screen, keys
}

// waitScreen polls the screen until ok holds, for at most limit.
func waitScreen(t *testing.T, screen func() string, limit time.Duration, what string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %v; the screen:\n%s", what, limit, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var liveHop = regexp.MustCompile(`(?m)^ ?(\d+)\. (\S+) +[0-9.]+% +(\d+)`)

// sent is the Snt column of the screen's last hop, -1 when no hop shows.
func sent(screen string) int {
	m := liveHop.FindAllStringSubmatch(screen, -1)
	if len(m) == 0 {
		return -1
	}
	n, _ := strconv.Atoi(m[len(m)-1][3])
	return n
}

// mtr without a report option on a terminal draws its live view: the
// same screen as mtr's (time and RTT columns masked), redrawn cycle after
// cycle, r restarting the statistics and q quitting with the exit code.
func TestMtrLiveView(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	mtrBin := filepath.Join(dir, "mtr")
	if err := os.Symlink(bin, mtrBin); err != nil {
		t.Fatal(err)
	}
	lab := netlab.ForTest(t, netlab.Spec{Routers: 2})
	dst := lab.Server.Addr4.String()
	mask := func(s string) string {
		s = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}`).ReplaceAllString(s, "TIME")
		s = regexp.MustCompile(`(?m)(%\s+)\d+((\s+[0-9.]+){5})$`).ReplaceAllString(s, "${1}SNT TIMES")
		return s
	}
	theirs, theirKeys := tmuxScreen(t, lab, "mtr", "mtr", "-n", dst)
	ours, keys := tmuxScreen(t, lab, "ours", mtrBin, "-n", dst)
	atLeast := func(n int) func(string) bool { return func(s string) bool { return sent(s) >= n } }
	ref := waitScreen(t, theirs, 15*time.Second, "mtr's third cycle", atLeast(3))
	got := waitScreen(t, ours, 15*time.Second, "our third cycle", atLeast(3))
	if a, b := mask(got), mask(ref); a != b {
		t.Errorf("live screen differs\nours:\n%s\nmtr:\n%s", a, b)
	}
	if m := liveHop.FindAllStringSubmatch(got, -1); len(m) != 3 || m[2][2] != dst {
		t.Errorf("want 3 hops ending at %s:\n%s", dst, got)
	}
	// Redrawn as cycles go by.
	before := sent(got)
	waitScreen(t, ours, 5*time.Second, "a later cycle", atLeast(before+2))
	// r: the statistics start again.
	keys("r")
	waitScreen(t, ours, 5*time.Second, "Snt back to 1 after r", func(s string) bool { return sent(s) == 1 })
	// q: the view ends, the terminal gets its screen back, exit 0 (reached).
	keys("q")
	theirKeys("q")
	end := waitScreen(t, ours, 5*time.Second, "the exit after q", func(s string) bool { return strings.Contains(s, "rc=") })
	if !strings.Contains(end, "rc=0") || strings.Contains(end, "My traceroute") {
		t.Errorf("after q, want the shell's screen back and rc=0:\n%s", end)
	}
}
