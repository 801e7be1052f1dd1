package cmdline

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/report"
)

// Man pages and shell completions are generated from the same flag
// tables the tools read their command lines with, so they cannot drift:
// every tool answers --generate-man and --generate-completion SHELL
// (hidden options; make install writes their output into place).

// option is what the generators need of one flag.
type option struct {
	names       []string // as typed: "-c", "--count", "-sS"
	placeholder string   // "" for a flag without a value
	usage       string
}

func options(app *cli.App) []option {
	var out []option
	for _, f := range app.Flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		usage := ""
		if u, ok := f.(interface{ GetUsage() string }); ok {
			usage = u.GetUsage()
		}
		placeholder, usage := unquote(usage)
		if _, isBool := f.(*cli.BoolFlag); isBool {
			placeholder = ""
		} else if placeholder == "" {
			placeholder = "value"
		}
		o := option{placeholder: placeholder, usage: usage}
		for _, n := range f.Names() {
			dash := "--"
			if len(n) == 1 || helpDialect.SingleDashLong && len(n) == 2 || contains(helpDialect.SingleDash, n) {
				dash = "-"
			}
			o.names = append(o.names, dash+n)
		}
		out = append(out, o)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// roff escapes text for a man page.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
			line = `\&` + line
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// writeMan writes app's man page, section 8.
func writeMan(w io.Writer, app *cli.App) {
	name := app.Name
	fmt.Fprintf(w, ".TH %s 8 \"\" \"rawkit %s\" \"System Administration\"\n", strings.ToUpper(name), report.Version())
	fmt.Fprintf(w, ".SH NAME\n%s \\- %s\n", name, strings.TrimSpace(roff(app.Usage)))
	fmt.Fprintf(w, ".SH SYNOPSIS\n.nf\n%s.fi\n", roff(app.UsageText))
	fmt.Fprintf(w, ".SH DESCRIPTION\n.nf\n%s.fi\n", roff(app.Description))
	fmt.Fprintf(w, ".SH OPTIONS\n")
	for _, o := range options(app) {
		var names []string
		for _, n := range o.names {
			if o.placeholder != "" {
				names = append(names, fmt.Sprintf("\\fB%s\\fR \\fI%s\\fR", strings.ReplaceAll(n, "-", `\-`), o.placeholder))
			} else {
				names = append(names, fmt.Sprintf("\\fB%s\\fR", strings.ReplaceAll(n, "-", `\-`)))
			}
		}
		fmt.Fprintf(w, ".TP\n%s\n%s", strings.Join(names, ", "), roff(o.usage))
	}
	fmt.Fprintf(w, ".SH SEE ALSO\nping(8), traceroute(8), portscan(8), sniff(8); the differences from the classic tools: docs/compat.md\n")
}

// writeCompletion writes a completion script for shell.
func writeCompletion(w io.Writer, app *cli.App, shell string) error {
	opts := options(app)
	name := app.Name
	fn := strings.NewReplacer("-", "_").Replace(name)
	switch shell {
	case "bash":
		var words, valued []string
		for _, o := range opts {
			words = append(words, o.names...)
			if o.placeholder != "" {
				valued = append(valued, o.names...)
			}
		}
		fmt.Fprintf(w, "# bash completion for %s (rawkit)\n_rawkit_%s() {\n", name, fn)
		fmt.Fprintf(w, "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
		fmt.Fprintf(w, "    case \"$prev\" in\n        %s) COMPREPLY=( $(compgen -f -- \"$cur\") ); return ;;\n    esac\n", strings.Join(valued, "|"))
		fmt.Fprintf(w, "    if [[ \"$cur\" == -* ]]; then\n        COMPREPLY=( $(compgen -W \"%s\" -- \"$cur\") )\n    else\n        COMPREPLY=( $(compgen -A hostname -- \"$cur\") )\n    fi\n}\n", strings.Join(words, " "))
		fmt.Fprintf(w, "complete -o default -F _rawkit_%s %s\n", fn, name)
	case "zsh":
		fmt.Fprintf(w, "#compdef %s\n# zsh completion for %s (rawkit)\n_arguments -s \\\n", name, name)
		for _, o := range opts {
			desc := strings.NewReplacer("'", "'\\''", "[", "\\[", "]", "\\]", ":", "\\:").Replace(o.usage)
			for _, n := range o.names {
				if o.placeholder != "" {
					fmt.Fprintf(w, "  '%s[%s]:%s:_files' \\\n", n, desc, o.placeholder)
				} else {
					fmt.Fprintf(w, "  '%s[%s]' \\\n", n, desc)
				}
			}
		}
		fmt.Fprintf(w, "  '*:target:_hosts'\n")
	case "fish":
		fmt.Fprintf(w, "# fish completion for %s (rawkit)\n", name)
		for _, o := range opts {
			desc := strings.ReplaceAll(o.usage, "'", "\\'")
			var parts []string
			for _, n := range o.names {
				switch {
				case strings.HasPrefix(n, "--"):
					parts = append(parts, "-l "+n[2:])
				case len(n) == 2:
					parts = append(parts, "-s "+n[1:])
				default:
					parts = append(parts, "-o "+n[1:])
				}
			}
			req := ""
			if o.placeholder != "" {
				req = " -r"
			}
			fmt.Fprintf(w, "complete -c %s %s%s -d '%s'\n", name, strings.Join(parts, " "), req, desc)
		}
	default:
		return report.Usagef("--generate-completion %s: use bash, zsh or fish", shell)
	}
	return nil
}
