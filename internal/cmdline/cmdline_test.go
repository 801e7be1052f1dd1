package cmdline

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/report"
)

var flags = []cli.Flag{
	&cli.IntFlag{Name: "c"},
	&cli.BoolFlag{Name: "q"},
	&cli.StringSliceFlag{Name: "expect"},
}

func TestReorder(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"options first", []string{"ping", "-c", "3", "h"}, []string{"ping", "-c", "3", "--", "h"}},
		{"options after", []string{"ping", "h", "-c", "3", "-q"}, []string{"ping", "-c", "3", "-q", "--", "h"}},
		{"mixed", []string{"ping", "a", "-q", "b", "--expect", "loss<1%"}, []string{"ping", "-q", "--expect", "loss<1%", "--", "a", "b"}},
		{"equals form", []string{"ping", "h", "--expect=loss<1%"}, []string{"ping", "--expect=loss<1%", "--", "h"}},
		{"double dash", []string{"ping", "-q", "--", "-c"}, []string{"ping", "-q", "--", "-c"}},
		{"no operands", []string{"ping", "-q"}, []string{"ping", "-q"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reorder(flags, tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
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
		{[]string{"tool", "-c", "x", "ok"}, report.ExitUsage, "invalid value"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		app.Writer = &bytes.Buffer{}
		if code := Run(app, tt.args, &stderr); code != tt.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.args, code, tt.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%q: stderr %q lacks %q", tt.args, stderr.String(), tt.stderr)
		}
	}
}
