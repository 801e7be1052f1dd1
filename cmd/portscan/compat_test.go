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
	// -v: the phases' clock times and lengths, the packet counts (nmap
	// stops reading a host's answers once it is up; SYNs differ in
	// options), where the data files are, and nmap's per-host
	// completion lines, which come or not as its host groups finish.
	{regexp.MustCompile(`(?m)^(Initiating|Completed) (.*) at \d\d:\d\d`), "$1 $2 at HH:MM"},
	{regexp.MustCompile(`, [0-9.]+s elapsed`), ", Ts elapsed"},
	{regexp.MustCompile(`(?m)^ +Raw packets sent: .*$`), "Raw packets"},
	{regexp.MustCompile(`(?m)^Read data files from: .*$`), "Read data files"},
	{regexp.MustCompile(`(?m)^Scanned at .* for \d+s$`), "Scanned at T"},
	{regexp.MustCompile(`(?m)^Completed .* against .* left\)\n`), ""},
}

var discoveredLine = regexp.MustCompile(`(?m)^Discovered open port .*$`)

func normalizeNmap(out string) string {
	for _, v := range nmapVolatile {
		out = v.re.ReplaceAllString(out, v.with)
	}
	// Open ports are announced as their answers come: in any order.
	found := discoveredLine.FindAllString(out, -1)
	slices.Sort(found)
	i := 0
	return discoveredLine.ReplaceAllStringFunc(out, func(string) string { i++; return found[i-1] })
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
		UDP: map[int]netlab.PortState{53: netlab.Open, 161: netlab.Filtered, 69: netlab.Rejected},
	}})
	dst := lab.Server.Addr4.String()
	router4, router6 := lab.Routers[0].Addr4.String(), lab.Routers[0].Addr6.String()
	client4 := lab.Client.Addr4.String()
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
		// An empty target list: a warning, an empty report, exit 0.
		{"-n", "-p", "22", "-iL", "/dev/null"},
		{"-n", "-p", "22", "-oG", "-", "-iL", "/dev/null"},
		// UDP: an answer is open, a port unreachable closed, an
		// admin-prohibited filtered, silence open|filtered.
		{"-n", "-sU", "-p", "53,69,123,161", dst},
		{"-n", "-sU", "--reason", "-p", "53,69,123,161", dst},
		{"-n", "-sU", "-Pn", "-oG", "-", "-p", "53,123", dst},
		{"-n", "-sU", "-p", "1-200", dst},
		{"-v", "-n", "-sU", "-p", "53,123", dst},
		// -v: nmap's progress lines.
		{"-v", "-n", "-p", some, dst},
		{"-vv", "-n", "-p", "22,443", dst},
		{"-v", "-n", "-sn", dst, "198.18.200.1"},
		// (Not a neighbour: nmap finds those with an ARP ping, in a host
		// group of their own, which portscan does not do yet.)
		{"-v", "-n", "-p", "22,80", dst, "198.18.200.1", "198.18.1.1"},
		{"-v", "-n", "-Pn", "-p", "1-100", dst, "198.18.1.1"},
		{"-v", "-v", "-n", "-Pn", "--open", "-p", some, dst},
		{"-v", "-n", "-oN", "FILE.nmap", "-p", some, dst},
		// A neighbour on the link: nmap's ARP and ND ping, its own phase
		// (-v), the MAC address, XML's hosthint; --send-ip for the IP
		// probes; -PR and -PU chosen.
		{"-n", "-sn", "--reason", router4},
		{"-v", "-n", "-sn", router4},
		{"-v", "-n", "-sn", "--reason", "-6", router6},
		{"-n", "-p", "22,80", "--reason", router4},
		{"-n", "-oX", "-", "-p", "22", router4},
		{"-n", "-sn", "--send-ip", "--reason", router4},
		{"-n", "-sn", "--disable-arp-ping", "--reason", router4},
		{"-n", "-sn", "-PR", "--reason", router4},
		{"-n", "-sn", "-PU", "--reason", dst},
		{"-v", "-n", "-sn", "-PU53", "--reason", dst},
		{"-n", "-sn", "-PU", "-PE", "--reason", dst, "198.18.200.1"},
		{"-n", "-sn", "-oX", "-", router4},
		{"-n", "-sn", "--reason", "198.18.0.77"},
		// This host's own address: nmap's localhost-response, in a host
		// group of its own (reported in the order the groups come).
		{"-n", "-sn", "--reason", "198.18.0.0/29"},
		{"-n", "-sn", "--reason", client4, dst, router4},
		{"-n", "-p", "22", "--reason", client4},
		{"-n", "-sn", "-oX", "-", client4},
		// Without privilege (as nobody): nmap's connect() discovery to
		// ports 80 and 443, and a connect scan.
		{"NOBODY", "-n", "-sn", "--reason", dst},
		{"NOBODY", "-n", "-sn", dst, "198.18.200.1"},
		{"NOBODY", "-n", "-p", "22,80,443", "--reason", dst},
	}
	for _, form := range forms {
		t.Run(strings.Join(form, " "), func(t *testing.T) {
			run := func(tool, tag string) (labtest.Result, string) {
				var prefix []string
				form := form
				if form[0] == "NOBODY" {
					prefix, form = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"}, form[1:]
				}
				args := make([]string, len(form))
				file := ""
				for i, a := range form {
					if strings.HasPrefix(a, "FILE") {
						file = filepath.Join(dir, tag+a)
						a = file
					}
					args[i] = a
				}
				r := labtest.Run(t, lab, lab.Client, 5*time.Minute, append(append(prefix, tool), args...)...)
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
