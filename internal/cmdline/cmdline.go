// Package cmdline runs a rawkit tool's urfave/cli/v2 App the way every
// tool runs: its command line read as the classic tool's getopt reads it
// (clusters, attached values, options after the operands, a dialect's
// own spellings such as nmap's -sS), SIGINT, SIGTERM and SIGHUP
// cancelling the run's context so it can print its summary (a second
// signal: at once, package shutdown), flag errors exiting 2, and every
// error mapped to the shared exit codes of package report.
package cmdline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/internal/shutdown"
	"github.com/rawkit/rawkit/rawsock"
	"github.com/rawkit/rawkit/report"
)

// Main runs app with os.Args read in dialect d and returns the process
// exit status.
func Main(app *cli.App, d Dialect) int {
	if name := os.Getenv("RAWKIT_CPUPROFILE"); name != "" {
		// For the benchmarks document: a CPU profile of the whole run
		// (%p in the name is the process id, for runs one after another).
		name = strings.ReplaceAll(name, "%p", strconv.Itoa(os.Getpid()))
		if f, err := os.Create(name); err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	if os.Getenv("RAWKIT_MEMPROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, not one per 512 KiB
	}
	code := Run(app, d, os.Args, os.Stderr)
	if name := os.Getenv("RAWKIT_MEMPROFILE"); name != "" {
		// Every allocation of the run, by where it was made.
		if f, err := os.Create(name); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	return code
}

// Run runs app with args read in dialect d and returns the exit status,
// printing errors to stderr. It is Main without the process, for tests.
func Run(app *cli.App, d Dialect, args []string, stderr io.Writer) int {
	ctx, stop := shutdown.Notify(context.Background(), func() {
		fmt.Fprintf(stderr, "%s: stopped at once on a second signal; output may be incomplete\n", app.Name)
		os.Exit(report.ExitRuntime)
	})
	defer stop()
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return &flagError{report.Usagef("%v", err)}
	}
	app.HideHelpCommand = true
	// A repeated flag gives a list; commas stay in the value, where
	// --expect 'open:22,443' needs them.
	app.DisableSliceFlagSeparator = true
	app.ErrWriter = stderr
	// urfave/cli would os.Exit on an ExitCoder; ours are plain errors.
	app.ExitErrHandler = func(*cli.Context, error) {}
	// --version on every tool (tools add -V as its alias where the
	// classic tool has it).
	app.HideVersion = true
	if !slices.ContainsFunc(app.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), "version") }) {
		app.Flags = append(app.Flags, &cli.BoolFlag{Name: "version", Usage: "print the version and exit"})
	}
	if !slices.ContainsFunc(app.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), "generate-man") }) {
		app.Flags = append(app.Flags,
			&cli.BoolFlag{Name: "generate-man", Hidden: true},
			&cli.StringFlag{Name: "generate-completion", Hidden: true})
	}
	if action := app.Action; action != nil {
		app.Action = func(c *cli.Context) error {
			switch {
			case c.Bool("version"):
				fmt.Fprintf(c.App.Writer, "%s (rawkit) %s\n", app.Name, report.Version())
				return nil
			case c.Bool("generate-man"):
				writeMan(c.App.Writer, app)
				return nil
			case c.IsSet("generate-completion"):
				return writeCompletion(c.App.Writer, app, c.String("generate-completion"))
			}
			return action(c)
		}
	}
	helpDialect = d
	table := append(slices.Clip(app.Flags), cli.HelpFlag)
	normal, err := Getopt(table, args, d)
	if err != nil {
		err = &flagError{err}
	} else {
		err = app.RunContext(ctx, normal)
	}
	code := ExitCode(err)
	var silent *report.Error
	switch {
	case err != nil && errors.As(err, &silent) && silent.Bare:
		fmt.Fprintln(stderr, err)
	case err != nil && !(errors.As(err, &silent) && silent == report.ErrNetwork):
		fmt.Fprintf(stderr, "%s: %v\n", app.Name, err)
		var fe *flagError
		if errors.As(err, &fe) {
			fmt.Fprintf(stderr, "Try '%s --help' for more information.\n", app.Name)
		}
	}
	return code
}

func init() {
	// Each option once, with its placeholder and its usage, which says
	// the default where there is one: urfave/cli's own lines add
	// "(default: 0)" to every number, doubling ours.
	cli.FlagStringer = flagLine
	cli.AppHelpTemplate = strings.ReplaceAll(cli.AppHelpTemplate, "GLOBAL OPTIONS:", "OPTIONS:")
}

// helpDialect is the dialect of the app being run, for --help's spelling
// of its options (nmap's -sS, traceroute's -UL).
var helpDialect Dialect

// flagLine is one option's line of --help: "-c count, --count count" and
// its usage, tab-separated for alignment.
func flagLine(f cli.Flag) string {
	usage := ""
	if u, ok := f.(interface{ GetUsage() string }); ok {
		usage = u.GetUsage()
	}
	placeholder, usage := unquote(usage)
	_, isBool := f.(*cli.BoolFlag)
	if !isBool && placeholder == "" {
		placeholder = "value"
	}
	var names []string
	for _, n := range f.Names() {
		dash := "--"
		if len(n) == 1 || helpDialect.SingleDashLong && len(n) == 2 || slices.Contains(helpDialect.SingleDash, n) {
			dash = "-"
		}
		if isBool {
			names = append(names, dash+n)
		} else {
			names = append(names, dash+n+" "+placeholder)
		}
	}
	return strings.Join(names, ", ") + "\t" + usage
}

// unquote takes the placeholder out of a usage text: the first word in
// back quotes, which stays in the text without them.
func unquote(usage string) (string, string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return "", usage
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return "", usage
	}
	name := usage[i+1 : i+1+j]
	return name, usage[:i] + name + usage[i+1+j+1:]
}

// Refuse turns an option of the classic tool that rawkit does not
// provide into a usage error that says why, the first set of refusals
// ({option name, reason}) in order: never "flag provided but not
// defined" for an option the classic tool has.
func Refuse(c *cli.Context, refusals [][2]string) error {
	for _, r := range refusals {
		if c.IsSet(r[0]) {
			return report.Usagef("%s", r[1])
		}
	}
	return nil
}

// flagError is a command line getopt could not read: the one kind of
// usage error that a pointer to --help follows, as getopt's users print.
type flagError struct{ error }

func (e *flagError) Unwrap() error { return e.error }

// ExitCode is the one classification of errors into exit codes that
// every tool and dialect follows (report's codes): bad input, including
// an interface that does not exist, is 2; missing privilege 3; the
// network saying no 1; anything else 4.
func ExitCode(err error) int {
	if errors.Is(err, rawsock.ErrNoSuchInterface) || errors.Is(err, rawsock.ErrNoSuchNamespace) {
		return report.ExitUsage
	}
	return report.ExitCode(err)
}
