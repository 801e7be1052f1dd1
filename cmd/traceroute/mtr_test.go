package main

import (
	"os"
	"path/filepath"
	"regexp"
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
