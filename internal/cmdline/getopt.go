package cmdline

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rawkit/rawkit/report"
)

// Dialect says how a classic tool spells its options beyond what every
// tool shares (getopt(3)'s clusters and attached values, GNU long options
// with "=" or a space, options after operands, "--").
type Dialect struct {
	// SingleDashLong lets every multi-letter option be written with one
	// dash, as nmap's getopt_long_only does: -sS, -Pn, -oG FILE, -iL.
	SingleDashLong bool
	// SingleDash names the multi-letter options that may be written with
	// one dash in a dialect that otherwise clusters (traceroute's -UL).
	SingleDash []string
	// NoAbbrev refuses GNU's unambiguous prefixes of long options.
	NoAbbrev bool
	// Prefixed names options whose value, optional, is attached to the
	// name: nmap's -PS22,443 and -PS alone (an empty value).
	Prefixed []string
}

// prefixOf is the option of prefixed that word starts with, or "".
func prefixOf(word string, prefixed []string) string {
	for _, p := range prefixed {
		if strings.HasPrefix(word, p) {
			return p
		}
	}
	return ""
}

// optionTable is what the reader needs of an App's flags: each name, and
// whether it takes a value.
type optionTable map[string]bool

func newOptionTable(flags []cli.Flag) optionTable {
	t := optionTable{}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			t[n] = !isBool
		}
	}
	return t
}

// Getopt reads args (args[0] is the program) as the classic tool's getopt
// would and rewrites them into the one form urfave/cli's parser reads:
// each option alone, "-name" or "--name" with "=value" attached, then
// "--" and the operands. So `-nqc2 host -W 1` becomes
// `-n -q -c=2 -W=1 -- host`. A value-taking letter ends its cluster, as
// in getopt: the rest of the word, or else the next argument, is its
// value. Unknown options and missing values are usage errors worded as
// getopt words them.
func Getopt(flags []cli.Flag, args []string, d Dialect) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	t := newOptionTable(flags)
	var opts, operands []string
	rest := args[1:]
	emit := func(name, value string, hasValue bool) {
		dash := "-"
		if len(name) > 1 {
			dash = "--"
		}
		if hasValue {
			opts = append(opts, dash+name+"="+value)
		} else {
			opts = append(opts, dash+name)
		}
	}
	// long handles an option known by a whole name, with its value
	// attached after "=" or in the next argument.
	long := func(i int, spelled, name string, attached *string) (int, error) {
		if !t[name] {
			if attached != nil {
				return i, report.Usagef("option '%s' doesn't allow an argument", spelled)
			}
			emit(name, "", false)
			return i, nil
		}
		if attached != nil {
			emit(name, *attached, true)
			return i, nil
		}
		if i+1 >= len(rest) {
			return i, report.Usagef("option '%s' requires an argument", spelled)
		}
		emit(name, rest[i+1], true)
		return i + 1, nil
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			operands = append(operands, rest[i+1:]...)
			i = len(rest)
			continue
		case len(a) < 2 || a[0] != '-':
			operands = append(operands, a)
			continue
		case strings.HasPrefix(a, "--"):
			word, value, hasValue := strings.Cut(a[2:], "=")
			name, err := t.resolve(word, d)
			if err != nil {
				return nil, err
			}
			var attached *string
			if hasValue {
				attached = &value
			}
			if i, err = long(i, "--"+word, name, attached); err != nil {
				return nil, err
			}
			continue
		}
		word := a[1:]
		if p := prefixOf(word, d.Prefixed); p != "" {
			emit(p, word[len(p):], true)
			continue
		}
		if _, known := t[word[:1]]; !known && isNumber(a) {
			operands = append(operands, a) // a negative number
			continue
		}
		// A whole word that is a multi-letter option of this dialect.
		if len(word) > 1 {
			w, value, hasValue := strings.Cut(word, "=")
			if _, known := t[w]; known && len(w) > 1 && (d.SingleDashLong || slices.Contains(d.SingleDash, w)) {
				var attached *string
				if hasValue {
					attached = &value
				}
				var err error
				if i, err = long(i, "-"+w, w, attached); err != nil {
					return nil, err
				}
				continue
			}
		}
		// A cluster of letters, the first value-taking one ending it.
		for j := 0; j < len(word); j++ {
			name := word[j : j+1]
			takes, known := t[name]
			if !known {
				return nil, report.Usagef("invalid option -- '%s'", name)
			}
			if !takes {
				emit(name, "", false)
				continue
			}
			if j+1 < len(word) {
				emit(name, word[j+1:], true)
			} else if i+1 < len(rest) {
				i++
				emit(name, rest[i], true)
			} else {
				return nil, report.Usagef("option requires an argument -- '%s'", name)
			}
			break
		}
	}
	out := append([]string{args[0]}, opts...)
	if len(operands) > 0 {
		out = append(out, "--")
		out = append(out, operands...)
	}
	return out, nil
}

// resolve finds the long option a "--word" names: the word itself, or
// the one option it is an unambiguous prefix of (GNU's abbreviations).
func (t optionTable) resolve(word string, d Dialect) (string, error) {
	if _, ok := t[word]; ok && word != "" {
		return word, nil
	}
	var matches []string
	if !d.NoAbbrev && word != "" {
		for name := range t {
			if len(name) > 1 && strings.HasPrefix(name, word) {
				matches = append(matches, name)
			}
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", report.Usagef("unrecognized option '--%s'", word)
	}
	slices.Sort(matches)
	return "", report.Usagef("option '--%s' is ambiguous; possibilities: %s", word, "--"+strings.Join(matches, " --"))
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
