package cmdline

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/report"
)

var flags = []cli.Flag{
	&cli.IntFlag{Name: "c"},
	&cli.BoolFlag{Name: "q"},
	&cli.BoolFlag{Name: "n"},
	&cli.BoolFlag{Name: "v"},
	&cli.StringFlag{Name: "i"},
	&cli.StringSliceFlag{Name: "expect"},
	&cli.BoolFlag{Name: "json"},
	&cli.BoolFlag{Name: "UL"},
	&cli.StringFlag{Name: "duration"},
	&cli.StringFlag{Name: "dump"},
}

var nmapFlags = []cli.Flag{
	&cli.StringFlag{Name: "p"},
	&cli.StringFlag{Name: "T"},
	&cli.BoolFlag{Name: "sS"},
	&cli.BoolFlag{Name: "Pn"},
	&cli.BoolFlag{Name: "n"},
	&cli.BoolFlag{Name: "v"},
	&cli.StringFlag{Name: "oG"},
	&cli.StringFlag{Name: "min-rate"},
	&cli.BoolFlag{Name: "open"},
}

func TestGetopt(t *testing.T) {
	gnu := Dialect{SingleDash: []string{"UL"}}
	nmap := Dialect{SingleDashLong: true}
	tests := []struct {
		name  string
		table []cli.Flag
		d     Dialect
		in    []string
		want  []string
	}{
		{"options first", flags, gnu, []string{"ping", "-c", "3", "h"}, []string{"ping", "-c=3", "--", "h"}},
		{"options after", flags, gnu, []string{"ping", "h", "-c", "3", "-q"}, []string{"ping", "-c=3", "-q", "--", "h"}},
		{"mixed", flags, gnu, []string{"ping", "a", "-q", "b", "--expect", "loss<1%"}, []string{"ping", "-q", "--expect=loss<1%", "--", "a", "b"}},
		{"equals form", flags, gnu, []string{"ping", "h", "--expect=loss<1%"}, []string{"ping", "--expect=loss<1%", "--", "h"}},
		{"double dash", flags, gnu, []string{"ping", "-q", "--", "-c"}, []string{"ping", "-q", "--", "-c"}},
		{"no operands", flags, gnu, []string{"ping", "-q"}, []string{"ping", "-q"}},
		{"attached value", flags, gnu, []string{"ping", "-c3", "h"}, []string{"ping", "-c=3", "--", "h"}},
		{"cluster ending in a value letter", flags, gnu, []string{"ping", "-nqc", "2", "h"}, []string{"ping", "-n", "-q", "-c=2", "--", "h"}},
		{"cluster with attached value", flags, gnu, []string{"ping", "-nqc2", "h"}, []string{"ping", "-n", "-q", "-c=2", "--", "h"}},
		{"value letter takes the rest of the word", flags, gnu, []string{"sniff", "-nni", "eth0"}, []string{"sniff", "-n", "-n", "-i=eth0"}},
		{"counted", flags, gnu, []string{"sniff", "-vvv", "-v"}, []string{"sniff", "-v", "-v", "-v", "-v"}},
		{"value that looks like an option", flags, gnu, []string{"sniff", "-i", "-q"}, []string{"sniff", "-i=-q"}},
		{"single-dash long of the dialect", flags, gnu, []string{"traceroute", "-UL", "h"}, []string{"traceroute", "--UL", "--", "h"}},
		{"abbreviated long", flags, gnu, []string{"sniff", "--dur", "2"}, []string{"sniff", "--duration=2"}},
		{"single dash operand", flags, gnu, []string{"sniff", "-", "x"}, []string{"sniff", "--", "-", "x"}},
		{"negative number operand", flags, gnu, []string{"tool", "-5"}, []string{"tool", "--", "-5"}},
		{"nmap single-dash long", nmapFlags, nmap, []string{"nmap", "-sS", "-Pn", "-n", "h", "-oG", "-"}, []string{"nmap", "--sS", "--Pn", "-n", "--oG=-", "--", "h"}},
		{"nmap attached", nmapFlags, nmap, []string{"nmap", "-T4", "-p-", "h"}, []string{"nmap", "-T=4", "-p=-", "--", "h"}},
		{"nmap -p with a list", nmapFlags, nmap, []string{"nmap", "-p22,80", "h"}, []string{"nmap", "-p=22,80", "--", "h"}},
		{"nmap long with two dashes", nmapFlags, nmap, []string{"nmap", "--min-rate", "5000", "--open", "h"}, []string{"nmap", "--min-rate=5000", "--open", "--", "h"}},
		{"nmap long with one dash", nmapFlags, nmap, []string{"nmap", "-min-rate=5000", "h"}, []string{"nmap", "--min-rate=5000", "--", "h"}},
		{"nmap cluster", nmapFlags, nmap, []string{"nmap", "-vv", "-nvT4", "h"}, []string{"nmap", "-v", "-v", "-n", "-v", "-T=4", "--", "h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Getopt(tt.table, tt.in, tt.d)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestGetoptErrors(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"ping", "-z"}, "invalid option -- 'z'"},
		{[]string{"ping", "-nz"}, "invalid option -- 'z'"},
		{[]string{"ping", "h", "-c"}, "option requires an argument -- 'c'"},
		{[]string{"ping", "--expect"}, "option '--expect' requires an argument"},
		{[]string{"ping", "--json=yes"}, "doesn't allow an argument"},
		{[]string{"ping", "--nosuch"}, "unrecognized option '--nosuch'"},
		{[]string{"ping", "--d", "1"}, "ambiguous"},
		{[]string{"ping", "-UL"}, "invalid option -- 'U'"}, // not single-dash in this dialect
	}
	for _, tt := range tests {
		_, err := Getopt(flags, tt.in, Dialect{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || report.ExitCode(err) != report.ExitUsage {
			t.Errorf("%q: %v, want a usage error with %q", tt.in, err, tt.want)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	app := &cli.App{Name: "tool", Flags: flags, Action: func(c *cli.Context) error {
		switch c.Args().First() {
		case "no":
			return report.ErrNetwork
		case "bad":
			return report.Usagef("bad input")
		}
		return nil
	}}
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"tool", "ok"}, report.ExitOK, ""},
		{[]string{"tool", "no"}, report.ExitNetwork, ""},
		{[]string{"tool", "bad"}, report.ExitUsage, "tool: bad input"},
		{[]string{"tool", "--nosuchflag", "ok"}, report.ExitUsage, "nosuchflag"},
		{[]string{"tool", "--version"}, report.ExitOK, ""},
		{[]string{"tool", "-c", "x", "ok"}, report.ExitUsage, "invalid value"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		app.Writer = &bytes.Buffer{}
		if code := Run(app, Dialect{}, tt.args, &stderr); code != tt.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.args, code, tt.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%q: stderr %q lacks %q", tt.args, stderr.String(), tt.stderr)
		}
	}
}

// --help lists each option once, with its placeholder, and no default
// added to the usage (the usage says it where it matters).
func TestHelpLines(t *testing.T) {
	app := &cli.App{Name: "tool", Flags: []cli.Flag{
		&cli.IntFlag{Name: "c", Aliases: []string{"count"}, Value: 56, Usage: "`count` of probes (5)"},
		&cli.BoolFlag{Name: "sS", Usage: "SYN scan"},
	}, Action: func(*cli.Context) error { return nil }}
	var out bytes.Buffer
	app.Writer = &out
	if code := Run(app, Dialect{SingleDashLong: true}, []string{"tool", "--help"}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	help := out.String()
	for _, want := range []string{"OPTIONS:", "-c count, --count count", "count of probes (5)", "-sS ", "--version"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q:\n%s", want, help)
		}
	}
	for _, bad := range []string{"(default:", "GLOBAL OPTIONS", "`"} {
		if strings.Contains(help, bad) {
			t.Errorf("--help has %q:\n%s", bad, help)
		}
	}
}

// The man page and the completions name every visible option, and the
// scripts parse in their shells.
func TestManAndCompletions(t *testing.T) {
	app := &cli.App{Name: "tool", Usage: "a tool", UsageText: "tool [options] host", Description: "Does -things.\n.dangerous line",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "c", Aliases: []string{"count"}, Usage: "`count` of probes"},
			&cli.BoolFlag{Name: "n", Usage: "numeric, it's [so]"},
			&cli.BoolFlag{Name: "secret", Hidden: true},
		}, Action: func(*cli.Context) error { return nil }}
	run := func(args ...string) string {
		var out bytes.Buffer
		app.Writer = &out
		if code := Run(app, Dialect{}, append([]string{"tool"}, args...), &bytes.Buffer{}); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		return out.String()
	}
	man := run("--generate-man")
	for _, want := range []string{".TH TOOL 8", `\fB\-c\fR \fIcount\fR, \fB\-\-count\fR \fIcount\fR`, `\fB\-n\fR`, `\&.dangerous`} {
		if !strings.Contains(man, want) {
			t.Errorf("man page lacks %q:\n%s", want, man)
		}
	}
	if strings.Contains(man, "secret") {
		t.Error("the man page lists a hidden option")
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		script := run("--generate-completion", shell)
		for _, opt := range []string{"c", "count", "n"} {
			if !strings.Contains(script, opt) {
				t.Errorf("%s completion lacks %q:\n%s", shell, opt, script)
			}
		}
		if path, err := exec.LookPath(shell); err == nil {
			cmd := exec.Command(path, "-n")
			cmd.Stdin = strings.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v %s\n%s", shell, err, out, script)
			}
		}
	}
}
