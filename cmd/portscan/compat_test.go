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

var nmapVolatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^Starting .*$`), "Starting"},
	{regexp.MustCompile(`(?m)^# .* scan initiated .*$`), "# initiated"},
	{regexp.MustCompile(`(?m)^# Nmap done at .* -- `), "# Nmap done at T -- "},
	{regexp.MustCompile(`\([0-9.]+s latency\)`), "(Ls latency)"},
	{regexp.MustCompile(`scanned in [0-9.]+ seconds`), "scanned in T seconds"},
	// nmap's XML: who wrote it, when, and the timings.
	{regexp.MustCompile(`<!-- .* -->`), "<!-- C -->"},
	{regexp.MustCompile(`scanner="[^"]*" args="[^"]*" start="\d+" startstr="[^"]*" version="[^"]*"`), `S`},
	{regexp.MustCompile(`starttime="\d+" endtime="\d+"`), `T`},
	{regexp.MustCompile(`<times [^>]*/>`), `<times/>`},
	{regexp.MustCompile(`time="\d+" timestr="[^"]*" summary="Nmap done at [^;]*;`), `T;`},
	{regexp.MustCompile(`elapsed="[0-9.]+"`), `elapsed="E"`},
}

func normalizeNmap(out string) string {
	for _, v := range nmapVolatile {
		out = v.re.ReplaceAllString(out, v.with)
	}
	return out
}

// Runbook command lines of nmap, typed verbatim with only the binary
// swapped: the same exit code and the same lines (times masked), on
// stdout and in the files they write.
func TestRunbookFormsLikeNmap(t *testing.T) {
	if _, err := os.Stat("/usr/share/nmap/nmap-services"); err != nil {
		t.Fatal("nmap is needed (make deps installs it)")
	}
	lab := netlab.ForTest(t, netlab.Spec{Routers: 1, Services: netlab.Services{
		TCP: map[int]netlab.PortState{22: netlab.Open, 80: netlab.Open, 443: netlab.Closed, 8080: netlab.Filtered, 25: netlab.Rejected},
	}})
	dst := lab.Server.Addr4.String()
	dir := t.TempDir()
	some := "22,25,80,443,8080"
	forms := [][]string{
		{"-n", "-p", some, dst},
		{"-n", "-Pn", "--open", "-p", some, dst},
		{"-n", "-Pn", "--reason", "-p", "22,443", dst},
		// Host discovery: the reason is the ping's.
		{"-n", "--reason", "-p", "22,443", dst},
		{"-n", "-sn", dst, "198.18.200.1", lab.Routers[0].Addr4.String()},
		{"-n", "-sn", "--reason", dst},
		{"-n", "-sn", "-oG", "-", dst, "198.18.200.1"},
		{"-n", "-sn", "198.18.200.1"},
		{"-n", "-sn", "-PS22", dst},
		{"-n", "-oG", "-", "-p", "22,80,443", dst},
		{"-n", "-F", dst},
		{"-n", "-T4", "-F", dst},
		{"-n", "-p", "1-200", dst},
		{"-n", "-sT", "-p", some, dst},
		{"-n", "-p22", "-Pn", dst},
		{"-n", "-p", "22,80", dst, lab.Routers[0].Addr4.String()},
		{"-n", "-p", "1-100", lab.Routers[0].Addr4.String()},
		{"-n", "-p", "1-100", "-oG", "-", lab.Routers[0].Addr4.String()},
		{"-n", "-p", "22", "198.18.200.1"},
		{"-n", "--top-ports", "20", "--min-rate", "5000", dst},
		{"-n", "-p-", "--min-rate", "5000", "--max-retries", "2", dst},
		{"-n", "-oN", "FILE.nmap", "-p", some, dst},
		{"-n", "-oG", "FILE.gnmap", "-p", some, dst},
		{"-n", "-6", "-p", "22,80", lab.Server.Addr6.String()},
		{"-n", "-Pn", "-oX", "-", "-p", some, dst},
		{"-n", "-Pn", "-oX", "FILE.xml", "-F", dst},
		// (A neighbour on the link: nmap's XML adds a hosthint from its
		// ARP discovery, which portscan does not do yet.)
	}
	for _, form := range forms {
		t.Run(strings.Join(form, " "), func(t *testing.T) {
			run := func(tool, tag string) (labtest.Result, string) {
				args := make([]string, len(form))
				file := ""
				for i, a := range form {
					if strings.HasPrefix(a, "FILE") {
						file = filepath.Join(dir, tag+a)
						a = file
					}
					args[i] = a
				}
				r := labtest.Run(t, lab, lab.Client, 5*time.Minute, append([]string{tool}, args...)...)
				if file != "" {
					b, err := os.ReadFile(file)
					if err != nil {
						t.Fatalf("%s wrote no %s: %v", tool, file, err)
					}
					return r, string(b)
				}
				return r, ""
			}
			ref, refFile := run("nmap", "nmap-")
			ours, ourFile := run(bin, "ours-")
			if ours.Code != ref.Code {
				t.Errorf("exit %d, nmap %d\n%s", ours.Code, ref.Code, ours.Stderr)
			}
			if a, b := normalizeNmap(ours.Stdout), normalizeNmap(ref.Stdout); a != b {
				t.Errorf("stdout differs\nours:\n%s\nnmap:\n%s", a, b)
			}
			if a, b := normalizeNmap(ourFile), normalizeNmap(refFile); a != b {
				t.Errorf("file differs\nours:\n%s\nnmap:\n%s", a, b)
			}
		})
	}
}
