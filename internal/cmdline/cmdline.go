// Package cmdline runs a rawkit tool's urfave/cli/v2 App the way every
// tool runs: options accepted after the operands (ping 198.18.2.2 -c 3),
// SIGINT, SIGTERM and SIGHUP cancelling the run's context so it can print
// its summary (a second signal: at once, package shutdown), flag errors exiting 2, and every error mapped to the shared
// exit codes of package report.
package cmdline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/internal/shutdown"
	"github.com/rawkit/rawkit/report"
)

// Main runs app with os.Args and returns the process exit status.
func Main(app *cli.App) int {
	return Run(app, os.Args, os.Stderr)
}

// Run runs app with args and returns the exit status, printing errors to
// stderr. It is Main without the process, for tests.
func Run(app *cli.App, args []string, stderr io.Writer) int {
	ctx, stop := shutdown.Notify(context.Background(), func() {
		fmt.Fprintf(stderr, "%s: stopped at once on a second signal; output may be incomplete\n", app.Name)
		os.Exit(report.ExitRuntime)
	})
	defer stop()
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return report.Usagef("%v", err)
	}
	app.HideHelpCommand = true
	// A repeated flag gives a list; commas stay in the value, where
	// --expect 'open:22,443' needs them.
	app.DisableSliceFlagSeparator = true
	app.ErrWriter = stderr
	// urfave/cli would os.Exit on an ExitCoder; ours are plain errors.
	app.ExitErrHandler = func(*cli.Context, error) {}
	err := app.RunContext(ctx, Reorder(app.Flags, args))
	code := report.ExitCode(err)
	var silent *report.Error
	if err != nil && !(errors.As(err, &silent) && silent == report.ErrNetwork) {
		fmt.Fprintf(stderr, "%s: %v\n", app.Name, err)
		if code == report.ExitUsage {
			fmt.Fprintf(stderr, "Try '%s --help' for more information.\n", app.Name)
		}
	}
	return code
}

// Reorder moves options that follow operands in front of them, so that
// the flag parser, which stops at the first operand, sees them all. A
// "--" ends the options as usual.
func Reorder(flags []cli.Flag, args []string) []string {
	if len(args) == 0 {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var opts, operands []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			operands = append(operands, rest[i+1:]...)
			break
		}
		if _, isFlag := takesValue[strings.TrimLeft(a, "-")]; len(a) < 2 || a[0] != '-' || isNumber(a) && !isFlag {
			operands = append(operands, a)
			continue
		}
		opts = append(opts, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue[name] && i+1 < len(rest) {
			opts = append(opts, rest[i+1])
			i++
		}
	}
	out := append([]string{args[0]}, opts...)
	if len(operands) > 0 {
		out = append(out, "--")
		out = append(out, operands...)
	}
	return out
}

// isNumber tells a negative number operand from an option.
func isNumber(s string) bool {
	for _, c := range s[1:] {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}
